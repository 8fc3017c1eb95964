"""The optimizer and learning-rate schedule a TrainConfig names, and the schedule's state
in a form a resume file can hold."""
from __future__ import annotations

import collections

import torch

from core.errors import FledgeError
from core.training.config import TrainConfig


def make_optimizer(name: str, params, cfg: TrainConfig, device: torch.device) -> torch.optim.Optimizer:
    fused = {"fused": True} if device.type == "cuda" else {}
    lr, wd = cfg.lr, cfg.weight_decay
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=cfg.momentum, weight_decay=wd,
                               nesterov=cfg.nesterov and cfg.momentum > 0, **fused)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd, **fused)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=wd, **fused)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, weight_decay=wd)
    if name == "adagrad":
        return torch.optim.Adagrad(params, lr=lr, weight_decay=wd, **fused)
    if name == "adadelta":
        return torch.optim.Adadelta(params, lr=lr, weight_decay=wd)
    if name == "rprop":
        return torch.optim.Rprop(params, lr=lr)
    raise FledgeError(f"Unknown optimizer '{name}'.")


def make_scheduler(name: str, optimizer, epochs: int, steps_per_epoch: int, lr: float):
    """Returns (scheduler or None, steps per batch?)."""
    total = max(1, epochs * steps_per_epoch)
    if name == "none":
        return None, False
    if name == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=max(1, epochs // 3), gamma=0.1), False
    if name == "multistep":
        ms = sorted({max(1, int(epochs * 0.5)), max(1, int(epochs * 0.75))})
        return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=ms, gamma=0.1), False
    if name == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total), True
    if name == "onecycle":
        # Each parameter group peaks at its own rate (thorough's lower rate for the pretrained layers).
        peaks = [g.get("lr", lr) for g in optimizer.param_groups]
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=peaks, total_steps=total), True
    raise FledgeError(f"Unknown learning-rate schedule '{name}'.")


def plain_state(obj):
    """Scheduler state as types torch.load(weights_only=True) accepts."""
    if isinstance(obj, collections.Counter):
        return {k: int(v) for k, v in obj.items()}
    if isinstance(obj, dict):
        return {k: plain_state(v) for k, v in obj.items() if not callable(v)}
    if isinstance(obj, (list, tuple)):
        return type(obj)(plain_state(v) for v in obj)
    return obj


def restore_scheduler(scheduler, state: dict | None) -> None:
    """Load what plain_state() kept; MultiStepLR needs its milestones as a Counter again."""
    if scheduler is None or not state:
        return
    scheduler.load_state_dict(state)
    if hasattr(scheduler, "milestones"):
        scheduler.milestones = collections.Counter(scheduler.milestones)

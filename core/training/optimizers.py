"""The optimizer and learning-rate schedule a TrainConfig names, and the schedule's state
in a form a resume file can hold."""
from __future__ import annotations

import collections

import torch

from core.errors import FledgeError
from core.training.config import TrainConfig
from core.training.optimizer_rules import milestone_epochs, problems, step_epochs


def make_optimizer(name: str, params, cfg: TrainConfig, device: torch.device) -> torch.optim.Optimizer:
    """The optimizer with every setting of cfg that it takes (core.training.optimizer_rules)."""
    fused = {"fused": True} if device.type == "cuda" else {}
    lr, wd = cfg.lr, cfg.weight_decay
    betas = (cfg.beta1, cfg.beta2)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=cfg.momentum, dampening=cfg.dampening, weight_decay=wd,
                               nesterov=cfg.nesterov and cfg.momentum > 0, **fused)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=betas, amsgrad=cfg.amsgrad, weight_decay=wd, **fused)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, betas=betas, amsgrad=cfg.amsgrad, weight_decay=wd, **fused)
    if name == "adamax":
        return torch.optim.Adamax(params, lr=lr, betas=betas, weight_decay=wd)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, alpha=cfg.alpha, momentum=cfg.momentum, centered=cfg.centered,
                                   weight_decay=wd)
    if name == "adagrad":
        return torch.optim.Adagrad(params, lr=lr, weight_decay=wd, **fused)
    if name == "adadelta":
        return torch.optim.Adadelta(params, lr=lr, rho=cfg.rho, weight_decay=wd)
    if name == "rprop":
        return torch.optim.Rprop(params, lr=lr)      # PyTorch's Rprop has no weight decay
    raise FledgeError(f"Unknown optimizer '{name}'.")


def make_scheduler(cfg: TrainConfig, optimizer, steps_per_epoch: int):
    """Returns (scheduler or None, steps per batch?) for cfg's schedule and its settings."""
    name, epochs = cfg.schedule, cfg.epochs
    total = max(1, epochs * steps_per_epoch)
    if name == "none":
        return None, False
    if name == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=step_epochs(cfg.step_size, epochs),
                                               gamma=cfg.gamma), False
    if name == "multistep":
        try:
            ms = milestone_epochs(cfg.milestones, epochs)
        except ValueError:
            raise FledgeError(problems(cfg)["milestones"]) from None
        return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=ms, gamma=cfg.gamma), False
    if name == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total), True
    if name == "onecycle":
        # Each parameter group peaks at its own rate (thorough's lower rate for the pretrained layers).
        peaks = [g.get("lr", cfg.lr) for g in optimizer.param_groups]
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

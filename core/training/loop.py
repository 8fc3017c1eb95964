"""One epoch of training and one pass of evaluation, as in torchvision's reference script.

Nothing here knows about run folders, listeners or Qt: train_one_epoch hands its reports to
one callable and is steered by the TrainControl it polls at batch boundaries. Figures are
summed on the device and read (one host sync) only when they are reported.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from core.errors import FledgeError
from core.model.networks import aux_logits, main_logits, set_train_mode
from core.model.threads import paced
from core.training.config import TrainConfig
from core.training.divergence import LossGuard
from core.training.events import BatchEnd, TrainControl
from core.training.optimizers import make_optimizer, make_scheduler

REPORT_INTERVAL_S = 0.05   # at most ~20 BatchEnd events a second; each costs a device sync
AUX_LOSS_WEIGHT = 0.4      # inception_v3's auxiliary classifier, as in the paper


class Stopped(Exception):
    """Raised inside the loop when the user asked to stop."""


@dataclass
class Learner:
    """The model and what changes it, built once per run."""
    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: object | None
    scheduler_per_step: bool
    criterion: nn.Module
    device: torch.device
    amp_dtype: torch.dtype | None
    config: TrainConfig
    keep_bn_statistics: bool = False   # fine-tuning a pretrained network: BatchNorm keeps its statistics
    # What the training step calls: the DistributedDataParallel wrapper in a distributed run
    # (core.training.distributed_trainer); everything else (saving, evaluating) uses `model`.
    forward_module: nn.Module | None = None

    @classmethod
    def build(cls, config: TrainConfig, model: nn.Module, device, amp_dtype, steps_per_epoch: int,
              class_weights=None, param_groups: list[dict] | None = None,
              keep_bn_statistics: bool = False) -> Learner:
        """class_weights: one loss weight per class (None: every photo counts the same);
        param_groups: the optimizer's groups with their own rates (None: every trainable
        parameter at config.lr); keep_bn_statistics: see networks.set_train_mode."""
        params = param_groups or [p for p in model.parameters() if p.requires_grad]
        optimizer = make_optimizer(config.optimizer, params, config, device)
        scheduler, per_step = make_scheduler(config, optimizer, steps_per_epoch)
        weight = (torch.tensor(class_weights, dtype=torch.float32, device=device)
                  if class_weights is not None else None)
        criterion = torch.nn.CrossEntropyLoss(weight=weight, label_smoothing=config.label_smoothing)
        return cls(model, optimizer, scheduler, per_step, criterion, device, amp_dtype, config, keep_bn_statistics)

    def autocast(self):
        if self.amp_dtype:
            return torch.autocast(self.device.type, dtype=self.amp_dtype)
        return torch.autocast(self.device.type, enabled=False)

    def step(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One optimisation step; the (detached) loss and logits."""
        with self.autocast():
            out = (self.forward_module or self.model)(x)
            logits = main_logits(out)
            loss = self.criterion(logits.float(), y)
            if self.config.arch == "inception_v3" and (aux := aux_logits(out)) is not None:
                loss = loss + AUX_LOSS_WEIGHT * self.criterion(aux.float(), y)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        if self.scheduler is not None and self.scheduler_per_step:
            self.scheduler.step()
        return loss.detach(), logits.detach()

    def end_epoch(self) -> float:
        """The learning rate the epoch ran at (the highest group's: thorough's pretrained layers
        move slower); a per-epoch schedule moves on."""
        lr = max(g["lr"] for g in self.optimizer.param_groups)
        if self.scheduler is not None and not self.scheduler_per_step:
            self.scheduler.step()
        return lr


class _Tally:
    """Loss and correct answers summed on the device."""

    def __init__(self, device) -> None:
        self.loss = torch.zeros((), device=device)
        self.correct = torch.zeros((), device=device, dtype=torch.long)
        self.n = 0

    def add(self, loss_sum: torch.Tensor, correct: torch.Tensor, n: int) -> None:
        self.loss += loss_sum
        self.correct += correct
        self.n += n

    def read(self) -> tuple[float, float]:
        """Mean loss and accuracy: the host sync."""
        n = max(1, self.n)
        return self.loss.item() / n, self.correct.item() / n

    def reset(self) -> None:
        self.loss.zero_()
        self.correct.zero_()
        self.n = 0


@dataclass
class RunClock:
    """Steps and time of this session without pauses: for images/s and the time left."""
    step: int                       # global step so far (a resumed run starts past 0)
    total_steps: int
    started: float = field(default_factory=time.perf_counter)
    paused: float = 0.0
    steps_this_session: int = 0

    def wait_while_paused(self, control: TrainControl) -> float:
        """Sit out a pause; the seconds it took."""
        if not control.paused:
            return 0.0
        t0 = time.perf_counter()
        control.wait_while_paused()
        waited = time.perf_counter() - t0
        self.paused += waited
        return waited

    def count_step(self) -> None:
        self.step += 1
        self.steps_this_session += 1

    def eta_s(self, now: float) -> float:
        per_step = (now - self.started - self.paused) / max(1, self.steps_this_session)
        return per_step * max(0, self.total_steps - self.step)


@dataclass(frozen=True)
class EpochFigures:
    loss: float
    accuracy: float
    lr: float
    seconds: float                  # training only, pauses excluded
    images: int


def train_one_epoch(learner: Learner, source, epoch: int, clock: RunClock, control: TrainControl,
                    report: Callable[[BatchEnd], None], guard: LossGuard) -> EpochFigures:
    """One pass over the training batches, reporting a BatchEnd at most every REPORT_INTERVAL_S;
    guard raises Diverged when a reported loss explodes (checked where it is read anyway)."""
    cfg = learner.config
    set_train_mode(learner.model, cfg.arch, cfg.freeze_backbone, learner.keep_bn_statistics)
    steps = source.steps_per_epoch
    whole, recent = _Tally(learner.device), _Tally(learner.device)
    started = since = time.perf_counter()
    paused, epoch_step = 0.0, 0
    for x, y in paced(source.batches(epoch), learner.device):
        waited = clock.wait_while_paused(control)
        paused, since = paused + waited, since + waited
        if control.stop_requested:
            raise Stopped
        loss, logits = learner.step(x, y)
        clock.count_step()
        epoch_step += 1
        loss_sum, correct = loss * y.numel(), (logits.argmax(1) == y).sum()
        whole.add(loss_sum, correct, y.numel())
        recent.add(loss_sum, correct, y.numel())
        now = time.perf_counter()
        if now - since >= REPORT_INTERVAL_S or epoch_step == steps:
            mean_loss, accuracy = recent.read()
            guard.check_training(mean_loss, epoch + 1, clock.step)
            report(BatchEnd(step=clock.step, epoch=epoch + 1, epoch_step=epoch_step, steps_per_epoch=steps,
                            loss=mean_loss, accuracy=accuracy, images_per_s=recent.n / max(1e-9, now - since),
                            eta_s=clock.eta_s(now)))
            recent.reset()
            since = time.perf_counter()
    if control.stop_requested:          # a stop can end a wait for decoding
        raise Stopped
    if whole.n == 0:
        raise FledgeError("No training image could be read. Check the dataset folder.")
    loss, accuracy = whole.read()
    guard.check_training(loss, epoch + 1, clock.step)
    lr = learner.end_epoch()
    return EpochFigures(loss, accuracy, lr, time.perf_counter() - started - paused, whole.n)


def evaluate(learner: Learner, source, control: TrainControl) -> tuple[float, float]:
    """Mean loss and accuracy over a source's batches (NaN, NaN when it has none)."""
    model = learner.model
    model.eval()
    tally = _Tally(learner.device)
    with torch.inference_mode():
        for x, y in paced(source.batches(0), learner.device):
            if control.stop_requested:
                raise Stopped
            with learner.autocast():
                logits = main_logits(model(x))
            tally.add(F.cross_entropy(logits.float(), y, reduction="sum"), (logits.argmax(1) == y).sum(),
                      y.numel())
    if control.stop_requested:
        raise Stopped
    if tally.n == 0:
        return float("nan"), float("nan")
    return tally.read()

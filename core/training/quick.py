"""Quick training: a linear classifier on cached backbone features, in a second or two.

The features are standardized for training (every dimension on the same scale, so one
learning rate suits them all) and the standardization is folded back into the linear
layer afterwards, so the head takes the backbone's raw features and quick_model() can
put it in place of the network's classifier: an ordinary Fledge model.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from core.training.best_model import is_better
from core.training.events import EpochEnd


@dataclass(frozen=True)
class HeadSettings:
    """Defaults measured on real photos (flowers128, 10 to 700 photos per class): one
    full-batch step per epoch makes the number of steps independent of the folder's size,
    which helped small folders most; label smoothing cost 1-2 points there. The learning-rate
    finder's "valley" suggested 5e-4 to 4e-3 for this convex problem (the loss keeps falling
    up to huge rates) and cost 1 to 10 points, so the head keeps this fixed rate."""
    epochs: int = 50
    lr: float = 1e-2                  # AdamW; lowered along a cosine to zero
    weight_decay: float = 0.05
    label_smoothing: float = 0.0
    batch_size: int = 0               # 0: the whole training set in every step
    seed: int = 0


@dataclass
class TrainedHead:
    weight: torch.Tensor              # (classes, dim): logits = features @ weight.T + bias
    bias: torch.Tensor                # (classes,)
    history: list[EpochEnd] = field(default_factory=list)
    best_epoch: int = 0               # the epoch whose weights these are (from 1)
    best_val_acc: float = float("nan")
    stopped: bool = False

    @property
    def num_classes(self) -> int:
        return int(self.weight.shape[0])

    def logits(self, features) -> torch.Tensor:
        x = torch.as_tensor(np.asarray(features, dtype=np.float32))
        return x @ self.weight.T + self.bias

    def linear(self) -> nn.Linear:
        layer = nn.Linear(self.weight.shape[1], self.num_classes)
        with torch.no_grad():
            layer.weight.copy_(self.weight)
            layer.bias.copy_(self.bias)
        return layer


def _rows(x) -> torch.Tensor:
    """(N, views, dim) or (N, dim) features -> (rows, dim) float32."""
    t = torch.as_tensor(np.asarray(x, dtype=np.float32))
    return t.reshape(-1, t.shape[-1])


def _row_labels(x, y) -> torch.Tensor:
    """Labels per row: each view of a photo keeps the photo's label."""
    views = np.asarray(x).shape[1] if np.asarray(x).ndim == 3 else 1
    return torch.as_tensor(np.repeat(np.asarray(y, dtype=np.int64), views))


@dataclass
class _Problem:
    """The training rows, standardized, and the loss that training minimizes."""
    x: torch.Tensor
    y: torch.Tensor
    mean: torch.Tensor
    scale: torch.Tensor
    loss: Callable

    @classmethod
    def make(cls, x, y, settings: HeadSettings, class_weights: Sequence[float] | None):
        rows, labels = _rows(x), _row_labels(x, y)
        mean = rows.mean(0)
        scale = rows.std(0).clamp_min(1e-3)    # dead dimensions stay small, not blown up
        w = torch.tensor(class_weights, dtype=torch.float32) if class_weights is not None else None

        def loss(logits, target):
            return F.cross_entropy(logits, target, weight=w, label_smoothing=settings.label_smoothing)

        return cls((rows - mean) / scale, labels, mean, scale, loss)

    def fold(self, layer: nn.Linear) -> tuple[torch.Tensor, torch.Tensor]:
        """Weights that give the same logits on raw features: W' = W/s, b' = b - W' m."""
        with torch.no_grad():
            w = layer.weight / self.scale
            return w.clone(), (layer.bias - w @ self.mean).clone()


def _batches(n: int, batch_size: int, generator: torch.Generator) -> list[torch.Tensor]:
    order = torch.randperm(n, generator=generator)
    size = n if batch_size <= 0 else batch_size
    return list(order.split(size))


def _evaluate(head_w, head_b, x, y) -> tuple[float, float]:
    """Plain cross-entropy (no smoothing, no weights) and accuracy of raw-feature logits."""
    with torch.no_grad():
        logits = x @ head_w.T + head_b
        return float(F.cross_entropy(logits, y)), float((logits.argmax(1) == y).float().mean())


def train_head(train_x, train_y, val_x, val_y, num_classes: int,
               settings: HeadSettings = HeadSettings(),
               class_weights: Sequence[float] | None = None,
               on_epoch: Callable[[EpochEnd], None] | None = None,
               should_stop: Callable[[], bool] | None = None) -> TrainedHead:
    """Train the head; the weights of the epoch with the best validation accuracy (ties:
    lower validation loss) come back, or the last epoch's when there is no validation set.

    train_x: (N, views, dim) or (N, dim); val_x: (M, dim) (the photo view only, as the
    Predictor sees it) or empty. on_epoch gets an EpochEnd after every epoch."""
    prob = _Problem.make(train_x, train_y, settings, class_weights)
    vx = _rows(val_x) if len(val_x) else torch.zeros(0, prob.x.shape[1])
    vy = torch.as_tensor(np.asarray(val_y, dtype=np.int64))
    gen = torch.Generator().manual_seed(int(settings.seed))
    torch.manual_seed(int(settings.seed))
    layer = nn.Linear(prob.x.shape[1], int(num_classes))
    opt = torch.optim.AdamW(layer.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    steps = settings.epochs * len(_batches(len(prob.x), settings.batch_size, torch.Generator()))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, steps) / max(1, steps))))
    result = TrainedHead(*prob.fold(layer))
    best_loss = math.nan
    for epoch in range(1, settings.epochs + 1):
        if should_stop is not None and should_stop():
            result.stopped = True
            break
        start, lr = time.perf_counter(), opt.param_groups[0]["lr"]
        loss_sum, correct = 0.0, 0
        for idx in _batches(len(prob.x), settings.batch_size, gen):
            logits = layer(prob.x[idx])
            loss = prob.loss(logits, prob.y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += float(loss.detach()) * len(idx)
            correct += int((logits.argmax(1) == prob.y[idx]).sum())
        w, b = prob.fold(layer)
        val_loss, val_acc = _evaluate(w, b, vx, vy) if len(vx) else (math.nan, math.nan)
        seconds = time.perf_counter() - start
        event = EpochEnd(epoch, settings.epochs, loss_sum / len(prob.x), correct / len(prob.x),
                         val_loss, val_acc, lr, seconds, len(prob.x) / max(seconds, 1e-9))
        result.history.append(event)
        if not len(vx) or is_better(val_acc, val_loss, result.best_val_acc, best_loss):
            best_loss = val_loss
            result.weight, result.bias, result.best_epoch = w, b, epoch
            result.best_val_acc = val_acc
        if on_epoch is not None:
            on_epoch(event)
    return result


def head_step(train_x, train_y, num_classes: int, settings: HeadSettings = HeadSettings(),
              class_weights: Sequence[float] | None = None) -> Callable[[float], float]:
    """A fresh head's training step at a given rate, for core.training.lr_finder.find_lr."""
    prob = _Problem.make(train_x, train_y, settings, class_weights)
    gen = torch.Generator().manual_seed(int(settings.seed))
    torch.manual_seed(int(settings.seed))
    layer = nn.Linear(prob.x.shape[1], int(num_classes))
    opt = torch.optim.AdamW(layer.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    pending: list[torch.Tensor] = []

    def step(lr: float) -> float:
        if not pending:
            pending.extend(_batches(len(prob.x), settings.batch_size, gen))
        idx = pending.pop()
        for group in opt.param_groups:
            group["lr"] = lr
        loss = prob.loss(layer(prob.x[idx]), prob.y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return float(loss.detach())

    return step


def quick_model(head: TrainedHead, arch: str | None = None) -> nn.Module:
    """The installed network (EfficientNet-Lite0 unless arch names another) with its ImageNet
    weights and this head as its classifier: what core.model.checkpoints.save_checkpoint saves
    under that arch."""
    from core.model import offline_backbone

    model = offline_backbone.imagenet_model(arch or offline_backbone.ARCH)
    model.reset_classifier(head.num_classes)
    with torch.no_grad():
        model.classifier.weight.copy_(head.weight)
        model.classifier.bias.copy_(head.bias)
    return model.eval()

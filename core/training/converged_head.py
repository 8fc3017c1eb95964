"""The converged head: multinomial logistic regression on standardized features, fit to
convergence by full-batch L-BFGS, its L2 strength chosen by a fold of the training photos.

The validation photos take no part in the choice, so the accuracy reported on them is honest.
Along a path of strengths, strongest first, each fit starts from the one before (a warm
start: a few dozen iterations each). The held-out photos of the internal fold score each
strength; both views of a photo (core.training.features.VIEWS) sit in one fold, and only the
photo view is scored, as the Predictor sees it. The standardization is folded into the
weights, so the head takes the backbone's raw features like any other.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from core.training.folds import assign_folds

# Strongest first, a factor of sqrt(10) apart. The loss is the mean cross-entropy plus
# l2/2 * |W|^2 on standardized features, so a strength means the same for any number of photos.
L2_PATH = tuple(round(10.0 ** (1 - k / 2), 6) for k in range(11))     # 10 .. 1e-4
DEFAULT_L2 = 0.3          # too few photos to hold any out: FIXME measured
FOLDS = 3                 # the internal fold: a third of the training photos held out at a time
ENOUGH_SCORED = 500       # once this many photos are held out, the remaining folds are skipped
PATIENCE = 2              # strengths in a row worse than the best before the path stops
MAX_ITER = 100            # L-BFGS iterations per fit (the fits along the path start warm)


@dataclass(frozen=True)
class ConvergedSettings:
    l2: float | None = None           # None: chosen by the internal fold
    folds: int = FOLDS
    enough_scored: int = ENOUGH_SCORED
    max_iter: int = MAX_ITER
    select_by: str = "accuracy"        # "accuracy" (ties: lower loss) or "loss"
    balance: str = "weights"           # "weights" in the loss, or "shift": unweighted fit, log(weight) added to the bias
    seed: int = 0


@dataclass(frozen=True)
class L2Choice:
    l2: float
    how: str                          # "fold" | "given" | "too few photos"
    tried: tuple = ()                 # (l2, held-out accuracy, held-out loss) along the path
    scored: int = 0                   # held-out photos that scored each strength

    @property
    def sentence(self) -> str:
        if self.how == "fold":
            acc = next(a for l2, a, _ in self.tried if l2 == self.l2)
            return (f"Regularization {self.l2:g}, chosen on {self.scored} training photos held out in turn "
                    f"({acc:.1%} of them right).")
        if self.how == "given":
            return f"Regularization {self.l2:g}, as given."
        return f"Regularization {self.l2:g}: too few photos per class to hold some out and compare."


@dataclass
class ConvergedFit:
    weight: torch.Tensor              # (classes, dim) on raw features
    bias: torch.Tensor
    choice: L2Choice
    evaluations: int = 0              # loss and gradient evaluations in all
    stopped: bool = False
    extra: dict = field(default_factory=dict)


def _rows(x) -> tuple[torch.Tensor, int]:
    a = np.asarray(x, dtype=np.float32)
    views = a.shape[1] if a.ndim == 3 else 1
    return torch.from_numpy(np.ascontiguousarray(a.reshape(-1, a.shape[-1]))), views


def _fit(x, y, k: int, l2: float, start, weight, max_iter: int) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Minimize mean (weighted) cross-entropy + l2/2 |W|^2 from start=(W, b) or zeros."""
    w = (torch.zeros(k, x.shape[1]) if start is None else start[0].clone()).requires_grad_(True)
    b = (torch.zeros(k) if start is None else start[1].clone()).requires_grad_(True)
    opt = torch.optim.LBFGS([w, b], lr=1, max_iter=max_iter, history_size=20, line_search_fn="strong_wolfe",
                            tolerance_grad=1e-5, tolerance_change=1e-9)
    count = [0]

    def closure():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(x @ w.T + b, y, weight=weight) + 0.5 * l2 * (w * w).sum()
        loss.backward()
        count[0] += 1
        return loss

    opt.step(closure)
    return w.detach(), b.detach(), count[0]


def _score(logits, y, weight) -> tuple[float, float, float]:
    """(weighted correct, weighted loss sum, weight sum) of held-out logits."""
    wy = torch.ones(len(y)) if weight is None else weight[y]
    correct = float(((logits.argmax(1) == y).float() * wy).sum())
    loss = float((F.cross_entropy(logits, y, reduction="none") * wy).sum())
    return correct, loss, float(wy.sum())


def fit_converged(train_x, train_y, num_classes: int, settings: ConvergedSettings = ConvergedSettings(),
                  class_weights: Sequence[float] | None = None,
                  should_stop: Callable[[], bool] | None = None) -> ConvergedFit:
    """The head for (N, views, dim) or (N, dim) training features and their labels."""
    rows, views = _rows(train_x)
    labels = np.asarray(train_y, dtype=np.int64)
    y = torch.from_numpy(np.repeat(labels, views))
    mean = rows.mean(0)
    scale = rows.std(0).clamp_min(1e-3) if len(rows) > 1 else torch.ones(rows.shape[1])
    x = (rows - mean) / scale
    k = int(num_classes)
    weight = torch.tensor(class_weights, dtype=torch.float32) if class_weights is not None else None
    shift = None
    if weight is not None and settings.balance == "shift":
        shift, weight = weight.clamp_min(1e-12).log(), None
    stop = should_stop or (lambda: False)
    evals = 0
    if settings.l2 is not None:
        choice, start = L2Choice(float(settings.l2), "given"), None
    else:
        choice, start, evals = _choose_l2(x, y, labels, views, k, weight, settings, stop)
        if choice is None:
            return ConvergedFit(torch.zeros(k, x.shape[1]), torch.zeros(k), L2Choice(math.nan, "stopped"),
                                evals, stopped=True)
    w, b, n = _fit(x, y, k, choice.l2, start, weight, settings.max_iter)
    if shift is not None:
        b = b + shift
    w_raw = w / scale                                   # logits of raw features: W' = W/s, b' = b - W' m
    return ConvergedFit(w_raw, b - w_raw @ mean, choice, evals + n, stopped=False)


def _choose_l2(x, y, labels, views: int, k: int, weight, settings: ConvergedSettings, stop):
    """(L2Choice, a warm start for the final fit or None, evaluations); (None, ...) when stopped."""
    photo_fold = assign_folds(labels, settings.folds, seed=settings.seed)
    row_fold = np.repeat(photo_fold, views)
    first_view = np.arange(len(row_fold)) % views == 0
    folds = []                       # (train rows, held-out photo rows)
    scored = 0
    for f in range(settings.folds):
        train = row_fold != f
        present = np.bincount(labels[photo_fold != f], minlength=k) > 0
        held = (row_fold == f) & first_view & present[y.numpy()]   # a class unseen in training cannot be scored
        if held.any() and train.any():
            folds.append((torch.from_numpy(train), torch.from_numpy(held)))
            scored += int(held.sum())
            if scored >= settings.enough_scored:
                break
    if not folds:
        return L2Choice(DEFAULT_L2, "too few photos"), None, 0
    starts: list = [None] * len(folds)
    tried, best, since_best, evals = [], None, 0, 0
    first_fits: dict[float, tuple] = {}
    for l2 in L2_PATH:
        if stop():
            return None, None, evals
        correct = loss = total = 0.0
        for i, (train, held) in enumerate(folds):
            w, b, n = _fit(x[train], y[train], k, l2, starts[i], weight, settings.max_iter)
            starts[i], evals = (w, b), evals + n
            with torch.no_grad():
                c, lo, t = _score(x[held] @ w.T + b, y[held], weight)
            correct, loss, total = correct + c, loss + lo, total + t
        first_fits[l2] = starts[0]
        tried.append((l2, correct / total, loss / total))
        key = (-tried[-1][1], tried[-1][2]) if settings.select_by == "accuracy" else (tried[-1][2],)
        if best is None or key < best[0]:
            best, since_best = (key, l2), 0
        else:
            since_best += 1
            if since_best >= PATIENCE:
                break
    l2 = best[1]
    return L2Choice(l2, "fold", tuple(tried), scored), first_fits[l2], evals

"""Quick training: a linear classifier on cached backbone features, fit to convergence in seconds.

The head is multinomial logistic regression: the features standardized (every dimension on the
same scale), the mean cross-entropy plus l2/2 |W|^2 minimized by full-batch L-BFGS. The L2
strength is chosen by a fold of the training photos (core.training.folds), so the validation
photos take no part in any choice and the accuracy reported on them is honest: along a path of
strengths, strongest first, each fit starts from the one before (a few dozen iterations each),
and the photos held out score each one. Both views of a photo (core.training.features.VIEWS)
sit in one fold, and only the photo view is scored, as the Predictor sees it.

Uneven classes: the fit is unweighted and the class weights shift the bias by log(weight) (the
decision a weighted loss converges to, without its noise from repeating a small class's few
photos). The standardization is folded back into the linear layer afterwards, so the head takes
the backbone's raw features and quick_model() puts it in place of the network's classifier: an
ordinary Fledge model.

Measured on flowers128's cached features against the 50-step AdamW head it replaced (kept in
core.bench.adamw_head; its step chosen on half the validation photos, scored on the other half):
+1.8 to +2.9 points with 10 to 100 training photos per class, -0.3 (3 of 892 photos) with all
3,425, and +1.9 to +3.2 points of balanced accuracy with one class cut to 5 to 30 photos; the
issue measured +2.4 points for a converged head on 100 bird species.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from core.model.threads import paced
from core.training.events import EpochEnd
from core.training.folds import assign_folds

# Strongest first, a factor of sqrt(10) apart. The loss is a mean over the photos, so a strength
# means about the same for any number of them.
L2_PATH = tuple(round(10.0 ** (1 - k / 2), 6) for k in range(11))     # 10 .. 1e-4
DEFAULT_L2 = L2_PATH[3]   # 0.32, too few photos to hold any out: the strength chosen most often on flowers128
FOLDS = 3                 # the internal fold: a third of the training photos held out at a time
ENOUGH_SCORED = 500       # held-out photos enough to choose by: the remaining folds are skipped
PATIENCE = 2              # strengths in a row worse than the best before the path stops
MAX_ITER = 100            # L-BFGS iterations of the final fit
PATH_ITER = 30            # ... of each fit along the path: they start warm, and 15 chose as 100 did on flowers128


@dataclass(frozen=True)
class HeadSettings:
    epochs: int = 10                  # the final fit is reported in this many parts, one EpochEnd each
    l2: float | None = None           # None: chosen by the internal fold
    folds: int = FOLDS
    max_iter: int = MAX_ITER          # of the final fit
    seed: int = 0


@dataclass(frozen=True)
class L2Choice:
    l2: float
    how: str                          # "fold" | "given" | "too few photos"
    tried: tuple = ()                 # (l2, held-out accuracy, held-out loss) along the path
    scored: int = 0                   # held-out photos that scored every strength

    @property
    def sentence(self) -> str:
        if self.how == "fold":
            acc = next(a for l2, a, _ in self.tried if l2 == self.l2)
            return (f"Regularization of the last layer: {self.l2:.2g}, the best of {len(self.tried)} tried on "
                    f"{self.scored} training photos held out in turn ({acc:.1%} of them right).")
        if self.how == "given":
            return f"Regularization of the last layer: {self.l2:.2g}, as given."
        return (f"Regularization of the last layer: {self.l2:.2g} (too few photos per class to hold some "
                "out and compare strengths).")


@dataclass
class TrainedHead:
    weight: torch.Tensor              # (classes, dim): logits = features @ weight.T + bias
    bias: torch.Tensor                # (classes,)
    history: list[EpochEnd] = field(default_factory=list)
    best_epoch: int = 0               # the epoch whose weights these are (from 1): the last one
    best_val_acc: float = float("nan")
    stopped: bool = False
    l2: L2Choice | None = None

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


# ---------------------------------------------------------------- the problem and one fit

@dataclass
class _Problem:
    """The training rows standardized, their labels, and what undoes the standardization."""
    x: torch.Tensor                   # (rows, dim), rows = photos x views
    y: torch.Tensor
    labels: np.ndarray                # per photo
    views: int
    k: int
    mean: torch.Tensor
    scale: torch.Tensor
    shift: torch.Tensor               # log class weight, added to the bias (zeros: none)
    weight: torch.Tensor | None       # class weights, for scoring held-out photos

    @classmethod
    def make(cls, x, y, num_classes: int, class_weights: Sequence[float] | None) -> _Problem:
        a = np.asarray(x, dtype=np.float32)
        views = a.shape[1] if a.ndim == 3 else 1
        rows = torch.from_numpy(np.ascontiguousarray(a.reshape(-1, a.shape[-1])))
        labels = np.asarray(y, dtype=np.int64)
        mean = rows.mean(0)
        scale = rows.std(0).clamp_min(1e-3) if len(rows) > 1 else torch.ones(rows.shape[1])
        k = int(num_classes)
        weight = torch.tensor(class_weights, dtype=torch.float32) if class_weights is not None else None
        shift = weight.clamp_min(1e-12).log() if weight is not None else torch.zeros(k)
        return cls((rows - mean) / scale, torch.from_numpy(np.repeat(labels, views)), labels, views, k,
                   mean, scale, shift, weight)

    def raw(self, w: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Weights that give the same logits on raw features: W' = W/s, b' = b + shift - W' m."""
        w_raw = w / self.scale
        return w_raw.clone(), (b + self.shift - w_raw @ self.mean).clone()


class _Fit:
    """L-BFGS on mean cross-entropy + l2/2 |W|^2, from a start (W, b) or zeros; run() continues it."""

    def __init__(self, x, y, k: int, l2: float, start=None) -> None:
        self.x, self.y, self.l2 = x, y, float(l2)
        self.w = torch.zeros(k, x.shape[1]) if start is None else start[0].clone()
        self.b = torch.zeros(k) if start is None else start[1].clone()
        self.opt = torch.optim.LBFGS([self.w, self.b], lr=1, max_iter=MAX_ITER, history_size=20,
                                     line_search_fn="strong_wolfe", tolerance_grad=1e-5, tolerance_change=1e-9)
        self.evaluations = 0

    def _closure(self):
        """Loss and gradient by hand: twice as fast as autograd for this one matrix product."""
        with torch.no_grad():
            z = torch.addmm(self.b, self.x, self.w.T)
            lse = z.logsumexp(1, keepdim=True)
            rows = torch.arange(len(self.y))
            loss = (lse.squeeze(1) - z[rows, self.y]).mean() + 0.5 * self.l2 * (self.w * self.w).sum()
            g = (z - lse).exp_()
            g[rows, self.y] -= 1
            g /= len(self.y)
            self.w.grad = g.T @ self.x + self.l2 * self.w
            self.b.grad = g.sum(0)
        self.evaluations += 1
        return loss

    def run(self, iterations: int) -> _Fit:
        group = self.opt.param_groups[0]
        group["max_iter"], group["max_eval"] = iterations, iterations * 5 // 4
        self.opt.step(self._closure)
        return self

    def measure(self) -> tuple[float, float]:
        """(cross-entropy without the penalty, accuracy) where the fit stands."""
        with torch.no_grad():
            z = torch.addmm(self.b, self.x, self.w.T)
            return (float(torch.nn.functional.cross_entropy(z, self.y)),
                    float((z.argmax(1) == self.y).float().mean()))

    @property
    def start(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.w.clone(), self.b.clone()


# ---------------------------------------------------------------- the strength, by held-out photos

@dataclass
class _Path:
    choice: L2Choice
    fits: list                        # per fold: (W, b) at the chosen strength (standardized features)
    logits: np.ndarray                # (photos, classes) held-out logits at the chosen strength (with shift)
    evaluations: int


def _walk_path(prob: _Problem, photo_fold: np.ndarray, folds: Sequence[int], stop: Callable[[], bool],
               strengths: Sequence[float] = L2_PATH) -> _Path | None:
    """Every strength of L2_PATH fit on each fold's other photos and scored on its own, until
    PATIENCE strengths in a row do worse than the best; None when stopped.

    A photo whose class has no photo left in training is predicted but not scored: no strength
    could get it right."""
    row_fold = np.repeat(photo_fold, prob.views)
    first_view = np.arange(len(row_fold)) % prob.views == 0
    parts = []
    for f in folds:
        present = np.bincount(prob.labels[photo_fold != f], minlength=prob.k) > 0
        held = torch.from_numpy(np.flatnonzero((row_fold == f) & first_view))
        scored = torch.from_numpy(present[prob.labels[photo_fold == f]])
        parts.append((torch.from_numpy(row_fold != f), held, scored))
    how = "fold"
    if not any(bool(scored.any()) for *_, scored in parts):
        strengths, how = (DEFAULT_L2,), "too few photos"
    weight = prob.weight if prob.weight is not None else torch.ones(prob.k)
    starts: list = [None] * len(parts)
    tried, best, since_best, evaluations = [], None, 0, 0
    for l2 in paced(strengths, "cpu"):          # torch's threads by the one rule (core.model.threads)
        if stop():
            return None
        correct = loss = total = 0.0
        logits = np.zeros((len(prob.labels), prob.k), dtype=np.float32)
        for i, (train, held, scored) in enumerate(parts):
            fit = _Fit(prob.x[train], prob.y[train], prob.k, l2, starts[i]).run(PATH_ITER)
            starts[i], evaluations = fit.start, evaluations + fit.evaluations
            with torch.no_grad():
                z = torch.addmm(fit.b + prob.shift, prob.x[held], fit.w.T)
            logits[held.numpy() // prob.views] = z.numpy()
            y, wy = prob.y[held][scored], weight[prob.y[held][scored]]
            z = z[scored]
            correct += float(((z.argmax(1) == y).float() * wy).sum())
            loss += float((torch.nn.functional.cross_entropy(z, y, reduction="none") * wy).sum())
            total += float(wy.sum())
        tried.append((l2, correct / max(total, 1e-12), loss / max(total, 1e-12)))
        loss = tried[-1][2]
        if best is None or loss < best[0]:      # log-loss: smooth where a few held-out photos make accuracy coarse
            best, since_best = (loss, l2, list(starts), logits), 0
        else:
            since_best += 1
            if since_best >= PATIENCE:
                break
    scored_photos = sum(int(s.sum()) for _, _, s in parts)
    return _Path(L2Choice(best[1], how, tuple(tried), scored_photos), best[2], best[3], evaluations)


def _internal_folds(prob: _Problem, settings: HeadSettings) -> tuple[np.ndarray, list[int]]:
    """The fold of each training photo and the folds to hold out: as few as give ENOUGH_SCORED
    photos (a large folder needs one), those with a photo whose class is also in the rest."""
    photo_fold = assign_folds(prob.labels, settings.folds, seed=settings.seed)
    chosen, held = [], 0
    for f in range(settings.folds):
        rest = np.bincount(prob.labels[photo_fold != f], minlength=prob.k) > 0
        mine = prob.labels[photo_fold == f]
        if len(mine) and rest[mine].any():
            chosen.append(f)
            held += int(rest[mine].sum())
            if held >= ENOUGH_SCORED:
                break
    return photo_fold, chosen


# ---------------------------------------------------------------- the head

def train_head(train_x, train_y, val_x, val_y, num_classes: int,
               settings: HeadSettings = HeadSettings(),
               class_weights: Sequence[float] | None = None,
               on_epoch: Callable[[EpochEnd], None] | None = None,
               should_stop: Callable[[], bool] | None = None,
               on_choice: Callable[[L2Choice], None] | None = None) -> TrainedHead:
    """The head, fit to convergence: the L2 strength first (settings.l2, or by the internal fold;
    on_choice(L2Choice) hears it), then the fit on every training photo, reported in
    settings.epochs parts (an EpochEnd after each, scored on the validation photos when there
    are any). The last part's weights come back: the converged ones.

    train_x: (N, views, dim) or (N, dim); val_x: (M, dim) (the photo view only, as the
    Predictor sees it) or empty. A stop between parts keeps what was fit so far (stopped=True);
    a stop before the first part leaves best_epoch 0."""
    prob = _Problem.make(train_x, train_y, num_classes, class_weights)
    stop = should_stop or (lambda: False)
    start = None
    if settings.l2 is not None:
        choice = L2Choice(float(settings.l2), "given")
    else:
        photo_fold, folds = _internal_folds(prob, settings)
        path = _walk_path(prob, photo_fold, folds, stop) if folds else None
        if folds and path is None:
            return TrainedHead(*prob.raw(torch.zeros(prob.k, prob.x.shape[1]), torch.zeros(prob.k)), stopped=True)
        choice = path.choice if path else L2Choice(DEFAULT_L2, "too few photos")
        start = path.fits[0] if path else None      # near the answer: the final fit starts there
    if on_choice is not None:
        on_choice(choice)
    vx = torch.as_tensor(np.asarray(val_x, dtype=np.float32)).reshape(-1, prob.x.shape[1])
    vy = torch.as_tensor(np.asarray(val_y, dtype=np.int64))
    fit = _Fit(prob.x, prob.y, prob.k, choice.l2, start)
    result = TrainedHead(*prob.raw(fit.w, fit.b), l2=choice)
    epochs = max(1, int(settings.epochs))
    per_part = max(1, math.ceil(settings.max_iter / epochs))
    for epoch in paced(range(1, epochs + 1), "cpu"):
        if stop():
            result.stopped = True
            break
        t0 = time.perf_counter()
        fit.run(per_part)
        train_loss, train_acc = fit.measure()
        w, b = prob.raw(fit.w, fit.b)
        val_loss, val_acc = math.nan, math.nan
        if len(vx):
            with torch.no_grad():
                logits = vx @ w.T + b
                val_loss = float(torch.nn.functional.cross_entropy(logits, vy))
                val_acc = float((logits.argmax(1) == vy).float().mean())
        seconds = time.perf_counter() - t0
        event = EpochEnd(epoch, epochs, train_loss, train_acc, val_loss, val_acc, math.nan, seconds,
                         len(prob.x) / max(seconds, 1e-9))
        result.history.append(event)
        result.weight, result.bias, result.best_epoch, result.best_val_acc = w, b, epoch, val_acc
        if on_epoch is not None:
            on_epoch(event)
    return result


def held_out_logits(x, labels, num_classes: int, fold: np.ndarray, settings: HeadSettings = HeadSettings(),
                    class_weights: Sequence[float] | None = None,
                    should_stop: Callable[[], bool] | None = None) -> tuple[np.ndarray, L2Choice] | None:
    """(photos, classes) logits of each photo's photo view from a head fit on the other folds
    (fold: a fold per photo), at the L2 strength these folds score best, and that choice; None
    when stopped. The label check's out-of-sample answers."""
    prob = _Problem.make(x, labels, num_classes, class_weights)
    stop = should_stop or (lambda: False)
    folds = [int(f) for f in np.unique(fold)]
    strengths = L2_PATH if settings.l2 is None else (float(settings.l2),)
    path = _walk_path(prob, np.asarray(fold), folds, stop, strengths)
    if path is None:
        return None
    return path.logits, (path.choice if settings.l2 is None else L2Choice(float(settings.l2), "given"))


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

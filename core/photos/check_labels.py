"""Likely mislabelled photos: where a model that never saw the photo disagrees with its label.

    check = check_labels(scan_dataset("~/birds"))
    for s in check.suggestions:            # most likely wrong first
        s.path, s.given, s.suggested, s.confidence

Out-of-sample probabilities come from k-fold cross-validation (k=5) of a linear head on
the frozen backbone's cached features (core.training.features, core.training.quick): each
photo is predicted by a head trained on the other folds only, at the regularization the
folds score best at. Copies of one photo
(core.data.duplicates) share a fold, so a photo is never predicted by a head that learned
its twin.

The ranking is confident learning (Northcutt, Jiang and Chuang, "Confident Learning:
Estimating Uncertainty in Dataset Labels", JAIR 2021), the method behind cleanlab,
implemented here in a few lines of numpy (cleanlab itself would bring scikit-learn and
pandas along for them):

* per-class thresholds t_j = the mean probability of class j over the photos labelled j
  (the class's average self-confidence);
* a photo's likely true class is, among the classes whose probability reaches their
  threshold, the most probable one; counting (given, likely) pairs gives the confident
  joint, and its off-diagonal photos are the label issues;
* issues are ranked by self-confidence (the probability of the given label), lowest
  first, or by normalized margin (given minus the best other class).
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from core.training.folds import assign_folds

FOLDS = 5
RANKINGS = ("self_confidence", "normalized_margin")


@dataclass(frozen=True)
class Suggestion:
    path: str
    split: str                    # "train" | "val" | "test"
    given: str                    # the class the photo is filed under
    suggested: str                # the class the model, not having seen the photo, gives it
    confidence: float             # the out-of-sample probability of the suggested class
    given_probability: float      # ... of the given class (self-confidence)


@dataclass
class LabelCheck:
    root: str
    classes: list[str]
    suggestions: list[Suggestion]            # most likely wrong first
    checked: int                              # photos that took part
    accuracy: float                           # out-of-sample accuracy of the folds' heads
    confident_joint: np.ndarray               # (given, likely true) counts
    duplicates: object = None                 # core.data.duplicates.DuplicateReport or None
    skipped: list[tuple[str, str]] = field(default_factory=list)    # (path, why)
    seconds: float = 0.0
    stopped: bool = False

    @property
    def estimated_wrong(self) -> int:
        """How many labels confident learning counts as wrong (off the confident joint's diagonal)."""
        cj = self.confident_joint
        return int(cj.sum() - np.trace(cj)) if cj.size else 0


# -- the method ---------------------------------------------------------------------------

def class_thresholds(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """t_j: the mean probability of class j over the photos labelled j (1 when none are)."""
    k = probs.shape[1]
    out = np.ones(k, dtype=np.float64)
    for j in range(k):
        mine = labels == j
        if mine.any():
            out[j] = probs[mine, j].mean()
    return out


def likely_classes(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Each photo's likely true class, or -1 where no class reaches its threshold."""
    t = class_thresholds(probs, labels)
    above = probs >= t[None, :] - 1e-9
    masked = np.where(above, probs, -np.inf)
    return np.where(above.any(1), masked.argmax(1), -1)


def confident_joint(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(K, K) counts of (given label, likely true class) over the photos with a likely class."""
    k = probs.shape[1]
    likely = likely_classes(probs, labels)
    cj = np.zeros((k, k), dtype=np.int64)
    has = likely >= 0
    np.add.at(cj, (labels[has], likely[has]), 1)
    return cj


def rank_label_issues(probs: np.ndarray, labels: np.ndarray,
                      ranked_by: str = "self_confidence") -> list[tuple[int, int]]:
    """(photo index, suggested class) of the label issues, most likely wrong first."""
    if ranked_by not in RANKINGS:
        raise ValueError(f"ranked_by must be one of {RANKINGS}, not {ranked_by!r}")
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    likely = likely_classes(probs, labels)
    issues = np.nonzero((likely >= 0) & (likely != labels))[0]
    given = probs[issues, labels[issues]]
    if ranked_by == "self_confidence":
        score = given
    else:
        others = probs[issues].copy()
        others[np.arange(len(issues)), labels[issues]] = -np.inf
        score = given - others.max(1)
    order = np.lexsort((issues, score))          # lowest score first, ties by index
    return [(int(issues[i]), int(likely[issues[i]])) for i in order]


# -- out-of-sample probabilities ----------------------------------------------------------

def out_of_sample_probabilities(x: np.ndarray, labels: Sequence[int], num_classes: int,
                                folds: int = FOLDS, groups: Sequence[int] | None = None,
                                settings=None, seed: int = 0,
                                should_stop: Callable[[], bool] | None = None) -> np.ndarray | None:
    """(N, K) probabilities, each row from a head trained without that photo's fold.

    x: (N, views, dim) features; heads train on every view and predict the photo view. The
    heads are the quick recipe's (core.training.quick), their regularization the one these
    folds score best at. None when should_stop ended it."""
    from core.training.quick import HeadSettings, held_out_logits

    y = np.asarray(labels, dtype=np.int64)
    fold = assign_folds(y, folds, groups, seed)
    out = held_out_logits(np.asarray(x, dtype=np.float32), y, num_classes, fold,
                          settings or HeadSettings(seed=seed), should_stop=should_stop)
    if out is None:
        return None
    return torch.softmax(torch.from_numpy(out[0]).double(), 1).numpy()


# -- one dataset --------------------------------------------------------------------------

def _group_ids(n: int, paths: list[str], report) -> np.ndarray:
    index = {p: i for i, p in enumerate(paths)}
    groups = np.arange(n)
    for g in (report.groups if report is not None else []):
        members = [index[c.path] for c in g.copies if c.path in index]
        if members:
            groups[members] = min(members)
    return groups


def check_labels(dataset, backbone=None, store=None, folds: int = FOLDS,
                 ranked_by: str = "self_confidence", with_duplicates: bool = True,
                 progress: Callable[[str, int, int], None] | None = None,
                 should_stop: Callable[[], bool] | None = None) -> LabelCheck:
    """Rank a Dataset's likely mislabelled photos (train, val and test) and find its duplicates.

    progress(stage, done, total): stage is "duplicates" (hashing), "reading" (features) or
    "checking" (the folds). A stop leaves a LabelCheck with stopped=True and no suggestions."""
    from core.data.duplicates import find_duplicates
    from core.training.features import VIEWS, default_backbone, extract_features

    t0 = time.perf_counter()
    samples = [(s, split) for split in ("train", "val", "test") for s in (getattr(dataset, split) or [])]
    paths = [s.path for s, _ in samples]
    result = LabelCheck(dataset.root, list(dataset.classes), [], 0, float("nan"),
                        np.zeros((len(dataset.classes),) * 2, dtype=np.int64))

    def stage(name: str):
        return None if progress is None else (lambda done, total: progress(name, done, total))

    if with_duplicates:
        result.duplicates = find_duplicates(dataset, progress=stage("duplicates"), should_stop=should_stop)
        if result.duplicates is None:
            result.stopped = True
            return result
    feats = extract_features(paths, backbone or default_backbone(), views=VIEWS, store=store,
                             progress=stage("reading"), should_stop=should_stop)
    result.skipped = [(paths[i], why) for i, why in sorted(feats.errors.items())]
    if feats.stopped:
        result.stopped = True
        return result
    use = np.nonzero(feats.usable)[0]
    labels = np.array([samples[i][0].label for i in use], dtype=np.int64)
    result.checked = len(use)
    if len(use) < 2 or len(np.unique(labels)) < 2:
        result.seconds = time.perf_counter() - t0
        return result
    groups = _group_ids(len(paths), paths, result.duplicates)[use]
    if progress is not None:
        progress("checking", 0, folds)
    probs = out_of_sample_probabilities(feats.vectors[use], labels, len(dataset.classes), folds,
                                        groups, should_stop=should_stop)
    if probs is None:
        result.stopped = True
        return result
    if progress is not None:
        progress("checking", folds, folds)
    result.accuracy = float((probs.argmax(1) == labels).mean())
    result.confident_joint = confident_joint(probs, labels)
    for i, suggested in rank_label_issues(probs, labels, ranked_by):
        sample, split = samples[use[i]]
        result.suggestions.append(Suggestion(
            sample.path, split, dataset.classes[labels[i]], dataset.classes[suggested],
            float(probs[i, suggested]), float(probs[i, labels[i]])))
    result.seconds = time.perf_counter() - t0
    return result

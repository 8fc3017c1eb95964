"""Folds of photos for cross-validation, said once: the label check's folds
(core.photos.check_labels) and the quick head's internal fold (core.training.quick).

Each class's photos are dealt out evenly, so every fold sees every class it can; copies of one
photo (a group) share a fold, so a photo is never scored by a model that learnt its twin.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def assign_folds(labels: Sequence[int], folds: int, groups: Sequence[int] | None = None,
                 seed: int = 0) -> np.ndarray:
    """A fold (0 .. folds-1) per photo: each class's photos dealt out evenly; photos of one group together."""
    labels = np.asarray(labels, dtype=np.int64)
    groups = np.arange(len(labels)) if groups is None else np.asarray(groups)
    rng = np.random.default_rng(seed)
    first: dict[int, int] = {}
    for i, g in enumerate(groups.tolist()):
        first.setdefault(g, i)
    out = np.zeros(len(labels), dtype=np.int64)
    fold_of: dict[int, int] = {}
    for c in np.unique(labels):
        mine = [g for g, i in first.items() if labels[i] == c]
        rng.shuffle(mine)
        start = int(rng.integers(folds))          # small classes do not all start in fold 0
        for n, g in enumerate(mine):
            fold_of[g] = (start + n) % folds
    for i, g in enumerate(groups.tolist()):
        out[i] = fold_of[g]
    return out

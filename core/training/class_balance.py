"""Uneven classes: loss weights when they are, and what a score is worth next to always
answering the most common class. Plain words for the CLI and the window alike."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from core.data.dataset import IMBALANCE_RATIO
from core.wording import percent, plural

FEW_PER_CLASS = 50        # below this many training photos per class, more photos help most


# ---------------------------------------------------------------- weighting the loss

@dataclass(frozen=True)
class ClassBalance:
    classes: tuple[str, ...]
    counts: tuple[int, ...]           # training photos per class
    ratio: float                      # largest class / smallest class
    uneven: bool                      # ratio above the threshold: weight the loss
    weights: tuple[float, ...]        # per class; all 1.0 when the classes are even

    @property
    def message(self) -> str:
        """One sentence saying what was decided, or "" when there is nothing to say."""
        if not self.uneven:
            return ""
        big = max(range(len(self.counts)), key=lambda i: self.counts[i])
        small = min(range(len(self.counts)), key=lambda i: self.counts[i])
        return (f"The classes are uneven: '{self.classes[big]}' has "
                f"{plural(self.counts[big], 'photo')}, '{self.classes[small]}' only "
                f"{self.counts[small]} ({self.ratio:.1f} times fewer). Each class counts the "
                "same in training, so the model does not simply favour the largest one; "
                "this can be turned off under Custom.")


def class_counts(labels: Sequence[int], num_classes: int) -> list[int]:
    counts = [0] * int(num_classes)
    for y in labels:
        counts[int(y)] += 1
    return counts


def class_balance(classes: Sequence[str], counts: Sequence[int],
                  threshold: float = IMBALANCE_RATIO) -> ClassBalance:
    """Weights by inverse frequency, normalized so the average photo weighs 1 (sklearn's
    "balanced"), when the largest class has more than threshold times the smallest."""
    counts = tuple(int(c) for c in counts)
    present = [c for c in counts if c > 0]
    if len(present) < 2:
        return ClassBalance(tuple(classes), counts, 1.0, False, (1.0,) * len(counts))
    ratio = max(present) / min(present)
    uneven = ratio > threshold
    if not uneven:
        return ClassBalance(tuple(classes), counts, ratio, False, (1.0,) * len(counts))
    total, k = sum(present), len(present)
    weights = tuple(total / (k * c) if c > 0 else 0.0 for c in counts)
    return ClassBalance(tuple(classes), counts, ratio, True, weights)


# ---------------------------------------------------------------- a score in context

@dataclass(frozen=True)
class Verdict:
    accuracy: float
    baseline: float                   # the score of always answering baseline_class
    baseline_class: str
    level: str                        # "guessing" | "fair" | "good"
    headline: str                     # one sentence
    advice: tuple[str, ...]           # what to try, most useful first

    @property
    def message(self) -> str:
        return " ".join((self.headline, *self.advice))


def compare_with_guessing(accuracy: float, counts: Sequence[int], classes: Sequence[str],
                          pretrained: bool | None = None,
                          train_counts: Sequence[int] | None = None) -> Verdict:
    """How accuracy compares with always answering the most common class.

    counts: photos per class in the split the accuracy was measured on. The model is
    "barely better than guessing" while it removes less than a third of the mistakes
    that always answering the most common class makes.
    """
    total = sum(counts)
    top = max(range(len(counts)), key=lambda i: counts[i])
    base = counts[top] / total if total else 0.0
    lift = (accuracy - base) / (1 - base) if base < 1 else 0.0
    guess = f"always answering '{classes[top]}' scores {percent(base)}"
    score = f"{percent(accuracy)} correct"
    if lift < 1 / 3:
        how = "no better than guessing" if accuracy <= base + 0.005 else "barely better than guessing"
        return Verdict(accuracy, base, classes[top], "guessing", f"{score}: {how} ({guess}).",
                       _advice(pretrained, train_counts))
    if lift < 2 / 3:
        return Verdict(accuracy, base, classes[top], "fair",
                       f"{score}: better than guessing ({guess}), but it still makes many "
                       "mistakes.", _advice(pretrained, train_counts)[:2])
    return Verdict(accuracy, base, classes[top], "good",
                   f"{score}: much better than guessing ({guess}).", ())


def _advice(pretrained: bool | None, train_counts: Sequence[int] | None) -> tuple[str, ...]:
    tips = []
    if train_counts and min(train_counts) < FEW_PER_CLASS:
        tips.append(f"Add photos: the smallest class has only "
                    f"{plural(min(train_counts), 'training photo')}; aim for at least "
                    f"{FEW_PER_CLASS} per class.")
    if pretrained is False:
        tips.append("Use Quick training: a network pretrained on millions of photos learns "
                    "from a few dozen per class.")
    elif pretrained:
        tips.append("Try \"Fine-tune all layers\" after the quick training.")
    tips.append("Check that each class folder holds only photos of that class.")
    return tuple(tips)

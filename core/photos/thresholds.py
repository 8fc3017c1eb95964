"""The review threshold from evidence: per class, how right and how complete the model's answers
are at each confidence threshold on the validation photos, and the lowest threshold that
reaches the precision the person asks for.

    result = evaluate_folder(predictor, "DATA", "val")      # core.photos.evaluation
    curves = threshold_curves(result)                        # one ClassCurve per class
    choice = choose_thresholds(result, 0.98)                 # too few photos: the global threshold
    print("\n".join(choice.lines()))
    save_thresholds("best.pt", choice.to_record())          # core.model.checkpoints
    limit = review_thresholds(None, predictor)               # what a sort uses: T given, else the model's

For class c at threshold t, over the photos the model names c (its top answer): precision is
the share of those at probability >= t that truly are c; recall the share of the true c photos
named c at >= t; review the share of all evaluated photos named c below t (they would go to
DEST/_review). No torch here: the numbers come from an EvaluationResult's answers, so nothing
is predicted twice.
"""
from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import dataclass, field

from core.errors import FledgeError
from core.wording import plural, rounded_percent

DEFAULT_TARGET = 0.98
MIN_PHOTOS = 10          # fewer true photos of a class in the split: too few to choose its own threshold
NEVER = 1.0              # a target no threshold reaches: only answers the model is completely sure of pass
ALL_CLASSES = ""         # the name of the curve over every photo (the global threshold)


@dataclass(frozen=True)
class CurvePoint:
    threshold: float
    precision: float | None      # None: no photo is named this class at this threshold
    recall: float
    review: float


@dataclass(frozen=True)
class ClassCurve:
    """Precision, recall and review share at each threshold where they change (ascending from 0)."""
    name: str
    support: int                 # true photos of the class evaluated
    named: int                   # photos the model named this class
    photos: int                  # photos evaluated (of every class): what review shares are of
    thresholds: tuple[float, ...]
    precision: tuple[float | None, ...]
    recall: tuple[float, ...]
    review: tuple[float, ...]

    def at(self, t: float) -> CurvePoint:
        """The figures for threshold t (photos at probability >= t are sorted)."""
        i = bisect.bisect_left(self.thresholds, t)     # the figures hold up to the next photo's confidence
        if i == len(self.thresholds):                  # above every answer: all of them go to review
            return CurvePoint(t, None, 0.0, self.named / self.photos if self.photos else 0.0)
        return CurvePoint(t, self.precision[i], self.recall[i], self.review[i])

    def lowest_reaching(self, target: float) -> float | None:
        """The lowest threshold at which precision reaches target (None: none does)."""
        for t, p in zip(self.thresholds, self.precision):
            if p is not None and p >= target - 1e-12:
                return t
        return None


def _curve(name: str, answers: list[tuple[float, bool]], support: int, total: int) -> ClassCurve:
    """answers: (confidence, right) of each photo named this class; total: photos evaluated."""
    answers = sorted(answers)
    confidences = [c for c, _ in answers]
    right_above = [0] * (len(answers) + 1)         # right answers at index >= i
    for i in range(len(answers) - 1, -1, -1):
        right_above[i] = right_above[i + 1] + answers[i][1]
    thresholds = sorted({0.0, *confidences})
    precision, recall, review = [], [], []
    for t in thresholds:
        i = bisect.bisect_left(confidences, t)      # answers[i:] are at >= t
        kept, right = len(answers) - i, right_above[i]
        precision.append(right / kept if kept else None)
        recall.append(right / support if support else 0.0)
        review.append(i / total if total else 0.0)
    return ClassCurve(name, support, len(answers), total, tuple(thresholds), tuple(precision), tuple(recall),
                      tuple(review))


def threshold_curves(result) -> list[ClassCurve]:
    """One curve per class of the result (core.photos.evaluation.EvaluationResult), in its order."""
    total = result.evaluated
    support = [0] * len(result.classes)
    named: list[list[tuple[float, bool]]] = [[] for _ in result.classes]
    for im in result.images:
        support[im.true_idx] += 1
        named[im.pred_idx].append((im.confidence, im.correct))
    return [_curve(c, named[i], support[i], total) for i, c in enumerate(result.classes)]


def overall_curve(result) -> ClassCurve:
    """The curve over every photo, whatever class it is named: precision of all sorted photos."""
    answers = [(im.confidence, im.correct) for im in result.images]
    return _curve(ALL_CLASSES, answers, result.evaluated, result.evaluated)


# -- choosing ------------------------------------------------------------------------------

@dataclass(frozen=True)
class ClassThreshold:
    """The threshold for one class and what it means on the validation photos.

    source: "chosen" (the lowest reaching the target on its own photos), "few" (too few photos:
    the global threshold) or "unreachable" (no threshold reaches the target: NEVER).
    """
    name: str
    target: float
    threshold: float
    source: str
    support: int
    precision: float | None
    recall: float
    review: float


@dataclass(frozen=True)
class ThresholdChoice:
    target: float                # the target asked for every class without one of its own
    default: float               # the global threshold: for classes with too few photos
    default_reached: bool        # whether the global threshold reaches the target
    classes: tuple[ClassThreshold, ...]
    evaluated: int
    split: str = "val"

    @property
    def review(self) -> float:
        """The share of all evaluated photos that would go to review with these thresholds."""
        return sum(c.review for c in self.classes)

    def thresholds(self) -> dict[str, float]:
        return {c.name: c.threshold for c in self.classes}

    def to_record(self) -> dict:
        """Plain values for the model file (core.model.checkpoints.save_thresholds)."""
        return {"classes": self.thresholds(), "default": float(self.default),
                "targets": {c.name: float(c.target) for c in self.classes}, "target": float(self.target),
                "split": self.split, "photos": int(self.evaluated)}

    def to_dict(self) -> dict:
        return {**self.to_record(), "review": self.review, "default_reached": self.default_reached,
                "per_class": [c.__dict__ for c in self.classes]}

    def lines(self) -> list[str]:
        """The plain consequence, one line per class, then the total."""
        out = [consequence(c, self.default) for c in self.classes]
        if self.split == "train":
            out.insert(0, "These figures come from the training photos, which the model has learnt: on new photos "
                          "it is less often right. Choose the validation split for thresholds you can trust.")
        out.append(f"With these thresholds about {rounded_percent(self.review)} of the photos go to review.")
        if not self.default_reached:
            out.append(f"Even all classes together never reach {rounded_percent(self.target)} precision, "
                       "so classes with too few photos send all their photos to review.")
        return out


def sure_enough(threshold: float) -> str:
    """A threshold in words: 'sorted when the model is at least 87 % sure' (not 0.87)."""
    if threshold <= 0:
        return "its photos are sorted whatever the model's certainty"
    return f"sorted when the model is at least {rounded_percent(threshold)} sure"


def consequence(c: ClassThreshold, default: float) -> str:
    """'At 98 % precision for 'plane' (sure from 0.87 up), about 4 % of the photos go to review; 93 %
    of the planes are sorted.' and its cousins for too few photos and unreachable targets."""
    sorted_share = f"{rounded_percent(c.recall)} of the '{c.name}' photos are sorted into it"
    if c.source == "few":
        few = f"only {plural(c.support, 'validation photo')}" if c.support else "no validation photos"
        return (f"'{c.name}': {few}, too few to choose from, so it uses the threshold for all classes: "
                f"{sure_enough(default)}.")
    if c.source == "unreachable":
        best = f" (at best {rounded_percent(c.precision)})" if c.precision is not None else ""
        return (f"'{c.name}' never reaches {rounded_percent(c.target)} precision on the validation photos{best}: "
                "its photos go to review. Lower the target, or add photos and retrain.")
    return (f"At {rounded_percent(c.target)} precision for '{c.name}' ({sure_enough(c.threshold)}), about "
            f"{rounded_percent(c.review)} of the photos go to review; {sorted_share}.")


def choose_thresholds(result, target: float = DEFAULT_TARGET, targets: Mapping[str, float] | None = None,
                      min_photos: int = MIN_PHOTOS) -> ThresholdChoice:
    """Per class of the model, the lowest threshold whose precision reaches its target (targets[name],
    else target). A class with fewer than min_photos true photos in the result uses the global
    threshold (the lowest reaching target over all photos together)."""
    for t in [target, *(targets or {}).values()]:
        if not 0.0 <= float(t) <= 1.0:
            raise FledgeError(f"A target precision must be from 0 to 1 (for example 0.98), not {t}.")
    curves = {c.name: c for c in threshold_curves(result)}
    lowest = overall_curve(result).lowest_reaching(target)
    default = NEVER if lowest is None else lowest
    names = list(result.model_classes or result.classes)
    names += [c for c in result.classes if c not in names]
    chosen = []
    for name in names:
        curve = curves.get(name) or _curve(name, [], 0, result.evaluated)
        want = float((targets or {}).get(name, target))
        if curve.support < min_photos:
            source, t = "few", default
        else:
            t = curve.lowest_reaching(want)
            source = "chosen" if t is not None else "unreachable"
            t = NEVER if t is None else t
        point = curve.at(t)
        if source == "unreachable":      # say how close it came
            best = [p for p in curve.precision if p is not None]
            point = CurvePoint(t, max(best) if best else None, point.recall, point.review)
        chosen.append(ClassThreshold(name, want, float(t), source, curve.support, point.precision, point.recall,
                                     point.review))
    return ThresholdChoice(float(target), float(default), lowest is not None, tuple(chosen), result.evaluated,
                           getattr(result, "split", "val"))


# -- using ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class ReviewThresholds:
    """The threshold below which a photo goes to review, per class (a class not listed: default)."""
    default: float = 0.0
    per_class: Mapping[str, float] = field(default_factory=dict)

    def for_label(self, label: str | None) -> float:
        return float(self.per_class.get(label, self.default))

    def values(self) -> list[float]:
        return [self.default, *self.per_class.values()]

    @classmethod
    def from_record(cls, record) -> ReviewThresholds | None:
        """From a model file's "thresholds" entry (None when there is none)."""
        if not isinstance(record, Mapping) or not isinstance(record.get("classes"), Mapping):
            return None
        return cls(float(record.get("default", 0.0)), {str(k): float(v) for k, v in record["classes"].items()})

    def describe(self) -> str:
        """'bird 0.62, plane 0.87; any other class 0.83'."""
        parts = ", ".join(f"{name} {t:.2f}" for name, t in self.per_class.items())
        return f"{parts}; any other class {self.default:.2f}" if parts else f"{self.default:.2f}"


def model_thresholds(predictor) -> ReviewThresholds | None:
    """The per-class thresholds saved in the predictor's model file, if any."""
    return ReviewThresholds.from_record((getattr(predictor, "info", None) or {}).get("thresholds"))


def review_thresholds(given: float | None, predictor) -> float | ReviewThresholds:
    """What a sort compares each photo with: the threshold given (it overrides), else the model
    file's per-class thresholds, else 0 (nothing goes to review)."""
    if given is not None:
        return float(given)
    return model_thresholds(predictor) or 0.0


__all__ = ["ClassCurve", "CurvePoint", "ClassThreshold", "ThresholdChoice", "ReviewThresholds", "threshold_curves",
           "overall_curve", "choose_thresholds", "consequence", "model_thresholds", "review_thresholds",
           "DEFAULT_TARGET", "MIN_PHOTOS"]

"""The review threshold from evidence: per class, how right and how complete the model's answers
are at each confidence threshold on the validation photos, and the lowest threshold at which the
evidence *promises* the precision the person asks for.

    result = evaluate_folder(predictor, "DATA", "val")      # core.photos.evaluation
    curves = threshold_curves(result)                        # one ClassCurve per class
    choice = choose_thresholds(result, 0.98)                 # a class without enough evidence: review
    print("\n".join(choice.lines()))
    save_thresholds("best.pt", choice.to_record())          # core.model.checkpoints
    limit = review_thresholds(None, predictor)               # what a sort uses: T given, else the model's

For class c at threshold t, over the photos the model names c (its top answer): precision is
the share of those at probability >= t that truly are c; recall the share of the true c photos
named c at >= t; review the share of all evaluated photos named c below t (they would go to
DEST/_review). No torch here: the numbers come from an EvaluationResult's answers, so nothing
is predicted twice.

A precision measured on a few photos promises little: 3 right of 3 is "100 %", yet a model
right only half the time gives that one time in eight. So a threshold is chosen only where the
lower confidence bound of the precision (Wilson's score interval, one-sided, CONFIDENCE) reaches
the target; a class whose validation photos cannot promise it gets no threshold, its photos go
to review, and the words say how many more validation photos would be needed. (Wilson's bound
needs only the normal quantile, from the standard library: no statistics package is needed.)
"""
from __future__ import annotations

import bisect
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from statistics import NormalDist

from core.errors import FledgeError
from core.wording import percent, plural, rounded_percent

DEFAULT_TARGET = 0.98
CONFIDENCE = 0.95        # how sure the promise is: the precision is at least the bound 19 times in 20
NEVER = 1.0              # the stored threshold of a class sent to review (for Fledge versions before "review")
ALL_CLASSES = ""         # the name of the curve over every photo
EVIDENCE, UNREACHABLE, CHOSEN = "evidence", "unreachable", "chosen"
WHY_REVIEW = {EVIDENCE: "too little evidence", UNREACHABLE: "not right often enough"}
_MOST_NEEDED = 10 ** 7   # the search for "how many more photos" stops here (a target of 1.0 never gets there)


def wilson_lower(right: int, n: int, confidence: float = CONFIDENCE) -> float:
    """The lower end of Wilson's one-sided score interval for right successes in n: the least
    precision the photos promise at this confidence (0 for no photos)."""
    if n <= 0:
        return 0.0
    z = NormalDist().inv_cdf(confidence)
    p = right / n
    centre = p + z * z / (2 * n)
    margin = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, (centre - margin) / (1 + z * z / n))


def more_needed(right: int, n: int, target: float, confidence: float = CONFIDENCE) -> int | None:
    """How many more right answers would make wilson_lower reach target (None: no number would,
    for a target of 1)."""
    def enough(m: int) -> bool:
        return wilson_lower(right + m, n + m, confidence) >= target - 1e-12
    if enough(0):
        return 0
    hi = 1
    while not enough(hi):
        hi *= 2
        if hi > _MOST_NEEDED:
            return None
    lo = hi // 2                  # not enough at lo (or lo == 0), enough at hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if enough(mid) else (mid, hi)
    return hi


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
    kept: tuple[int, ...] = ()   # photos named this class at >= each threshold
    right: tuple[int, ...] = ()  # ... of which truly of it

    def at(self, t: float) -> CurvePoint:
        """The figures for threshold t (photos at probability >= t are sorted)."""
        i = bisect.bisect_left(self.thresholds, t)     # the figures hold up to the next photo's confidence
        if i == len(self.thresholds):                  # above every answer: all of them go to review
            return CurvePoint(t, None, 0.0, self.named / self.photos if self.photos else 0.0)
        return CurvePoint(t, self.precision[i], self.recall[i], self.review[i])

    def promised(self, confidence: float = CONFIDENCE) -> tuple[float, ...]:
        """The precision the photos promise at each threshold (the lower confidence bound)."""
        return tuple(wilson_lower(r, k, confidence) for r, k in zip(self.right, self.kept))

    def lowest_reaching(self, target: float) -> float | None:
        """The lowest threshold at which the measured precision reaches target (None: none does)."""
        for t, p in zip(self.thresholds, self.precision):
            if p is not None and p >= target - 1e-12:
                return t
        return None

    def lowest_promising(self, target: float, confidence: float = CONFIDENCE) -> float | None:
        """The lowest threshold at which the precision promised reaches target (None: none does)."""
        for t, bound in zip(self.thresholds, self.promised(confidence)):
            if bound >= target - 1e-12:
                return t
        return None

    def more_needed(self, target: float, confidence: float = CONFIDENCE) -> int | None:
        """How many more validation photos of this class, named rightly, would promise target at
        the best threshold (None: no number would)."""
        counts = [*zip(self.right, self.kept), (0, 0)]      # (0, 0): above every answer
        needs = [m for m in (more_needed(r, k, target, confidence) for r, k in counts) if m is not None]
        return min(needs) if needs else None


def _curve(name: str, answers: list[tuple[float, bool]], support: int, total: int) -> ClassCurve:
    """answers: (confidence, right) of each photo named this class; total: photos evaluated."""
    answers = sorted(answers)
    confidences = [c for c, _ in answers]
    right_above = [0] * (len(answers) + 1)         # right answers at index >= i
    for i in range(len(answers) - 1, -1, -1):
        right_above[i] = right_above[i + 1] + answers[i][1]
    thresholds = sorted({0.0, *confidences})
    precision, recall, review, kept_n, right_n = [], [], [], [], []
    for t in thresholds:
        i = bisect.bisect_left(confidences, t)      # answers[i:] are at >= t
        kept, right = len(answers) - i, right_above[i]
        precision.append(right / kept if kept else None)
        recall.append(right / support if support else 0.0)
        review.append(i / total if total else 0.0)
        kept_n.append(kept)
        right_n.append(right)
    return ClassCurve(name, support, len(answers), total, tuple(thresholds), tuple(precision), tuple(recall),
                      tuple(review), tuple(kept_n), tuple(right_n))


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

    source: "chosen" (the lowest threshold whose promised precision reaches the target),
    "evidence" (no threshold can promise it on so few photos: review) or "unreachable" (the
    model's answers for it are not right often enough even where it is surest: review).
    threshold is None for a class sent to review.
    """
    name: str
    target: float
    threshold: float | None
    source: str
    support: int                 # true photos of the class evaluated
    precision: float | None      # measured at the threshold (for review classes: at best)
    promised: float              # the lower confidence bound at the threshold (review classes: at best)
    recall: float
    review: float
    named: int = 0               # validation photos the model named this class
    right: int = 0               # ... rightly
    needed: int | None = None    # "evidence": more validation photos of it (named rightly) that would do

    @property
    def to_review(self) -> bool:
        return self.threshold is None


@dataclass(frozen=True)
class ThresholdChoice:
    target: float                # the target asked for every class without one of its own
    classes: tuple[ClassThreshold, ...]
    evaluated: int
    split: str = "val"
    confidence: float = CONFIDENCE

    @property
    def review(self) -> float:
        """The share of all evaluated photos that would go to review with these thresholds."""
        return sum(c.review for c in self.classes)

    def thresholds(self) -> dict[str, float]:
        """The classes that have a threshold, and it (the others' photos go to review)."""
        return {c.name: c.threshold for c in self.classes if not c.to_review}

    def to_review(self) -> dict[str, str]:
        """The classes without a threshold -> why ("evidence" or "unreachable")."""
        return {c.name: c.source for c in self.classes if c.to_review}

    def to_record(self) -> dict:
        """Plain values for the model file (core.model.checkpoints.save_thresholds). A class sent
        to review is listed in "review" and, for Fledge versions that do not know that key, at
        NEVER in "classes"; "default" is NEVER too, so a class not listed is never sorted blindly."""
        return {"classes": {c.name: float(NEVER if c.to_review else c.threshold) for c in self.classes},
                "review": self.to_review(), "default": NEVER,
                "targets": {c.name: float(c.target) for c in self.classes}, "target": float(self.target),
                "confidence": float(self.confidence), "split": self.split, "photos": int(self.evaluated)}

    def to_dict(self) -> dict:
        return {**self.to_record(), "share_to_review": self.review,
                "per_class": [c.__dict__ for c in self.classes]}

    def lines(self) -> list[str]:
        """The plain consequence, one line per class, then the total."""
        out = [consequence(c) for c in self.classes]
        if self.split == "train":
            out.insert(0, "These figures come from the training photos, which the model has learnt: on new photos "
                          "it is less often right. Choose the validation split for thresholds you can trust.")
        if self.classes and all(c.to_review for c in self.classes):
            out.insert(0, f"No class has the validation photos to promise {rounded_percent(self.target)} "
                          "precision, so every photo would go to review.")
        out.append(f"With these thresholds about {rounded_percent(self.review)} of the photos go to review.")
        return out


def sure_enough(threshold: float) -> str:
    """A threshold in words: 'sorted when the model is at least 87 % sure' (not 0.87)."""
    if threshold <= 0:
        return "its photos are sorted whatever the model's certainty"
    return f"sorted when the model is at least {rounded_percent(threshold)} sure"


def consequence(c: ClassThreshold) -> str:
    """'At 98 % precision for 'plane' (sorted when the model is at least 87 % sure), about 4 %
    of the photos go to review; 93 % of
    the 'plane' photos are sorted into it.' and its cousins for classes sent to review."""
    if c.source == UNREACHABLE:
        best = f" (at best {rounded_percent(c.precision)})" if c.precision is not None else ""
        return (f"'{c.name}' never reaches {rounded_percent(c.target)} precision on the validation photos{best}: "
                "its photos go to review. Lower the target, or add photos and retrain.")
    if c.source == EVIDENCE:
        seen = (f"the model named no validation photo '{c.name}'" if not c.named else
                f"{c.right} of the {plural(c.named, 'validation photo')} the model named '{c.name}' "
                f"{'was' if c.right == 1 else 'were'} right")
        if c.needed is None:
            more = "No number of photos can promise 100 %: ask for 99 % or less."
        else:
            more = (f"With about {plural(c.needed, 'more validation photo')} of '{c.name}' that the model gets "
                    "right, it could be promised.")
        # Rounded down: the figure said must never reach a target the photos do not promise.
        low = f" (it could be as low as {percent(math.floor(c.promised * 1000) / 1000)})" if c.named else ""
        return (f"'{c.name}': {seen}, too little evidence to promise {rounded_percent(c.target)} precision"
                f"{low}, so its photos go to review. {more}")
    return (f"At {rounded_percent(c.target)} precision for '{c.name}' ({sure_enough(c.threshold)}), about "
            f"{rounded_percent(c.review)} of the photos go to review; {rounded_percent(c.recall)} of the "
            f"'{c.name}' photos are sorted into it.")


def _check_share(value, what: str) -> float:
    if not 0.0 <= float(value) <= 1.0:
        raise FledgeError(f"{what} must be from 0 to 1 (for example 0.98), not {value}.")
    return float(value)


def _class_threshold(curve: ClassCurve, want: float, confidence: float) -> ClassThreshold:
    promised = curve.promised(confidence)
    t = curve.lowest_promising(want, confidence)
    if t is not None:
        i = curve.thresholds.index(t)
        point = curve.at(t)
        return ClassThreshold(curve.name, want, float(t), CHOSEN, curve.support, point.precision, promised[i],
                              point.recall, point.review, curve.named, curve.right[0] if curve.right else 0)
    measured = [p for p in curve.precision if p is not None]
    best = max(measured) if measured else None
    source = UNREACHABLE if best is not None and best < want - 1e-12 else EVIDENCE
    all_review = curve.named / curve.photos if curve.photos else 0.0
    return ClassThreshold(curve.name, want, None, source, curve.support, best, max(promised, default=0.0), 0.0,
                          all_review, curve.named, curve.right[0] if curve.right else 0,
                          curve.more_needed(want, confidence) if source == EVIDENCE else None)


def choose_thresholds(result, target: float = DEFAULT_TARGET, targets: Mapping[str, float] | None = None,
                      confidence: float = CONFIDENCE) -> ThresholdChoice:
    """Per class of the model, the lowest threshold whose promised precision (the lower confidence
    bound, at confidence) reaches its target (targets[name], else target). A class whose
    validation photos promise it at no threshold gets none: its photos go to review."""
    for t in [target, *(targets or {}).values()]:
        _check_share(t, "A target precision")
    if not 0.5 <= float(confidence) < 1.0:
        raise FledgeError(f"The confidence must be at least 0.5 and below 1 (for example 0.95), not {confidence}.")
    curves = {c.name: c for c in threshold_curves(result)}
    names = list(result.model_classes or result.classes)
    names += [c for c in result.classes if c not in names]
    chosen = [_class_threshold(curves.get(name) or _curve(name, [], 0, result.evaluated),
                               float((targets or {}).get(name, target)), float(confidence)) for name in names]
    return ThresholdChoice(float(target), tuple(chosen), result.evaluated, getattr(result, "split", "val"),
                           float(confidence))


# -- using ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class ReviewThresholds:
    """The threshold below which a photo goes to review, per class (a class not listed: default),
    and the classes whose photos all go to review (review: class -> why, "evidence" or
    "unreachable")."""
    default: float = 0.0
    per_class: Mapping[str, float] = field(default_factory=dict)
    review: Mapping[str, str] = field(default_factory=dict)

    def for_label(self, label: str | None) -> float:
        return float(self.per_class.get(label, self.default))

    def sends_to_review(self, label: str | None, probability: float) -> bool:
        """Whether a photo the model names label at probability goes to review."""
        return label in self.review or probability < self.for_label(label)

    def values(self) -> list[float]:
        return [self.default, *self.per_class.values()]

    @classmethod
    def from_record(cls, record) -> ReviewThresholds | None:
        """From a model file's (or export.json's) "thresholds" entry (None when there is none)."""
        if not isinstance(record, Mapping) or not isinstance(record.get("classes"), Mapping):
            return None
        review = record.get("review") or {}
        review = {str(k): str(v) for k, v in review.items()} if isinstance(review, Mapping) else {}
        return cls(float(record.get("default", 0.0)),
                   {str(k): float(v) for k, v in record["classes"].items() if str(k) not in review}, review)

    def used(self, classes=()) -> list[tuple[str, str]]:
        """(class, what decided its photos) for each class listed here, then the other classes given:
        [("vole", "0.91"), ("lemming", "to review: too little evidence")]."""
        names = list(dict.fromkeys([*self.per_class, *self.review, *classes]))
        return [(n, f"to review: {WHY_REVIEW.get(self.review[n], self.review[n])}" if n in self.review
                 else f"{self.for_label(n):.2f}") for n in names]

    def to_dict(self) -> dict:
        return {"default": self.default, "classes": dict(self.per_class), "review": dict(self.review)}

    def describe(self, classes=()) -> str:
        """'bird 0.62, plane 0.87, owl to review (too little evidence); any other class 0.83', or
        '0.80 for every class' for one threshold."""
        if not self.per_class and not self.review:
            return f"{self.default:.2f} for every class"
        parts = [f"{name} {what}" if not what.startswith("to review") else
                 f"{name} to review ({what.removeprefix('to review: ')})" for name, what in self.used(classes)]
        other = "" if self.default >= NEVER else f"; any other class {self.default:.2f}"
        return ", ".join(parts) + other


def as_review_thresholds(threshold: float | ReviewThresholds) -> ReviewThresholds:
    """One threshold for every class, or the per-class thresholds as they are."""
    return threshold if isinstance(threshold, ReviewThresholds) else ReviewThresholds(threshold)


def model_thresholds(predictor) -> ReviewThresholds | None:
    """The per-class thresholds saved in the predictor's model file (or export), if any."""
    return ReviewThresholds.from_record((getattr(predictor, "info", None) or {}).get("thresholds"))


def review_thresholds(given: float | None, predictor) -> float | ReviewThresholds:
    """What a sort compares each photo with: the threshold given (it overrides), else the model
    file's per-class thresholds, else 0 (nothing goes to review)."""
    if given is not None:
        return float(given)
    return model_thresholds(predictor) or 0.0


__all__ = ["ClassCurve", "CurvePoint", "ClassThreshold", "ThresholdChoice", "ReviewThresholds", "threshold_curves",
           "overall_curve", "choose_thresholds", "consequence", "model_thresholds", "review_thresholds",
           "as_review_thresholds", "wilson_lower", "more_needed", "DEFAULT_TARGET", "CONFIDENCE", "WHY_REVIEW"]

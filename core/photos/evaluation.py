"""How good is a saved model on a dataset split: accuracy, per-class figures, confusion.

    result = evaluate_folder(Predictor.from_checkpoint("best.pt"), "DATA", "val")
    print(result.format_text())
    result.cell(true_idx, pred_idx)   # the photos behind one confusion-matrix cell
    result = relabel(result, [(old_path, new_path, "owl")])   # after moving a photo to owl/
    advice = cell_advice(result, true_idx, pred_idx)   # may its photos be wrongly labelled?

Classes are matched by name, so a model whose class list is in another order than
the dataset's (or has extra classes) is evaluated correctly. Rows of the confusion
matrix are true classes, columns predicted classes; result.classes is the dataset's
classes followed by any model-only classes the model actually predicted.

No torch here: the predictor is any object with `classes` and
predict_many(paths, batch_size=, top_k=, progress=, should_stop=).
"""
from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

from core.data.dataset import scan_dataset
from core.data.split import SPLITS, SplitSettings
from core.errors import FledgeError
from core.files.file_transfer import path_key
from core.progress import JobProgress, Throttled
from core.wording import of_total

# When may a confusion cell's mistakes be blamed on the labels rather than on the model?
STRONG_ACCURACY = 0.85      # the model gets at least this share right ...
STRONG_ERROR_SHARE = 0.5    # ... and makes at most half the mistakes of always answering the commonest class
STRONG_MIN_PHOTOS = 20      # ... on enough photos for these shares to mean something
SURE = 0.8                  # and the cell's answers are this sure on average


@dataclass(frozen=True)
class ImageResult:
    path: str
    true_idx: int
    pred_idx: int
    confidence: float      # the model's probability for its predicted class
    true_class: str
    pred_class: str

    @property
    def correct(self) -> bool:
        return self.true_idx == self.pred_idx


@dataclass(frozen=True)
class ClassFigures:
    name: str
    precision: float
    recall: float
    f1: float
    support: int           # true images of this class evaluated


@dataclass
class EvaluationResult:
    classes: list[str]
    confusion: list[list[int]]                 # [true][predicted] counts
    images: list[ImageResult]
    errors: list[tuple[str, str]] = field(default_factory=list)   # (path, reason) not evaluated
    split: str = "val"
    dataset_root: str = ""
    total: int = 0                             # images in the split
    stopped: bool = False                      # should_stop ended it early: figures cover part
    model_classes: list[str] = field(default_factory=list)     # the model's classes, in its order
    dataset_classes: list[str] = field(default_factory=list)   # the dataset's (empty: result.classes)

    # -- figures ------------------------------------------------------------------------
    @property
    def evaluated(self) -> int:
        return len(self.images)

    @property
    def correct(self) -> int:
        return sum(self.confusion[i][i] for i in range(len(self.classes)))

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.evaluated if self.evaluated else None

    def baseline(self) -> tuple[str, float] | None:
        """The commonest true class and the accuracy of always answering it (None: nothing
        evaluated): what a model must beat to have learnt anything."""
        if not self.evaluated:
            return None
        counts = [sum(row) for row in self.confusion]
        best = max(range(len(counts)), key=lambda c: (counts[c], -c))
        return self.classes[best], counts[best] / self.evaluated

    def is_strong(self) -> bool:
        """Whether the model is good enough that its confident mistakes point at wrong labels:
        on STRONG_MIN_PHOTOS or more, at least STRONG_ACCURACY right overall and per class on
        average (so a rare class it mostly misses does not hide behind a common one), and at most
        STRONG_ERROR_SHARE of the mistakes always answering the commonest class would make."""
        base = self.baseline()
        if base is None or self.evaluated < STRONG_MIN_PHOTOS:
            return False
        recalls = [f.recall for f in self.per_class() if f.support]
        error, base_error = 1.0 - self.accuracy, 1.0 - base[1]
        return (self.accuracy >= STRONG_ACCURACY and sum(recalls) / len(recalls) >= STRONG_ACCURACY
                and error <= STRONG_ERROR_SHARE * base_error)

    def per_class(self) -> list[ClassFigures]:
        n = len(self.classes)
        out = []
        for c in range(n):
            tp = self.confusion[c][c]
            support = sum(self.confusion[c])
            predicted = sum(self.confusion[r][c] for r in range(n))
            precision = tp / predicted if predicted else 0.0
            recall = tp / support if support else 0.0
            f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
            out.append(ClassFigures(self.classes[c], precision, recall, f1, support))
        return out

    def averages(self) -> dict[str, dict[str, float]]:
        """Macro (every class counts the same) and weighted (by support) means."""
        figs = self.per_class()
        total = sum(f.support for f in figs)
        out = {}
        for kind in ("macro", "weighted"):
            d = {}
            for m in ("precision", "recall", "f1"):
                if kind == "macro":
                    d[m] = sum(getattr(f, m) for f in figs) / len(figs) if figs else 0.0
                else:
                    d[m] = sum(getattr(f, m) * f.support for f in figs) / total if total else 0.0
            out[kind] = d
        return out

    def confusion_normalized(self) -> list[list[float]]:
        """Each row divided by its total: the share of each true class predicted as each class."""
        return [[v / sum(row) if sum(row) else 0.0 for v in row] for row in self.confusion]

    def cell(self, true_idx: int, pred_idx: int) -> list[ImageResult]:
        """The images behind one confusion-matrix cell.

        Off the diagonal (mistakes): most confident first -- the worst mistakes, often
        mislabelled photos. On the diagonal: least confident first -- the right answers
        the model was least sure of.
        """
        items = [r for r in self.images if r.true_idx == true_idx and r.pred_idx == pred_idx]
        sign = 1.0 if true_idx == pred_idx else -1.0
        return sorted(items, key=lambda r: (sign * r.confidence, r.path))

    def mistakes(self) -> list[ImageResult]:
        """Every wrongly predicted image, most confident first."""
        return sorted((r for r in self.images if not r.correct), key=lambda r: (-r.confidence, r.path))

    # -- output -------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {
            "split": self.split, "dataset_root": self.dataset_root, "classes": list(self.classes),
            "total": self.total, "evaluated": self.evaluated, "stopped": self.stopped,
            "accuracy": self.accuracy, "model_classes": list(self.model_classes),
            "dataset_classes": list(self.dataset_classes),
            "per_class": [f.__dict__ for f in self.per_class()],
            "averages": self.averages(),
            "confusion": [list(r) for r in self.confusion],
            "confusion_normalized": self.confusion_normalized(),
            "images": [{"path": r.path, "true": r.true_class, "predicted": r.pred_class,
                        "confidence": r.confidence} for r in self.images],
            "errors": [{"path": p, "reason": why} for p, why in self.errors],
        }

    @classmethod
    def from_dict(cls, d: dict) -> EvaluationResult:
        classes = list(d["classes"])
        index = {c: i for i, c in enumerate(classes)}
        images = [ImageResult(x["path"], index[x["true"]], index[x["predicted"]], float(x["confidence"]),
                              x["true"], x["predicted"]) for x in d.get("images", [])]
        return cls(classes=classes, confusion=[list(map(int, r)) for r in d["confusion"]], images=images,
                   errors=[(e["path"], e["reason"]) for e in d.get("errors", [])], split=d.get("split", "val"),
                   dataset_root=d.get("dataset_root", ""), total=int(d.get("total", len(images))),
                   stopped=bool(d.get("stopped", False)), model_classes=list(d.get("model_classes", [])),
                   dataset_classes=list(d.get("dataset_classes", [])))

    def format_text(self) -> str:
        lines = []
        where = f" of {self.dataset_root}" if self.dataset_root else ""
        head = f"Evaluated {of_total(self.evaluated, self.total, 'photo')} in the {self.split} split{where}"
        if self.errors:
            head += f" ({len(self.errors)} could not be read)"
        lines.append(head + ".")
        if self.stopped:
            lines.append("Stopped early: the figures cover only the images evaluated so far.")
        if self.accuracy is None:
            lines.append("No image could be evaluated.")
            return "\n".join(lines)
        lines.append(f"Accuracy: {self.accuracy:.1%} ({self.correct} of {self.evaluated} right)")
        lines.append("")
        w = max([len(c) for c in self.classes] + [len("weighted avg")])
        lines.append(f"{'class':<{w}}  precision  recall     f1  support")
        for f in self.per_class():
            lines.append(f"{f.name:<{w}}  {f.precision:9.3f}  {f.recall:6.3f}  {f.f1:5.3f}  {f.support:7d}")
        total = sum(f.support for f in self.per_class())
        for kind, avg in self.averages().items():
            label = f"{kind} avg"
            lines.append(f"{label:<{w}}  {avg['precision']:9.3f}  {avg['recall']:6.3f}  {avg['f1']:5.3f}  {total:7d}")
        lines.append("")
        lines.append("Confusion matrix (rows: true class, columns: predicted class; counts, then % of the row)")
        widths = [max(len(c), len(str(max([r[j] for r in self.confusion] + [0]))), 5)
                  for j, c in enumerate(self.classes)]
        header = " " * w + "".join(f"  {c:>{widths[j]}}" for j, c in enumerate(self.classes))
        lines.append(header)
        norm = self.confusion_normalized()
        for i, c in enumerate(self.classes):
            lines.append(f"{c:<{w}}" + "".join(f"  {v:>{widths[j]}d}" for j, v in enumerate(self.confusion[i])))
        lines.append("")
        lines.append(header)
        for i, c in enumerate(self.classes):
            lines.append(f"{c:<{w}}" + "".join(f"  {100 * v:>{widths[j] - 1}.0f}%" for j, v in enumerate(norm[i])))
        if self.errors:
            lines.append("")
            lines.append("Not evaluated (could not be read):")
            lines += [f"  {p}: {why}" for p, why in self.errors[:20]]
            if len(self.errors) > 20:
                lines.append(f"  ... and {len(self.errors) - 20} more")
        return "\n".join(lines)


def evaluate(predictor, dataset, split: str = "val", batch_size: int = 64,
             progress: Callable[[int, int], None] | None = None,
             should_stop: Callable[[], bool] | None = None) -> EvaluationResult:
    """Run predictor on one split of dataset (a core.data.dataset.Dataset) and collect the figures.

    Raises FledgeError if the split is empty or the dataset has classes the model does
    not know. When should_stop() turns true, the result covers the images done so far
    (result.stopped is True).
    """
    if split not in SPLITS:
        raise FledgeError(f"Unknown split '{split}'. Choose one of: {', '.join(SPLITS)}.")
    samples = list(getattr(dataset, split))
    root = getattr(dataset, "root", "")
    if not samples:
        hint = (" Put test pictures in DATA/test/<class>/, or train with a test share." if split == "test"
                else "")
        raise FledgeError(f"The {split} split of {root or 'the dataset'} has no images.{hint}")
    ds_classes = list(dataset.classes)
    model_classes = [str(c) for c in predictor.classes]
    unknown = [c for c in ds_classes if c not in model_classes]
    if unknown:
        raise FledgeError(
            f"The dataset has classes the model was not trained on: {', '.join(unknown)}. The model knows "
            f"only {', '.join(model_classes)}. Train a new model on this dataset, or evaluate on a dataset "
            "with only the model's classes.")
    paths = [s.path for s in samples]
    preds = predictor.predict_many(paths, batch_size=batch_size, top_k=1, progress=progress,
                                   should_stop=should_stop)
    preds = list(preds)[:len(samples)]

    classes = list(ds_classes)
    index = {c: i for i, c in enumerate(classes)}
    answered = []
    errors = []
    for sample, pred in zip(samples, preds):
        if pred.error or not pred.top:
            errors.append((sample.path, pred.error or "the model gave no answer"))
            continue
        name, prob = str(pred.top[0][0]), float(pred.top[0][1])
        if not math.isfinite(prob):
            errors.append((sample.path, "the model gave no usable answer (its output is not a number)"))
            continue
        if name not in index:          # a model-only class: add a column for it
            index[name] = len(classes)
            classes.append(name)
        answered.append((sample, index[name], prob))
    n = len(classes)
    confusion = [[0] * n for _ in range(n)]
    images = []
    for sample, p, prob in answered:
        t = sample.label
        confusion[t][p] += 1
        images.append(ImageResult(sample.path, t, p, prob, classes[t], classes[p]))
    return EvaluationResult(classes=classes, confusion=confusion, images=images, errors=errors,
                            split=split, dataset_root=root, total=len(samples),
                            stopped=len(preds) < len(samples), model_classes=model_classes,
                            dataset_classes=ds_classes)


def evaluate_folder(predictor, root, split: str = "val", *, model_path: str | None = None,
                    batch_size: int = 64, report: Callable[[JobProgress], None] | None = None,
                    should_stop: Callable[[], bool] | None = None) -> EvaluationResult:
    """Read the dataset at root, split the way the model was trained (so it is not scored on
    photos it learned from), and evaluate one split of it.

    model_path: the model file, to read the split from when the predictor does not carry it.
    report gets JobProgress("scanning"), then ("evaluating", done, total), throttled.
    """
    tell = report or (lambda _event: None)
    tell(JobProgress("scanning"))
    dataset = scan_dataset(root, verify=False, **training_split_settings(predictor, model_path))
    tell(JobProgress("evaluating", 0, len(getattr(dataset, split, ()))))
    return evaluate(predictor, dataset, split, batch_size=batch_size,
                    progress=Throttled(tell, "evaluating"), should_stop=should_stop)


def relabel(result: EvaluationResult, moves: Iterable[tuple[str, str, str]]) -> EvaluationResult:
    """The result as a new evaluation would give it after photos were given other classes.

    moves: (old path, new path, class name) for each photo moved to another class folder
    (or put back). Photos the result does not hold and classes it does not have are left
    out; the model's answers stay as they were.
    """
    index = {c: i for i, c in enumerate(result.classes)}
    moved = {path_key(old): (new, name) for old, new, name in moves if name in index}
    confusion = [list(row) for row in result.confusion]
    images = []
    for im in result.images:
        new, name = moved.get(path_key(im.path), (None, None))
        if new is None:
            images.append(im)
            continue
        t = index[name]
        confusion[im.true_idx][im.pred_idx] -= 1
        confusion[t][im.pred_idx] += 1
        images.append(replace(im, path=new, true_idx=t, true_class=name))
    return replace(result, classes=list(result.classes), confusion=confusion, images=images,
                   errors=list(result.errors))


@dataclass(frozen=True)
class CellAdvice:
    """What a cell of mistakes says about the labels, as a verdict and the figures behind it.

    verdict: "labels" (a strong model, sure here: often the label is wrong), "unsure" (a strong
    model, unsure here), "weak" (the model is not strong: these are mostly its own mistakes)
    or "few" (too few photos evaluated to tell).
    """
    verdict: str
    accuracy: float             # the model's accuracy, as evaluated
    baseline_class: str         # the commonest class ...
    baseline: float             # ... and the accuracy of always answering it
    confidence: float           # the model's mean confidence on the cell's photos (0: none)
    evaluated: int

    @property
    def labels_suspect(self) -> bool:
        return self.verdict == "labels"


def cell_advice(result: EvaluationResult, true_idx: int | None = None,
                pred_idx: int | None = None) -> CellAdvice | None:
    """Advice on the mistakes of one cell (or, with no cell, on all mistakes); None for a
    diagonal cell or when nothing was evaluated.

    Only a strong model (EvaluationResult.is_strong) that was sure (SURE on average) points at
    wrong labels; a weak model's mistakes are mostly its own, and moving those photos to the
    class it said would damage a correctly labelled dataset.
    """
    base = result.baseline()
    if base is None or (true_idx is not None and true_idx == pred_idx):
        return None
    images = result.mistakes() if true_idx is None else result.cell(true_idx, pred_idx)
    confidence = sum(im.confidence for im in images) / len(images) if images else 0.0
    if result.evaluated < STRONG_MIN_PHOTOS:
        verdict = "few"
    elif not result.is_strong():
        verdict = "weak"
    else:
        verdict = "labels" if images and confidence >= SURE else "unsure"
    return CellAdvice(verdict, result.accuracy, base[0], base[1], confidence, result.evaluated)


def relabel_summary(moves: Iterable[tuple[str, str]]) -> list[tuple[str, str, int]]:
    """(from class, to class, photos) for (old class, new class) pairs, in first-seen order: what
    a confirmation asks about before photos are moved."""
    counts = Counter((old, new) for old, new in moves if old != new)
    return [(old, new, n) for (old, new), n in counts.items()]


__all__ = ["ImageResult", "ClassFigures", "EvaluationResult", "CellAdvice", "evaluate", "evaluate_folder",
           "relabel", "cell_advice", "relabel_summary"]


def training_split_settings(predictor, model_path: str | None = None) -> dict:
    """The split the model was trained on (seed and shares, as scan_dataset's keywords), so a
    class-folder dataset splits the same way and evaluation does not score the model on photos
    it learned from. Model files from before the split was recorded use their config's."""
    info = getattr(predictor, "info", None) or {}
    if not isinstance(info.get("split"), dict) and not isinstance(info.get("config"), dict) and model_path:
        from core.model.checkpoints import load_checkpoint

        info = load_checkpoint(model_path)
    return SplitSettings.from_record(info.get("split"), info.get("config")).to_dict()

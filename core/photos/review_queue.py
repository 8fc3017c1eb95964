"""The photos waiting for a person's label, with the model's answers, least certain first.

    items = folder_items("~/sorted/_review", known=out.review_items())
    answers = ask_model(predictor, [it.path for it in items if not it.predicted])
    items = review_order(items)

The review, sort and evaluate views list ReviewItems; nothing here imports torch or Qt.
class_mismatch says when a model's classes do not fit a dataset's, guesses_unusable when they
fit so badly that its guesses must not be shown at all; labelled_away finds the
photos a sort put somewhere that were labelled into a dataset since (its labelling journals).
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from core.data.imageio import iter_image_files
from core.errors import FledgeError
from core.files.file_transfer import path_key
from core.files.journal import FileJournal
from core.photos.labelling import LABELS_JOURNAL
from core.progress import JobProgress, Throttled
from core.wording import plural

TOP_K = 3            # answers kept per photo: the suggestion and the next best
HUNT_FROM = 0.1      # a thin class this likely (among a photo's answers): shown first, to be labelled


@dataclass(eq=False)
class ReviewItem:
    """A photo in a review grid. top: the model's answers, most likely first."""
    path: str
    top: tuple = ()                       # ((class, probability), ...)
    error: str | None = None              # why the model could not read it
    true_class: str | None = None         # its label, when it comes from an evaluation

    @property
    def suggestion(self) -> str | None:
        return self.top[0][0] if self.top and not self.error else None

    @property
    def confidence(self) -> float:
        return float(self.top[0][1]) if self.top and not self.error else 0.0

    @property
    def predicted(self) -> bool:
        return bool(self.top) or self.error is not None


def folder_items(folder: str, recursive: bool = False, known: Iterable[ReviewItem] = ()) -> list[ReviewItem]:
    """The photos in folder, with the answers already known for some of them (e.g. from a sort)."""
    answers = {path_key(it.path): it for it in known}
    items = []
    for path in iter_image_files(folder, recursive=recursive):
        item = answers.get(path_key(path))
        items.append(ReviewItem(path, item.top, item.error) if item is not None else ReviewItem(path))
    return items


def has_photos(folder: str) -> bool:
    """Whether folder or a folder inside it holds a picture."""
    try:
        return next(iter_image_files(folder, recursive=True), None) is not None
    except OSError:
        return False


def ask_model(predictor, paths: list[str], report: Callable[[JobProgress], None] | None = None,
              should_stop: Callable[[], bool] | None = None) -> dict[str, tuple[tuple, str | None]]:
    """path -> (the model's top answers, error) for each photo it got to before should_stop.

    report gets JobProgress("predicting", done, total), throttled.
    """
    tell = report or (lambda _event: None)
    paths = list(paths)
    tell(JobProgress("predicting", 0, len(paths)))
    preds = predictor.predict_many(paths, top_k=min(TOP_K, max(1, len(predictor.classes))),
                                   progress=Throttled(tell, "predicting"), should_stop=should_stop)
    return {path: (tuple((str(c), float(p)) for c, p in pred.top), pred.error)
            for path, pred in zip(paths, preds)}


def review_order(predictions: Iterable, by: str = "probability", hunt: Iterable[str] = ()) -> list:
    """Least certain first, for the review grid.

    Works on anything with .top [(class, prob), ...] and .error (ReviewItem,
    core.model.predictor.Prediction, core.photos.classify.ClassifiedImage). by="probability"
    ranks by the top probability, by="margin" by top-1 minus top-2 probability. Unreadable
    items come last; ties keep their order.
    hunt: thin classes (core.photos.new_dataset.Readiness.thin): the photos the model gives
    one of them at least HUNT_FROM come first, likeliest first, so the few frames of a rare
    animal among hundreds of empty ones are labelled before the rest.
    """
    if by not in ("probability", "margin"):
        raise ValueError("by must be 'probability' or 'margin'")
    hunt = set(hunt)

    def key(p):
        top = list(getattr(p, "top", ()) or ())
        if getattr(p, "error", None) or not top:
            return (2, 0.0)
        rare = max((float(prob) for cls, prob in top if cls in hunt), default=0.0)
        if rare >= HUNT_FROM:
            return (0, -rare)
        p1 = float(top[0][1])
        p2 = float(top[1][1]) if len(top) > 1 else 0.0
        return (1, p1 if by == "probability" else p1 - p2)

    return sorted(predictions, key=key)


def legend_order(previous: list[str], classes: Iterable[str]) -> list[str]:
    """The classes in the order of their keys: those numbered before keep their numbers and a
    class added later gets the next one, so the numbers people have learnt stay put."""
    classes = list(classes)
    return [c for c in previous if c in classes] + [c for c in classes if c not in previous]


def evaluated_items(images: Iterable) -> list[ReviewItem]:
    """ReviewItems for evaluated photos (core.photos.evaluation.ImageResult): the model's answer
    as the suggestion, the photo's label as its true class."""
    return [ReviewItem(r.path, ((r.pred_class, r.confidence),), None, r.true_class) for r in images]



# -- labelling by key ----------------------------------------------------------------------

def number_problem(n: int, classes: list[str], most: int = 9) -> str:
    """Why key n gives no class ('' when it does)."""
    if 1 <= n <= len(classes):
        return ""
    return f"There is no class number {n}. " + ("Choose a dataset first." if not classes else
                                                 f"The classes are numbered 1 to {min(len(classes), most)}.")


def accepted(items: Iterable[ReviewItem], classes: Iterable[str], dataset: str) -> tuple[list, str]:
    """The (photo, class) pairs Enter labels with the model's suggestion, and why the first
    photo left out could not be (''); dataset names the dataset in that sentence."""
    classes = set(classes)
    items = list(items)
    pairs = [(it, it.suggestion) for it in items if it.suggestion in classes]
    bad = next((it for it in items if it.suggestion not in classes), None)
    if bad is None:
        return pairs, ""
    if bad.suggestion is None:
        why = "has no suggestion yet" if not bad.predicted else "could not be read by the model"
        return pairs, f"{os.path.basename(bad.path)} {why}: press a number to label it."
    return pairs, (f"The model suggests “{bad.suggestion}”, which is not a class of {dataset}. "
                   "Press a number, or add the class with “New class…”.")


def sure_enough(items: Iterable[ReviewItem], classes: Iterable[str], threshold: float) -> list:
    """The (photo, suggestion) pairs whose suggestion is a class and at least threshold sure."""
    classes = set(classes)
    return [(it, it.suggestion) for it in items if it.suggestion in classes and it.confidence >= threshold]


# -- does the model fit the dataset? -------------------------------------------------------

def _names(classes: Iterable[str], most: int = 6) -> str:
    classes = list(classes)
    shown = ", ".join(classes[:most])
    return shown + (f" and {len(classes) - most} more" if len(classes) > most else "")


def class_mismatch(model_classes: Iterable[str], dataset_classes: Iterable[str],
                   dataset: str = "the dataset") -> str:
    """Why the model's answers do not fit the dataset's classes, in a sentence ('' when they fit).

    dataset names the dataset in the sentence, e.g. "the dataset pets".
    """
    model, data = list(model_classes), list(dataset_classes)
    if not model or not data or set(model) == set(data):
        return ""
    common = set(model) & set(data)
    if not common:
        return (f"This model knows {_names(model)}, but {dataset} has {_names(data)}: none of them match, "
                "so its suggestions mean nothing here. Choose the model trained on this dataset.")
    unknown = [c for c in model if c not in common]
    if unknown:
        return (f"This model also knows {_names(unknown)}, which {dataset} has no class for, so some of its "
                "suggestions do not fit. Choose the model trained on this dataset, or add those classes.")
    missing = [c for c in data if c not in common]
    return (f"This model was not trained on {_names(missing)} of {dataset}, so it never suggests "
            f"{'it' if len(missing) == 1 else 'them'}. Retrain to include "
            f"{'it' if len(missing) == 1 else 'them'}.")


def guesses_unusable(model_classes: Iterable[str], dataset_classes: Iterable[str],
                     dataset: str = "the dataset") -> str:
    """Why a model's guesses must not be shown while labelling into this dataset ('' when they may).

    Every class the model can answer must be a class of the dataset: an unrelated model's
    "bees 50 %" under a camera's night frames orders and labels nothing but noise. A dataset
    with classes the model lacks (added since it was trained) still gets its guesses
    (class_mismatch says it never suggests those). Model classes not known yet: ''.
    """
    model, data = list(model_classes), list(dataset_classes)
    if not model:
        return ""
    if not data:
        return (f"{dataset[:1].upper() + dataset[1:]} has no classes yet, so Fledge cannot tell whether this "
                f"model ({_names(model)}) was made for it, and does not show its guesses. Add the classes with "
                "“New class…”: if they are the model's, its guesses appear.")
    unknown = [c for c in model if c not in set(data)]
    if len(unknown) == len(model):
        return (f"This model knows {_names(model)}, but {dataset} has {_names(data)}: none of them match, so "
                "its guesses are not shown. Choose the model trained on this dataset.")
    if unknown:
        return (f"This model also knows {_names(unknown)}, which {dataset} has no class for, so its guesses are "
                "not shown. Choose the model trained on this dataset, or add those classes.")
    return ""


# -- where labelled photos went ------------------------------------------------------------

def _label_journals(root: str) -> list[str]:
    """The labelling journals of a dataset: its own, and those of its val/test folders."""
    found = [os.path.join(root, LABELS_JOURNAL)]
    try:
        with os.scandir(root) as it:
            found += [os.path.join(e.path, LABELS_JOURNAL) for e in it
                      if not e.name.startswith(".") and e.is_dir()]
    except OSError:
        pass
    return [p for p in found if os.path.isfile(p)]


def _label_moves(dataset_roots: Iterable[str]) -> dict[str, str]:
    """path_key(where a photo was) -> where labelling moved it, for every move still in effect."""
    moves: dict[str, str] = {}
    for root in dict.fromkeys(os.path.abspath(r) for r in dataset_roots if r):
        for path in _label_journals(root):
            try:
                ops = FileJournal(path).live_ops()      # read only: nothing is recovered or changed
            except (OSError, FledgeError):
                continue
            moves.update((path_key(op.src), op.dst) for op in ops if op.kind == "move")
    return moves


def labelled_away(paths: Iterable[str], dataset_roots: Iterable[str]) -> dict[str, list[tuple[str, str]]]:
    """Which of these missing photos Fledge itself labelled into one of the datasets.

    Returns the folder each is in now -> [(where it was, where it is now)], following a photo
    relabelled again inside the dataset; a photo no longer at the end of its trail is left out.
    """
    moves = _label_moves(dataset_roots)
    found: dict[str, list[tuple[str, str]]] = {}
    for was in paths:
        now, seen = was, set()
        while path_key(now) in moves and path_key(now) not in seen:
            seen.add(path_key(now))
            now = moves[path_key(now)]
        if now != was and os.path.lexists(now):
            found.setdefault(os.path.dirname(now), []).append((was, now))
    return found


def labelled_lines(found: dict[str, list[tuple[str, str]]]) -> list[str]:
    """labelled_away's answer in sentences, one per folder."""
    return [f"{plural(len(moved), 'photo')} you labelled {'is' if len(moved) == 1 else 'are'} now in "
            f"{folder}, so {'it stays' if len(moved) == 1 else 'they stay'} there."
            for folder, moved in sorted(found.items())]

"""The photos waiting for a person's label, with the model's answers, least certain first.

    items = folder_items("~/sorted/_review", known=out.review_items())
    answers = ask_model(predictor, [it.path for it in items if not it.predicted])
    items = review_order(items)

The review, sort and evaluate views list ReviewItems; nothing here imports torch or Qt.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from core.data.imageio import iter_image_files
from core.photos.file_transfer import path_key
from core.progress import JobProgress, Throttled

TOP_K = 3            # answers kept per photo: the suggestion and the next best


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


def review_order(predictions: Iterable, by: str = "probability") -> list:
    """Least certain first, for the review grid.

    Works on anything with .top [(class, prob), ...] and .error (ReviewItem,
    core.model.predictor.Prediction, core.photos.classify.ClassifiedImage). by="probability"
    ranks by the top probability, by="margin" by top-1 minus top-2 probability. Unreadable
    items come last; ties keep their order.
    """
    if by not in ("probability", "margin"):
        raise ValueError("by must be 'probability' or 'margin'")

    def key(p):
        top = list(getattr(p, "top", ()) or ())
        if getattr(p, "error", None) or not top:
            return (1, 0.0)
        p1 = float(top[0][1])
        p2 = float(top[1][1]) if len(top) > 1 else 0.0
        return (0, p1 if by == "probability" else p1 - p2)

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

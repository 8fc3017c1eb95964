"""A photo with the model's answers, as the review, sort and evaluate views list it."""
from __future__ import annotations

from dataclasses import dataclass


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


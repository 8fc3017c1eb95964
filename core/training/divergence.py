"""Telling a run whose loss explodes from one that learns, early enough to keep it from being saved.

NaN and infinity are the obvious cases, but a learning rate far too high more often sends the
loss to 1e17 while staying finite: such a run looks "completed" and its model is garbage. A
loss that climbs far above where the run started is treated the same way. Where it started:
the first report of the run, but never less than the loss of guessing evenly between the
classes (ln C), so that a run starting from a trained head (thorough) with a tiny first loss
is not stopped by an ordinary wobble.
"""
from __future__ import annotations

import math

GROWTH_LIMIT = 10.0     # a loss more than 10x its start: diverged (a learning run never gets there)


class Diverged(Exception):
    """The loss became NaN, infinite or far larger than at the start; the message says what to change."""


def advice(lr: float) -> str:
    """What to do about a diverged run, in words for the window and the command line alike."""
    return (f"The learning rate ({lr:g}) is too high: try a lower one, e.g. {lr / 10:g}, or let Fledge "
            f"suggest one (\"Suggest\" next to the learning rate in the Train tab, or --lr auto).")


class LossGuard:
    """Watches the training and validation losses of one run; raises Diverged when they explode."""

    def __init__(self, num_classes: int, lr: float) -> None:
        self.floor = math.log(max(2, num_classes))      # the loss of an even guess
        self.lr = lr
        self.start: float | None = None

    @property
    def limit(self) -> float:
        return GROWTH_LIMIT * max(self.floor, self.start if self.start is not None else 0.0)

    def check_training(self, loss: float, epoch: int, step: int) -> None:
        """A running training loss (epoch counted from 1); the first one seen is the start."""
        where = f"in epoch {epoch} (step {step})"
        if not math.isfinite(loss):
            raise self._diverged(f"The loss became {'NaN' if math.isnan(loss) else 'infinite'} {where}")
        if self.start is None:
            self.start = loss
        elif loss > self.limit:
            raise self._diverged(f"The loss grew from {self.start:.3g} to {loss:.3g} {where}")

    def check_validation(self, val_loss: float, val_acc: float, epoch: int) -> None:
        """The validation figures after an epoch (both NaN without validation photos: nothing to check)."""
        if math.isnan(val_acc):
            return
        if not math.isfinite(val_loss) or val_loss > self.limit:
            start = f"{self.start:.3g}" if self.start is not None else "its start"
            raise self._diverged(f"The validation loss grew from {start} to {val_loss:.3g} in epoch {epoch}")

    def _diverged(self, what: str) -> Diverged:
        return Diverged(f"{what}: training diverged, so it was stopped and that epoch's model was not kept. "
                        + advice(self.lr))

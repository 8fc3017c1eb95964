"""Ending a run when more epochs stop helping: the patience setting.

A run is still improving while either the validation accuracy rises or the validation loss
falls (the loss moves first when the accuracy is already near its ceiling). After `patience`
epochs with neither, the run ends as completed; the best model is the one kept anyway.
"""
from __future__ import annotations

import math

from core.wording import plural

MIN_LOSS_DROP = 1e-4        # a fall of the validation loss smaller than this is noise, not progress


class EarlyStopping:
    """Fed each epoch's validation figures; says when to stop (patience 0: never)."""

    def __init__(self, patience: int) -> None:
        self.patience = patience
        self.best_acc = -math.inf
        self.best_loss = math.inf
        self.improved_at = 0          # the last epoch that improved either figure
        self.waited = 0

    def update(self, epoch: int, val_loss: float, val_acc: float) -> str | None:
        """The sentence saying why the run stops after this epoch; None to go on. Without
        validation photos there is nothing to judge by, so a run always goes on."""
        if math.isnan(val_acc):
            return None
        better_acc = val_acc > self.best_acc
        better_loss = val_loss < self.best_loss - MIN_LOSS_DROP
        self.best_acc = max(self.best_acc, val_acc)
        if not math.isnan(val_loss):
            self.best_loss = min(self.best_loss, val_loss)
        if better_acc or better_loss:
            self.improved_at, self.waited = epoch, 0
            return None
        self.waited += 1
        if self.patience <= 0 or self.waited < self.patience:
            return None
        return (f"Stopped early after epoch {epoch}: the validation accuracy and loss had not improved for "
                f"{plural(self.waited, 'epoch')} (since epoch {self.improved_at}), so more epochs would not "
                f"have helped (patience {self.patience}).")

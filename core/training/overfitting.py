"""Noticing when training and validation part ways: the network learns its training photos by
heart (the training figures keep improving) while it gets worse on photos it has not seen
(the validation loss rises), epoch after epoch.
"""
from __future__ import annotations

import math

RISING_EPOCHS = 3           # this many rises of the validation loss in a row, not one wobble


def overfitting_note(history: list[dict]) -> str | None:
    """A sentence when the last RISING_EPOCHS epochs of history (rows with epoch, train_loss,
    train_acc, val_loss, val_acc) show the training loss falling and its accuracy not falling
    while the validation loss rose every epoch; None otherwise."""
    if len(history) < RISING_EPOCHS + 1:
        return None
    first, *rest = history[-(RISING_EPOCHS + 1):]
    window = [first, *rest]
    if any(math.isnan(r["val_loss"]) for r in window):
        return None
    rising = all(b["val_loss"] > a["val_loss"] for a, b in zip(window, rest))
    last = window[-1]
    learning = last["train_loss"] < first["train_loss"] and last["train_acc"] >= first["train_acc"]
    if not (rising and learning):
        return None
    return (f"Overfitting: from epoch {first['epoch']} to {last['epoch']} the training photos were learnt "
            f"better (accuracy {first['train_acc']:.1%} to {last['train_acc']:.1%}) while the validation loss "
            f"rose ({first['val_loss']:.3g} to {last['val_loss']:.3g}): the network is learning those photos "
            f"by heart rather than what tells the classes apart. The best model is the one kept; more photos, "
            f"augmentation or fewer epochs help.")

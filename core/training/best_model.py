"""Which epoch's model is the best one, said once for every kind of run (the loop and the quick
head): the highest validation accuracy; at equal accuracy the lower validation loss, since the
model is then as right but surer of its answers."""
from __future__ import annotations

import math


def is_better(val_acc: float, val_loss: float, best_acc: float, best_loss: float) -> bool:
    """Whether an epoch with these validation figures beats the best so far (nan: none yet)."""
    if math.isnan(best_acc):
        return True
    if val_acc != best_acc:
        return val_acc > best_acc
    return val_loss < best_loss

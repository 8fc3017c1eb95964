"""How numbers read in messages, the same in the window and on the command line."""
from __future__ import annotations


def plural(n: int, word: str, many: str | None = None) -> str:
    """plural(1, 'photo') -> '1 photo'; plural(3, 'class', 'classes') -> '3 classes'."""
    return f"{n} {word if n == 1 else (many or word + 's')}"


def percent(p: float) -> str:
    """0.8731 -> '87.3 %'; keeps tiny and near-certain values honest (never '100.0 %')."""
    v = 100.0 * float(p)
    if 0 < v < 0.1:
        return "<0.1 %"
    if 99.9 < v < 100:
        return ">99.9 %"
    return f"{v:.1f} %"


def rounded_percent(p: float) -> str:
    """0.8731 -> '87 %' (one decimal below 10 %): for captions where space is short."""
    v = 100.0 * float(p)
    if 99.9 < v < 100:
        return ">99.9 %"
    return f"{v:.0f} %" if v >= 10 or v == 0 else f"{v:.1f} %"

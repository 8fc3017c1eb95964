"""How numbers read in messages, the same in the window and on the command line."""
from __future__ import annotations


def plural(n: int, word: str, many: str | None = None) -> str:
    """plural(1, 'photo') -> '1 photo'; plural(3, 'class', 'classes') -> '3 classes';
    plural(12345, 'photo') -> '12,345 photos'."""
    return f"{n:,} {word if n == 1 else (many or word + 's')}"


def per_second(rate: float, word: str, many: str | None = None) -> str:
    """per_second(1.2, 'photo') -> '1 photo/s'; per_second(2345.6, 'photo') -> '2,346 photos/s'."""
    return f"{plural(round(rate), word, many)}/s"


def of_total(done: int, total: int, word: str, many: str | None = None) -> str:
    """of_total(3, 10, 'photo') -> '3 of 10 photos'; of_total(1, 1, 'photo') -> '1 of 1 photo'."""
    return f"{done:,} of {plural(total, word, many)}"


def and_list(items) -> str:
    """['a'] -> 'a'; ['a', 'b', 'c'] -> 'a, b and c'."""
    items = [str(i) for i in items]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1] if items else ""


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


# A model's answer for one photo is shown as unsure, not as an answer, when its best guess
# is below UNSURE_BELOW or leads the next one by less than CLOSE_MARGIN.
UNSURE_BELOW = 0.6
CLOSE_MARGIN = 0.25


def is_unsure(top) -> bool:
    """Whether top ((class, probability), best first) is too uncertain to be an answer."""
    if not top:
        return False
    first = float(top[0][1])
    second = float(top[1][1]) if len(top) > 1 else 0.0
    return first < UNSURE_BELOW or first - second < CLOSE_MARGIN


def answer_text(top, sep: str = " — ") -> str:
    """'bird — 87.3 %', or 'Not sure: maybe bird (48 %) or plane (41 %)' when is_unsure(top)."""
    if not top:
        return ""
    if is_unsure(top):
        maybe = " or ".join(f"{name} ({rounded_percent(p)})" for name, p in top[:2])
        return f"Not sure: maybe {maybe}"
    return f"{top[0][0]}{sep}{percent(top[0][1])}"

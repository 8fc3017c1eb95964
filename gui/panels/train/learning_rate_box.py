"""A learning-rate field: shows 0.001 or 3e-05 and steps 1-2-5 per decade."""
from __future__ import annotations

import math

from PySide6.QtGui import QValidator
from PySide6.QtWidgets import QDoubleSpinBox, QWidget


class LearningRateBox(QDoubleSpinBox):
    """A learning rate field: shows 0.001 or 3e-05, steps 1-2-5 per decade."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setDecimals(10)
        self.setRange(1e-6, 10.0)
        self.setValue(1e-3)
        self.setKeyboardTracking(False)

    def textFromValue(self, value: float) -> str:
        return f"{value:.3g}"

    def valueFromText(self, text: str) -> float:
        try:
            return float(text.strip())
        except ValueError:
            return self.value()

    def validate(self, text: str, pos: int) -> QValidator.State:
        t = text.strip()
        try:
            v = float(t)
        except ValueError:
            # Partial entries like "", "1e", "0." are fine while typing.
            ok = all(c in "0123456789.eE-+" for c in t)
            return QValidator.State.Intermediate if ok else QValidator.State.Invalid
        if self.minimum() <= v <= self.maximum():
            return QValidator.State.Acceptable
        return QValidator.State.Intermediate

    def stepBy(self, steps: int) -> None:
        v = self.value()
        for _ in range(abs(steps)):
            v = _next_125(v, up=steps > 0)
        self.setValue(min(max(v, self.minimum()), self.maximum()))


def _next_125(v: float, up: bool) -> float:
    """The next value of the 1, 2, 5, 10, 20, ... series above or below v."""
    exp = math.floor(math.log10(v))
    candidates = sorted(m * 10.0 ** e for e in (exp - 1, exp, exp + 1) for m in (1, 2, 5))
    if up:
        return next(c for c in candidates if c > v * 1.0001)
    return next(c for c in reversed(candidates) if c < v * 0.9999)

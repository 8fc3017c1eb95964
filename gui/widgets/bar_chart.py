"""A horizontal bar chart of class probabilities, drawn with the palette's colours.

Painted by hand (a few rectangles and labels) rather than with a plotting library:
it must be crisp at any pixel ratio, follow light and dark themes, and cost nothing.
"""
from __future__ import annotations

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPalette
from PySide6.QtWidgets import QSizePolicy, QWidget

from core.wording import percent


class BarChart(QWidget):
    """One row per class: name, a bar as long as its probability, the percentage."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._values: list[tuple[str, float]] = []
        self._unsure = False
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Minimum)
        self.setMinimumWidth(200)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setAccessibleName("Class probabilities")

    def set_values(self, values: list[tuple[str, float]], unsure: bool = False) -> None:
        """unsure: no bar is drawn as the winner (the model's answer is not sure)."""
        self._unsure = bool(unsure) and bool(values)
        self._values = [(str(n), max(0.0, min(1.0, float(p)))) for n, p in values]
        text = "; ".join(f"{n}: {percent(p)}" for n, p in self._values)
        self.setToolTip(text)
        self.setAccessibleDescription(text)
        self.updateGeometry()
        self.update()

    def values(self) -> list[tuple[str, float]]:
        return list(self._values)

    def is_unsure(self) -> bool:
        return self._unsure

    def clear(self) -> None:
        self.set_values([])

    def _row_height(self) -> int:
        return self.fontMetrics().height() + 10

    def sizeHint(self) -> QSize:
        rows = max(1, len(self._values))
        return QSize(320, rows * self._row_height() + 4)

    def minimumSizeHint(self) -> QSize:
        return QSize(200, max(1, len(self._values)) * self._row_height() + 4)

    def paintEvent(self, event) -> None:
        if not self._values:
            return
        pal = self.palette()
        text = pal.color(QPalette.ColorRole.WindowText)
        top_bar = pal.color(QPalette.ColorRole.Highlight)
        other_bar = QColor(top_bar)
        other_bar.setAlphaF(0.45)       # lighter on light themes, darker on dark: both readable
        track = QColor(pal.color(QPalette.ColorRole.Mid))
        track.setAlphaF(0.25)
        fm = self.fontMetrics()
        row_h = self._row_height()
        w = self.width()
        label_w = min(max(fm.horizontalAdvance(n) for n, _ in self._values) + 12, int(w * 0.4))
        pct_w = fm.horizontalAdvance(">99.9 %") + 12
        bar_x = label_w
        bar_w = max(10, w - label_w - pct_w)

        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        for i, (name, p) in enumerate(self._values):
            y = 2 + i * row_h
            painter.setPen(text)
            painter.drawText(QRectF(0, y, label_w - 8, row_h),
                             Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                             fm.elidedText(name, Qt.TextElideMode.ElideRight, label_w - 8))
            bar = QRectF(bar_x, y + 3, bar_w, row_h - 6)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(track)
            painter.drawRoundedRect(bar, 3, 3)
            if p > 0:
                painter.setBrush(top_bar if i == 0 and not self._unsure else other_bar)
                painter.drawRoundedRect(QRectF(bar.x(), bar.y(), max(2.0, bar_w * p), bar.height()), 3, 3)
            painter.setPen(text)
            painter.drawText(QRectF(bar_x + bar_w + 6, y, pct_w - 6, row_h),
                             Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, percent(p))
        painter.end()

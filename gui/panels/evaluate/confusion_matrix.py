"""A confusion matrix drawn as a heatmap: true classes down, predicted classes across.

Colours come from the palette (Base blended towards Highlight by the share of the
true class in the cell), and each number is written in black or white, whichever
contrasts more with its cell, so the matrix reads the same in light and dark themes.
Painted by hand: a few rectangles and labels, crisp at any pixel ratio.
"""
from __future__ import annotations

from PySide6.QtCore import QEvent, QPoint, QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QPainter, QPalette, QPen
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

from core.wording import of_total, plural

MIN_CELL = 26
MAX_CELL = 120
PAD = 6


def _luminance(c: QColor) -> float:
    def lin(v: float) -> float:
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4
    return 0.2126 * lin(c.redF()) + 0.7152 * lin(c.greenF()) + 0.0722 * lin(c.blueF())


def contrast(a: QColor, b: QColor) -> float:
    """WCAG contrast ratio of two colours (1 to 21)."""
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def _blend(a: QColor, b: QColor, t: float) -> QColor:
    t = max(0.0, min(1.0, t))
    return QColor.fromRgbF(a.redF() + (b.redF() - a.redF()) * t,
                           a.greenF() + (b.greenF() - a.greenF()) * t,
                           a.blueF() + (b.blueF() - a.blueF()) * t)


class ConfusionMatrixView(QWidget):
    """Click a cell (or move with the arrow keys and press Enter) to see its photos."""

    cell_clicked = Signal(int, int)      # true class index, predicted class index

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._classes: list[str] = []
        self._counts: list[list[int]] = []
        self._normalized = False
        self._current: tuple[int, int] | None = None
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMouseTracking(True)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setAccessibleName("Confusion matrix")
        self.setToolTip("Rows: the true class. Columns: what the model said. The darker a cell, the larger "
                        "its share of the true class. Click a cell to see its photos.")

    # -- data ---------------------------------------------------------------------------
    def set_matrix(self, classes: list[str], counts: list[list[int]]) -> None:
        self._classes = [str(c) for c in classes]
        self._counts = [[int(v) for v in row] for row in counts]
        self._current = (0, 0) if self._classes else None
        self._describe()
        self.updateGeometry()
        self.update()

    def clear(self) -> None:
        self.set_matrix([], [])

    def classes(self) -> list[str]:
        return list(self._classes)

    def set_normalized(self, on: bool) -> None:
        """Show each cell as a share of its row (its true class) instead of a count."""
        self._normalized = bool(on)
        self._describe()
        self.update()

    def normalized(self) -> bool:
        return self._normalized

    def current_cell(self) -> tuple[int, int] | None:
        return self._current

    def set_current_cell(self, t: int, p: int) -> None:
        n = len(self._classes)
        if 0 <= t < n and 0 <= p < n:
            self._current = (t, p)
            self.update()

    def share(self, t: int, p: int) -> float:
        total = sum(self._counts[t])
        return self._counts[t][p] / total if total else 0.0

    def text_for(self, t: int, p: int) -> str:
        """What the cell shows: the count, or its share of the true class."""
        count = self._counts[t][p]
        if not self._normalized:
            return str(count)
        if count == 0:
            return "0"
        v = 100.0 * self.share(t, p)
        return "<1%" if v < 1 else f"{v:.0f}%"

    def cell_colour(self, t: int, p: int) -> QColor:
        pal = self.palette()
        base = pal.color(QPalette.ColorRole.Base)
        if self._counts[t][p] == 0:
            return base
        return _blend(base, pal.color(QPalette.ColorRole.Highlight), 0.12 + 0.88 * self.share(t, p))

    def text_colour(self, t: int, p: int) -> QColor:
        cell = self.cell_colour(t, p)
        black, white = QColor(0, 0, 0), QColor(255, 255, 255)
        return black if contrast(cell, black) >= contrast(cell, white) else white

    # -- geometry -----------------------------------------------------------------------
    def _layout(self) -> tuple[int, int, int, int, bool]:
        """(left, top, cell, label width, column labels rotated)."""
        n = max(1, len(self._classes))
        fm = self.fontMetrics()
        line = fm.height()
        names = [fm.horizontalAdvance(c) for c in self._classes] or [0]
        label_w = min(max(names) + PAD, max(60, int(self.width() * 0.3)))
        left = line + PAD + label_w + PAD
        top_flat = line + PAD + line + PAD
        cell = (min(self.width() - left - PAD, self.height() - top_flat - PAD)) // n
        rotated = max(names) > cell - 6
        if rotated:
            top = line + PAD + min(max(names), label_w) + PAD
            cell = (min(self.width() - left - PAD, self.height() - top - PAD)) // n
        else:
            top = top_flat
        cell = max(MIN_CELL, min(MAX_CELL, cell))
        return left, top, cell, label_w, rotated

    def cell_rect(self, t: int, p: int) -> QRect:
        left, top, cell, _, _ = self._layout()
        return QRect(left + p * cell, top + t * cell, cell, cell)

    def cell_at(self, pos: QPoint) -> tuple[int, int] | None:
        if not self._classes:
            return None
        left, top, cell, _, _ = self._layout()
        x, y = pos.x() - left, pos.y() - top
        n = len(self._classes)
        if x < 0 or y < 0 or x >= n * cell or y >= n * cell:
            return None
        return int(y // cell), int(x // cell)

    def sizeHint(self) -> QSize:
        n = max(2, len(self._classes))
        fm = self.fontMetrics()
        extra = fm.height() * 3 + max([fm.horizontalAdvance(c) for c in self._classes] or [60]) + 4 * PAD
        return QSize(n * 56 + extra, n * 56 + extra)

    def minimumSizeHint(self) -> QSize:
        n = max(2, len(self._classes))
        fm = self.fontMetrics()
        names = min(max([fm.horizontalAdvance(c) for c in self._classes] or [40]), 160)
        extra = fm.height() * 2 + names + 4 * PAD
        return QSize(n * MIN_CELL + extra, n * MIN_CELL + extra)

    # -- painting -----------------------------------------------------------------------
    def paintEvent(self, event) -> None:
        pal = self.palette()
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        text = pal.color(QPalette.ColorRole.WindowText)
        fm = self.fontMetrics()
        line = fm.height()
        if not self._classes:
            p.setPen(pal.color(QPalette.ColorRole.PlaceholderText))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                       "Evaluate a model to see which classes it mixes up.")
            p.end()
            return
        n = len(self._classes)
        left, top, cell, label_w, rotated = self._layout()
        size = n * cell
        bold = QFont(self.font())
        bold.setBold(True)

        # Axis titles.
        p.setPen(text)
        p.drawText(QRect(left, 0, size, line + PAD), Qt.AlignmentFlag.AlignCenter, "Predicted class")
        p.save()
        p.translate(0, top + size)
        p.rotate(-90)
        p.drawText(QRect(0, 0, size, line + PAD), Qt.AlignmentFlag.AlignCenter, "True class")
        p.restore()

        # Class names.
        for i, name in enumerate(self._classes):
            shown = fm.elidedText(name, Qt.TextElideMode.ElideRight, label_w)
            p.drawText(QRect(left - label_w - PAD, top + i * cell, label_w, cell),
                       Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, shown)
            if rotated:
                room = top - line - 2 * PAD
                shown = fm.elidedText(name, Qt.TextElideMode.ElideRight, room)
                p.save()
                p.translate(left + i * cell, top - PAD)
                p.rotate(-90)
                p.drawText(QRect(0, 0, room, cell), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                           shown)
                p.restore()
            else:
                shown = fm.elidedText(name, Qt.TextElideMode.ElideRight, cell - 2)
                p.drawText(QRect(left + i * cell, line + PAD, cell, line + PAD),
                           Qt.AlignmentFlag.AlignCenter, shown)

        # Cells.
        grid = QColor(pal.color(QPalette.ColorRole.Mid))
        for t in range(n):
            for c in range(n):
                r = QRect(left + c * cell, top + t * cell, cell, cell)
                p.fillRect(r, self.cell_colour(t, c))
                p.setPen(QPen(grid, 1))
                p.drawRect(r.adjusted(0, 0, -1, -1))
                p.setFont(bold if t == c else self.font())
                p.setPen(self.text_colour(t, c))
                p.drawText(r, Qt.AlignmentFlag.AlignCenter, self.text_for(t, c))
        p.setFont(self.font())
        if self._current is not None and self.hasFocus():
            t, c = self._current
            r = QRect(left + c * cell, top + t * cell, cell, cell).adjusted(1, 1, -2, -2)
            p.setPen(QPen(self.text_colour(t, c), 2, Qt.PenStyle.DashLine))
            p.drawRect(r)
        p.end()

    # -- interaction --------------------------------------------------------------------
    def describe_cell(self, t: int, c: int) -> str:
        count = self._counts[t][c]
        true, pred = self._classes[t], self._classes[c]
        photos = plural(count, 'photo')
        share = f"{100 * self.share(t, c):.0f}% of the {true} photos"
        if t == c:
            head = f"{true}, recognised correctly: {photos} ({share})"
        else:
            head = f"{true} taken for {pred}: {photos} ({share})"
        return head + ("\nClick to see them." if count else "")

    def event(self, ev) -> bool:
        if ev.type() == QEvent.Type.ToolTip:
            cell = self.cell_at(ev.pos())
            if cell is not None:
                QToolTip.showText(ev.globalPos(), self.describe_cell(*cell), self)
                return True
        return super().event(ev)

    def mousePressEvent(self, ev) -> None:
        if ev.button() == Qt.MouseButton.LeftButton:
            cell = self.cell_at(ev.position().toPoint())
            if cell is not None:
                self._current = cell
                self.update()
                self.cell_clicked.emit(*cell)
                ev.accept()
                return
        super().mousePressEvent(ev)

    def keyPressEvent(self, ev) -> None:
        if self._current is None:
            super().keyPressEvent(ev)
            return
        n = len(self._classes)
        t, c = self._current
        key = ev.key()
        moves = {Qt.Key.Key_Up: (-1, 0), Qt.Key.Key_Down: (1, 0), Qt.Key.Key_Left: (0, -1),
                 Qt.Key.Key_Right: (0, 1)}
        if key in moves:
            dt, dc = moves[key]
            self._current = (max(0, min(n - 1, t + dt)), max(0, min(n - 1, c + dc)))
            self.setAccessibleDescription(self.describe_cell(*self._current))
            self.update()
            ev.accept()
        elif key in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Space):
            self.cell_clicked.emit(t, c)
            ev.accept()
        else:
            super().keyPressEvent(ev)

    def focusInEvent(self, ev) -> None:
        super().focusInEvent(ev)
        self.update()

    def focusOutEvent(self, ev) -> None:
        super().focusOutEvent(ev)
        self.update()

    def _describe(self) -> None:
        if not self._classes:
            self.setAccessibleDescription("No evaluation yet")
            return
        n = len(self._classes)
        right = sum(self._counts[i][i] for i in range(n))
        total = sum(map(sum, self._counts))
        self.setAccessibleDescription(f"{plural(n, 'class', 'classes')}; {of_total(right, total, 'photo')} on the diagonal "
                                      "(recognised correctly). Use the arrow keys and Enter.")

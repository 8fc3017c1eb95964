"""One photo and what the model says it shows: the picture, a headline and the top classes."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QImage, QPalette
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from core.wording import percent
from gui.widgets.bar_chart import BarChart
from gui.widgets.image_view import ImageView


class PredictionView(QWidget):
    """The picture on show, its name, a headline (the answer or why there is none), the bars."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.image_view = ImageView(self)
        self.image_view.setToolTip("Drop photos here")
        self.image_view.setAccessibleName("Photo")
        self.name_label = QLabel(self)
        self.name_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.headline = QLabel(self)
        big = QFont(self.headline.font())
        big.setPointSizeF(big.pointSizeF() * 1.5)
        big.setBold(True)
        self.headline.setFont(big)
        self.headline.setWordWrap(True)
        self.headline.setAccessibleName("Prediction")
        self.chart = BarChart(self)
        self.time_label = QLabel(self)
        small = QFont(self.time_label.font())
        small.setPointSizeF(max(6.0, small.pointSizeF() * 0.85))
        self.time_label.setFont(small)
        self.time_label.setForegroundRole(QPalette.ColorRole.PlaceholderText)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.image_view, 1)
        lay.addWidget(self.name_label)
        lay.addWidget(self.headline)
        lay.addWidget(self.chart)
        lay.addWidget(self.time_label)

    def show_nothing(self, hint: str) -> None:
        """No photo: the hint takes the picture's place."""
        self.image_view.set_image(None, hint)
        self.name_label.clear()
        self.name_label.setToolTip("")
        self._clear_answer()

    def show_photo(self, name: str, where: str, image: QImage | None, missing_text: str) -> None:
        """A photo (missing_text stands in while it is decoded or when it cannot be shown)."""
        self.image_view.set_image(image, missing_text)
        self.name_label.setText(name)
        self.name_label.setToolTip(where)
        self._clear_answer()

    def show_answer(self, top: list[tuple[str, float]], milliseconds: float | None = None) -> None:
        """The model's top classes, best first, and how long the answer took."""
        if top:
            self.headline.setText(f"{top[0][0]} — {percent(top[0][1])}")
        self.chart.set_values(top)
        if milliseconds is not None:
            self.time_label.setText(f"answered in {milliseconds:.0f} ms")

    def show_state(self, text: str, tooltip: str = "") -> None:
        """A headline instead of an answer: waiting, no model, or why the photo failed."""
        self.headline.setText(text)
        self.headline.setToolTip(tooltip)

    def _clear_answer(self) -> None:
        self.headline.clear()
        self.headline.setToolTip("")
        self.chart.clear()
        self.time_label.clear()

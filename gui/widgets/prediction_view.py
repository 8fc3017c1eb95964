"""One photo and what the model says it shows: the picture, a headline and the top classes.

An answer the model is not sure of (core.wording.is_unsure) reads "Not sure: maybe bird (48 %)
or plane (41 %)" in the warning colour, with no bar standing out as the winner.
"""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QImage, QPalette
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from core.wording import answer_text, is_unsure
from gui.widgets.bar_chart import BarChart
from gui.widgets.image_view import ImageView
from gui.style import set_text_colour, warning_colour

DISPLAY_PX = 1024           # the photo on show is decoded at most this big


def fit_for_display(image: QImage) -> QImage:
    """image, scaled down to DISPLAY_PX when it is bigger."""
    if max(image.width(), image.height()) <= DISPLAY_PX:
        return image
    return image.scaled(DISPLAY_PX, DISPLAY_PX, Qt.AspectRatioMode.KeepAspectRatio,
                        Qt.TransformationMode.SmoothTransformation)


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
        self.unsure = False                 # the answer on show is not sure (is_unsure)
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
        unsure = is_unsure(top)
        self.unsure = unsure
        self.headline.setText(answer_text(top))
        self.headline.setToolTip("The model is not sure about this photo: its best guesses are close, "
                                 "or none is likely. Check it yourself." if unsure else "")
        self.headline.setPalette(self.palette())
        if unsure:
            set_text_colour(self.headline, warning_colour(self.palette()))
        self.chart.set_values(top, unsure=unsure)
        if milliseconds is not None:
            self.time_label.setText(f"answered in {milliseconds:.0f} ms")

    def show_outcome(self, state: str, top, error: str | None, milliseconds: float | None,
                     name: str, model_ready: bool) -> None:
        """What there is to say about the photo on show: its answer, or why there is none
        (state: done | error | no-model | waiting)."""
        if state == "error":
            self.show_state(f"Could not read “{name}”: {error}", error or "")
        elif state == "done" and top is not None:
            self.show_answer(top, milliseconds)
        elif state == "no-model":
            self.show_state("No model loaded")
        elif not model_ready:
            self.show_state("Waiting for the model to load…")
        else:
            self.show_state("Classifying…")

    def show_state(self, text: str, tooltip: str = "") -> None:
        """A headline instead of an answer: waiting, no model, or why the photo failed."""
        self.headline.setText(text)
        self.headline.setToolTip(tooltip)

    def _clear_answer(self) -> None:
        self.unsure = False
        self.headline.setPalette(self.palette())
        self.headline.clear()
        self.headline.setToolTip("")
        self.chart.clear()
        self.time_label.clear()

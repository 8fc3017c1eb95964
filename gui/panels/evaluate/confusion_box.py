"""A confusion matrix in a scroll area, with a choice of counts or shares of each true class."""
from __future__ import annotations

from PySide6.QtWidgets import QButtonGroup, QHBoxLayout, QLabel, QRadioButton, QScrollArea, QVBoxLayout, QWidget

from gui.panels.evaluate.confusion_matrix import ConfusionMatrixView


class ConfusionBox(QWidget):
    """ConfusionMatrixView (``matrix``) with "Counts" / "Percentages of the true class" buttons."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.matrix = ConfusionMatrixView(self)
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.matrix)
        scroll.setMinimumSize(240, 160)
        self.counts_radio = QRadioButton("&Counts", self)
        self.counts_radio.setToolTip("Show how many photos are in each cell")
        self.share_radio = QRadioButton("Percenta&ges of the true class", self)
        self.share_radio.setToolTip("Show each cell as a share of its row: how the photos of each true "
                                    "class were classified")
        self.counts_radio.setChecked(True)
        group = QButtonGroup(self)
        group.addButton(self.counts_radio)
        group.addButton(self.share_radio)
        self.share_radio.toggled.connect(self.matrix.set_normalized)
        self.note = QLabel(self)          # what the matrix shows, when that needs saying
        self.note.setWordWrap(True)
        self.note.hide()
        mode = QHBoxLayout()
        mode.addWidget(QLabel("Show:", self))
        mode.addWidget(self.counts_radio)
        mode.addWidget(self.share_radio)
        mode.addStretch(1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(mode)
        lay.addWidget(scroll, 1)
        lay.addWidget(self.note)

    def set_note(self, text: str) -> None:
        self.note.setText(text)
        self.note.setVisible(bool(text))

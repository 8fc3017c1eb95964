"""The "Start from" row of the settings form (TrainConfig.init_from): an earlier model to start
a run from, chosen with a file dialog or filled by the Runs tab's "Continue from this model"."""
from __future__ import annotations

import os

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLabel, QPushButton, QWidget

NOTHING = "Nothing: a new model (the usual)"


class StartFromBox(QWidget):
    """path: the model file ('' for none); file_changed after a person chose or cleared one."""

    file_changed = Signal()

    def __init__(self, help_text: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.path = ""
        self.label = QLabel(NOTHING)
        self.label.setWordWrap(True)
        self.label.setToolTip(help_text)
        self.choose_button = QPushButton("Choose…")
        self.choose_button.setToolTip("Choose the model file (best.pt) of an earlier run")
        self.choose_button.clicked.connect(self._choose)
        self.clear_button = QPushButton("Clear")
        self.clear_button.setToolTip("Start from the beginning instead")
        self.clear_button.clicked.connect(lambda: self.set_file(""))
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.label, 1)
        lay.addWidget(self.choose_button)
        lay.addWidget(self.clear_button)
        self._show()

    def set_file(self, path: str, by_user: bool = True) -> None:
        changed = path != self.path
        self.path = path
        self._show()
        if changed and by_user:
            self.file_changed.emit()

    def _show(self) -> None:
        if self.path:
            folder = os.path.basename(os.path.dirname(self.path))
            self.label.setText(f"{os.path.basename(self.path)} of run {folder}" if folder else self.path)
            self.label.setToolTip(self.path)
        else:
            self.label.setText(NOTHING)
        self.clear_button.setEnabled(bool(self.path))

    def _choose(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Choose the model to start from", os.path.dirname(self.path or ""),
            "Fledge models (*.pt);;All files (*)")
        if path:
            self.set_file(path)

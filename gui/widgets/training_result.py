"""What the last training run achieved, where its model is, and what to do next."""
from __future__ import annotations

import math
import os

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QGroupBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from core.training.events import FitEnded

from gui.style import set_text_colour, success_colour, warning_colour


class ResultBox(QGroupBox):
    """What the last run achieved, where its model is, and what to do next."""

    open_folder = Signal(str)
    use_model = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Result", parent)
        self.headline = QLabel()
        f = QFont(self.headline.font())
        f.setBold(True)
        self.headline.setFont(f)
        self.headline.setWordWrap(True)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.saved = QLabel()
        self.saved.setWordWrap(True)
        self.saved.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.open_button = QPushButton("Open folder")
        self.open_button.setToolTip("Show the run's folder (models, settings, metrics) in the file manager")
        self.predict_button = QPushButton("Use this model to predict")
        self.predict_button.setToolTip("Load the best model of this run in the Predict tab")
        buttons = QHBoxLayout()
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.predict_button)
        buttons.addStretch(1)
        lay = QVBoxLayout(self)
        lay.addWidget(self.headline)
        lay.addWidget(self.message)
        lay.addWidget(self.saved)
        lay.addLayout(buttons)
        self.run_dir = ""
        self.best_model = ""
        self.open_button.clicked.connect(lambda: self.open_folder.emit(self.run_dir))
        self.predict_button.clicked.connect(lambda: self.use_model.emit(self.best_model))
        self.hide()

    def show_result(self, ev: FitEnded) -> None:
        self.run_dir, self.best_model = ev.run_dir, ev.best_model or ev.last_model
        acc = "" if math.isnan(ev.best_val_acc) else (
            f"best validation accuracy {ev.best_val_acc:.1%} (epoch {ev.best_epoch})")
        if ev.reason == "completed":
            head, colour = f"Finished: {acc}." if acc else "Finished.", success_colour(self.palette())
            text = "" if ev.test_acc is None else f"Accuracy on the test images: {ev.test_acc:.1%}."
        elif ev.reason == "stopped":
            head = f"Stopped after {ev.epochs_done} epoch{'s' if ev.epochs_done != 1 else ''}" + (
                f": {acc}." if acc else ".")
            colour, text = warning_colour(self.palette()), ev.message
        else:
            head, colour, text = "Training failed.", warning_colour(self.palette()), ev.message
        self.headline.setText(head)
        set_text_colour(self.headline, colour)
        self.message.setText(text)
        self.message.setVisible(bool(text))
        if ev.best_model:
            saved = f"Best model saved to: {ev.best_model}"
        elif ev.last_model:
            saved = f"The model so far is saved to: {ev.last_model}"
        else:
            saved = "No model was saved."
        self.saved.setText(saved)
        self.open_button.setEnabled(bool(ev.run_dir) and os.path.isdir(ev.run_dir))
        self.predict_button.setEnabled(bool(self.best_model))
        self.show()

    def show_failure(self, message: str) -> None:
        self.show_result(FitEnded(reason="failed", message=message))

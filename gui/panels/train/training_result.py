"""What the last training run achieved, next to always answering the most common class
(core.training.class_balance.compare_with_guessing), where its model is, and what to do next."""
from __future__ import annotations

import html
import math
import os

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QGroupBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from core.training.class_balance import Verdict, compare_with_guessing
from core.training.events import FitEnded
from core.training.recipe_rules import resolve

from gui.style import set_text_colour, success_colour, warning_colour


def run_verdict(ended: FitEnded, config, dataset) -> Verdict | None:
    """A finished run's validation score against always answering the most common class of
    the photos it was validated on; None when there is no score or no dataset to compare with."""
    if ended.reason != "completed" or dataset is None or math.isnan(ended.best_val_acc):
        return None
    counts = dataset.counts()
    classes = list(dataset.classes)
    val = [counts["val"][c] for c in classes]
    if not sum(val):
        return None
    pretrained = None if config is None else resolve(config)[0].pretrained
    return compare_with_guessing(ended.best_val_acc, val, classes, pretrained,
                                 [counts["train"][c] for c in classes])


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
        self.verdict = QLabel()           # the score in context, and what to try
        self.verdict.setWordWrap(True)
        self.verdict.setTextFormat(Qt.TextFormat.RichText)
        self.verdict.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
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
        lay.addWidget(self.verdict)
        lay.addWidget(self.message)
        lay.addWidget(self.saved)
        lay.addLayout(buttons)
        self.run_dir = ""
        self.best_model = ""
        self.level = ""                   # the verdict's: "guessing", "fair", "good" or ""
        self.open_button.clicked.connect(lambda: self.open_folder.emit(self.run_dir))
        self.predict_button.clicked.connect(lambda: self.use_model.emit(self.best_model))
        self.hide()

    def show_result(self, ev: FitEnded, verdict: Verdict | None = None) -> None:
        """A run's end; verdict (run_verdict) puts a finished run's score in context."""
        self.run_dir, self.best_model = ev.run_dir, ev.best_model or ev.last_model
        self.level = verdict.level if verdict is not None and ev.reason == "completed" else ""
        acc = "" if math.isnan(ev.best_val_acc) else (
            f"best validation accuracy {ev.best_val_acc:.1%} (epoch {ev.best_epoch})")
        self._show_verdict(verdict if self.level else None)
        if ev.reason == "completed":
            head = f"Finished: {acc}." if acc else "Finished."
            colour = success_colour(self.palette())
            if self.level == "guessing":
                head = f"Finished, but the model is little better than guessing: {acc}."
                colour = warning_colour(self.palette())
            elif self.level == "fair":
                colour = self.palette().color(self.foregroundRole())
            text = "" if ev.test_acc is None else f"Accuracy on the test images: {ev.test_acc:.1%}."
            text = " ".join((*ev.remarks, text)).strip()       # stopped early, overfitting
        elif ev.reason == "stopped":
            head = f"Stopped after {ev.epochs_done} epoch{'s' if ev.epochs_done != 1 else ''}" + (
                f": {acc}." if acc else ".")
            colour, text = warning_colour(self.palette()), " ".join((ev.message, *ev.remarks))
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

    def _show_verdict(self, verdict: Verdict | None) -> None:
        if verdict is None:
            self.verdict.setText("")
            self.verdict.hide()
            return
        text = html.escape(verdict.headline)
        if verdict.advice:
            text += "<br>What to try:<ul style='margin-top:0'>" + "".join(
                f"<li>{html.escape(tip)}</li>" for tip in verdict.advice) + "</ul>"
        self.verdict.setText(text)
        colour = {"guessing": warning_colour(self.palette()), "good": success_colour(self.palette())}.get(
            verdict.level, self.palette().color(self.foregroundRole()))
        set_text_colour(self.verdict, colour)
        self.verdict.show()

    def show_failure(self, message: str) -> None:
        self.show_result(FitEnded(reason="failed", message=message))

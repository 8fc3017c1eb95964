"""The learning-rate row of the settings form: the rate, a "Suggest" button that runs core's
learning-rate finder in the background (core.training.recipes.suggest_lr), and its plot."""
from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from core.progress import JobProgress, Throttled

from gui.background import JobRunner
from gui.style import make_muted, set_text_colour, warning_colour
from gui.panels.train.learning_rate_box import LearningRateBox
from gui.panels.train.lr_plot import LrPlot

SUGGEST_TIP = ("Try a sweep of learning rates on a few batches of your photos (no model is saved) "
               "and put the one where the loss falls fastest in the box")


def finder_job(config, dataset):
    """A gui.background task: core's learning-rate sweep for this configuration and dataset."""
    def job(report, control):
        from core.training.recipes import suggest_lr

        return suggest_lr(config, dataset, progress=Throttled(report, "finding"),
                          should_stop=lambda: control.stop_requested)
    return job


class LearningRateRow(QWidget):
    """box: the rate; suggest(): ask the finder for one, with source() -> (config, dataset) or,
    when there is nothing to sweep on, a sentence saying why. curve: the last sweep (LrCurve)."""

    busy_changed = Signal(bool)           # a sweep started or ended
    suggested = Signal(float)             # a sweep put this rate in the box

    def __init__(self, box: LearningRateBox, source: Callable[[], tuple | str],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.box = box
        self.source = source
        self.curve = None
        self.suggest_button = QPushButton("Suggest")
        self.suggest_button.setToolTip(SUGGEST_TIP)
        self.suggest_button.clicked.connect(self.suggest)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.hide()
        self.plot = LrPlot()
        self.plot.hide()
        self.plot.legend.hide()
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(box, 1)
        top.addWidget(self.suggest_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        lay.addLayout(top)
        lay.addWidget(self.status)
        lay.addWidget(self.plot)
        lay.addWidget(self.plot.legend)
        self.runner = JobRunner(self, name="fledge-lr-finder")
        self.runner.progress.connect(self._on_progress)
        self.runner.finished.connect(self._on_curve)
        self.runner.failed.connect(lambda message: self._say(message, warn=True))
        self.runner.ended.connect(self._on_ended)

    def is_running(self) -> bool:
        return self.runner.is_running()

    def suggest(self) -> bool:
        """Start a sweep (or stop the running one); False when there is nothing to sweep on."""
        if self.is_running():
            self.runner.stop()
            self.suggest_button.setEnabled(False)
            self._say("Stopping the test…")
            return False
        got = self.source()
        if isinstance(got, str):
            self._say(got, warn=True)
            return False
        config, dataset = got
        self.runner.start(finder_job(config, dataset))
        self.suggest_button.setText("Stop")
        self.suggest_button.setToolTip("Stop the test; the learning rate stays as it is")
        self._say("Trying learning rates on a few batches of your photos…")
        self.busy_changed.emit(True)
        return True

    def shutdown(self, timeout_ms: int = -1) -> bool:
        return self.runner.shutdown(timeout_ms)

    def _on_progress(self, ev: object) -> None:
        if isinstance(ev, JobProgress) and ev.total:
            self._say(f"Trying learning rates: {ev.done} of {ev.total}…")

    def clear(self) -> None:
        """Forget the last sweep (made for other settings): no curve, no plot, no words."""
        self.curve = None
        self.plot.clear_curve()
        self.plot.hide()
        self.plot.legend.hide()
        if not self.is_running():
            self._say("")

    def _on_curve(self, curve) -> None:
        if self.runner.control.stop_requested:     # a part of a sweep: no curve to read
            self.clear()
            self._say("The test was stopped; the learning rate stays as it is.")
            return
        self.curve = curve
        self.plot.show_curve(curve)
        self.plot.show()
        self.plot.legend.show()
        if curve.suggestion is None:
            self._say("The test gave nothing to go on (the loss never fell). Keep the rate, or try "
                      "a smaller one.", warn=True)
            return
        lr = min(max(curve.suggestion, self.box.minimum()), self.box.maximum())
        self.box.setValue(lr)
        self._say(f"Suggested {lr:.3g}: where the loss falls fastest (the dot on the curve).")
        self.suggested.emit(lr)

    def _on_ended(self) -> None:
        self.suggest_button.setText("Suggest")
        self.suggest_button.setToolTip(SUGGEST_TIP)
        self.suggest_button.setEnabled(True)
        if self.status.text() == "Stopping the test…":
            self._say("The test was stopped; the learning rate stays as it is.")
        self.busy_changed.emit(False)

    def _say(self, text: str, warn: bool = False) -> None:
        self.status.setText(text)
        if warn:
            set_text_colour(self.status, warning_colour(self.palette()))
        else:
            make_muted(self.status)
        self.status.setVisible(bool(text))

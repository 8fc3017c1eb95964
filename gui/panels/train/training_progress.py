"""A progress bar with the epoch, step, speed and time left of a training run."""
from __future__ import annotations

import math

from PySide6.QtWidgets import QLabel, QProgressBar, QSizePolicy, QVBoxLayout, QWidget

from core.training.events import EXTRACT_PIPELINE, BatchEnd, EpochEnd, FitEnded, FitStarted
from core.wording import per_second

from gui.background import JobPaused, JobResumed


def format_duration(seconds: float) -> str:
    """'45 s', '3 min 20 s', '1 h 05 min' -- rounded the way people say it."""
    if not math.isfinite(seconds) or seconds < 0:
        return "unknown"
    if seconds < 0.95:
        return "under a second"
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        m, s = divmod(s, 60)
        return f"{m} min {s:02d} s" if m < 10 else f"{m} min"
    h, rem = divmod(s, 3600)
    return f"{h} h {rem // 60:02d} min"


class TrainingProgress(QWidget):
    """Shows where a run is; fed with core.training.events objects via handle_event()."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bar = QProgressBar()
        self.bar.setRange(0, 1)
        self.bar.setValue(0)
        self.bar.setTextVisible(True)
        self.bar.setFormat("Not started")
        self.bar.setToolTip("How much of the whole run is done")
        self.detail = QLabel("")
        # One line that never changes height: a wrapping label re-lays out the whole
        # panel (and re-renders the plots) whenever its text changes, 20 times a second.
        self.detail.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.bar)
        lay.addWidget(self.detail)
        self._epochs = 0
        self._spe = 1
        self._last: BatchEnd | None = None
        self._paused = False
        self._reading = False          # the quick recipe's first phase: the photos are read

    def reset(self, text: str = "Not started") -> None:
        self.bar.setRange(0, 1)
        self.bar.setValue(0)
        self.bar.setFormat(text)
        self.detail.setText("")
        self._last = None
        self._paused = False

    def preparing(self) -> None:
        self.bar.setRange(0, 0)        # busy indicator until the first event
        self.bar.setFormat("Preparing…")
        self.detail.setText("Reading the images and building the model…")

    def handle_event(self, ev: object) -> None:
        if isinstance(ev, FitStarted):
            self._reading = ev.pipeline == EXTRACT_PIPELINE     # quick: the photos are read first
            self._epochs, self._spe = ev.epochs, max(1, ev.steps_per_epoch)
            self.bar.setRange(0, max(1, ev.total_steps))
            self.bar.setValue(ev.start_epoch * self._spe)
            self.bar.setFormat(self._format(ev.start_epoch + 1))
            self.detail.setText("Reading the photos with the pretrained network…" if self._reading
                                else f"Training on {ev.device} ({ev.precision}).")
        elif isinstance(ev, BatchEnd):
            self._last = ev
            self._paused = False
            self.bar.setValue(min(ev.step, self.bar.maximum()))
            self.bar.setFormat(self._format(ev.epoch))
            self.detail.setText(self._reading_text(ev) if self._reading else self._batch_text(ev))
        elif isinstance(ev, EpochEnd):
            self.bar.setValue(min(ev.epoch * self._spe, self.bar.maximum()))
            self.detail.setText(
                f"Epoch {ev.epoch} of {ev.epochs} done in {format_duration(ev.seconds)}: "
                f"validation accuracy {ev.val_acc:.1%}, loss {ev.val_loss:.3f}.")
        elif isinstance(ev, JobPaused):
            self._paused = True
            self.bar.setFormat("Paused · %p%")
            self.detail.setText("Paused. Press Resume to carry on, or Stop to end the run here.")
        elif isinstance(ev, JobResumed):
            self._paused = False
            if self._last is not None:
                self.bar.setFormat(self._format(self._last.epoch))
            self.detail.setText("Resumed.")
        elif isinstance(ev, FitEnded):
            if self.bar.maximum() == 0:
                self.bar.setRange(0, 1)
            if ev.reason == "completed":
                self.bar.setValue(self.bar.maximum())
                self.bar.setFormat("Finished")
            else:
                self.bar.setFormat("Stopped · %p%" if ev.reason == "stopped" else "Failed")
            self.detail.setText("")

    def _format(self, epoch: int) -> str:
        if self._reading:
            return "Reading photos · %p%"
        return f"Epoch {epoch} of {self._epochs or '?'} · %p%"

    @staticmethod
    def _reading_text(ev: BatchEnd) -> str:
        left = f" · about {format_duration(ev.eta_s)} left" if math.isfinite(ev.eta_s) else ""
        return (f"Photo {ev.epoch_step:,} of {ev.steps_per_epoch:,} · {per_second(ev.images_per_s, 'photo')}{left} "
                "(each photo is read once; later runs reuse it)")

    @staticmethod
    def _batch_text(ev: BatchEnd) -> str:
        return (f"Epoch {ev.epoch} · step {ev.epoch_step} of {ev.steps_per_epoch} · "
                f"{per_second(ev.images_per_s, 'photo')} · about {format_duration(ev.eta_s)} left")

    @property
    def paused(self) -> bool:
        return self._paused

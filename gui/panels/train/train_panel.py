"""The Train tab: the settings form, Start/Pause/Stop, progress, live plots and the result.

Training runs through core.training.trainer.Trainer on a job thread (gui.background); the
panel only reads the events it sends and steers it through the control object.
The settings themselves live in gui.panels.train.settings_form, the result box in
gui.panels.train.training_result.
"""
from __future__ import annotations

import os
from typing import Any

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QAction, QDesktopServices, QKeySequence
from PySide6.QtWidgets import (QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QPushButton, QSizePolicy,
                               QSplitter, QStyle, QVBoxLayout, QWidget)

from core.training.config import TrainConfig
from core.training.events import EXTRACT_PIPELINE, CheckpointSaved, EpochEnd, FitEnded, FitStarted, Message

from gui.widgets.plots import PlotsPanel
from gui.panels.train.training_progress import TrainingProgress
from gui.panels.train.settings_form import SettingsForm
from gui.panels.train.training_result import ResultBox, run_verdict
from gui.style import make_muted
from gui.background import JobPaused, JobResumed, JobRunner
from gui.engine import EngineInfo
from gui.settings import Settings


class NotesList(QListWidget):
    """Notes and warnings from the current run (pipeline choice, missing weights, ...)."""

    MAX = 300

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWordWrap(True)
        self.setAlternatingRowColors(True)
        self.setSelectionMode(QListWidget.SelectionMode.NoSelection)
        self.setMinimumHeight(60)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.setToolTip("Notes and warnings from the training run")

    def add(self, text: str, level: str = "info") -> None:
        icon = {"warning": QStyle.StandardPixmap.SP_MessageBoxWarning,
                "error": QStyle.StandardPixmap.SP_MessageBoxCritical}.get(
            level, QStyle.StandardPixmap.SP_MessageBoxInformation)
        item = QListWidgetItem(self.style().standardIcon(icon), text)
        item.setToolTip(text)
        self.addItem(item)
        while self.count() > self.MAX:
            self.takeItem(0)
        self.scrollToBottom()

    def texts(self) -> list[str]:
        return [self.item(i).text() for i in range(self.count())]


class TrainingPanel(QWidget):
    """Settings on the left; controls, progress, plots and the result on the right."""

    status_message = Signal(str)          # for the window's status bar
    running_changed = Signal(bool)
    run_started = Signal(str)             # run folder
    run_finished = Signal(object)         # core.training.events.FitEnded
    predict_requested = Signal(str)       # a best.pt to load in the Predict tab
    engine_ready = Signal()

    def __init__(self, settings: Settings | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.dataset = None
        self.last_result: FitEnded | None = None
        self.run_dir = ""
        self._job = None                  # the running (or last) TrainingJob / ResumeJob

        self.runner = JobRunner(self, name="fledge-training")
        self.runner.progress.connect(self._on_event)
        self.runner.finished.connect(self._on_finished)
        self.runner.failed.connect(self._on_failed)

        self._build_actions()
        self.form = SettingsForm(settings)
        self._build_ui()
        self.form.changed.connect(self._refresh_state)
        self._refresh_state()

    @property
    def form_widget(self) -> QWidget:
        """The settings fields inside the form's scroll area; locked while training."""
        return self.form.widget()

    # ------------------------------------------------------------------ UI
    def _build_actions(self) -> None:
        st = self.style()
        self.start_action = QAction(st.standardIcon(QStyle.StandardPixmap.SP_MediaPlay), "&Start training", self)
        self.start_action.setShortcut(QKeySequence("Ctrl+Return"))
        self.start_action.setToolTip("Start training with these settings (Ctrl+Enter)")
        self.start_action.triggered.connect(self.start)
        self.pause_action = QAction(st.standardIcon(QStyle.StandardPixmap.SP_MediaPause), "&Pause", self)
        self.pause_action.setShortcut(QKeySequence("Ctrl+P"))
        self.pause_action.setToolTip("Pause training; resume it later (Ctrl+P)")
        self.pause_action.triggered.connect(self.toggle_pause)
        self.stop_action = QAction(st.standardIcon(QStyle.StandardPixmap.SP_MediaStop), "S&top", self)
        self.stop_action.setShortcut(QKeySequence("Ctrl+."))
        self.stop_action.setToolTip("Stop training; the model so far is kept (Ctrl+.)")
        self.stop_action.triggered.connect(self.stop)
        for a in (self.start_action, self.pause_action, self.stop_action):
            a.setShortcutContext(Qt.ShortcutContext.WindowShortcut)

    def _build_ui(self) -> None:
        # -- right side (the settings form is the left)
        self.start_button = QPushButton(self.start_action.icon(), "Start")
        self.start_button.setToolTip(self.start_action.toolTip())
        self.start_button.clicked.connect(self.start_action.trigger)
        self.pause_button = QPushButton(self.pause_action.icon(), "Pause")
        self.pause_button.setToolTip(self.pause_action.toolTip())
        self.pause_button.clicked.connect(self.pause_action.trigger)
        self.stop_button = QPushButton(self.stop_action.icon(), "Stop")
        self.stop_button.setToolTip(self.stop_action.toolTip())
        self.stop_button.clicked.connect(self.stop_action.trigger)
        self.start_hint = QLabel()
        self.start_hint.setWordWrap(True)
        make_muted(self.start_hint)
        controls = QHBoxLayout()
        controls.addWidget(self.start_button)
        controls.addWidget(self.pause_button)
        controls.addWidget(self.stop_button)
        controls.addWidget(self.start_hint, 1)

        self.progress = TrainingProgress()
        self.plots = PlotsPanel()
        self.result = ResultBox()
        self.result.open_folder.connect(self.open_folder)
        self.result.use_model.connect(self._use_model)
        self.notes = NotesList()

        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addLayout(controls)
        rl.addWidget(self.progress)
        splitter_v = QSplitter(Qt.Orientation.Vertical)
        splitter_v.addWidget(self.plots)
        bottom = QWidget()
        bl = QVBoxLayout(bottom)
        bl.setContentsMargins(0, 0, 0, 0)
        bl.addWidget(self.result)
        bl.addWidget(self.notes, 1)
        splitter_v.addWidget(bottom)
        splitter_v.setStretchFactor(0, 3)
        splitter_v.setStretchFactor(1, 1)
        splitter_v.setChildrenCollapsible(False)
        rl.addWidget(splitter_v, 1)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.form)
        splitter.addWidget(right)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setChildrenCollapsible(False)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.addWidget(splitter)

    # ------------------------------------------------------------- engine
    def set_engine(self, engine: EngineInfo) -> None:
        """Called once torch and the models are loaded: fill devices and real lists."""
        self.form.set_engine(engine)
        self.engine_ready.emit()

    # ------------------------------------------------------------- dataset
    def set_dataset(self, dataset) -> None:
        self.dataset = dataset
        self.form.set_dataset(dataset)
        self._refresh_state()

    # ------------------------------------------------------------ running
    def is_running(self) -> bool:
        return self.runner.is_running()

    def start_problem(self) -> str:
        """Why Start cannot run now, in plain words; '' when it can."""
        if self.is_running():
            return "Training is running."
        if not self.form.ready:
            return "Loading the training engine…"
        if self.dataset is None:
            return "Choose a folder of images first (Data tab, or File ▸ Open dataset…)."
        return self.form.problem()

    def start(self) -> bool:
        """Start a new run with the form's settings; False (and a message) when it cannot."""
        problem = self.start_problem()
        if problem:
            self.status_message.emit(problem)
            return False
        config = self.form.config()
        self.form.save_settings()
        self.form.settings.sync()
        return self._start_job(TrainingJob(config, self.dataset), fresh=True)

    def resume_run(self, run_dir: str) -> bool:
        """Continue an interrupted or stopped run from its last completed epoch."""
        if self.is_running() or not self.form.ready:
            self.status_message.emit(self.start_problem())
            return False
        from core.training.runs import load_run

        try:
            record = load_run(run_dir)
        except Exception as exc:  # noqa: BLE001 - shown, not raised
            self.status_message.emit(str(exc))
            return False
        self.form.apply_config(record.config)
        # The run restarts after its last finished epoch: hide reports of the partial one.
        done = len(record.epochs)
        record.batches = [b for b in record.batches if not (isinstance(b.get("epoch"), int) and b["epoch"] > done)]
        self.plots.load_record(record)
        return self._start_job(ResumeJob(run_dir), fresh=False)

    def _start_job(self, job, fresh: bool) -> bool:
        if fresh:
            self.plots.clear()
        self.notes.clear()
        self.result.hide()
        self.last_result = None
        self.run_dir = ""
        self.progress.preparing()
        self._job = job
        self.runner.start(job)
        self.status_message.emit("Training started.")
        self._refresh_state()
        self.running_changed.emit(True)
        return True

    def toggle_pause(self) -> None:
        if not self.is_running():
            return
        if self.runner.control.paused:
            self.resume()
        else:
            self.pause()

    def pause(self) -> None:
        if self.is_running() and not self.runner.control.paused:
            self.runner.pause()
            self.progress.bar.setFormat("Pausing… · %p%")
            self.status_message.emit("Pausing after the current batch…")
            self._refresh_state()

    def resume(self) -> None:
        if self.is_running() and self.runner.control.paused:
            self.runner.resume()
            self.status_message.emit("Training resumed.")
            self._refresh_state()

    def stop(self) -> None:
        if self.is_running() and not self.runner.control.stop_requested:
            self.runner.stop()
            self.progress.bar.setFormat("Stopping… · %p%")
            self.status_message.emit("Stopping: saving the model so far…")
            self._refresh_state()

    def shutdown(self, timeout_ms: int = -1) -> bool:
        """Stop any work and join its threads (the window is closing)."""
        ok = self.runner.shutdown(timeout_ms)
        ok = self.form.shutdown(timeout_ms) and ok
        return ok

    # --------------------------------------------------------- events
    def _on_event(self, ev: object) -> None:
        self.progress.handle_event(ev)
        self.plots.handle_event(ev)
        if isinstance(ev, FitStarted):
            self.run_dir = ev.run_dir
            if ev.pipeline != EXTRACT_PIPELINE:       # reading the photos: its Message says so
                self.notes.add(f"Training on {ev.device}, {ev.precision}; {ev.steps_per_epoch} steps per "
                               f"epoch. Saving to {ev.run_dir}.")
            self.run_started.emit(ev.run_dir)
        elif isinstance(ev, Message):
            self.notes.add(ev.text, ev.level)
            self.status_message.emit(ev.text)
        elif isinstance(ev, EpochEnd):
            self.status_message.emit(f"Epoch {ev.epoch} of {ev.epochs}: validation accuracy {ev.val_acc:.1%}.")
        elif isinstance(ev, CheckpointSaved) and ev.kind == "best":
            self.notes.add(f"New best model at epoch {ev.epoch} ({ev.score:.1%}).")
        elif isinstance(ev, JobPaused):
            self.status_message.emit("Paused.")
            self._refresh_state()
        elif isinstance(ev, JobResumed):
            self._refresh_state()

    def _on_finished(self, ended: Any) -> None:
        if not isinstance(ended, FitEnded):
            ended = FitEnded("failed", "Training ended without a result.")
        self._end(ended)

    def _on_failed(self, message: str) -> None:
        self._end(FitEnded("failed", message, run_dir=self.run_dir))

    def _end(self, ended: FitEnded) -> None:
        self.last_result = ended
        self.progress.handle_event(ended)
        job = self._job                   # its score against always answering the commonest class
        self.result.show_result(ended, run_verdict(ended, job.config, job.dataset) if job else None)
        if ended.reason == "failed":
            self.notes.add(ended.message, "error")
        self.status_message.emit({"completed": "Training finished.", "stopped": "Training stopped.",
                                  "failed": "Training failed: see the Train tab."}.get(ended.reason, ""))
        self._refresh_state()
        self.running_changed.emit(False)
        self.run_finished.emit(ended)

    # --------------------------------------------------------- actions
    def open_folder(self, path: str) -> None:
        if path and os.path.isdir(path):
            QDesktopServices.openUrl(QUrl.fromLocalFile(path))

    def _use_model(self, path: str) -> None:
        if path:
            self.predict_requested.emit(path)

    def _refresh_state(self) -> None:
        running = self.is_running()
        control = self.runner.control
        self.form_widget.setEnabled(not running)
        problem = self.start_problem()
        self.start_action.setEnabled(not problem)
        self.start_button.setEnabled(not problem)
        self.start_hint.setText("" if running else problem)
        paused = running and control.paused
        self.pause_action.setEnabled(running and not control.stop_requested)
        self.pause_action.setText("&Resume" if paused else "&Pause")
        self.pause_button.setEnabled(self.pause_action.isEnabled())
        self.pause_button.setText("Resume" if paused else "Pause")
        icon = QStyle.StandardPixmap.SP_MediaPlay if paused else QStyle.StandardPixmap.SP_MediaPause
        self.pause_button.setIcon(self.style().standardIcon(icon))
        self.pause_action.setIcon(self.style().standardIcon(icon))
        self.stop_action.setEnabled(running and not control.stop_requested)
        self.stop_button.setEnabled(self.stop_action.isEnabled())


class TrainingJob:
    """A job (gui.background) that trains one new run."""

    def __init__(self, config: TrainConfig, dataset) -> None:
        self.config = config
        self.dataset = dataset

    def __call__(self, report, control) -> FitEnded:
        from core.training.distributed_fit import fit    # several GPUs: a supervised torchrun job
        from core.training.trainer import Trainer

        return fit(Trainer(self.config, self.dataset, callbacks=[report], control=control))


class ResumeJob:
    """A job that continues a run folder from its last completed epoch; config and dataset are
    the run's own once it has started."""

    def __init__(self, run_dir: str) -> None:
        self.run_dir = run_dir
        self.config: TrainConfig | None = None
        self.dataset = None

    def __call__(self, report, control) -> FitEnded:
        from core.training.distributed_fit import fit    # a run of several GPUs: as many again
        from core.training.trainer import Trainer

        trainer = Trainer.resume_from(self.run_dir, callbacks=[report], control=control)
        self.config, self.dataset = trainer.config, trainer.dataset
        return fit(trainer)

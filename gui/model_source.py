"""The model a tab works with, and the background jobs that use it.

Evaluate, Sort and Review each use a model file chosen in their ModelChooser (loaded
through the window's ModelStore, so every tab shares one loaded copy) or a predictor
handed to them (set_predictor: scripts and tests). ModelSource keeps that choice:

    self.source = ModelSource(self.model, models, self)      # self.model: a ModelChooser
    self.source.changed.connect(self._refresh_state)
    self.runner.start(self.source.task(lambda predictor, report, should_stop: ...))

task() makes a gui.background job that loads the model on the job's thread (reporting
JobProgress("loading")) and then calls work(predictor, report, should_stop). ModelSource
also knows the model's class names (classes_known) without opening the model file on the
GUI thread -- from the predictor handed over, the run folder's run.json, or the window's
ModelStore once it has loaded the file -- so that a tab can warn when they do not fit its
dataset.
"""
from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Signal

from core.files.file_transfer import path_key
from core.progress import JobProgress
from core.training.runs import model_classes
from gui.background import JobRunner
from gui.model_store import ModelStore


def job_runner(parent: QObject, name: str, progress: Callable, finished: Callable,
               failed: Callable) -> JobRunner:
    """A JobRunner whose progress, finished and failed signals go to these slots."""
    runner = JobRunner(parent, name=name)
    runner.progress.connect(progress)
    runner.finished.connect(finished)
    runner.failed.connect(failed)
    return runner


class ModelSource(QObject):
    """The model in use: the file chosen in a ModelChooser, or a predictor handed over."""

    changed = Signal()                  # another model is in use
    classes_known = Signal(object)      # list[str]: the class names of the model in use

    def __init__(self, chooser, models: ModelStore, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.chooser = chooser
        self.models = models
        self.predictor = None           # set_predictor(): used instead of loading the file
        self.predictor_path = ""
        self.classes: list[str] = []    # [] until known
        chooser.model_changed.connect(self._on_chosen)
        models.changed.connect(self._on_store_loaded)

    # -- choosing ---------------------------------------------------------------------------
    def set_model(self, path: str) -> None:
        """Use this model file (e.g. the model just trained)."""
        handed_over = self.predictor is not None
        before = self.chooser.model_path()
        self.predictor, self.predictor_path = None, ""
        self.chooser.set_model(path)            # model_changed -> _on_chosen when the file changes
        if handed_over and self.chooser.model_path() == before:
            self._changed()

    def set_predictor(self, predictor, model_path: str = "") -> None:
        """Use an already loaded predictor (anything with classes and predict_many)."""
        self.predictor, self.predictor_path = predictor, model_path
        self._changed()

    def path(self) -> str:
        """The model file in use ('' for a predictor handed over without one)."""
        return self.predictor_path if self.predictor is not None else self.chooser.model_path()

    def ready(self) -> bool:
        return self.predictor is not None or bool(self.chooser.model_path())

    # -- using ------------------------------------------------------------------------------
    def task(self, work: Callable) -> Callable:
        """A job: load the model (on the job's thread), then work(predictor, report, should_stop)."""
        predictor, path, models = self.predictor, self.chooser.model_path(), self.models

        def run(report, control):
            used = predictor
            if used is None:
                report(JobProgress("loading"))
                used = models.predictor_for(path)
            return work(used, report, lambda: control.stop_requested)
        return run

    # -- the model's classes -----------------------------------------------------------------
    def _on_chosen(self, _path: str) -> None:
        self.predictor, self.predictor_path = None, ""
        self._changed()

    def _changed(self) -> None:
        self.changed.emit()
        self._changed_classes()

    def _known_classes(self) -> list[str]:
        if self.predictor is not None:
            return [str(c) for c in getattr(self.predictor, "classes", ())]
        path = self.chooser.model_path()
        if not path:
            return []
        loaded = self.models.predictor()
        if loaded is not None and path_key(self.models.path()) == path_key(path):
            return [str(c) for c in loaded.classes]
        try:
            return list(model_classes(path))
        except (OSError, ValueError):
            return []

    def _on_store_loaded(self, path: str) -> None:
        """The window has loaded a model file: when it is this one, its classes are known now."""
        mine = self.predictor is None and self.chooser.model_path()
        if mine and not self.classes and path_key(path) == path_key(mine):
            self._changed_classes()

    def _changed_classes(self) -> None:
        self.classes = self._known_classes()
        self.classes_known.emit(list(self.classes))

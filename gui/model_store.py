"""The window's loaded models: each model file loaded once and shared by every tab.

The window makes one ModelStore and hands it to each tab. ``load(path)`` makes a file
the window's current model (Predict shows it, and gui.workflow makes every tab follow it),
loading it in the background; ``predictor_for(path)``, called from the tabs' jobs on
worker threads, hands out the same Predictor object for the same unchanged file instead
of reading it again. Given the window's Settings, the store remembers its model for the next start
(``load_last``); ``use_finished_run`` makes a training run's best model the current one.
"""
from __future__ import annotations

import logging
import os
import threading
import traceback
from collections import OrderedDict

from PySide6.QtCore import QObject, Signal

from core.errors import CheckpointError, FledgeError
from core.files.file_transfer import path_key
from gui.background import TaskPool, call
from gui.settings import LAST_MODEL, Settings

log = logging.getLogger(__name__)

MODEL_FILTER = "Fledge models (*.pt *.onnx);;All files (*)"      # for file dialogs (.onnx: an export)
RECENT = 2          # models kept loaded besides the current one (e.g. Sort's and Evaluate's)


def _file_key(path: str) -> tuple | None:
    """What identifies a model file's contents: its path, modification time and size."""
    try:
        st = os.stat(path)
    except OSError:
        return None         # Predictor.from_checkpoint says what is wrong in plain words
    return path_key(path), st.st_mtime_ns, st.st_size


def read_predictor(path: str):
    """Load a model file (or an export's model.onnx) into a Predictor (worker threads only:
    imports torch). Errors are CheckpointErrors that name the file, whatever went wrong inside.
    """
    from core.model.export.loading import load_predictor

    try:
        return load_predictor(path)
    except (FledgeError, MemoryError):
        raise
    except Exception as exc:  # noqa: BLE001 - a damaged file can fail in many ways
        log.error("loading %s failed:\n%s", path, traceback.format_exc())
        raise CheckpointError(f"The model file {os.path.basename(path)} could not be loaded "
                              f"({type(exc).__name__}: {exc}).") from exc


class ModelStore(QObject):
    """The current model (path and Predictor) plus a few recently used ones.

    Signals (GUI thread): ``loading(path)`` when load() starts, then ``changed(path)``
    once the file is the current model, or ``failed(path, message)`` (the current
    model stays). When load() is called again before the first has finished, only
    the last call counts.
    """

    loading = Signal(str)
    changed = Signal(str)
    failed = Signal(str, str)

    def __init__(self, parent: QObject | None = None, settings: Settings | None = None) -> None:
        super().__init__(parent)
        self._settings = settings
        self._lock = threading.Lock()          # predictor_for runs on worker threads
        self._current: tuple = (None, "", None)    # file key, path, predictor
        self._recent: OrderedDict[tuple, object] = OrderedDict()
        self._pool = TaskPool(self, threads=1)
        self._pool.finished.connect(self._on_loaded)
        self._pool.failed.connect(self._on_failed)
        self._token = 0
        self._loading_path = ""
        if settings is not None:
            self.changed.connect(lambda path: settings.set(LAST_MODEL, path))

    # -- the current model (GUI thread) -------------------------------------------------
    def path(self) -> str:
        return self._current[1]

    def predictor(self):
        return self._current[2]

    def is_loading(self) -> bool:
        return bool(self._token)

    def loading_path(self) -> str:
        return self._loading_path if self._token else ""

    def load(self, path: str) -> None:
        """Make this model file the current model, loading it in the background."""
        path = os.path.abspath(os.fspath(path))
        self._loading_path = path
        self._token = self._pool.submit(call(self._load, path))
        self.loading.emit(path)

    def offer(self, path: str) -> bool:
        """load(path) unless it is the current model (unchanged) or already being loaded.

        For a model chosen in a tab: the window's model follows the latest choice."""
        path = os.path.abspath(os.fspath(path))
        if self.is_loading() and path_key(path) == path_key(self._loading_path):
            return False
        if not self.is_loading() and self.path() and self._current[0] == _file_key(path):
            return False
        self.load(path)
        return True

    def use_finished_run(self, ended) -> bool:
        """A training run has ended (core.training.events.FitEnded): its best model (else its
        last) becomes the current model, when the run saved one."""
        for path in (ended.best_model, ended.last_model):
            if path and os.path.isfile(path):
                self.load(path)
                return True
        return False

    def last_path(self) -> str:
        """The model file the store last had, when it still exists ('' otherwise)."""
        path = self._settings.get(LAST_MODEL) if self._settings is not None else ""
        return path if path and os.path.isfile(path) else ""

    def load_last(self) -> bool:
        """Load the model the store had when the window was last open, if the file is still there."""
        path = self.last_path()
        if path:
            self.load(path)
        return bool(path)

    def shutdown(self, msecs: int = -1) -> bool:
        self._token = 0
        return self._pool.shutdown(msecs)

    # -- any thread ---------------------------------------------------------------------
    def predictor_for(self, path: str):
        """The loaded Predictor for a model file, loading it (on this thread) when needed."""
        path = os.path.abspath(os.fspath(path))
        key = _file_key(path)
        if key is not None:
            with self._lock:
                if self._current[0] == key:
                    return self._current[2]
                hit = self._recent.get(key)
                if hit is not None:
                    self._recent.move_to_end(key)
                    return hit
        predictor = read_predictor(path)
        if key is not None:
            with self._lock:
                self._recent[key] = predictor
                while len(self._recent) > RECENT:
                    self._recent.popitem(last=False)
        return predictor

    def _load(self, path: str) -> tuple:
        return _file_key(path), path, self.predictor_for(path)

    # -- answers (GUI thread) -------------------------------------------------------------
    def _on_loaded(self, token: int, loaded: tuple) -> None:
        if token != self._token:
            return          # a later load() was asked for
        self._token = 0
        key, path, predictor = loaded
        with self._lock:
            old_key, _old_path, old = self._current
            self._current = loaded
            self._recent.pop(key, None)
            if old is not None and old_key is not None and old_key != key:
                self._recent[old_key] = old         # still at hand if a tab uses it again
                while len(self._recent) > RECENT:
                    self._recent.popitem(last=False)
        self.changed.emit(path)

    def _on_failed(self, token: int, message: str) -> None:
        if token != self._token:
            return
        self._token = 0
        self.failed.emit(self._loading_path, message)

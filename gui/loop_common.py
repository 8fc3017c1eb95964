"""Pieces shared by the evaluate, sort and review panels.

* ReviewItem: one photo with the model's answer (and, from an evaluation, its label);
* load_predictor: a small cache so the three panels share one loaded model;
* ModelChooser / FolderField: the "which model" and "which folder" rows;
* DatasetLabels + LabelQueue: applying labels to a dataset with core.labelling on one
  background thread, in order, with an undo stack (a move to a USB disk must not
  freeze the window, and Backspace must undo exactly what the last key press did).
"""
from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime

from PySide6.QtCore import QObject, QSettings, Qt, Signal
from PySide6.QtWidgets import (QComboBox, QFileDialog, QHBoxLayout, QLineEdit, QPushButton,
                               QSizePolicy, QStyle, QWidget)

from core.errors import FledgeError
from core.journal import path_key

from .panel_common import BackgroundRunner

CONFIG_FILE = "config.json"


# -- photos and answers -----------------------------------------------------------------

@dataclass(eq=False)
class ReviewItem:
    """A photo in a review grid. top: the model's answers, most likely first."""
    path: str
    top: tuple = ()                       # ((class, probability), ...)
    error: str | None = None              # why the model could not read it
    true_class: str | None = None         # its label, when it comes from an evaluation

    @property
    def suggestion(self) -> str | None:
        return self.top[0][0] if self.top and not self.error else None

    @property
    def confidence(self) -> float:
        return float(self.top[0][1]) if self.top and not self.error else 0.0

    @property
    def predicted(self) -> bool:
        return bool(self.top) or self.error is not None


@dataclass(frozen=True)
class JobProgress:
    """What a panel job reports: a stage name and how far it is."""
    stage: str              # "loading" | "scanning" | "classifying" | "sorting" | "undoing" | "predicting"
    done: int = 0
    total: int = 0


class Throttled:
    """A progress(done, total) callback that reports a JobProgress at most every ~50 ms
    (and always the first and the last): moving small files can go thousands per second,
    far faster than a progress bar needs."""

    def __init__(self, report, stage: str, interval: float = 0.05, clock=time.monotonic) -> None:
        self._report = report
        self._clock = clock
        self._stage = stage
        self._interval = interval
        self._last = float("-inf")

    def __call__(self, done: int, total: int) -> None:
        now = self._clock()
        if done >= total or now - self._last >= self._interval:
            self._last = now
            self._report(JobProgress(self._stage, done, total))


def percent(p: float) -> str:
    v = 100.0 * float(p)
    if 99.9 < v < 100:
        return ">99.9 %"
    return f"{v:.0f} %" if v >= 10 or v == 0 else f"{v:.1f} %"


def run_dir_of(model_path: str) -> str:
    """The training run folder a model file belongs to ('' for a model file on its own)."""
    if not model_path:
        return ""
    folder = os.path.dirname(os.path.abspath(model_path))
    return folder if os.path.isfile(os.path.join(folder, CONFIG_FILE)) else ""


# -- the model ----------------------------------------------------------------------------

_cache_lock = threading.Lock()
_cache: OrderedDict = OrderedDict()
_CACHE_SIZE = 2


def load_predictor(path: str):
    """A ready core.inference.Predictor for a model file (worker threads only: imports torch).

    The evaluate, sort and review panels usually use the same model; it is loaded once
    and kept while the file is unchanged.
    """
    from core.inference import Predictor

    path = os.path.abspath(os.fspath(path))
    try:
        st = os.stat(path)
        key = (path_key(path), st.st_mtime_ns, st.st_size)
    except OSError:
        key = None                  # from_checkpoint says what is wrong in plain words
    if key is not None:
        with _cache_lock:
            hit = _cache.get(key)
            if hit is not None:
                _cache.move_to_end(key)
                return hit
    predictor = Predictor.from_checkpoint(path)
    if key is not None:
        with _cache_lock:
            _cache[key] = predictor
            while len(_cache) > _CACHE_SIZE:
                _cache.popitem(last=False)
    return predictor


def _run_label(info) -> str:
    try:
        started = datetime.fromisoformat(info.started).strftime("%Y-%m-%d %H:%M")
    except (TypeError, ValueError):
        started = info.name
    from core.architectures import ARCH_INFO

    arch = ARCH_INFO[info.arch].label if info.arch in ARCH_INFO else info.arch
    acc = ""
    if isinstance(info.best_val_acc, (int, float)) and info.best_val_acc == info.best_val_acc:
        acc = f", {info.best_val_acc:.1%} accuracy"
    return f"{started} · {arch}{acc}"


class _RefreshingCombo(QComboBox):
    """Re-reads the runs folder each time the list is opened (a run may have just ended)."""

    about_to_show = Signal()

    def showPopup(self) -> None:
        self.about_to_show.emit()
        super().showPopup()


class ModelChooser(QWidget):
    """Pick a model: the best model of a training run, or any Fledge model file."""

    model_changed = Signal(str)          # path of the chosen .pt ('' for none)

    def __init__(self, settings_key: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._settings_key = settings_key
        self.combo = _RefreshingCombo(self)
        self.combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.combo.setMinimumContentsLength(28)
        self.combo.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.combo.setToolTip("The trained model to use: the best model of one of your training runs, "
                              "or a model file you chose")
        self.combo.setAccessibleName("Model")
        self.combo.about_to_show.connect(self.refresh)
        self.combo.currentIndexChanged.connect(self._on_index)
        self.browse = QPushButton("&Open model…", self)
        self.browse.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_DialogOpenButton))
        self.browse.setToolTip("Choose a saved Fledge model file (.pt)")
        self.browse.clicked.connect(self._choose_file)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.combo, 1)
        lay.addWidget(self.browse)
        self._current = ""
        self._extra: list[str] = []        # files chosen by hand, kept in the list
        self.refresh()

    def model_path(self) -> str:
        return self._current

    def set_model(self, path: str) -> None:
        """Select a model file (added to the list when it is not a run's best model)."""
        path = os.path.abspath(os.fspath(path)) if path else ""
        if path and self._find(path) < 0:
            self._extra.append(path)
            self.refresh(select=path)
        else:
            self.refresh(select=path)
        self._set_current(path)

    def refresh(self, select: str | None = None) -> None:
        from core.runs import list_runs

        want = self._current if select is None else select
        try:
            runs = [r for r in list_runs() if r.best_model]
        except (OSError, FledgeError):
            runs = []
        self.combo.blockSignals(True)
        self.combo.clear()
        self.combo.addItem("Choose a model…", "")
        seen = set()
        for info in runs:
            self.combo.addItem(_run_label(info), info.best_model)
            self.combo.setItemData(self.combo.count() - 1, info.best_model, Qt.ItemDataRole.ToolTipRole)
            seen.add(path_key(info.best_model))
        for path in self._extra:
            if path_key(path) not in seen:
                self.combo.addItem(f"{os.path.basename(path)} — {os.path.dirname(path)}", path)
                self.combo.setItemData(self.combo.count() - 1, path, Qt.ItemDataRole.ToolTipRole)
        i = self._find(want) if want else 0
        self.combo.setCurrentIndex(max(0, i))
        self.combo.blockSignals(False)
        if want and i < 0:
            self._set_current("")        # the model file is gone

    def _find(self, path: str) -> int:
        key = path_key(path)
        for i in range(1, self.combo.count()):
            if path_key(str(self.combo.itemData(i))) == key:
                return i
        return -1

    def _on_index(self, index: int) -> None:
        self._set_current(str(self.combo.itemData(index) or ""))

    def _set_current(self, path: str) -> None:
        if path == self._current:
            return
        self._current = path
        if path and self._settings_key:
            QSettings().setValue(self._settings_key, os.path.dirname(path))
        self.model_changed.emit(path)

    def _choose_file(self) -> None:
        from core.runs import runs_root

        start = ""
        if self._settings_key:
            start = str(QSettings().value(self._settings_key, "") or "")
        path, _ = QFileDialog.getOpenFileName(self, "Choose a Fledge model", start or runs_root(),
                                              "Fledge models (*.pt);;All files (*)")
        if path:
            self.set_model(path)


class FolderField(QWidget):
    """A folder path: typed, pasted, or chosen with a dialog."""

    changed = Signal(str)

    def __init__(self, placeholder: str, dialog_title: str, tooltip: str = "",
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._title = dialog_title
        self.edit = QLineEdit(self)
        self.edit.setPlaceholderText(placeholder)
        self.edit.setClearButtonEnabled(True)
        self.edit.setMinimumWidth(220)
        self.edit.setToolTip(tooltip or placeholder)
        self.edit.setAccessibleName(dialog_title)
        self.edit.editingFinished.connect(self._edited)
        self.browse = QPushButton("Choose…", self)
        self.browse.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_DirOpenIcon))
        self.browse.setToolTip(dialog_title)
        self.browse.clicked.connect(self._choose)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.edit, 1)
        lay.addWidget(self.browse)
        self._last = ""

    def path(self) -> str:
        text = self.edit.text().strip()
        return os.path.abspath(os.path.expanduser(text)) if text else ""

    def set_path(self, path: str, notify: bool = True) -> None:
        self.edit.setText(os.fspath(path) if path else "")
        if notify:
            self._edited()
        else:
            self._last = self.path()

    def _edited(self) -> None:
        p = self.path()
        if p != self._last:
            self._last = p
            self.changed.emit(p)

    def _choose(self) -> None:
        start = self.path() or os.path.expanduser("~")
        path = QFileDialog.getExistingDirectory(self, self._title, start)
        if path:
            self.set_path(path)


# -- labels -------------------------------------------------------------------------------

class DatasetLabels:
    """Apply labels to one dataset, journalled and undoable (core.labelling.Labeller).

    New photos go to the training class folders. A photo that is already in the dataset's
    val/ or test/ folder stays in that split (relabelling a validation photo must not
    move it into training, where the model would then be checked on what it learned).
    """

    def __init__(self, root: str, move: bool = True) -> None:
        from core.labelling import Labeller

        self.train = Labeller(root, move=move)
        self.root = self.train.root
        self.move = move
        self._others: dict[str, object] = {}
        self._lock = threading.Lock()

    @property
    def classes(self) -> list[str]:
        return self.train.classes

    @property
    def layout(self) -> str:
        return self.train.layout

    def _split_folder(self, path: str) -> str | None:
        """The val/test folder of this dataset that holds path, if any."""
        if self.layout != "split-folders":
            return None
        from core.data import SPLIT_FOLDER_NAMES
        from core.journal import is_inside

        if not is_inside(path, self.root) or is_inside(path, self.train.class_root):
            return None
        rel = os.path.relpath(os.path.abspath(path), self.root)
        top = rel.split(os.sep)[0]
        if SPLIT_FOLDER_NAMES.get(top.lower()) in ("val", "test"):
            return os.path.join(self.root, top)
        return None

    def labeller_for(self, path: str):
        folder = self._split_folder(path)
        if folder is None:
            return self.train
        from core.labelling import Labeller

        with self._lock:
            lab = self._others.get(path_key(folder))
            if lab is None:
                lab = self._others[path_key(folder)] = Labeller(folder, move=True)
            return lab

    def assign(self, path: str, class_name: str):
        """(labeller used, core.labelling.LabelOp); FledgeError when it cannot be done."""
        lab = self.labeller_for(path)
        if lab is not self.train and class_name not in lab.classes and class_name in self.train.classes:
            lab.add_class(class_name)      # e.g. val/owl did not exist yet
        return lab, lab.assign(path, class_name)

    def undo(self, labeller, op):
        """Undo op, which must be the labeller's latest label still in effect."""
        history = labeller.history()
        if not history or path_key(history[-1].dst) != path_key(op.dst):
            raise FledgeError(f"{os.path.basename(op.dst)} was not put back: other labels were applied to "
                              f"{self.root} since (in another window or program). Move it by hand if needed.")
        done = labeller.undo_last()
        if done is None:
            raise FledgeError("There was nothing left to undo.")
        return done

    def add_class(self, name: str) -> str:
        """Create a new class folder; returns the cleaned-up name."""
        from core.labelling import validate_class_name

        name = validate_class_name(name)
        self.train.add_class(name)
        return name


@dataclass(eq=False)
class LabelAction:
    """One user action (a key press, a bulk accept): photos and the class each gets."""
    labels: DatasetLabels
    entries: list                         # [(ReviewItem, class name, grid row)]
    # Filled on the label thread:
    done: list = field(default_factory=list)       # [(item, class, row, labeller, LabelOp)]
    failed: list = field(default_factory=list)     # [(item, row, message)]
    restored: list = field(default_factory=list)   # [(item, row, path now)] after undo
    problems: list = field(default_factory=list)   # messages from undo


def _apply(action: LabelAction) -> LabelAction:
    for item, cls, row in action.entries:
        try:
            lab, op = action.labels.assign(item.path, cls)
        except FledgeError as exc:
            action.failed.append((item, row, str(exc)))
            continue
        action.done.append((item, cls, row, lab, op))
    return action


def _undo(action: LabelAction) -> LabelAction:
    for item, cls, row, lab, op in reversed(action.done):
        if not op.changed:               # it was already in that class: nothing was moved
            action.restored.append((item, row, op.src))
            continue
        try:
            back = action.labels.undo(lab, op)
        except FledgeError as exc:
            action.problems.append(str(exc))
            break
        where = back.restored_to
        if where is None:
            action.problems.append(f"{os.path.basename(op.dst)} could not be put back: {back.note}")
            continue
        action.restored.append((item, row, where))
    return action


class LabelQueue(QObject):
    """Runs label and undo actions one after another on a background thread."""

    applied = Signal(object)      # LabelAction, after its labels were applied
    undone = Signal(object)       # LabelAction, after it was undone
    crashed = Signal(str)         # an unexpected error (a bug), as a readable message

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._runner = BackgroundRunner(self, threads=1)
        self._runner.done.connect(self._on_done)
        self._runner.failed.connect(self._on_failed)
        self._jobs: dict[int, tuple[str, LabelAction]] = {}
        self.history: list[LabelAction] = []

    def label(self, labels: DatasetLabels, entries: list) -> LabelAction:
        action = LabelAction(labels, list(entries))
        self.history.append(action)
        self._jobs[self._runner.submit(_apply, action)] = ("apply", action)
        return action

    def can_undo(self) -> bool:
        return bool(self.history)

    def undo(self) -> LabelAction | None:
        """Undo the latest action (queued behind any label still being applied)."""
        if not self.history:
            return None
        action = self.history.pop()
        self._jobs[self._runner.submit(_undo, action)] = ("undo", action)
        return action

    def forget(self) -> None:
        """Drop the undo history (the target dataset changed)."""
        self.history.clear()

    def busy(self) -> bool:
        return bool(self._jobs)

    def wait(self, msecs: int = -1) -> bool:
        return self._runner.wait(msecs)

    def _on_done(self, token: int, action: LabelAction) -> None:
        kind, _ = self._jobs.pop(token, (None, None))
        if kind == "apply":
            if not action.done and action in self.history:
                self.history.remove(action)          # nothing happened: nothing to undo
            self.applied.emit(action)
        elif kind == "undo":
            self.undone.emit(action)

    def _on_failed(self, token: int, exc) -> None:
        kind, action = self._jobs.pop(token, (None, None))
        if kind is None:
            return
        from .worker import describe_exception

        if kind == "apply" and action in self.history:
            self.history.remove(action)
        self.crashed.emit(describe_exception(exc))

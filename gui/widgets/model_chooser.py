"""The "which model" row: the best model of a training run, or any Fledge model file.

Each entry names the classes the model answers ("… · ants, bees"), read from its run
folder's run.json: the model file itself is not opened on the GUI thread.
"""
from __future__ import annotations

import os

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QFileDialog, QHBoxLayout, QPushButton, QSizePolicy, QStyle, QWidget

from core.errors import FledgeError
from core.files.file_transfer import path_key
from core.training.runs import list_runs, model_classes, runs_root
from gui.model_store import MODEL_FILTER
from gui.run_text import run_label
from gui.settings import Setting, Settings


SHOWN_CLASSES = 4          # class names in an entry's text; the tooltip lists them all


def classes_text(classes, most: int = SHOWN_CLASSES) -> str:
    """'ants, bees', or 'ants, bees, cats, dogs and 3 more' for many classes."""
    names = list(classes)
    if len(names) <= most:
        return ", ".join(names)
    return f"{', '.join(names[:most])} and {len(names) - most} more"


class _RefreshingCombo(QComboBox):
    """Re-reads the runs folder each time the list is opened (a run may have just ended)."""

    about_to_show = Signal()

    def showPopup(self) -> None:
        self.about_to_show.emit()
        super().showPopup()


class ModelChooser(QWidget):
    """Pick a model: the best model of a training run, or any Fledge model file."""

    model_changed = Signal(str)          # path of the chosen .pt ('' for none)

    def __init__(self, settings: Settings | None = None, folder: Setting[str] | None = None,
                 parent: QWidget | None = None) -> None:
        """folder: the setting in settings that remembers where a model file was last chosen."""
        super().__init__(parent)
        self._settings, self._folder = settings, folder
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
            self._add(run_label(info), info.best_model, info.classes)
            seen.add(path_key(info.best_model))
        for path in self._extra:
            if path_key(path) not in seen:
                self._add(f"{os.path.basename(path)} — {os.path.dirname(path)}", path, model_classes(path))
        i = self._find(want) if want else 0
        self.combo.setCurrentIndex(max(0, i))
        self.combo.blockSignals(False)
        if want and i < 0:
            self._set_current("")        # the model file is gone

    def _add(self, label: str, path: str, classes) -> None:
        tip = path
        if classes:
            label = f"{label} · {classes_text(classes)}"
            tip = f"{path}\nClasses: {', '.join(classes)}"
        self.combo.addItem(label, path)
        self.combo.setItemData(self.combo.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)

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
        if path and self._settings is not None and self._folder is not None:
            self._settings.set(self._folder, os.path.dirname(path))
        self.model_changed.emit(path)

    def _choose_file(self) -> None:
        start = ""
        if self._settings is not None and self._folder is not None:
            start = self._settings.get(self._folder)
        path, _ = QFileDialog.getOpenFileName(self, "Choose a Fledge model", start or runs_root(),
                                              MODEL_FILTER)
        if path:
            self.set_model(path)


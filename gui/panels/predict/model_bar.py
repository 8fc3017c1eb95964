"""The window's current model in one row: "Open model…", a busy bar while it loads, what it is."""
from __future__ import annotations

import os

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLabel, QProgressBar, QPushButton, QStyle, QWidget

from core.wording import plural
from gui.model_store import MODEL_FILTER, ModelStore
from gui.settings import Setting, Settings


class ModelBar(QWidget):
    """Shows a ModelStore's current model and opens another one into it."""

    def __init__(self, models: ModelStore, settings: Settings, folder: Setting[str],
                 parent: QWidget | None = None) -> None:
        """folder: the setting in settings that remembers where a model file was last chosen."""
        super().__init__(parent)
        self._models = models
        self._settings, self._folder = settings, folder
        self.open_button = QPushButton("Open &model…", self)
        self.open_button.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_DialogOpenButton))
        self.open_button.setToolTip("Choose a saved Fledge model file (.pt) to classify photos with")
        self.open_button.clicked.connect(self.choose_model)
        self.busy = QProgressBar(self)
        self.busy.setRange(0, 0)
        self.busy.setMaximumWidth(120)
        self.busy.setTextVisible(False)
        self.busy.setAccessibleName("Loading model")
        self.busy.hide()
        self.label = QLabel(self)
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.open_button)
        lay.addWidget(self.busy)
        lay.addWidget(self.label, 1)
        models.loading.connect(self._on_loading)
        models.changed.connect(self._on_done)
        models.failed.connect(self._on_done)
        self._describe()

    def choose_model(self) -> None:
        from core.training.runs import runs_root

        start = self._settings.get(self._folder)
        if not start:
            current = self._models.path()
            start = os.path.dirname(current) if current else runs_root()
        path, _ = QFileDialog.getOpenFileName(self, "Open a Fledge model", start, MODEL_FILTER)
        if path:
            self._settings.set(self._folder, os.path.dirname(path))
            self._models.load(path)

    def _on_loading(self, path: str) -> None:
        self.busy.show()
        self.label.setText(f"Loading {os.path.basename(path)}…")

    def _on_done(self, *_args) -> None:
        self.busy.hide()
        self._describe()

    def _describe(self) -> None:
        p, path = self._models.predictor(), self._models.path()
        if p is None:
            self.label.setText("No model loaded")
            self.label.setToolTip("")
            return
        classes = ", ".join(p.classes[:6]) + (", …" if len(p.classes) > 6 else "")
        self.label.setText(f"Model: {os.path.basename(path)} — {p.arch}, "
                           f"{plural(len(p.classes), 'class', 'classes')} ({classes}), on {p.device}")
        self.label.setToolTip(path)

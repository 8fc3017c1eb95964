"""The Predict tab's row of buttons: "Open photos…", "Paste" and "Clear"."""
from __future__ import annotations

import os

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QPushButton, QWidget

from core.data.imageio import IMAGE_EXTENSIONS
from gui.settings import PREDICT_PHOTO_FOLDER, Settings


class PhotoActions(QWidget):
    """photos_chosen(paths) after the file dialog; paste_clicked and clear_clicked."""

    photos_chosen = Signal(list)
    paste_clicked = Signal()
    clear_clicked = Signal()

    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._settings = settings
        self.open_photos_button = QPushButton("Open &photos…", self)
        self.open_photos_button.setToolTip("Choose one or more photos to classify")
        self.open_photos_button.clicked.connect(self.choose_photos)
        self.paste_button = QPushButton("P&aste", self)
        self.paste_button.setToolTip("Classify the picture on the clipboard (Ctrl+V)")
        self.paste_button.clicked.connect(self.paste_clicked)
        self.clear_button = QPushButton("C&lear", self)
        self.clear_button.setToolTip("Remove all photos from this list")
        self.clear_button.clicked.connect(self.clear_clicked)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.open_photos_button)
        lay.addWidget(self.paste_button)
        lay.addStretch(1)
        lay.addWidget(self.clear_button)

    def choose_photos(self) -> None:
        """The file dialog, starting where photos were chosen last time."""
        start = self._settings.get(PREDICT_PHOTO_FOLDER)
        patterns = " ".join(f"*{e}" for e in sorted(IMAGE_EXTENSIONS))
        paths, _ = QFileDialog.getOpenFileNames(
            self, "Choose photos to classify", start, f"Photos ({patterns});;All files (*)")
        if paths:
            self._settings.set(PREDICT_PHOTO_FOLDER, os.path.dirname(paths[0]))
            self.photos_chosen.emit(list(paths))

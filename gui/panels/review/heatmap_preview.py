"""A large preview of one photo, with “Show where the model looked” (H) over it.

    self.preview = PhotoPreview(models, self, key_owner=self)    # models: the window's ModelStore
    self.preview.show_photo(path, model)            # model: a predictor, a model file path, or ''

The photo is decoded at screen size off the GUI thread (gui.widgets.thumbnails); the heat
map is gui.widgets.heatmap's.
"""
from __future__ import annotations

import os

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from gui.widgets.heatmap import HeatMapOverlay
from gui.widgets.image_view import ImageView
from gui.widgets.prediction_view import DISPLAY_PX
from gui.widgets.thumbnails import ThumbnailLoader

EMPTY = "Choose a photo to see it large here"


class PhotoPreview(QWidget):
    """The current photo, large, and the heat-map check box under it."""

    def __init__(self, models=None, parent: QWidget | None = None, key_owner: QWidget | None = None) -> None:
        """key_owner: the widget within which the H key works (the whole tab, say); this one by default."""
        super().__init__(parent)
        self.image_view = ImageView(self)
        self.image_view.setAccessibleName("Large preview")
        self.image_view.setStyleSheet("")
        self.name_label = QLabel(self)
        self.name_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.name_label.setWordWrap(True)
        self.heat = HeatMapOverlay(self.image_view, key_owner or self, DISPLAY_PX, models, self)
        self._loader = ThumbnailLoader(self, threads=1, cache_size=8)
        self._loader.loaded.connect(self._on_loaded)
        self._loader.failed.connect(self._on_failed)
        self._path = ""
        self._model = None
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.image_view, 1)
        lay.addWidget(self.name_label)
        lay.addWidget(self.heat.row)
        self.show_photo("", None)

    def show_photo(self, path: str, model) -> None:
        """Put this photo on show ('' for none), explained by model when the box is ticked."""
        path = os.fspath(path or "")
        if path == self._path and model is self._model and path:
            return
        self._path, self._model = path, model
        self._loader.cancel()
        self.name_label.setText(os.path.basename(path))
        self.name_label.setToolTip(path)
        self.image_view.set_image(None, "Loading…" if path else EMPTY)
        self.heat.show(None, None, None, None)
        if path:
            self._loader.request(path, path, DISPLAY_PX)

    def path(self) -> str:
        return self._path

    def shutdown(self, msecs: int = 10000) -> None:
        self._loader.shutdown(msecs)
        self.heat.shutdown(msecs)

    def _on_loaded(self, key, path: str, image) -> None:
        if key != self._path:
            return
        self.image_view.set_image(image)
        self.heat.show(path, path, image, self._model)

    def _on_failed(self, key, path: str, reason: str) -> None:
        if key == self._path:
            self.image_view.set_image(None, f"This photo could not be shown: {reason}")

"""Under the augmentation setting: a few samples of one of the person's own photos as training
would show it with the settings chosen now (core.data.augment_preview makes them, off the
main thread; this only shows them)."""
from __future__ import annotations

import os

from PySide6.QtCore import Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget

from core.data.augmentation import Augmentation
from gui.background import TaskPool, call
from gui.style import make_muted
from gui.widgets.thumbnails import pixmap_for

PICTURE_PX = 64                      # each sample's side, in logical pixels


def _samples(path: str, augment: Augmentation, count: int, px: int) -> list[QImage]:
    """count QImages of core's samples (runs on the pool's thread)."""
    # Imported here: it loads torch, which the window loads after it is shown.
    from core.data.augment_preview import augmented_samples

    images = []
    for a in augmented_samples(path, augment, count=count, size=px):
        h, w = a.shape[:2]
        images.append(QImage(a.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy())  # owns its bytes
    return images


class AugmentPreview(QWidget):
    """show_for(photo path or None, Augmentation): a strip of samples, redrawn when either changes."""

    COUNT = 5

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.pool = TaskPool(self, threads=1)
        self.pool.finished.connect(self._on_samples)
        self.pool.failed.connect(self._on_failed)
        self._token: int | None = None
        self._key = None
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 2, 0, 0)
        lay.setSpacing(2)
        row = QHBoxLayout()
        row.setSpacing(4)
        self.pictures = []
        for _ in range(self.COUNT):
            label = QLabel()
            label.setFixedSize(PICTURE_PX, PICTURE_PX)
            label.setAlignment(Qt.AlignmentFlag.AlignCenter)
            row.addWidget(label)
            self.pictures.append(label)
        row.addStretch(1)
        lay.addLayout(row)
        self.caption = QLabel()
        self.caption.setWordWrap(True)
        make_muted(self.caption)
        lay.addWidget(self.caption)
        self.setToolTip("Samples of one of your photos as training shows it, each a new random draw "
                        "of the augmentation chosen above.")
        self._clear("Choose a folder of photos to see what augmentation does to one of them.")

    def shown(self) -> int:
        """How many samples are shown now."""
        return sum(1 for label in self.pictures if not label.pixmap().isNull())

    def show_for(self, path: str | None, augment: Augmentation) -> None:
        key = (path, augment)
        if key == self._key:
            return
        self._key = key
        self.pool.cancel()
        self._token = None
        if path is None:
            self._clear("Choose a folder of photos to see what augmentation does to one of them.")
            return
        px = round(PICTURE_PX * self.devicePixelRatioF())
        self._token = self.pool.submit(call(_samples, path, augment, self.COUNT, px))

    def shutdown(self, timeout_ms: int = -1) -> bool:
        return self.pool.shutdown(timeout_ms)

    def _clear(self, text: str) -> None:
        for label in self.pictures:
            label.clear()
        self.caption.setText(text)

    def _on_samples(self, token: int, images: list) -> None:
        if token != self._token:
            return
        ratio = self.devicePixelRatioF()
        for label, image in zip(self.pictures, images):
            label.setPixmap(pixmap_for(image, ratio))
        path, augment = self._key
        name = os.path.basename(path)
        self.caption.setText(f"{name} as training sees it: the same each time (no augmentation)."
                             if augment.identity else f"{name} as training may show it, {len(images)} random draws.")

    def _on_failed(self, token: int, message: str) -> None:
        if token == self._token:
            self._clear(message)

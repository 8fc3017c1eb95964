"""One picture scaled to fit its box, sharp on high-DPI screens; text when there is none."""
from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QFrame, QLabel, QSizePolicy, QWidget

MAX_ENLARGE = 4              # a small picture is shown at most this many times its size


class ImageView(QLabel):
    """Shows one picture scaled to fit, sharp on high-DPI screens; doubles as a drop zone."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._pixmap: QPixmap | None = None
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setWordWrap(True)
        self.setMinimumSize(240, 180)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setStyleSheet("QLabel { border: 2px dashed palette(mid); border-radius: 6px; }")

    def set_image(self, image: QImage | None, text: str = "") -> None:
        self._pixmap = QPixmap.fromImage(image) if image is not None and not image.isNull() else None
        if self._pixmap is None:
            self.setPixmap(QPixmap())
            self.setText(text)
        else:
            self.setText("")
            self._rescale()

    def has_image(self) -> bool:
        return self._pixmap is not None

    def _rescale(self) -> None:
        if self._pixmap is None:
            return
        dpr = self.devicePixelRatioF()
        box = self.contentsRect().size() * dpr
        pm = self._pixmap
        # Too big: fit the box. Small (a 128-pixel dataset photo, a heat map over it): enlarged
        # up to MAX_ENLARGE times, so it can be seen, but not blown up into a blur.
        fit = pm.size().scaled(box, Qt.AspectRatioMode.KeepAspectRatio)
        if fit.width() > pm.width() * MAX_ENLARGE:
            fit = pm.size() * MAX_ENLARGE
        if fit != pm.size() and not fit.isEmpty():
            pm = pm.scaled(fit, Qt.AspectRatioMode.KeepAspectRatio,
                           Qt.TransformationMode.SmoothTransformation)
        pm = QPixmap(pm)
        pm.setDevicePixelRatio(dpr)
        super().setPixmap(pm)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._rescale()

    def minimumSizeHint(self) -> QSize:
        return QSize(240, 180)       # never let a large picture force the window wider

    def sizeHint(self) -> QSize:
        return QSize(480, 360)

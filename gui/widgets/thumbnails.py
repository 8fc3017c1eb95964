"""Small pictures of image files, decoded off the main thread.

Decoding is the slow part of showing a photo (a 12-megapixel JPEG takes far longer to
decode than to draw), so a pool of worker threads decodes each file with PIL in JPEG
draft mode at about the size it will be shown and converts it to a QImage there.
Only the QImage -> QPixmap step, which Qt requires on the GUI thread, happens in the
receiving widget. Used by the dataset panel's class grid, the photo grid and Predict.
"""
from __future__ import annotations

import os
from collections import OrderedDict

from PIL import Image
from PySide6.QtCore import QObject, QSize, Qt, Signal
from PySide6.QtGui import QImage, QPainter, QPixmap

from core.errors import FledgeError, ImageError
from core.data.imageio import load_rgb
from gui.background import TaskPool, call


def pil_to_qimage(im: Image.Image) -> QImage:
    """An independent QImage copy of an RGB PIL image (safe to pass between threads)."""
    if im.mode != "RGB":
        im = im.convert("RGB")
    w, h = im.size
    data = im.tobytes("raw", "RGB")
    # QImage borrows the buffer; copy() detaches it so the bytes may be freed.
    return QImage(data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def qimage_to_pil(image: QImage) -> Image.Image:
    """An RGB PIL image from any QImage (alpha composited on white, like load_rgb)."""
    if image.hasAlphaChannel():
        flat = QImage(image.size(), QImage.Format.Format_RGB888)
        flat.fill(Qt.GlobalColor.white)
        painter = QPainter(flat)
        painter.drawImage(0, 0, image)
        painter.end()
        image = flat
    else:
        image = image.convertToFormat(QImage.Format.Format_RGB888)
    w, h = image.width(), image.height()
    stride = image.bytesPerLine()
    raw = bytes(image.constBits())[: stride * h]
    return Image.frombuffer("RGB", (w, h), raw, "raw", "RGB", stride, 1).copy()


def decode_scaled(path: str, max_side: int) -> QImage:
    """Decode path and shrink it to fit in max_side x max_side pixels; ImageError if unusable."""
    im = load_rgb(path, draft_size=max_side)
    if max(im.size) > max_side:
        im.thumbnail((max_side, max_side), Image.Resampling.BILINEAR, reducing_gap=2.0)
    return pil_to_qimage(im)


def pixmap_for(image: QImage, device_pixel_ratio: float) -> QPixmap:
    """A QPixmap (GUI thread only) that draws at image size / ratio logical pixels."""
    pm = QPixmap.fromImage(image)
    pm.setDevicePixelRatio(device_pixel_ratio)
    return pm


def _decode_for_display(path: str, max_side: int) -> QImage:
    """decode_scaled, failing with the reason alone (the caller shows which file it was)."""
    try:
        return decode_scaled(path, max_side)
    except ImageError as exc:
        raise FledgeError(exc.reason) from None


class ThumbnailLoader(QObject):
    """Queue files for decoding at a pixel size; results arrive as queued signals.

    loaded(key, path, QImage) / failed(key, path, reason) are emitted on the GUI thread.
    key is any value the caller chooses (e.g. the grid item's row). cancel() drops
    everything not yet delivered, e.g. when the grid switches to another class. Decoded
    images are kept in a small in-memory cache, so going back to a class is instant.
    The decoding runs as gui.background tasks on a pool of its own.
    """

    loaded = Signal(object, str, object)    # key, path, QImage
    failed = Signal(object, str, str)       # key, path, reason

    def __init__(self, parent: QObject | None = None, threads: int | None = None,
                 cache_size: int = 600) -> None:
        super().__init__(parent)
        self._pool = TaskPool(self, threads=threads or max(1, min(4, (os.cpu_count() or 2))))
        self._pool.finished.connect(self._on_loaded)
        self._pool.failed.connect(self._on_failed)
        self._requests: dict[int, tuple[object, str, int]] = {}     # token -> key, path, px
        self._cache: OrderedDict[tuple[str, int], QImage] = OrderedDict()
        self._cache_size = cache_size

    def request(self, key, path: str, px: int | QSize) -> None:
        """Decode path to fit in px x px device pixels (from cache when possible)."""
        if isinstance(px, QSize):
            px = max(px.width(), px.height())
        px = max(8, int(px))
        cached = self._cache.get((path, px))
        if cached is not None:
            self._cache.move_to_end((path, px))
            self.loaded.emit(key, path, cached)
            return
        token = self._pool.submit(call(_decode_for_display, path, px))
        self._requests[token] = (key, path, px)

    def clear_cache(self) -> None:
        """Forget decoded pictures (files may have changed since)."""
        self._cache.clear()

    def cancel(self) -> None:
        """Forget every request not yet delivered."""
        self._pool.cancel()
        self._requests.clear()

    def wait(self, msecs: int = -1) -> bool:
        """Block until the worker threads are idle (used when closing)."""
        return self._pool.wait(msecs)

    def shutdown(self, msecs: int = 5000) -> bool:
        self.cancel()
        return self.wait(msecs)

    def _on_loaded(self, token: int, image: QImage) -> None:
        key, path, px = self._requests.pop(token)
        self._cache[(path, px)] = image
        self._cache.move_to_end((path, px))
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        self.loaded.emit(key, path, image)

    def _on_failed(self, token: int, reason: str) -> None:
        key, path, _px = self._requests.pop(token)
        self.failed.emit(key, path, reason)

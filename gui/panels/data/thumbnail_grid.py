"""A grid of photo thumbnails without captions, decoded in the background as they are shown."""
from __future__ import annotations

import os

from PySide6.QtCore import QSize, Qt, QUrl
from PySide6.QtGui import QColor, QDesktopServices, QIcon, QPalette, QPixmap
from PySide6.QtWidgets import QListView, QListWidget, QListWidgetItem, QStyle, QWidget

from gui.widgets.thumbnails import ThumbnailLoader, pixmap_for


class ThumbnailGrid(QListWidget):
    """Pictures of files at one size; double-click or Enter opens one in the picture viewer."""

    def __init__(self, thumb_px: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._px = thumb_px
        self._generation = 0
        self._items: dict[int, QListWidgetItem] = {}
        self._done = 0
        self._paths: list[str] = []
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setMovement(QListView.Movement.Static)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setUniformItemSizes(True)
        self.setIconSize(QSize(thumb_px, thumb_px))
        self.setGridSize(QSize(thumb_px + 12, thumb_px + 12))
        self.setSpacing(2)
        self.setMinimumSize(thumb_px * 2 + 40, thumb_px + 40)
        self.itemActivated.connect(self._open_picture)
        self._loader = ThumbnailLoader(self)
        self._loader.loaded.connect(self._on_loaded)
        self._loader.failed.connect(self._on_failed)
        self._placeholder = self._make_placeholder()

    def show_paths(self, paths: list[str]) -> None:
        """Show these files (placeholders first, each picture as it is decoded)."""
        self.clear_photos()
        self._paths = list(paths)
        px = round(self._px * self.devicePixelRatioF())
        for row, path in enumerate(self._paths):
            item = QListWidgetItem(self._placeholder, "")
            name = os.path.basename(path)
            item.setToolTip(name)
            item.setData(Qt.ItemDataRole.AccessibleTextRole, name)
            item.setData(Qt.ItemDataRole.UserRole, path)
            item.setSizeHint(QSize(self._px + 8, self._px + 8))
            self.addItem(item)
            self._items[row] = item
            self._loader.request((self._generation, row), path, px)

    def clear_photos(self) -> None:
        self._loader.cancel()
        self._generation += 1
        self.clear()
        self._items = {}
        self._done = 0
        self._paths = []

    def loaded_count(self) -> int:
        """How many of the shown pictures have been decoded (or found unreadable)."""
        return self._done

    def forget_pictures(self) -> None:
        """Decode files afresh next time (they may have been edited)."""
        self._loader.clear_cache()

    def shutdown(self, msecs: int = 5000) -> bool:
        return self._loader.shutdown(msecs)

    def _item(self, key) -> QListWidgetItem | None:
        generation, row = key
        return self._items.get(row) if generation == self._generation else None

    def _on_loaded(self, key, path: str, image) -> None:
        item = self._item(key)
        if item is not None:
            # Decoded at size x ratio device pixels: drawn sharp at size logical ones.
            item.setIcon(QIcon(pixmap_for(image, self.devicePixelRatioF())))
            self._done += 1

    def _on_failed(self, key, path: str, reason: str) -> None:
        item = self._item(key)
        if item is not None:
            item.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning))
            item.setToolTip(f"{os.path.basename(path)}: {reason}")
            item.setForeground(QColor(self.palette().color(QPalette.ColorRole.PlaceholderText)))
            self._done += 1

    def _make_placeholder(self) -> QIcon:
        dpr = self.devicePixelRatioF()
        pm = QPixmap(int(self._px * dpr), int(self._px * dpr))
        pm.fill(self.palette().color(QPalette.ColorRole.Midlight))
        pm.setDevicePixelRatio(dpr)
        return QIcon(pm)

    def _open_picture(self, item: QListWidgetItem) -> None:
        path = item.data(Qt.ItemDataRole.UserRole)
        if path:
            QDesktopServices.openUrl(QUrl.fromLocalFile(path))

    def changeEvent(self, event) -> None:
        # Redraw placeholders and thumbnails when moved to a screen with another pixel ratio.
        if event.type() == event.Type.DevicePixelRatioChange and self._paths:
            self._placeholder = self._make_placeholder()
            self.show_paths(self._paths)
        super().changeEvent(event)

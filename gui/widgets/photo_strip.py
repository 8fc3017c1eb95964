"""A list of photos, each with a small icon and a caption, looked up by the caller's key."""
from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QImage
from PySide6.QtWidgets import QAbstractItemView, QListWidget, QListWidgetItem, QStyle, QWidget

from gui.widgets.thumbnails import pixmap_for


class PhotoStrip(QListWidget):
    """Photos in the order they came, one row each; current_changed(key, previous key)."""

    current_changed = Signal(object, object)

    def __init__(self, icon_px: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._icon_px = icon_px
        self._items: dict[object, QListWidgetItem] = {}
        self._has_icon: set = set()
        self.setIconSize(QSize(icon_px, icon_px))
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.currentItemChanged.connect(
            lambda now, before: self.current_changed.emit(self._key(now), self._key(before)))

    def icon_device_px(self) -> int:
        """The icon size in device pixels: the size to decode pictures at."""
        return round(self._icon_px * self.devicePixelRatioF())

    def add(self, key, caption: str, tooltip: str) -> None:
        item = QListWidgetItem(caption)
        item.setData(Qt.ItemDataRole.UserRole, key)
        item.setToolTip(tooltip)
        self.addItem(item)
        self._items[key] = item

    def remove(self, key) -> None:
        item = self._items.pop(key, None)
        if item is not None:
            self._has_icon.discard(key)
            self.takeItem(self.row(item))

    def select(self, key) -> None:
        item = self._items.get(key)
        if item is not None:
            self.setCurrentItem(item)

    def current_key(self):
        return self._key(self.currentItem())

    def set_caption(self, key, text: str) -> None:
        item = self._items.get(key)
        if item is not None:
            item.setText(text)

    def set_icon(self, key, image: QImage) -> None:
        """The row's icon from a picture (shrunk to the icon size here when it is bigger)."""
        item = self._items.get(key)
        if item is None:
            return
        dpr = self.devicePixelRatioF()
        side = round(self._icon_px * dpr)
        if max(image.width(), image.height()) > side:
            image = image.scaled(side, side, Qt.AspectRatioMode.KeepAspectRatio,
                                 Qt.TransformationMode.SmoothTransformation)
        item.setIcon(QIcon(pixmap_for(image, dpr)))
        self._has_icon.add(key)

    def mark_unreadable(self, key) -> None:
        """A warning icon, unless the picture itself could be shown."""
        item = self._items.get(key)
        if item is not None and key not in self._has_icon:
            item.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning))

    def clear(self) -> None:
        self._items.clear()
        self._has_icon.clear()
        super().clear()

    @staticmethod
    def _key(item: QListWidgetItem | None):
        return item.data(Qt.ItemDataRole.UserRole) if item is not None else None

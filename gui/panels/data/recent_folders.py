"""A dropdown of the folders used before, kept in the settings, newest first."""
from __future__ import annotations

import os

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtWidgets import QComboBox, QWidget


class RecentFolders(QComboBox):
    """The last few folders (newest first); chosen(path) when one is picked."""

    chosen = Signal(str)

    def __init__(self, settings_key: str, keep: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._key = settings_key
        self._keep = keep
        self.setPlaceholderText("Recent folders")
        self.setToolTip("Open one of the folders you used before")
        self.setAccessibleName("Recent folders")
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.setMinimumContentsLength(18)
        self.activated.connect(self._on_activated)
        self.reload()

    def folders(self) -> list[str]:
        value = QSettings().value(self._key, [])
        if isinstance(value, str):      # QSettings hands back a lone string for one item
            value = [value]
        return [str(v) for v in (value or []) if v][:self._keep]

    def remember(self, path: str) -> None:
        items = [p for p in self.folders() if os.path.normcase(p) != os.path.normcase(path)]
        QSettings().setValue(self._key, [path, *items][:self._keep])
        self.reload()

    def reload(self) -> None:
        self.clear()
        for p in self.folders():
            self.addItem(p, p)
            self.setItemData(self.count() - 1, p, Qt.ItemDataRole.ToolTipRole)
        self.setCurrentIndex(-1)
        self.setEnabled(self.count() > 0)

    def _on_activated(self, index: int) -> None:
        path = self.itemData(index)
        self.setCurrentIndex(-1)
        if path:
            self.chosen.emit(str(path))

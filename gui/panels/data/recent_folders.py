"""A dropdown of the folders used before, kept in the settings, newest first."""
from __future__ import annotations

import os

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QWidget

from gui.settings import Setting, Settings


class RecentFolders(QComboBox):
    """The last few folders (newest first); chosen(path) when one is picked."""

    chosen = Signal(str)

    def __init__(self, settings: Settings, setting: Setting[list], keep: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._settings, self._setting = settings, setting
        self._keep = keep
        self.setPlaceholderText("Recent folders")
        self.setToolTip("Open one of the folders you used before")
        self.setAccessibleName("Recent folders")
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.setMinimumContentsLength(18)
        self.activated.connect(self._on_activated)
        self.reload()

    def folders(self) -> list[str]:
        return self._settings.get(self._setting)[:self._keep]

    def remember(self, path: str) -> None:
        items = [p for p in self.folders() if os.path.normcase(p) != os.path.normcase(path)]
        self._settings.set(self._setting, [path, *items][:self._keep])
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

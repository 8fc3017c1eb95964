"""The "which folder" row: a path typed, pasted, or chosen with a dialog."""
from __future__ import annotations

import os

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLineEdit, QPushButton, QStyle, QWidget


class FolderField(QWidget):
    """A folder path: typed, pasted, or chosen with a dialog."""

    changed = Signal(str)

    def __init__(self, placeholder: str, dialog_title: str, tooltip: str = "",
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._title = dialog_title
        self.edit = QLineEdit(self)
        self.edit.setPlaceholderText(placeholder)
        self.edit.setClearButtonEnabled(True)
        self.edit.setMinimumWidth(220)
        self.edit.setToolTip(tooltip or placeholder)
        self.edit.setAccessibleName(dialog_title)
        self.edit.editingFinished.connect(self._edited)
        self.browse = QPushButton("Choose…", self)
        self.browse.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_DirOpenIcon))
        self.browse.setToolTip(dialog_title)
        self.browse.clicked.connect(self._choose)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.edit, 1)
        lay.addWidget(self.browse)
        self._last = ""

    def path(self) -> str:
        text = self.edit.text().strip()
        return os.path.abspath(os.path.expanduser(text)) if text else ""

    def set_path(self, path: str, notify: bool = True) -> None:
        self.edit.setText(os.fspath(path) if path else "")
        if notify:
            self._edited()
        else:
            self._last = self.path()

    def _edited(self) -> None:
        p = self.path()
        if p != self._last:
            self._last = p
            self.changed.emit(p)

    def _choose(self) -> None:
        start = self.path() or os.path.expanduser("~")
        path = QFileDialog.getExistingDirectory(self, self._title, start)
        if path:
            self.set_path(path)


"""A list of the files a dataset scan left out, each with the reason."""
from __future__ import annotations

import os

from PySide6.QtWidgets import (QAbstractItemView, QDialog, QDialogButtonBox, QHeaderView, QLabel,
                               QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from core.wording import plural


class SkippedFilesDialog(QDialog):
    """A list of the files the scan left out, each with the reason."""

    def __init__(self, dataset, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Skipped files")
        self.setMinimumSize(560, 320)
        n = len(dataset.skipped)
        intro = QLabel(
            f"{plural(n, 'file')} in {dataset.root} will not be used for training. "
            "Fix or remove them and choose the folder again to include them.", self)
        intro.setWordWrap(True)
        self.table = QTableWidget(n, 2, self)
        self.table.setHorizontalHeaderLabels(["File", "Reason"])
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().hide()
        for row, item in enumerate(dataset.skipped):
            try:
                shown = os.path.relpath(item.path, dataset.root)
            except ValueError:      # another drive on Windows
                shown = item.path
            cell = QTableWidgetItem(shown)
            cell.setToolTip(item.path)
            self.table.setItem(row, 0, cell)
            self.table.setItem(row, 1, QTableWidgetItem(item.reason))
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(intro)
        lay.addWidget(self.table, 1)
        lay.addWidget(buttons)

    def rows(self) -> list[tuple[str, str]]:
        return [(self.table.item(r, 0).toolTip(), self.table.item(r, 1).text())
                for r in range(self.table.rowCount())]

"""The photos a label check doubts, one row each: the photo, the class it is filed under,
the class it looks like and how sure the check is. Rows leave and come back (undo) in place."""
from __future__ import annotations

import os

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem

from core.wording import rounded_percent as percent

HEADERS = ("Photo", "Filed as", "Looks like", "How sure")


class SuspectTable(QTableWidget):
    """Rows of core.photos.check_labels.Suggestion, most likely wrong first."""

    def __init__(self, parent=None) -> None:
        super().__init__(0, len(HEADERS), parent)
        self._rows: list = []                 # the Suggestion of each row
        self.setHorizontalHeaderLabels(HEADERS)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setTabKeyNavigation(False)
        self.verticalHeader().hide()
        header = self.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for col in range(1, len(HEADERS)):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        self.setAccessibleName("Photos that may be filed under the wrong class")

    def set_suggestions(self, suggestions) -> None:
        self.setUpdatesEnabled(False)          # thousands of rows: draw once
        self.setRowCount(0)
        self._rows = []
        for s in suggestions:
            self._add(s, len(self._rows))
        self.setUpdatesEnabled(True)
        self.select_row(0)

    def suggestions(self) -> list:
        return list(self._rows)

    def count(self) -> int:
        return len(self._rows)

    def current(self):
        """The Suggestion of the current row, or None."""
        row = self.currentRow()
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def take_current(self):
        """(Suggestion, row) of the current row, taken out of the table; (None, -1) when empty.
        The next photo becomes current, so one key after another works down the list."""
        row = self.currentRow()
        if not 0 <= row < len(self._rows):
            return None, -1
        s = self._rows.pop(row)
        self.removeRow(row)
        self.select_row(min(row, len(self._rows) - 1))
        return s, row

    def insert(self, suggestion, row: int) -> None:
        """Show suggestion at row (or at the end when fewer rows are left), and make it current."""
        row = max(0, min(row, len(self._rows)))
        self._add(suggestion, row)
        self.select_row(row)

    def _add(self, suggestion, row: int) -> None:
        self._rows.insert(row, suggestion)
        self.insertRow(row)
        name = os.path.basename(suggestion.path)
        cells = (name, suggestion.given, suggestion.suggested, percent(suggestion.confidence))
        for col, text in enumerate(cells):
            cell = QTableWidgetItem(text)
            if col == 0:
                cell.setToolTip(f"{suggestion.path} ({suggestion.split})")
            if col == 3:
                cell.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                cell.setToolTip(f"The check gives “{suggestion.suggested}” {percent(suggestion.confidence)} and "
                                f"“{suggestion.given}” {percent(suggestion.given_probability)}")
            self.setItem(row, col, cell)

    def remove_path(self, path: str) -> None:
        """Drop the row of the photo at path, if any (a check made since listed it at its new place)."""
        for row in [r for r, s in enumerate(self._rows) if s.path == path][::-1]:
            self._rows.pop(row)
            self.removeRow(row)

    def select_row(self, row: int) -> None:
        if 0 <= row < len(self._rows):
            self.setCurrentCell(row, 0)
            self.scrollToItem(self.item(row, 0))

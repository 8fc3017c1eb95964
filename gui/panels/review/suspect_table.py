"""The photos a label check doubts, one row each: the photo, the class it is filed under,
the class it looks like and how sure the check is. Rows leave and come back (undo) in place."""
from __future__ import annotations

import os

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem

from core.wording import rounded_percent as percent

HEADERS = ("Photo", "Filed as", "Looks like", "How sure")


_SUGGESTION = Qt.ItemDataRole.UserRole


class SuspectTable(QTableWidget):
    """Rows of core.photos.check_labels.Suggestion, most likely wrong first.

    Each row's Suggestion is kept in the row itself (its first cell), so while a row leaves
    or comes back -- when Qt tells the view the current row changed -- current() is always
    the photo in the highlighted row: a key acts on the photo the preview shows."""

    def __init__(self, parent=None) -> None:
        super().__init__(0, len(HEADERS), parent)
        self._taken_rows: dict[int, int] = {}   # id(Suggestion) -> its row when taken out
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
        self._taken_rows.clear()
        for s in suggestions:
            self._add(s, self.rowCount())
        self.setUpdatesEnabled(True)
        self.select_row(0)

    def suggestion_at(self, row: int):
        cell = self.item(row, 0)
        return cell.data(_SUGGESTION) if cell is not None else None

    def suggestions(self) -> list:
        return [self.suggestion_at(r) for r in range(self.rowCount())]

    def count(self) -> int:
        return self.rowCount()

    def current(self):
        """The Suggestion of the current row, or None."""
        return self.suggestion_at(self.currentRow())

    def take_current(self):
        """The Suggestion of the current row, taken out of the table (None when empty). The next
        photo becomes current, so one key after another works down the list."""
        row, s = self.currentRow(), self.current()
        if s is None:
            return None
        self._taken_rows[id(s)] = row
        self.removeRow(row)
        self.select_row(min(row, self.rowCount() - 1))
        return s

    def put_back(self, suggestion, shown=None) -> None:
        """Show a suggestion taken out again at its old row (shown: what to show there instead,
        e.g. the same photo at the path it is back at), and make it current."""
        self.insert(shown if shown is not None else suggestion, self._taken_rows.get(id(suggestion), self.rowCount()))

    def insert(self, suggestion, row: int) -> None:
        """Show suggestion at row (or at the end when fewer rows are left), and make it current."""
        row = max(0, min(row, self.rowCount()))
        self._add(suggestion, row)
        self.select_row(row)

    def _add(self, suggestion, row: int) -> None:
        name = os.path.basename(suggestion.path)
        cells = (name, suggestion.given, suggestion.suggested, percent(suggestion.confidence))
        items = []
        for col, text in enumerate(cells):
            cell = QTableWidgetItem(text)
            if col == 0:
                cell.setToolTip(f"{suggestion.path} ({suggestion.split})")
                cell.setData(_SUGGESTION, suggestion)
            if col == 3:
                cell.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                cell.setToolTip(f"The check gives “{suggestion.suggested}” {percent(suggestion.confidence)} and "
                                f"“{suggestion.given}” {percent(suggestion.given_probability)}")
            items.append(cell)
        self.insertRow(row)
        for col, cell in enumerate(items):
            self.setItem(row, col, cell)

    def remove_path(self, path: str) -> None:
        """Drop the row of the photo at path, if any (a check made since listed it at its new place)."""
        for row in [r for r, s in enumerate(self.suggestions()) if s.path == path][::-1]:
            self.removeRow(row)

    def select_row(self, row: int) -> None:
        if 0 <= row < self.rowCount():
            self.setCurrentCell(row, 0)
            self.scrollToItem(self.item(row, 0))

"""Photos per class in each part of a dataset (train, val, test), with a total row."""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem, QWidget

from core.data.split import SPLITS


class ClassCountsTable(QTableWidget):
    """One row per class and a bold total; class_chosen(row) when the user picks a class."""

    class_chosen = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, 1 + len(SPLITS), parent)
        self._classes = 0
        self.setHorizontalHeaderLabels(["Class", *SPLITS])
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.verticalHeader().hide()
        self.setToolTip("Photos per class in each part of the dataset; select a class to see its photos")
        self.setAccessibleName("Photos per class")
        header = self.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for c in range(1, 1 + len(SPLITS)):
            header.setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
        self.setMinimumWidth(220)
        self.currentCellChanged.connect(self._on_current)

    def show_counts(self, classes: list[str], counts: dict) -> None:
        """counts: {split: {class: n}} as core.data.dataset.Dataset.counts() gives it."""
        self.blockSignals(True)
        self._classes = len(classes)
        self.setRowCount(len(classes) + 1)
        right = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        bold = QFont(self.font())
        bold.setBold(True)
        for row, name in enumerate([*classes, "Total"]):
            is_total = row == len(classes)
            cells = [QTableWidgetItem(name)]
            for split in SPLITS:
                per_class = counts.get(split, {})
                n = sum(per_class.values()) if is_total else per_class.get(name, 0)
                cells.append(QTableWidgetItem(str(n)))
                cells[-1].setTextAlignment(right)
            for col, cell in enumerate(cells):
                if is_total:
                    cell.setFont(bold)
                    cell.setFlags(Qt.ItemFlag.ItemIsEnabled)
                self.setItem(row, col, cell)
        self.setColumnHidden(3, not any(counts.get("test", {}).values()))
        self.blockSignals(False)

    def clear_counts(self) -> None:
        self._classes = 0
        self.setRowCount(0)

    def select_class(self, row: int) -> None:
        """Highlight a class's row without announcing it (the caller chose it)."""
        if self.currentRow() != row:
            self.blockSignals(True)
            self.selectRow(row)
            self.blockSignals(False)

    def rows(self) -> list[tuple[str, int, int, int]]:
        """The table as (class, train, val, test) rows, total row excluded."""
        return [(self.item(r, 0).text(), *(int(self.item(r, c).text()) for c in (1, 2, 3)))
                for r in range(self._classes)]

    def _on_current(self, row: int, *_) -> None:
        if 0 <= row < self._classes:
            self.class_chosen.emit(row)

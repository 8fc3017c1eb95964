"""Two or more runs side by side in the Runs tab: their curves overlaid and their settings in
a table, the settings that differ highlighted (the data: core.training.runs.compare_runs)."""
from __future__ import annotations

from PySide6.QtGui import QBrush, QPalette
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QHeaderView, QLabel, QTableWidget,
                               QTableWidgetItem, QVBoxLayout, QWidget)

from gui.widgets.plots import ComparePlots, run_colour


class CompareView(QWidget):
    """show_comparison(comparison): the overlay and the settings table of a core RunComparison."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.comparison = None
        self.title = QLabel()
        self.title.setWordWrap(True)
        self.plots = ComparePlots()
        self.only_differing = QCheckBox("Only the settings that differ")
        self.only_differing.setToolTip("Hide the settings that are the same in every run compared")
        self.only_differing.toggled.connect(self._filter_rows)
        self.table = QTableWidget()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.title)
        lay.addWidget(self.plots, 3)
        lay.addWidget(self.only_differing)
        lay.addWidget(self.table, 2)

    def show_comparison(self, comparison) -> None:
        self.comparison = comparison
        n = len(comparison.runs)
        differing = len(comparison.differing)
        self.title.setText(f"<b>Comparing {n} runs</b> — {differing} of their settings differ "
                           "(highlighted below). Ctrl+click a run to add or remove it.")
        self.plots.show_runs(comparison.runs)
        self.table.clear()
        self.table.setColumnCount(n)
        self.table.setRowCount(len(comparison.settings))
        self.table.setHorizontalHeaderLabels([run.name for run in comparison.runs])
        self.table.setVerticalHeaderLabels([row.label for row in comparison.settings])
        for col, run in enumerate(comparison.runs):
            header = self.table.horizontalHeaderItem(col)
            header.setForeground(QBrush(run_colour(col, n)))
            header.setToolTip(run.run_dir)
        highlight = self.palette().color(QPalette.ColorRole.Highlight)
        highlight.setAlpha(60)
        for r, row in enumerate(comparison.settings):
            for col, value in enumerate(row.values):
                item = QTableWidgetItem(value)
                item.setToolTip(value)
                if row.differs:
                    font = item.font()
                    font.setBold(True)
                    item.setFont(font)
                    item.setBackground(highlight)
                self.table.setItem(r, col, item)
            label = self.table.verticalHeaderItem(r)
            if row.differs:
                font = label.font()
                font.setBold(True)
                label.setFont(font)
        self._filter_rows()

    def _filter_rows(self, *_) -> None:
        if self.comparison is None:
            return
        only = self.only_differing.isChecked()
        for r, row in enumerate(self.comparison.settings):
            self.table.setRowHidden(r, only and not row.differs)

    def highlighted_rows(self) -> list[str]:
        """The labels of the rows shown as differing."""
        return [row.label for row in self.comparison.settings if row.differs] if self.comparison else []


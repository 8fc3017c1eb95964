"""The per-class figures of an evaluation: precision, recall, F1 and photos, then the averages."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem, QWidget


class ClassFiguresTable(QTableWidget):
    """One row per class of a core.photos.evaluation.EvaluationResult, then two average rows."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, 5, parent)
        self.setHorizontalHeaderLabels(["Class", "Precision", "Recall", "F1", "Photos"])
        self.verticalHeader().hide()
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for c in range(1, 5):
            self.horizontalHeader().setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
        self.setMinimumWidth(280)
        self.setAccessibleName("Figures per class")
        self.setToolTip("Precision: of the photos the model called this class, the share that were. "
                        "Recall: of the photos of this class, the share it found. F1 combines both. "
                        "Photos: how many photos of the class were checked.")

    def show_figures(self, result) -> None:
        """Fill the table from an EvaluationResult (None: empty it)."""
        if result is None:
            self.setRowCount(0)
            return
        figs = result.per_class()
        avgs = result.averages()
        total = sum(f.support for f in figs)
        rows = [(f.name, f.precision, f.recall, f.f1, f.support, "") for f in figs]
        rows += [("Average", avgs["macro"]["precision"], avgs["macro"]["recall"], avgs["macro"]["f1"], total,
                  "The mean over the classes: every class counts the same"),
                 ("Weighted average", avgs["weighted"]["precision"], avgs["weighted"]["recall"],
                  avgs["weighted"]["f1"], total, "The mean over the classes, weighted by their number of photos")]
        self.setRowCount(len(rows))
        italic = QFont(self.font())
        italic.setItalic(True)
        for r, (name, prec, rec, f1, support, average) in enumerate(rows):
            cells = [name, f"{prec:.1%}", f"{rec:.1%}", f"{f1:.1%}", f"{support:,}"]
            for c, text in enumerate(cells):
                it = QTableWidgetItem(text)
                if c:
                    it.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if average:
                    it.setFont(italic)
                    it.setToolTip(average)
                self.setItem(r, c, it)

"""The figures of an evaluation: the accuracy in large type, notes under it, the per-class table."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from core.wording import of_total
from gui.panels.evaluate.class_figures_table import ClassFiguresTable

SPLIT_NAMES = {"val": "Validation", "test": "Test", "train": "Training"}


class EvaluationFigures(QWidget):
    """``summary`` (the accuracy), ``details`` (notes), ``table`` and the Copy / Show mistakes buttons.

    The owner connects ``copy_button`` and ``mistakes_button`` and enables them.
    """

    def __init__(self, parent: QWidget | None = None,
                 prompt: str = "Choose a model and a dataset, then press Evaluate.") -> None:
        super().__init__(parent)
        self.summary = QLabel(prompt, self)
        big = QFont(self.summary.font())
        big.setPointSizeF(big.pointSizeF() * 1.3)
        big.setBold(True)
        self.summary.setFont(big)
        self.summary.setWordWrap(True)
        self.summary.setAccessibleName("Accuracy")
        self.details = QLabel(self)
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.table = ClassFiguresTable(self)
        self.copy_button = QPushButton("Cop&y report", self)
        self.copy_button.setToolTip("Copy the figures as text, e.g. to paste into an e-mail")
        self.mistakes_button = QPushButton("Show all mista&kes", self)
        self.mistakes_button.setToolTip("List every wrongly classified photo, most confident first")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.summary)
        lay.addWidget(self.details)
        lay.addWidget(self.table, 1)
        row = QHBoxLayout()
        row.addWidget(self.copy_button)
        row.addWidget(self.mistakes_button)
        row.addStretch(1)
        lay.addLayout(row)

    def show_result(self, result, notes: list[str]) -> None:
        """The accuracy of an EvaluationResult as the headline, notes under it, its table."""
        split = SPLIT_NAMES.get(result.split, result.split).lower()
        if result.accuracy is None:
            self.summary.setText("No photo could be evaluated.")
        else:
            self.summary.setText(f"Accuracy {result.accuracy:.1%}: "
                                 f"{of_total(result.correct, result.evaluated, f'{split} photo')} right")
        self.details.setText("\n".join(n for n in notes if n))
        self.table.show_figures(result)

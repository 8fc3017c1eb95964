"""The numbered classes of a labelling view: a button per class, key 1 for the first, and "New class…"."""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QPushButton, QSizePolicy, QWidget

MAX_KEYED = 9           # keys 1-9
COLUMNS = 5


class ClassLegend(QWidget):
    """A button per class (numbered 1–9 for the keys), and a button to add a class."""

    chosen = Signal(str)                  # a class button was clicked
    new_class_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._box = QWidget(self)
        self._grid = QGridLayout(self._box)
        self._grid.setContentsMargins(0, 0, 0, 0)
        self.buttons: list[QPushButton] = []
        self.new_class_button = QPushButton("New class…", self)
        self.new_class_button.setToolTip("Add a class to the dataset (a new class folder)")
        self.new_class_button.clicked.connect(self.new_class_requested)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self._box, 1)
        row.addWidget(self.new_class_button, 0, Qt.AlignmentFlag.AlignTop)
        self.set_classes([])

    def set_classes(self, classes: list[str]) -> None:
        """Show these classes in this order (key 1 is the first)."""
        for b in self.buttons:
            self._grid.removeWidget(b)
            b.hide()
            b.deleteLater()
        self.buttons = []
        for i, name in enumerate(classes):
            key = f"{i + 1}" if i < MAX_KEYED else ""
            b = QPushButton(f"{key}  {name}" if key else name, self._box)
            b.setToolTip(f"Label the selected photo as {name}" + (f" (key {key})" if key else ""))
            b.setAccessibleName(f"Label as {name}")
            b.clicked.connect(lambda _c=False, c=name: self.chosen.emit(c))
            b.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
            self._grid.addWidget(b, i // COLUMNS, i % COLUMNS)
            self.buttons.append(b)
        self._grid.setColumnStretch(COLUMNS, 1)
        if not classes:
            hint = QPushButton("Choose the dataset to label into", self._box)
            hint.setEnabled(False)
            self._grid.addWidget(hint, 0, 0)
            self.buttons.append(hint)

    def set_usable(self, has_target: bool, has_photos: bool) -> None:
        """Class buttons work with a dataset and photos to label; New class with a dataset."""
        self.new_class_button.setEnabled(has_target)
        for b in self.buttons:
            if b.accessibleName():
                b.setEnabled(has_target and has_photos)

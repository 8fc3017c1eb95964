"""The numbered classes of a labelling view: a button per class, key 1 for the first, "New class…",
and (where editing is on) "Classes ▾" and a right-click menu on each class to rename, merge or remove it."""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QMenu, QPushButton, QSizePolicy, QToolButton, QWidget

# What a class can have done to it: (action, menu text for one class, menu text choosing the class).
EDITS = (("rename", "Rename “{}”…", "Rename a class…"),
         ("merge", "Put the photos of “{}” into another class…", "Merge a class into another…"),
         ("remove", "Remove “{}”…", "Remove a class…"))

MAX_KEYED = 9           # keys 1-9
COLUMNS = 5


class ClassLegend(QWidget):
    """A button per class (numbered 1–9 for the keys), and a button to add a class."""

    chosen = Signal(str)                  # a class button was clicked
    new_class_requested = Signal()
    edit_requested = Signal(str, str)     # "rename" | "merge" | "remove" | "undo", the class ('' to ask)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._box = QWidget(self)
        self._grid = QGridLayout(self._box)
        self._grid.setContentsMargins(0, 0, 0, 0)
        self.buttons: list[QPushButton] = []
        self.new_class_button = QPushButton("New class…", self)
        self.new_class_button.setToolTip("Add a class to the dataset (a new class folder)")
        self.new_class_button.clicked.connect(self.new_class_requested)
        self.edit_button = QToolButton(self)
        self.edit_button.setText("Classes")
        self.edit_button.setToolTip("Rename, merge or remove a class (or right-click a class)")
        self.edit_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.edit_menu = QMenu(self.edit_button)
        for action, _one, any_class in EDITS:
            self.edit_menu.addAction(any_class).triggered.connect(
                lambda _c=False, a=action: self.edit_requested.emit(a, ""))
        self.edit_menu.addSeparator()
        self.undo_edit_action = self.edit_menu.addAction("Undo the last class change")
        self.undo_edit_action.triggered.connect(lambda: self.edit_requested.emit("undo", ""))
        self.undo_edit_action.setEnabled(False)
        self.edit_button.setMenu(self.edit_menu)
        self.edit_button.hide()
        self._editing = False
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self._box, 1)
        row.addWidget(self.new_class_button, 0, Qt.AlignmentFlag.AlignTop)
        row.addWidget(self.edit_button, 0, Qt.AlignmentFlag.AlignTop)
        self.set_classes([])

    def enable_editing(self, on: bool = True) -> None:
        """Offer to rename, merge and remove classes ("Classes" and a right-click menu per class)."""
        self._editing = on
        self.edit_button.setVisible(on)

    def class_menu(self, name: str) -> QMenu:
        """The right-click menu of one class."""
        menu = QMenu(self)
        for action, one, _any in EDITS:
            menu.addAction(one.format(name)).triggered.connect(
                lambda _c=False, a=action: self.edit_requested.emit(a, name))
        return menu

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
            if self._editing:
                b.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
                b.customContextMenuRequested.connect(
                    lambda pos, c=name, btn=b: self.class_menu(c).exec(btn.mapToGlobal(pos)))
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
        self.edit_button.setEnabled(has_target)
        for b in self.buttons:
            if b.accessibleName():
                b.setEnabled(has_target and has_photos)

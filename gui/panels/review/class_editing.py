"""Renaming, merging and removing a dataset's classes from the labelling view, off the window's
thread (a class of hundreds of photos on a USB disk takes a while), with its own undo.

The edits are core.photos.class_edits; this only asks which class and what to do with it,
runs the edit on a background task and keeps the last edit so it can be undone.

    editing = ClassEditing(parent)
    editing.edited.connect(lambda edit: ...)      # core.photos.class_edits.ClassEdit, done or undone
    editing.failed.connect(show_message)
    editing.start(labels, "remove", "lemming")    # asks to confirm first (ask_* can be replaced)
"""
from __future__ import annotations

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QInputDialog, QMessageBox, QWidget

from core.photos.class_edits import (merge_classes, remove_class, removed_folder, rename_class,
                                     undo_class_edit)
from gui.background import TaskPool, call


class ClassEditing(QObject):
    """Asks, runs and undoes class edits of one labelling view."""

    edited = Signal(object)        # ClassEdit, after it was done or undone
    failed = Signal(str)
    busy_changed = Signal(bool)
    undo_available = Signal(bool)

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self._window = parent
        self._pool = TaskPool(self, threads=1)
        self._pool.finished.connect(self._on_done)
        self._pool.failed.connect(self._on_failed)
        self.last = None               # the latest ClassEdit still in effect (what Undo takes back)
        self._jobs = 0
        # Replaceable (tests, scripts): each returns '' / False when the person cancels.
        self.ask_class = self._ask_class
        self.ask_new_name = self._ask_new_name
        self.ask_target = self._ask_target
        self.confirm_remove = self._confirm_remove

    # -- asking ---------------------------------------------------------------------------
    def start(self, labels, action: str, name: str = "") -> bool:
        """Ask what is needed for action on class name (asked for when ''), then run it."""
        if action == "undo":
            return self.undo(labels)
        classes = list(labels.classes)
        name = name or self.ask_class(action, classes)
        if not name:
            return False
        if action == "rename":
            new = self.ask_new_name(name)
            return bool(new) and self._submit(call(rename_class, labels, name, new))
        if action == "merge":
            into = self.ask_target(name, [c for c in classes if c != name])
            return bool(into) and self._submit(call(merge_classes, labels, name, into))
        if action == "remove":
            return self.confirm_remove(name, removed_folder(labels.root)) and \
                self._submit(call(remove_class, labels, name))
        raise ValueError(action)

    def undo(self, labels) -> bool:
        if self.last is None:
            self.failed.emit("There is no change to the classes to undo.")
            return False
        return self._submit(call(undo_class_edit, labels, self.last))     # kept until undone, to try again

    def busy(self) -> bool:
        return self._jobs > 0

    def wait(self, msecs: int = -1) -> bool:
        return self._pool.wait(msecs)

    def shutdown(self, msecs: int = 10000) -> None:
        self._pool.shutdown(msecs)

    # -- running ----------------------------------------------------------------------------
    def _submit(self, task) -> bool:
        self._jobs += 1
        self.busy_changed.emit(True)
        self._pool.submit(task)
        return True

    def _on_done(self, _token: int, edit) -> None:
        self._jobs -= 1
        self.last = None if edit.undone else edit
        self.undo_available.emit(self.last is not None)
        self.busy_changed.emit(self.busy())
        self.edited.emit(edit)

    def _on_failed(self, _token: int, message: str) -> None:
        self._jobs -= 1
        self.busy_changed.emit(self.busy())
        self.failed.emit(message)

    # -- dialogs ----------------------------------------------------------------------------
    def _ask_class(self, action: str, classes: list[str]) -> str:
        verb = {"rename": "rename", "merge": "put into another class", "remove": "remove"}[action]
        name, ok = QInputDialog.getItem(self._window, "Choose a class", f"Which class do you want to {verb}?",
                                        classes, 0, False)
        return name if ok else ""

    def _ask_new_name(self, name: str) -> str:
        new, ok = QInputDialog.getText(self._window, "Rename a class",
                                       f"New name for “{name}” (it keeps its key and its photos):", text=name)
        return new if ok and new.strip() != name else ""

    def _ask_target(self, name: str, others: list[str]) -> str:
        into, ok = QInputDialog.getItem(self._window, "Merge classes",
                                        f"Put every photo of “{name}” into which class?", others, 0, False)
        return into if ok else ""

    def _confirm_remove(self, name: str, aside: str) -> bool:
        answer = QMessageBox.question(
            self._window, "Remove a class",
            f"Remove the class “{name}”? The photos you labelled into it go back where they came from; "
            f"any others are moved to {aside}. You can undo this (Classes ▸ Undo the last class change).")
        return answer == QMessageBox.StandardButton.Yes

"""The photos behind a figure (e.g. a confusion-matrix cell), with buttons to move them to a class.

    cells = CellPhotos(self, "Click a cell to see its photos.")
    cells.set_dataset(root)                       # the dataset the photos are in
    cells.move_to_predicted.connect(lambda: cells.move(lambda it: it.suggestion, "…", question))
    cells.moved.connect(...)                      # [(old path, new path, class)]

A move asks first (ask_move, replaceable in tests), then runs on a background thread,
journalled and undoable (a step of the window's core.photos.label_session, run by
gui.label_queue; core.photos.dataset_labels keeps a val/ photo in val/). The owner decides what the buttons move and which are enabled (set_actions).
"""
from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QMessageBox, QPushButton, QVBoxLayout, QWidget

from core.errors import FledgeError
from core.photos.dataset_labels import DatasetLabels
from core.photos.label_session import LabelSession
from core.files.file_transfer import path_key
from core.photos.review_queue import ReviewItem
from core.wording import plural
from gui.label_queue import LabelQueue
from gui.widgets.photo_grid import PhotoGrid


def confirm_move(parent: QWidget, text: str) -> bool:
    """Ask before photos are moved to another class; True to go ahead."""
    box = QMessageBox(QMessageBox.Icon.Question, "Move photos to another class?", text,
                      QMessageBox.StandardButton.NoButton, parent)
    move = box.addButton("Move", QMessageBox.ButtonRole.AcceptRole)
    keep = box.addButton("Cancel", QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(keep)
    box.exec()
    return box.clickedButton() is move


class CellPhotos(QWidget):
    """A title, a grid of photos (``grid``) and Move / Undo / Review buttons."""

    move_to_predicted = Signal()        # the buttons, for the owner to act on
    move_to_class = Signal(str)
    review = Signal()
    selection_changed = Signal()
    moved = Signal(object)              # [(old path, new path, class)] once a move is done (maybe [])
    restored = Signal(object)           # [(path it was moved to, path now, class)] once an undo is done
    labels_changed = Signal(str)        # the dataset root whose class folders changed
    status = Signal(str)                # a passing message
    problem = Signal(str, str)          # message, level ("error", "warning", "info")

    def __init__(self, parent: QWidget | None = None, prompt: str = "", session: LabelSession | None = None) -> None:
        super().__init__(parent)
        self.prompt = prompt
        self.ask_move: Callable[[str], bool] = lambda text: confirm_move(self, text)   # replaceable
        self.live = True                # False: the photos shown are out of date; none is shown again
        self._root = ""
        self._labels: DatasetLabels | None = None
        self.queue = LabelQueue(session, "evaluate", self)
        self.queue.applied.connect(self._on_applied)
        self.queue.undone.connect(self._on_undone)
        self.queue.crashed.connect(lambda msg: self.problem.emit(msg, "error"))
        self.title = QLabel(prompt, self)
        self.title.setWordWrap(True)
        self.grid = PhotoGrid(self, thumb_px=96)
        self.grid.setToolTip("The photos of the chosen cell. Select some, then move them to the right class.")
        self.grid.itemSelectionChanged.connect(self.selection_changed)
        self.move_predicted_button = QPushButton("Move to pred&icted class", self)
        self.move_predicted_button.setToolTip("The model was right and the label was wrong: move the selected "
                                              "photos to the class the model said (in the same split folder)")
        self.move_predicted_button.clicked.connect(self.move_to_predicted)
        self.class_combo = QComboBox(self)
        self.class_combo.setToolTip("The class to move the selected photos to")
        self.class_combo.setAccessibleName("Move to class")
        self.move_button = QPushButton("Move to cl&ass", self)
        self.move_button.setToolTip("Move the selected photos to the class chosen on the left")
        self.move_button.clicked.connect(lambda: self.move_to_class.emit(self.class_combo.currentText()))
        self.undo_button = QPushButton("Undo", self)
        self.undo_button.setToolTip("Put the last moved photos back where they were (Ctrl+Z)")
        self.undo_button.clicked.connect(self.undo)
        self.review_button = QPushButton("Review in the Review tab", self)
        self.review_button.setToolTip("Go through these photos with the keyboard (1–9 to label)")
        self.review_button.clicked.connect(self.review)
        actions = QHBoxLayout()
        actions.addWidget(self.move_predicted_button)
        actions.addWidget(self.class_combo)
        actions.addWidget(self.move_button)
        actions.addWidget(self.undo_button)
        actions.addStretch(1)
        actions.addWidget(self.review_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.title)
        lay.addWidget(self.grid, 1)
        lay.addLayout(actions)

    def set_classes(self, classes: list[str]) -> None:
        self.class_combo.clear()
        self.class_combo.addItems(list(classes))

    def show_items(self, items: list[ReviewItem], title: str, class_name: str | None = None) -> None:
        """Show these photos under this title; class_name preselects the class to move to."""
        self.title.setText(title)
        self.grid.set_items(items)
        i = self.class_combo.findText(class_name) if class_name is not None else -1
        if i >= 0:
            self.class_combo.setCurrentIndex(i)

    def clear(self, title: str | None = None) -> None:
        self.grid.set_items([])
        self.title.setText(self.prompt if title is None else title)

    def has_selection(self) -> bool:
        return bool(self.grid.selectedItems()) or self.grid.currentItem() is not None

    def set_actions(self, *, move: bool, undo: bool, review: bool) -> None:
        """Enable the buttons: move (photos can be moved now), undo, review."""
        selected = move and self.has_selection()
        self.move_predicted_button.setEnabled(selected)
        self.move_button.setEnabled(selected and self.class_combo.count() > 0)
        self.undo_button.setEnabled(undo)
        self.review_button.setEnabled(review and self.grid.count() > 0)

    # -- moving -----------------------------------------------------------------------------
    def set_dataset(self, root: str) -> None:
        """The dataset the photos are in; Undo takes back the moves made in it."""
        if self._labels is not None and path_key(self._labels.root) != path_key(root or "."):
            self._labels = None
        self._root = root

    def can_undo(self) -> bool:
        return bool(self._root) and self.queue.can_undo(self._root)

    def move(self, target: Callable[[ReviewItem], str | None], nothing_to_move: str,
             question: Callable[[list[tuple[str, str]]], str]) -> bool:
        """Move each selected photo to the class target(photo) names (None: leave it), once the
        question about the (class now, new class) pairs is answered yes."""
        items = self.grid.selected()
        if not items:
            self.problem.emit("Select a photo first.", "info")
            return False
        moves = [(it, target(it)) for it in items if target(it)]
        if not moves:
            self.problem.emit(nothing_to_move, "info")
            return False
        if not self.ask_move(question([(it.true_class, cls) for it, cls in moves])):
            self.status.emit("Nothing was moved.")
            return False
        labels = self._dataset_labels()
        if labels is None:
            return False
        self.grid.take([it for it, _cls in moves])
        self.queue.label(labels, moves)
        return True

    def undo(self) -> bool:
        if self.queue.undo(self._root or None) is None:
            self.problem.emit("There is nothing to undo.", "info")
            return False
        return True

    def shutdown(self, msecs: int = 10000) -> None:
        self.queue.wait(msecs)
        self.grid.shutdown(msecs)

    def _dataset_labels(self) -> DatasetLabels | None:
        if self._labels is None:
            try:
                self._labels = DatasetLabels(self._root, move=True)
            except FledgeError as exc:
                self.problem.emit(str(exc), "error")
                return None
        return self._labels

    def _on_applied(self, step) -> None:
        if self.live:
            self.grid.put_back([item for item, _message in step.failed])
        if step.failed:
            self.problem.emit(step.failed[0][1], "error")
        done = [(d.op.src, d.op.dst, d.class_name) for d in step.done]
        if done:
            self.status.emit(f"Moved {plural(len(done), 'photo')} (Ctrl+Z puts "
                             f"{'it' if len(done) == 1 else 'them'} back).")
        self.moved.emit(done)
        if done:
            self.labels_changed.emit(step.root)

    def _on_undone(self, step) -> None:
        placed = {id(d.item): d.op.dst for d in step.undone}
        back = [(placed[id(item)], where, item.true_class) for item, where in step.restored
                if id(item) in placed and item.true_class]
        for item, where in step.restored:
            item.path = where
        if self.live:
            self.grid.put_back([item for item, _where in step.restored], select=True)
        if step.restored:
            self.status.emit(f"Put {plural(len(step.restored), 'photo')} back.")
        if step.problems:
            self.problem.emit(step.problems[0], "warning")
        self.restored.emit(back)
        if step.restored:
            self.labels_changed.emit(step.root)

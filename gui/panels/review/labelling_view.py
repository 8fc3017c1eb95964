"""Photos to label into a dataset with the keyboard: the numbered classes, the grid, undo.

Keys: 1–9 give the class with that number, Enter accepts the model's suggestion,
Backspace (or Ctrl+Z) undoes the last label, arrows move. A label moves (or copies) the
photo into the dataset's class folder with core.photos.dataset_labels -- journalled, and
undone through the window's core.photos.label_session -- on gui.label_queue's thread; the
photo leaves the grid at once and comes back if the label fails or is undone. Which photos
to label and the model's answers are the caller's (show_items); this widget shows them and
takes the keys.
"""
from __future__ import annotations

import os

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QHBoxLayout, QInputDialog, QLabel, QPushButton, QSpinBox, QVBoxLayout, QWidget

from core.errors import FledgeError
from core.files.file_transfer import path_key
from core.photos.burst_cards import frames_of
from core.photos.dataset_labels import DatasetLabels
from core.photos.label_session import LabelSession
from core.photos.review_queue import ReviewItem, accepted, legend_order, number_problem, sure_enough
from core.wording import plural
from core.wording import rounded_percent as percent
from gui.label_queue import LabelQueue
from gui.panels.review.burst_grouping import label_cards, put_back_cards
from gui.panels.review.class_editing import ClassEditing
from gui.panels.review.class_legend import ClassLegend
from gui.panels.review.label_keys import LabelKeys
from gui.widgets.message_bar import MessageBar
from gui.widgets.photo_grid import PhotoGrid

KEYS_HELP = "Keys: 1–9 give the numbered class, Enter accepts the suggestion, Backspace undoes"


class LabellingView(QWidget):
    """The classes of a dataset (numbered), photos to label, and the labelling actions.

    Messages for the user go to the message bar given; status lines come as status(str).
    """

    labelled = Signal(object)             # core.photos.label_session.LabelStep, once applied
    undone = Signal(object)               # ... once undone
    labels_changed = Signal(str)          # the dataset root whose class folders changed
    status = Signal(str)
    changed = Signal()                    # photos left, classes or undo changed
    class_edited = Signal(object)         # core.photos.class_edits.ClassEdit, once done or undone

    def __init__(self, message_bar: MessageBar, parent: QWidget | None = None,
                 session: LabelSession | None = None) -> None:
        super().__init__(parent)
        self.message_bar = message_bar
        self.labels: DatasetLabels | None = None
        self.order: list[str] = []          # class names in legend order
        self.done = 0                       # photos labelled from what is shown
        self._source = ""
        self.ask_class_name = self._ask_class_name     # replaceable (tests, scripts)
        self._cards: dict = {}              # step -> {id(frame): its burst card}, for put_back_cards
        self.queue = LabelQueue(session, "review", self)
        self.queue.applied.connect(self._on_applied)
        self.queue.undone.connect(self._on_undone)
        self.queue.crashed.connect(lambda msg: self.message_bar.show_message(msg))
        self.class_editing = ClassEditing(self)
        self.class_editing.edited.connect(self._on_class_edited)
        self.class_editing.failed.connect(lambda msg: self.message_bar.show_message(msg))
        self._build_ui()
        self.class_editing.undo_available.connect(self.legend.undo_edit_action.setEnabled)
        self.set_labels(None)

    # -- what is shown ------------------------------------------------------------------
    def set_labels(self, labels: DatasetLabels | None) -> None:
        """Label into this dataset (None: none chosen); undo applies to the labels made in it."""
        if labels is None or self.labels is None or labels.root != self.labels.root:
            self.order = []
        self.labels = labels
        self.refresh_classes()

    def show_items(self, items: list[ReviewItem], source: str) -> None:
        """Show these photos (in this order) to label; source names where they come from."""
        self._source = source
        self.done = 0
        self.grid.set_items(items)
        self._update_title()
        self.changed.emit()

    def drop_paths(self, paths: list[str]) -> int:
        """Stop showing the photos at these paths (they are gone, e.g. a sort's undo put them back
        where they came from); a burst card keeps its other frames. Returns how many photos left."""
        gone = {path_key(p) for p in paths}
        dropped = 0
        for item in self.grid.items():
            frames = frames_of(item)
            left = [f for f in frames if path_key(f.path) not in gone]
            if len(left) == len(frames):
                continue
            dropped += len(frames) - len(left)
            if left:
                item.frames = left
                item.refresh()
                self.grid.refresh(item)
            else:
                self.grid.take([item])
        if dropped:
            self._update_title()
            self.changed.emit()
        return dropped

    def refresh_classes(self) -> None:
        """Read the dataset's classes again (a folder added or removed outside Fledge shows at once)."""
        order = legend_order(self.order, self.labels.classes if self.labels is not None else [])
        if order != self.order or not self.legend.buttons:
            self.order = order
            self.legend.set_classes(self.order)
        self.changed.emit()

    # -- labelling ------------------------------------------------------------------------
    def label_number(self, n: int) -> bool:
        problem = number_problem(n, self.order)
        if problem:
            self.message_bar.show_message(problem, "info")
            return False
        return self.label_selected(self.order[n - 1])

    def label_selected(self, class_name: str) -> bool:
        """Give the selected photos (or the current one) this class."""
        items = self.grid.selected()
        return bool(items) and self._label([(it, class_name) for it in items])

    def accept_current(self) -> bool:
        """Enter: the selected photos get the class the model suggests."""
        items = self.grid.selected()
        if not items:
            return False
        ok, why = accepted(items, self.order, self.labels.root if self.labels is not None else "the dataset")
        if why:
            self.message_bar.show_message(why, "info")
        return bool(ok) and self._label(ok)

    def accept_above(self, threshold: float | None = None) -> int:
        """Label every photo whose suggestion is at least threshold (0–1) sure; returns how many."""
        if threshold is None:
            threshold = self.accept_spin.value() / 100.0
        pairs = sure_enough(self.grid.items(), self.order, threshold)
        if not pairs:
            self.message_bar.show_message(f"No photo has a suggestion at least {percent(threshold)} sure "
                                          "among the dataset's classes.", "info")
            return 0
        self._label(pairs)
        return len(pairs)

    def undo(self) -> bool:
        if self.queue.undo(self._root()) is None:
            self.message_bar.show_message("There is no label to undo.", "info")
            return False
        self.changed.emit()
        return True

    def add_class(self, name: str) -> str | None:
        """Create a class folder in the dataset; returns the name, or None (message shown)."""
        labels = self.target()
        if labels is None:
            return None
        try:
            name = labels.add_class(name)
        except FledgeError as exc:
            self.message_bar.show_message(str(exc))
            return None
        self.refresh_classes()
        note = f"Added the class “{name}”."
        if labels.has_validation_folder:
            note += (" Put a few photos of it into the dataset's validation folder too, so that "
                     "training can check the model on it.")
        self.message_bar.show_message(note, "info")
        self.labels_changed.emit(labels.root)
        return name

    def new_class(self) -> None:
        name = self.ask_class_name()
        if name:
            self.add_class(name)
            self.grid.setFocus()

    def edit_class(self, action: str, name: str = "") -> bool:
        """Rename, merge or remove a class (asked for when name is ''), or undo the last such change."""
        labels = self.target()
        return labels is not None and self.class_editing.start(labels, action, name)

    def target(self) -> DatasetLabels | None:
        """The dataset to label into, or None with a message saying to choose one."""
        if self.labels is None:
            self.message_bar.show_message("Choose the dataset the labelled photos should go into "
                                          "(“Label into”, or open one in the Data tab).", "info")
        return self.labels

    def counts_text(self) -> str:
        left = plural(self.grid.count(), "photo") + " left" if self._source else ""
        return f"{left} · {self.done} labelled" if self.done else left

    def refresh_state(self) -> None:
        has_target, shown = self.labels is not None, self.grid.count() > 0
        self.accept_button.setEnabled(has_target and shown)
        self.accept_spin.setEnabled(has_target and shown)
        self.undo_button.setEnabled(self.queue.can_undo(self._root()))
        self.legend.set_usable(has_target, shown)
        self.counts_label.setText(self.counts_text())

    def shutdown(self, msecs: int = 10000) -> None:
        self.queue.wait(msecs)
        self.class_editing.shutdown(msecs)
        self.grid.shutdown(msecs)

    # -- layout -------------------------------------------------------------------------
    def _build_ui(self) -> None:
        self.legend = ClassLegend(self)
        self.legend.chosen.connect(self._legend_clicked)
        self.legend.new_class_requested.connect(self.new_class)
        self.legend.enable_editing()
        self.legend.edit_requested.connect(self.edit_class)
        self.title = QLabel("Open a folder of photos, or press “Review the unsure photos” after sorting.", self)
        self.title.setWordWrap(True)
        self.grid = PhotoGrid(self)
        self.grid.setToolTip(f"{KEYS_HELP} the last label, arrows move.")
        self.grid.installEventFilter(LabelKeys(self, number=self.label_number, accept=self.accept_current,
                                               undo=self.undo))
        undo = QShortcut(QKeySequence.StandardKey.Undo, self)
        undo.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        undo.activated.connect(self.undo)
        self.grid.itemSelectionChanged.connect(self.changed)

        self.accept_spin = QSpinBox(self)
        self.accept_spin.setRange(0, 100)
        self.accept_spin.setSuffix(" %")
        self.accept_spin.setValue(90)
        self.accept_spin.setAccessibleName("Accept above certainty")
        self.accept_spin.setToolTip("How sure the model must be for “Accept all” to take its suggestion")
        self.accept_button = QPushButton("Accept all &at or above", self)
        self.accept_button.setToolTip("Give every photo shown the model's suggestion when the model is at least "
                                      "this sure")
        self.accept_button.clicked.connect(lambda: self.accept_above())
        self.undo_button = QPushButton("Undo", self)
        self.undo_button.setToolTip("Put the last labelled photo(s) back (Backspace or Ctrl+Z)")
        self.undo_button.clicked.connect(self.undo)
        self.counts_label = QLabel(self)
        self.actions = QHBoxLayout()        # the caller may add its own buttons at the end
        self.actions.addWidget(self.accept_button)
        self.actions.addWidget(self.accept_spin)
        self.actions.addWidget(self.undo_button)
        self.actions.addWidget(self.counts_label, 1)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.legend)
        lay.addWidget(self.title)
        lay.addWidget(self.grid, 1)
        lay.addLayout(self.actions)

    def _root(self) -> str | None:
        return self.labels.root if self.labels is not None else None

    def _ask_class_name(self) -> str:
        name, ok = QInputDialog.getText(self, "New class", "Name of the new class (it becomes a folder name):")
        return name if ok else ""

    def _legend_clicked(self, name: str) -> None:
        self.label_selected(name)
        self.grid.setFocus()

    def _update_title(self) -> None:
        n, src = self.grid.count(), self._source
        where = os.path.basename(src.rstrip(os.sep)) if os.path.isdir(src) else src
        text = (f"{plural(n, 'photo')} to label from {where}, least certain first. {KEYS_HELP}.") if n else \
            f"Nothing left to label from {where}." if src else self.title.text()
        self.title.setText(text)
        self.title.setToolTip(src)

    # -- applying labels ------------------------------------------------------------------
    def _label(self, pairs: list[tuple[ReviewItem, str]]) -> bool:
        labels = self.target()
        if labels is None or not pairs:
            return False
        step, cards = label_cards(self.queue, self.grid, labels, pairs)     # a burst card: each of its photos
        self._cards[step] = cards
        self.done += len(step.entries)
        self._update_title()
        self.changed.emit()
        return True

    def _on_applied(self, step) -> None:
        self.done -= put_back_cards(self.grid, [(item, None) for item, _msg in step.failed], self._cards.get(step, {}))
        if step.failed:
            self.message_bar.show_message(step.failed[0][1])
            self.refresh_classes()           # e.g. a class folder deleted by hand: its key goes
        if step.done:
            last = step.done[-1]
            verb = "moved" if last.op.moved else "copied"
            self.status.emit(f"{os.path.basename(last.item.path)} {verb} to {last.class_name}" if len(step.done) == 1
                             else f"{plural(len(step.done), 'photo')} labelled")
            self.labels_changed.emit(step.root)
        self.labelled.emit(step)
        self._update_title()
        self.changed.emit()

    def _on_undone(self, step) -> None:
        self.done -= put_back_cards(self.grid, step.restored, self._cards.get(step, {}), select=True)
        if step.restored:
            self.status.emit(f"Put {plural(len(step.restored), 'photo')} back.")
            self.labels_changed.emit(step.root)
        if step.problems:
            self.message_bar.show_message(step.problems[0], "warning")
        if self.isVisible():
            self.grid.setFocus()
        self._update_title()
        self.changed.emit()

    def _on_class_edited(self, edit) -> None:
        if self.labels is not None and edit.root == self.labels.root:
            self.order = []                  # the dataset's order: a renamed class keeps its key
            self.refresh_classes()
        self.labels_changed.emit(edit.root)
        self.class_edited.emit(edit)            # first: the caller may show the photos again
        self.message_bar.show_message(edit.text, "warning" if edit.problems else "info")

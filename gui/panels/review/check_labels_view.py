"""Check labels: the photos of a dataset that look filed under the wrong class, one key each.

Press “Check labels” and core.photos.check_labels cross-checks every photo in the
background (a model that never saw the photo names its class). Then, for the current
photo: K keeps it (it is right; core.photos.kept_labels remembers, so it is not asked
again), M or Enter moves it to the suggested class, 1–9 to the numbered class, Ctrl+Z or
Backspace undoes the last of these. Moves go through core.photos.dataset_labels --
journalled, a photo is never overwritten -- and keeps and moves are steps of the window's
core.photos.label_session, run on gui.label_queue's thread. Every key acts on the photo
in the large preview: the highlighted row (gui.panels.review.suspect_table).
"""
from __future__ import annotations

import dataclasses
import os

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSplitter, QVBoxLayout, QWidget

from core.photos.label_session import KeepStep, LabelSession
from core.photos.review_queue import legend_order, number_problem
from core.wording import plural
from gui.label_queue import LabelQueue
from gui.model_source import job_runner
from gui.panels.review.check_labels_keys import KEYS_HELP, CheckKeys
from gui.panels.review.check_labels_task import CHECK_STAGES, check_labels_task
from gui.panels.review.class_legend import ClassLegend
from gui.widgets.folder_field import FolderField
from gui.panels.review.heatmap_preview import PhotoPreview
from gui.widgets.job_progress import JobProgressBar
from gui.widgets.message_bar import MessageBar
from gui.panels.review.suspect_table import SuspectTable

class CheckLabelsView(QWidget):
    """Choose a dataset, check its labels in the background, and go through the doubtful photos."""

    labels_changed = Signal(str)          # the dataset root whose class folders changed
    status = Signal(str)

    def __init__(self, models=None, parent: QWidget | None = None, session: LabelSession | None = None) -> None:
        super().__init__(parent)
        self.labels = None                  # core.photos.dataset_labels.DatasetLabels of the checked dataset
        self.kept = None                    # core.photos.kept_labels.KeptLabels of it
        self.order: list[str] = []          # class names in legend order (key 1 is the first)
        self.preview_model = lambda: None   # the model the heat map (H) explains; the panel sets it
        self._runner = job_runner(self, "fledge-check-labels", lambda ev: self.progress.report(ev),
                                  self._on_checked, self._on_check_failed)
        self.queue = LabelQueue(session, "check-labels", self)      # keeps and moves, and their undo
        self.queue.applied.connect(self._on_done)
        self.queue.undone.connect(self._on_undone)
        self.queue.crashed.connect(lambda msg: self.message_bar.show_message(msg))
        self._build_ui(models)
        self._refresh()

    # -- choosing and checking ------------------------------------------------------------
    def set_dataset(self, dataset) -> None:
        """The Data tab's dataset (a core.data.dataset.Dataset or None) is the one to check."""
        if dataset is not None and getattr(dataset, "root", "") and not self._runner.is_running():
            self.dataset_field.set_path(dataset.root, notify=False)
            self._refresh()

    def start_check(self) -> bool:
        root = self.dataset_field.path()
        if not root:
            self.message_bar.show_message("Choose the dataset to check (or open one in the Data tab).", "info")
            return False
        if self._runner.is_running() or self.queue.busy():
            return False
        self.message_bar.clear()
        self.progress.begin(f"Checking the labels of {os.path.basename(root)}…", CHECK_STAGES)
        self._runner.start(check_labels_task(root))
        self._refresh()
        return True

    def cancel(self) -> None:
        if self._runner.is_running():
            self._runner.stop()
            self.progress.stopping("Stopping…")

    def is_busy(self) -> bool:
        return self._runner.is_running() or self.queue.busy()

    def shutdown(self, msecs: int = 10000) -> None:
        self._runner.shutdown(msecs)
        self.queue.wait(msecs)
        self.preview.shutdown(msecs)

    def _on_checked(self, outcome) -> None:
        self.progress.end()
        check = outcome.check
        if check.stopped:
            self.message_bar.show_message("The check was stopped before it ended; nothing was changed. Press "
                                          "“Check labels” to start it again.", "info")
            self._refresh()
            return
        self.labels, self.kept = outcome.labels, outcome.kept
        self.order = legend_order(self.order, self.labels.classes)
        self.legend.set_classes(self.order)
        self.table.set_suggestions(outcome.to_ask)
        self.summary.setText(outcome.summary)
        self._refresh()
        self.table.setFocus()

    def _on_check_failed(self, message: str) -> None:
        self.progress.end()
        self.message_bar.show_message(message)
        self._refresh()

    # -- deciding -------------------------------------------------------------------------
    def keep_current(self) -> bool:
        """K: the current photo is right as filed; it is not asked about again."""
        if self.kept is None:
            return False
        s = self.table.take_current()
        if s is None:
            return False
        self.queue.keep(self.kept, s)
        self.status.emit(f"Kept {os.path.basename(s.path)} as {s.given}; it will not be asked about again.")
        self._refresh()
        return True

    def move_current(self, class_name: str = "") -> bool:
        """M or Enter: move the current photo to the class it looks like (or to class_name)."""
        s = self.table.current()
        if s is None or self.labels is None:
            return False
        target = class_name or s.suggested
        if target == s.given:
            return self.keep_current()
        if target not in self.labels.classes:
            self.message_bar.show_message(f"There is no class “{target}” in {self.labels.root} any more.", "info")
            return False
        self.queue.label(self.labels, [(self.table.take_current(), target)])
        self._refresh()
        return True

    def move_to_number(self, n: int) -> bool:
        problem = number_problem(n, self.order)
        if problem:
            self.message_bar.show_message(problem, "info")
            return False
        return self.move_current(self.order[n - 1])

    def undo(self) -> bool:
        """Ctrl+Z: take back the last keep or move; the photo comes back to its row."""
        step = self.queue.undo(self._root())
        if step is None:
            self.message_bar.show_message("There is nothing to undo.", "info")
            return False
        if isinstance(step, KeepStep):         # at once: the photo did not move
            self.table.put_back(step.item)
            self.status.emit(f"{os.path.basename(step.item.path)} will be asked about again.")
        self._refresh()                        # a move's photo returns once it is back (_on_undone)
        return True

    def _on_done(self, step) -> None:
        for item, message in step.failed:
            self.table.put_back(item)
            self.message_bar.show_message(message)
        if not isinstance(step, KeepStep) and step.done:
            last = step.done[-1]
            self.status.emit(f"{os.path.basename(last.item.path)} moved to {last.class_name}.")
            self.labels_changed.emit(step.root)
        self._refresh()

    def _on_undone(self, step) -> None:
        if step.problems:
            self.message_bar.show_message(step.problems[0], "warning")
        if isinstance(step, KeepStep):
            if step.in_effect:                 # not forgotten after all: it stays out of the list
                self.table.remove_path(step.item.path)
            self._refresh()
            return
        for d in step.undone:
            self.table.remove_path(d.op.dst)           # a check made since may list it at its new place
        for item, where in step.restored:
            self.table.put_back(item, dataclasses.replace(item, path=where))
        if step.restored:
            self.status.emit(f"Put {os.path.basename(step.restored[0][1])} back.")
            self.labels_changed.emit(step.root)
        self._refresh()
        self.table.setFocus()

    # -- layout and state -----------------------------------------------------------------
    def _build_ui(self, models) -> None:
        self.dataset_field = FolderField("The dataset whose labels to check", "Choose the dataset to check",
                                         "Every photo of this dataset is cross-checked: a model that never saw "
                                         "the photo says which class it looks like", self)
        self.check_button = QPushButton("Check la&bels", self)
        self.check_button.setToolTip("Find the photos that look filed under the wrong class (takes a while the "
                                     "first time; the photos' features are kept for the next check)")
        self.check_button.clicked.connect(self.start_check)
        self.progress = JobProgressBar("Label check progress", "Stop the check; nothing is changed",
                                       CHECK_STAGES, self)
        self.progress.cancel_clicked.connect(self.cancel)
        self.message_bar = MessageBar(self)
        self.summary = QLabel("Press “Check labels” to find the photos that may be filed under the wrong class.",
                              self)
        self.summary.setWordWrap(True)
        self.legend = ClassLegend(self)
        self.legend.new_class_button.hide()
        self.legend.chosen.connect(lambda name: (self.move_current(name), self.table.setFocus()))
        self.table = SuspectTable(self)
        self.table.setToolTip(KEYS_HELP + ".")
        self.table.installEventFilter(CheckKeys(self))
        self.table.itemSelectionChanged.connect(self._show_current)
        self.table.currentCellChanged.connect(lambda *_: self._show_current())
        undo = QShortcut(QKeySequence.StandardKey.Undo, self)
        undo.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        undo.activated.connect(self.undo)
        self.preview = PhotoPreview(models, self, key_owner=self)
        self.preview.heat.message.connect(self.message_bar.show_message)

        self.keep_button = QPushButton("Keep (K)", self)
        self.keep_button.setToolTip("The photo is filed under the right class: keep it, and do not ask again")
        self.keep_button.clicked.connect(lambda: (self.keep_current(), self.table.setFocus()))
        self.move_button = QPushButton("Move to the class it looks like (M)", self)
        self.move_button.clicked.connect(lambda: (self.move_current(), self.table.setFocus()))
        self.undo_button = QPushButton("Undo", self)
        self.undo_button.setToolTip("Take back the last keep or move (Ctrl+Z or Backspace)")
        self.undo_button.clicked.connect(self.undo)
        self.counts_label = QLabel(self)
        self.keys_label = QLabel(f"Keys: {KEYS_HELP}.", self)
        self.keys_label.setWordWrap(True)

        top = QHBoxLayout()
        top.addWidget(QLabel("Dataset:", self))
        top.addWidget(self.dataset_field, 1)
        top.addWidget(self.check_button)
        buttons = QHBoxLayout()
        for w in (self.keep_button, self.move_button, self.undo_button):
            buttons.addWidget(w)
        buttons.addWidget(self.counts_label, 1)
        left = QWidget(self)
        llay = QVBoxLayout(left)
        llay.setContentsMargins(0, 0, 0, 0)
        llay.addWidget(self.legend)
        llay.addWidget(self.keys_label)
        llay.addWidget(self.table, 1)
        llay.addLayout(buttons)
        self.splitter = QSplitter(self)
        self.splitter.addWidget(left)
        self.splitter.addWidget(self.preview)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(self.progress)
        lay.addWidget(self.message_bar)
        lay.addWidget(self.summary)
        lay.addWidget(self.splitter, 1)

    def _root(self) -> str | None:
        return self.labels.root if self.labels is not None else None

    def _show_current(self) -> None:
        s = self.table.current()
        self.preview.show_photo(s.path if s is not None else "", self.preview_model())
        self._refresh()

    def _refresh(self) -> None:
        running, s = self._runner.is_running(), self.table.current()
        self.check_button.setEnabled(not running)
        self.keep_button.setEnabled(s is not None and self.kept is not None)
        self.move_button.setEnabled(s is not None and self.labels is not None)
        if s is not None:
            self.move_button.setText(f"Move to {s.suggested} (M)")
        self.undo_button.setEnabled(self.queue.can_undo(self._root()))
        self.legend.set_usable(self.labels is not None, s is not None)
        n = self.table.count()
        self.counts_label.setText(f"{plural(n, 'photo')} left" if n else "")
        self.keys_label.setVisible(bool(n))

"""The Data tab's warning about photos that are in the dataset twice, with “Keep one copy” and Undo.

After each scan, check(dataset) looks for exact and near copies (core.data.duplicates) in the
background. A photo in training and in validation makes the validation score look better
than it is; the warning says by how much. “Keep one copy” moves the extra copies out of the
dataset with core.data.duplicates_keep.SetAside (journalled, nothing deleted) and Undo puts
them back -- both steps of the window's core.photos.label_session, whose undo queue also
recalls copies set aside in an earlier session; either way files_moved asks the tab to read
the dataset again.
"""
from __future__ import annotations

import os

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from core.data.duplicates_keep import set_aside_folder
from core.photos.label_session import LabelSession
from core.progress import JobProgress, Throttled
from core.wording import plural
from gui.background import TaskPool, call
from gui.widgets.message_bar import MessageBar


def _find_task(dataset, session: LabelSession):
    """Background: the dataset's copies, and whether copies set aside before can be put back."""
    def task(report, control):
        from core.data.duplicates import find_duplicates

        found = find_duplicates(dataset, progress=Throttled(report, "duplicates"),
                                should_stop=lambda: control.stop_requested)
        return found, session.recall_set_aside(dataset.root, ORIGIN)
    return task


ORIGIN = "data"            # this tab's steps in the label session


class DuplicateLeakBar(QWidget):
    """What the duplicate check found in the dataset on show, and the buttons to act on it."""

    files_moved = Signal(str)         # the dataset root whose photos were set aside or put back

    def __init__(self, parent: QWidget | None = None, session: LabelSession | None = None) -> None:
        super().__init__(parent)
        self.session = session if session is not None else LabelSession()   # the window's undo queue
        self._root = ""
        self._report = None
        self._note = ""                 # what the last Keep one copy / Undo did, until another dataset
        self._token = 0                 # the pending task (older answers are dropped)
        self._kind = ""                 # what it is: "find", "set aside" or "undo"
        self._pool = TaskPool(self, threads=1)
        self._pool.progress.connect(self._on_progress)
        self._pool.finished.connect(self._on_done)
        self._pool.failed.connect(self._on_failed)
        self.bar = MessageBar(self)
        self.bar.setAccessibleName("Photos that are in the dataset twice")
        self.busy_label = QLabel(self)
        self.keep_button = QPushButton("Keep one copy", self)
        self.keep_button.clicked.connect(self.keep_one_copy)
        self.undo_button = QPushButton("Undo: put the copies back", self)
        self.undo_button.setToolTip("Move the copies set aside last back into the dataset")
        self.undo_button.clicked.connect(self.undo)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        for w in (self.busy_label, self.keep_button, self.undo_button):
            row.addWidget(w)
        row.addStretch(1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.bar)
        lay.addLayout(row)
        self.check(None)

    # -- the calls of the tab -------------------------------------------------------------
    def check(self, dataset) -> None:
        """Look for copies in this core.data.dataset.Dataset (None: show nothing)."""
        self._pool.cancel()
        root = getattr(dataset, "root", "") if dataset is not None else ""
        if root != self._root:
            self._note = ""
        self._root, self._report, self._token = root, None, 0
        self._show(can_undo=False)
        if dataset is not None:
            self._start("find", _find_task(dataset, self.session), "Looking for photos that are in the dataset "
                        "twice…")

    def is_busy(self) -> bool:
        return self._pool.is_busy()

    def shutdown(self, msecs: int = 5000) -> None:
        self._pool.shutdown(msecs)

    def keep_one_copy(self) -> None:
        if self._report is None or self._pool.is_busy():
            return
        paths = [c.path for c in self._report.extra_copies()]
        if paths:
            step = self.session.set_aside(self._root, paths, ORIGIN)
            self._start("set aside", call(self.session.run, step), "Setting the extra copies aside…")

    def undo(self) -> None:
        if not self._root or self._pool.is_busy():
            return
        step = self.session.take_undo(ORIGIN, self._root)
        if step is not None:
            self._start("undo", call(self.session.run_undo, step), "Putting the copies back…")

    # -- answers --------------------------------------------------------------------------
    def _start(self, kind: str, task, text: str) -> None:
        self._token, self._kind = self._pool.submit(task), kind
        self.busy_label.setText(text)
        self.busy_label.show()
        self.show()
        self.keep_button.setEnabled(False)
        self.undo_button.setEnabled(False)

    def _on_progress(self, token: int, ev) -> None:
        if token == self._token and isinstance(ev, JobProgress) and ev.total:
            self.busy_label.setText(f"Looking for photos that are in the dataset twice: {ev.done:,} of {ev.total:,}")

    def _on_done(self, token: int, result) -> None:
        if token != self._token:
            return
        self._token = 0
        self.busy_label.hide()
        if self._kind == "find":
            self._report, can_undo = result
            self._show(can_undo)
            return
        if self._kind == "set aside":
            folder = os.path.basename(set_aside_folder(self._root))
            self._note = (f"Set {plural(len(result.moves), 'extra copy', 'extra copies')} aside in "
                          f"“{folder}”, next to the dataset. Nothing was deleted; Undo puts them back.")
            if result.failed:
                self._note = f"{result.failed[0][1]} {self._note if result.moves else ''}".strip()
        else:                                                  # undo: the copies put back
            self._note = " ".join([f"Put {plural(len(result.restored), 'copy', 'copies')} back into the dataset.",
                                   *result.problems])
        self.files_moved.emit(self._root)                      # the tab reads the dataset again

    def _on_failed(self, token: int, message: str) -> None:
        if token != self._token:
            return
        self._token = 0
        self.busy_label.hide()
        self.bar.show_message(message)
        self.keep_button.setEnabled(self._report is not None)
        self.undo_button.setEnabled(bool(self._root))

    def _show(self, can_undo: bool) -> None:
        report = self._report
        groups = report.groups if report is not None else []
        extras = len(report.extra_copies()) if report is not None else 0
        text, level = self._note, "info"
        if report is not None and (report.leaking or report.bursts):      # copies, or frames of one burst
            level = "warning"
            text = report.leak_warning(hint=False)
            if report.leaking:
                text += (" “Keep one copy” moves the "
                         f"{plural(extras, 'extra copy', 'extra copies')} out of the dataset, into "
                         f"“{os.path.basename(set_aside_folder(self._root))}” next to it (the copy in training "
                         "stays); nothing is deleted.")
        elif groups:
            text = (f"{plural(len(groups), 'photo')} {'is' if len(groups) == 1 else 'are'} in the dataset more than "
                    f"once ({plural(extras, 'extra copy', 'extra copies')}): the model learns "
                    f"{'it' if len(groups) == 1 else 'them'} twice. " + text).strip()
        if text:
            self.bar.show_message(text, level)
        else:
            self.bar.clear()
        self.keep_button.setVisible(bool(extras))
        self.keep_button.setEnabled(True)
        self.keep_button.setToolTip("Move the extra copies to a folder next to the dataset, keeping one of each "
                                    "(the one in training); Undo puts them back")
        self.undo_button.setVisible(can_undo)
        self.undo_button.setEnabled(True)
        self.busy_label.hide()
        self.setVisible(bool(text) or bool(extras) or can_undo)

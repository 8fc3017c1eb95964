"""A tab's label, keep and undo steps, run one after another on a background thread.

The steps and their undo are the window's core.photos.label_session.LabelSession's; this
only runs them off the window's thread, so a move to a USB disk never freezes it, and says
when each is done. Queueing a step and taking one to undo happen at once, so Backspace
undoes exactly what the last key press did even while its files are still moving.
"""
from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from core.photos.label_session import LabelSession, Step
from gui.background import TaskPool, call


class LabelQueue(QObject):
    """Runs one tab's steps (its origin in the session) one after another on a background thread."""

    applied = Signal(object)      # core.photos.label_session.Step, once done
    undone = Signal(object)       # ... once undone
    crashed = Signal(str)         # an unexpected error (a bug), as a readable message

    def __init__(self, session: LabelSession | None, origin: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session if session is not None else LabelSession()   # the window's, or one of its own
        self.origin = origin
        self._runner = TaskPool(self, threads=1)
        self._runner.finished.connect(self._on_done)
        self._runner.failed.connect(self._on_failed)
        self._jobs: dict[int, str] = {}

    def label(self, labels, entries: list) -> Step:
        """Label these (item, class name) pairs into labels' dataset."""
        return self.run(self.session.label(labels, entries, self.origin))

    def keep(self, kept, item) -> Step:
        """Keep a check-labels suggestion's label as filed."""
        return self.run(self.session.keep(kept, item, self.origin))

    def set_aside(self, root: str, paths: list[str]) -> Step:
        """Set these photos of the dataset at root aside (Keep one copy)."""
        return self.run(self.session.set_aside(root, paths, self.origin))

    def run(self, step: Step) -> Step:
        """Do a step already queued in the session."""
        self._jobs[self._runner.submit(call(self.session.run, step))] = "apply"
        return step

    def can_undo(self, root: str | None) -> bool:
        return root is not None and self.session.can_undo(self.origin, root)

    def undo(self, root: str | None) -> Step | None:
        """Take this tab's latest step in the dataset at root off the queue and undo it (behind
        any step still being done); None when there is nothing to undo."""
        step = self.session.take_undo(self.origin, root) if root is not None else None
        if step is not None:
            self._jobs[self._runner.submit(call(self.session.run_undo, step))] = "undo"
        return step

    def busy(self) -> bool:
        return bool(self._jobs)

    def wait(self, msecs: int = -1) -> bool:
        return self._runner.wait(msecs)

    def _on_done(self, token: int, step: Step) -> None:
        kind = self._jobs.pop(token, None)
        if kind == "apply":
            self.applied.emit(step)
        elif kind == "undo":
            self.undone.emit(step)

    def _on_failed(self, token: int, message: str) -> None:
        if self._jobs.pop(token, None) is not None:
            self.crashed.emit(message)

"""Label and undo actions run one after another on a background thread, with an undo stack.

A move to a USB disk must not freeze the window, and Backspace must undo exactly what the
last key press did. label_from and put_back keep a PhotoGrid in step: labelled photos leave
it at once and come back to their rows when a label fails or is undone.
"""
from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from core.photos.dataset_labels import DatasetLabels, LabelAction, apply_action, undo_action
from gui.background import TaskPool, call


class LabelQueue(QObject):
    """Runs label and undo actions one after another on a background thread."""

    applied = Signal(object)      # LabelAction, after its labels were applied
    undone = Signal(object)       # LabelAction, after it was undone
    crashed = Signal(str)         # an unexpected error (a bug), as a readable message

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._runner = TaskPool(self, threads=1)
        self._runner.finished.connect(self._on_done)
        self._runner.failed.connect(self._on_failed)
        self._jobs: dict[int, tuple[str, LabelAction]] = {}
        self.history: list[LabelAction] = []

    def label(self, labels: DatasetLabels, entries: list) -> LabelAction:
        action = LabelAction(labels, list(entries))
        self.history.append(action)
        self._jobs[self._runner.submit(call(apply_action, action))] = ("apply", action)
        return action

    def label_from(self, grid, labels: DatasetLabels, pairs: list) -> LabelAction:
        """Take these (photo, class) pairs out of a PhotoGrid at once and label them; each photo
        remembers its row, to come back there if its label fails or is undone."""
        rows = grid.take([item for item, _cls in pairs])
        return self.label(labels, [(item, cls, row) for (item, cls), row in zip(pairs, rows)])

    def can_undo(self) -> bool:
        return bool(self.history)

    def undo(self) -> LabelAction | None:
        """Undo the latest action (queued behind any label still being applied)."""
        if not self.history:
            return None
        action = self.history.pop()
        self._jobs[self._runner.submit(call(undo_action, action))] = ("undo", action)
        return action

    def forget(self) -> None:
        """Drop the undo history (the target dataset changed)."""
        self.history.clear()

    def busy(self) -> bool:
        return bool(self._jobs)

    def wait(self, msecs: int = -1) -> bool:
        return self._runner.wait(msecs)

    def _on_done(self, token: int, action: LabelAction) -> None:
        kind, _ = self._jobs.pop(token, (None, None))
        if kind == "apply":
            if not action.done and action in self.history:
                self.history.remove(action)          # nothing happened: nothing to undo
            self.applied.emit(action)
        elif kind == "undo":
            self.undone.emit(action)

    def _on_failed(self, token: int, message: str) -> None:
        kind, action = self._jobs.pop(token, (None, None))
        if kind is None:
            return
        if kind == "apply" and action in self.history:
            self.history.remove(action)
        self.crashed.emit(message)


def put_back(grid, action: LabelAction, undone: bool = False) -> int:
    """Show again, at their old rows, the photos of an action that are back where they were:
    those it could not label (after applying) or, undone, those undo put back. Returns how many."""
    if not undone:
        for item, row, _message in sorted(action.failed, key=lambda x: x[1]):
            grid.insert(item, row)
        return len(action.failed)
    back = sorted(action.restored, key=lambda x: x[1])
    for item, row, where in back:
        item.path = where
        grid.insert(item, row)
    if back:
        grid.select_row(back[0][1])
    return len(back)

"""Labelling photos into one dataset, in batches that can be undone as a whole.

DatasetLabels picks the right Labeller for each photo (a val/ or test/ photo stays in its
split); a LabelAction is one user action (a key press, a bulk accept) applied and undone
with apply_action / undo_action, on any thread, one action at a time.
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field

from core.errors import FledgeError
from core.files.journal import path_key


class DatasetLabels:
    """Apply labels to one dataset, journalled and undoable (core.photos.labelling.Labeller).

    New photos go to the training class folders. A photo that is already in the dataset's
    val/ or test/ folder stays in that split (relabelling a validation photo must not
    move it into training, where the model would then be checked on what it learned).
    """

    def __init__(self, root: str, move: bool = True) -> None:
        from core.photos.labelling import Labeller

        self.train = Labeller(root, move=move)
        self.root = self.train.root
        self.move = move
        self._others: dict[str, object] = {}
        self._lock = threading.Lock()

    @property
    def classes(self) -> list[str]:
        return self.train.classes

    @property
    def layout(self) -> str:
        return self.train.layout

    @property
    def has_validation_folder(self) -> bool:
        """Whether the dataset keeps its validation photos in a folder of their own (val/)."""
        from core.data.dataset import SPLIT_FOLDER_NAMES

        if self.layout != "split-folders":
            return False
        try:
            names = os.listdir(self.root)
        except OSError:
            return False
        return any(SPLIT_FOLDER_NAMES.get(d.lower()) == "val" and os.path.isdir(os.path.join(self.root, d))
                   for d in names)

    def _split_folder(self, path: str) -> str | None:
        """The val/test folder of this dataset that holds path, if any."""
        if self.layout != "split-folders":
            return None
        from core.data.dataset import SPLIT_FOLDER_NAMES
        from core.files.journal import is_inside

        if not is_inside(path, self.root) or is_inside(path, self.train.class_root):
            return None
        rel = os.path.relpath(os.path.abspath(path), self.root)
        top = rel.split(os.sep)[0]
        if SPLIT_FOLDER_NAMES.get(top.lower()) in ("val", "test"):
            return os.path.join(self.root, top)
        return None

    def labeller_for(self, path: str):
        folder = self._split_folder(path)
        if folder is None:
            return self.train
        from core.photos.labelling import Labeller

        with self._lock:
            lab = self._others.get(path_key(folder))
            if lab is None:
                lab = self._others[path_key(folder)] = Labeller(folder, move=True)
            return lab

    def assign(self, path: str, class_name: str):
        """(labeller used, core.photos.labelling.LabelOp); FledgeError when it cannot be done."""
        lab = self.labeller_for(path)
        if lab is not self.train and class_name not in lab.classes and class_name in self.train.classes:
            lab.add_class(class_name, remember=False)      # e.g. val/owl did not exist yet
        return lab, lab.assign(path, class_name)

    def undo(self, labeller, op):
        """Undo op, which must be the labeller's latest label still in effect."""
        history = labeller.history()
        if not history or path_key(history[-1].dst) != path_key(op.dst):
            raise FledgeError(f"{os.path.basename(op.dst)} was not put back: other labels were applied to "
                              f"{self.root} since (in another window or program). Move it by hand if needed.")
        done = labeller.undo_last()
        if done is None:
            raise FledgeError("There was nothing left to undo.")
        return done

    def add_class(self, name: str) -> str:
        """Create a new class folder; returns the cleaned-up name."""
        from core.photos.labelling import validate_class_name

        name = validate_class_name(name)
        self.train.add_class(name)
        return name


@dataclass(eq=False)
class LabelAction:
    """One user action (a key press, a bulk accept): photos and the class each gets."""
    labels: DatasetLabels
    entries: list                         # [(ReviewItem, class name, grid row)]
    # Filled on the label thread:
    done: list = field(default_factory=list)       # [(item, class, row, labeller, LabelOp)]
    failed: list = field(default_factory=list)     # [(item, row, message)]
    restored: list = field(default_factory=list)   # [(item, row, path now)] after undo
    problems: list = field(default_factory=list)   # messages from undo


def apply_action(action: LabelAction) -> LabelAction:
    for item, cls, row in action.entries:
        try:
            lab, op = action.labels.assign(item.path, cls)
        except FledgeError as exc:
            action.failed.append((item, row, str(exc)))
            continue
        action.done.append((item, cls, row, lab, op))
    return action


def undo_action(action: LabelAction) -> LabelAction:
    for item, cls, row, lab, op in reversed(action.done):
        if not op.changed:               # it was already in that class: nothing was moved
            action.restored.append((item, row, op.src))
            continue
        try:
            back = action.labels.undo(lab, op)
        except FledgeError as exc:
            action.problems.append(str(exc))
            break
        where = back.restored_to
        if where is None:
            action.problems.append(f"{os.path.basename(op.dst)} could not be put back: {back.note}")
            continue
        action.restored.append((item, row, where))
    return action


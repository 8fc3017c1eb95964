"""Labelling photos into one dataset: DatasetLabels picks the right Labeller for each photo
(a val/ or test/ photo stays in its split). A person's labels are applied and undone in
steps by core.photos.label_session.
"""
from __future__ import annotations

import os
import threading

from core.data.dataset import SPLIT_FOLDER_NAMES
from core.files.journal import is_inside, path_key
from core.photos.labelling import Labeller, validate_class_name


class DatasetLabels:
    """Apply labels to one dataset, journalled and undoable (core.photos.labelling.Labeller).

    New photos go to the training class folders. A photo that is already in the dataset's
    val/ or test/ folder stays in that split (relabelling a validation photo must not
    move it into training, where the model would then be checked on what it learned).
    """

    def __init__(self, root: str, move: bool = True) -> None:
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

    def add_class(self, name: str) -> str:
        """Create a new class folder; returns the cleaned-up name."""
        name = validate_class_name(name)
        self.train.add_class(name)
        return name

"""Renaming, merging and removing a dataset's classes, each undone as a whole.

    labels = DatasetLabels("~/birdcam (labelled)")
    edit = rename_class(labels, "lemming", "Norway lemming")   # keeps its key
    edit = merge_classes(labels, "bank vole", "vole")           # its photos join 'vole'
    edit = remove_class(labels, "lemming")                      # its photos go back where they came from
    edit.text                                                   # what happened, in words
    undo_class_edit(labels, edit)                               # as it was

Every photo is moved through the dataset's labelling journal (core.files.journal), with the
dataset held as a label holds it (core.photos.labelling): a crash half-way is finished or rolled
back like any label, and no file is ever overwritten. A removed class's photos that Fledge
labelled in go back where they came from (a copy is deleted only while its identical original
is still there, and undo copies it in again); the others -- put there by hand, or relabelled
from another class -- are moved to the folder '<dataset> (removed classes)' next to the dataset.
The class order (the keys) follows: a renamed class keeps its key.
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field

from core.data.dataset import SPLIT_FOLDER_NAMES
from core.errors import FledgeError
from core.files import fsops
from core.files.file_transfer import is_inside, make_dirs, path_key
from core.files.journal import DONE
from core.photos.class_order import remember_order, renamed_in_order
from core.photos.labelling import validate_class_name
from core.wording import plural

REMOVED_SUFFIX = " (removed classes)"


@dataclass(eq=False)
class ClassEdit:
    """One change to a dataset's classes; undo_class_edit takes it back."""
    kind: str                      # "rename" | "merge" | "remove"
    root: str                      # the dataset
    name: str                      # the class changed
    into: str = ""                 # rename: its new name; merge: the class it went into
    order: list[str] = field(default_factory=list)         # the classes (in key order) before
    folders: list[str] = field(default_factory=list)       # its class folders (one per split)
    moves: list = field(default_factory=list)              # [(Labeller, journal op id)] moves it made
    unlabelled: list = field(default_factory=list)         # [(Labeller, kind, src, dst, now, meta)] labels taken back
    aside: str = ""                # where a removed class's other photos went
    aside_count: int = 0
    problems: list[str] = field(default_factory=list)
    undone: bool = False

    @property
    def text(self) -> str:
        """What the edit did (or its undo), in words."""
        moved = len(self.moves) - self.aside_count
        if self.undone:
            text = {"rename": f"'{self.into}' is called '{self.name}' again.",
                    "merge": f"'{self.name}' is a class of its own again.",
                    "remove": f"The class '{self.name}' is back."}[self.kind]
        elif self.kind == "rename":
            text = f"Renamed '{self.name}' to '{self.into}' ({plural(moved, 'photo')}); it keeps its key."
        elif self.kind == "merge":
            text = f"Put {plural(moved, 'photo')} of '{self.name}' into '{self.into}'."
        else:
            back = len(self.unlabelled)
            text = f"Removed the class '{self.name}'."
            if back:
                text += (f" {plural(back, 'photo')} went back where {'it' if back == 1 else 'they'} came from"
                         f" ({_where(self.unlabelled)}).")
            if self.aside_count:
                one = self.aside_count == 1
                text += (f" {plural(self.aside_count, 'photo')} that Fledge had not brought in (put there by hand, "
                         f"or relabelled from another class) {'is' if one else 'are'} now in {self.aside}.")
        if self.problems:
            text += f" {plural(len(self.problems), 'photo')} could not be moved: {self.problems[0]}"
        return text


def _where(unlabelled: list) -> str:
    folders = sorted({os.path.dirname(now) for *_rest, now, _meta in unlabelled})
    return folders[0] if len(folders) == 1 else f"{folders[0]} and {plural(len(folders) - 1, 'more folder')}"


# -- the class's folders and files ------------------------------------------------------------

def _class_folders(labels, name: str) -> list[tuple[object, str]]:
    """(the Labeller whose journal records moves there, the folder) of each split holding the class."""
    out = [(labels.train, labels.train.class_folder(name))]
    if labels.layout == "split-folders":
        try:
            entries = sorted(os.listdir(labels.root))
        except OSError:
            entries = []
        for entry in entries:
            if SPLIT_FOLDER_NAMES.get(entry.lower()) in ("val", "test"):
                folder = os.path.join(labels.root, entry, name)
                if os.path.isdir(folder):
                    out.append((labels.labeller_for(os.path.join(folder, "photo")), folder))
    return out


def _files(folder: str) -> list[str]:
    """Every file under folder (links too: moving them is refused, and said)."""
    out = []
    for d, dirs, names in os.walk(folder):
        dirs.sort()
        out += [os.path.join(d, n) for n in sorted(names)]
    return out


def _prune(folder: str) -> None:
    """Remove folder and the folders inside it that are empty now (never a file)."""
    for d, _dirs, _names in sorted(os.walk(folder), key=lambda t: -len(t[0])):
        with contextlib.suppress(OSError):
            fsops.rmdir(d)


@contextlib.contextmanager
def _holding(labellers):
    with contextlib.ExitStack() as stack:
        for lab in dict.fromkeys(labellers):
            stack.enter_context(lab.holding())
        yield


def _known(labels, name: str) -> None:
    if name not in labels.classes:
        raise FledgeError(f"There is no class called '{name}' in {labels.root} any more. "
                          "Choose one of: " + ", ".join(labels.classes) + ".")


def _move_photos(edit: ClassEdit, folders, into: str) -> None:
    """Move every photo of the class's folders into the same split's folder of into."""
    for lab, folder in folders:
        target = os.path.join(os.path.dirname(folder), into)
        for path in _files(folder):
            try:
                op = lab.put(path, os.path.join(target, os.path.relpath(path, folder)), True,
                             {"class": into, "class_edit": edit.kind})
            except FledgeError as exc:
                edit.problems.append(str(exc))
                continue
            edit.moves.append((lab, op.id))
        _prune(folder)


# -- the edits ---------------------------------------------------------------------------------

def rename_class(labels, name: str, new: str) -> ClassEdit:
    """Give a class another name: its folder (in every split) becomes new's, its key stays."""
    new = validate_class_name(new)
    _known(labels, name)
    if new.casefold() == name.casefold():
        raise FledgeError(f"'{new}' differs from '{name}' only in capital letters, which some disks do not tell "
                          "apart. Rename it to another name first, then to this one.")
    folders = _class_folders(labels, name)
    edit = ClassEdit("rename", labels.root, name, new, labels.classes, [f for _l, f in folders])
    with _holding([lab for lab, _f in folders]):
        _known(labels, name)
        labels.train.add_class(new, remember=False)     # every check of a new name; refused if taken
        _move_photos(edit, folders, new)
    renamed_in_order(labels.root, labels.classes, name, new)
    return edit


def merge_classes(labels, name: str, into: str) -> ClassEdit:
    """Put every photo of class name into class into (split by split); name is gone after."""
    _known(labels, name)
    _known(labels, into)
    if name == into:
        raise FledgeError(f"Choose another class to put the photos of '{name}' into.")
    folders = _class_folders(labels, name)
    edit = ClassEdit("merge", labels.root, name, into, labels.classes, [f for _l, f in folders])
    with _holding([lab for lab, _f in folders]):
        _move_photos(edit, folders, into)
    remember_order(labels.root, [c for c in edit.order if c != name or name in labels.classes])
    return edit


def removed_folder(root: str) -> str:
    """Where a removed class's photos of unknown origin go: next to the dataset, never inside."""
    return root.rstrip(os.sep) + REMOVED_SUFFIX


def remove_class(labels, name: str) -> ClassEdit:
    """Remove a class: its labelled photos go back where they came from, the others to
    removed_folder(root); its folders go when empty."""
    _known(labels, name)
    folders = _class_folders(labels, name)
    edit = ClassEdit("remove", labels.root, name, "", labels.classes, [f for _l, f in folders],
                     aside=removed_folder(labels.root))
    with _holding([lab for lab, _f in folders]):
        for lab, folder in folders:
            live = {path_key(op.dst): op for op in lab.journal.live_ops()}
            for path in _files(folder):
                op = live.get(path_key(path))
                if op is not None and not is_inside(op.src, labels.root) and _take_back(edit, lab, op):
                    continue
                try:
                    moved = lab.put(path, os.path.join(edit.aside, os.path.relpath(path, labels.root)), True,
                                    {"class_edit": "remove"})
                except FledgeError as exc:
                    edit.problems.append(str(exc))
                    continue
                edit.moves.append((lab, moved.id))
                edit.aside_count += 1
            _prune(folder)
    remember_order(labels.root, [c for c in edit.order if c != name or name in labels.classes])
    return edit


def _take_back(edit: ClassEdit, lab, op) -> bool:
    """Undo the label that put this photo in: True when it went back (a copy removed, a move put back)."""
    try:
        outcome = lab.journal.undo_in_words(op)
    except FledgeError as exc:
        edit.problems.append(str(exc))
        return True                       # left in place for now; never moved aside on top
    if outcome.result == "restored":
        edit.unlabelled.append((lab, op.kind, op.src, op.dst, outcome.path, dict(op.meta)))
        return True
    if outcome.result == "removed":
        edit.unlabelled.append((lab, op.kind, op.src, op.dst, op.src, dict(op.meta)))
        return True
    return False                          # kept (changed since it was copied): moved aside instead


# -- undo --------------------------------------------------------------------------------------

def undo_class_edit(labels, edit: ClassEdit) -> ClassEdit:
    """Take the edit back: its moves undone, the labels it took back applied again, its folders
    and the class order as they were. What cannot be put back is said in edit.problems."""
    if edit.undone:
        raise FledgeError("That change to the classes was undone already.")
    edit.problems = []
    labellers = [lab for lab, _ in edit.moves] + [u[0] for u in edit.unlabelled] + [labels.train]
    with _holding(labellers):
        for lab, op_id in reversed(edit.moves):
            op = lab.journal.ops.get(op_id)
            if op is None or op.state != DONE:
                edit.problems.append("a photo it moved was moved again since, so it was left where it is now")
                continue
            try:
                lab.journal.undo_in_words(op)
            except FledgeError as exc:
                edit.problems.append(str(exc))
        for lab, kind, src, dst, now, meta in reversed(edit.unlabelled):
            try:
                lab.put(now, dst, kind == "move", meta)
            except FledgeError as exc:
                edit.problems.append(str(exc))
        for folder in edit.folders:
            with contextlib.suppress(OSError):
                make_dirs(folder)
        if edit.kind == "rename":
            # Photos labelled into the new name since go back to the old name with the others.
            back = ClassEdit("rename", edit.root, edit.into, edit.name)
            _move_photos(back, _class_folders(labels, edit.into), edit.name)
            edit.problems += back.problems
        if edit.aside:
            _prune_if_empty(edit.aside)           # the folder it made, once its photos are back
    remember_order(labels.root, edit.order + [c for c in labels.classes if c not in edit.order])
    edit.undone = True
    return edit


def _prune_if_empty(folder: str) -> None:
    if os.path.isdir(folder) and not _files(folder):
        _prune(folder)

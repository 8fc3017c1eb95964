"""Applying review labels: putting photos into the training dataset's class folders.

    lab = Labeller("~/birds-data", move=True)
    lab.assign("~/sorted/_review/IMG_0001.jpg", "robin")   # -> DATA/train/robin/IMG_0001.jpg
    lab.undo_last()                                         # back to _review/

Photos go to DATA/train/<class>/ when the dataset has split folders, else
DATA/<class>/, so the next training run learns from them. Every assignment is
journalled in DATA/.fledge-labels.jsonl (see core.files.journal) and can be undone; a
photo is never overwritten (a taken name gets ' (2)').
A photo that is already inside the dataset (relabelling a training photo) is always
moved, never copied, so it cannot end up in two classes.
"""
from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass

from core.data.dataset import SPLIT_FOLDER_NAMES
from core.errors import FledgeError
from core.photos.class_order import ordered, remember_order
from core.files.file_transfer import describe_os_error, is_inside, path_key
from core.files.journal import FileJournal, JournalWriteError
from core.files.locks import dest_lock

LABELS_JOURNAL = ".fledge-labels.jsonl"

_WINDOWS_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)),
                     *(f"lpt{i}" for i in range(1, 10))}


@dataclass(frozen=True)
class LabelOp:
    """One label applied (or undone): where the photo was and where it is now."""
    src: str               # where the photo was before it was labelled
    dst: str               # where it went in the dataset
    class_name: str
    moved: bool            # False: copied (the original stayed where it was)
    changed: bool = True   # False when the photo was already in that class folder
    restored_to: str | None = None   # set by undo_last: where the photo is now
    note: str = ""


def validate_class_name(name: str) -> str:
    """The name stripped of surrounding spaces, or FledgeError saying what is wrong with it."""
    if not isinstance(name, str) or not name.strip():
        raise FledgeError("A class name cannot be empty. Type a name such as 'robin'.")
    name = name.strip()
    if "/" in name or "\\" in name or (os.altsep and os.altsep in name) or os.sep in name:
        raise FledgeError(f"The class name '{name}' contains a slash. Class names become folder names, "
                          "so use a name without / or \\.")
    if name.startswith("."):
        raise FledgeError(f"The class name '{name}' starts with a dot, which would make a hidden folder "
                          "that Fledge ignores. Use a name that starts with a letter or digit.")
    if "\0" in name or any(ch in name for ch in '<>:"|?*') or any(ord(ch) < 32 for ch in name):
        raise FledgeError(f"The class name '{name}' contains a character folders cannot have "
                          "(< > : \" | ? * or a control character). Use letters, digits, spaces, - or _.")
    if name.endswith("."):
        raise FledgeError(f"The class name '{name}' ends with a dot, which some computers cannot store "
                          "in a folder name. Remove the dot.")
    if name.split(".")[0].lower() in _WINDOWS_RESERVED:
        raise FledgeError(f"'{name}' is a reserved name on Windows and cannot be a folder. Choose another name.")
    if len(name.encode("utf-8")) > 200:
        raise FledgeError("That class name is too long for a folder name. Use a shorter one.")
    return name


def _subfolders(folder: str) -> list[str]:
    try:
        with os.scandir(folder) as it:
            return sorted(e.name for e in it if not e.name.startswith(".") and e.is_dir())
    except OSError:
        return []


LOCK_WAIT_S = 20.0        # how long a label waits for another process's label (one photo) to finish


class DatasetLock:
    """One lock per dataset folder, across threads and processes: a second Labeller (the Review
    tab opening the dataset again, another window, Fledge opened twice) must never take a copy
    in progress for a crash's leftover, nor pick a name another one is filling.

    Re-entrant in one thread. The outermost holder in this process also holds the dataset's
    journal lock (core.files.locks.dest_lock, as a sort holds its destination's), so under it
    every half-done operation in the journal was left by a process that is gone."""

    def __init__(self, journal_path: str) -> None:
        self.journal_path = journal_path
        self._rlock = threading.RLock()
        self._depth = 0
        self._held: contextlib.ExitStack | None = None

    def __enter__(self) -> DatasetLock:
        self.acquire(LOCK_WAIT_S)
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    @contextlib.contextmanager
    def at_once(self):
        """Held like `with lock:`, but FledgeError at once when another process holds it
        (for work that can wait for a later turn, such as finishing a crash's leftovers)."""
        self.acquire(0.0)
        try:
            yield self
        finally:
            self.release()

    def acquire(self, wait_s: float) -> None:
        self._rlock.acquire()
        if self._depth == 0:
            stack = contextlib.ExitStack()
            try:
                stack.enter_context(dest_lock(self.journal_path, wait_s, busy=(
                    f"Another Fledge window is labelling photos into {os.path.dirname(self.journal_path)} "
                    "and did not finish in time. Wait a moment, then try again.")))
            except BaseException:
                self._rlock.release()
                raise
            self._held = stack
        self._depth += 1

    def release(self) -> None:
        self._depth -= 1
        try:
            if self._depth == 0 and self._held is not None:
                held, self._held = self._held, None
                held.close()
        finally:
            self._rlock.release()


_LOCKS: dict[str, DatasetLock] = {}
_LOCKS_GUARD = threading.Lock()


def _dataset_lock(root: str) -> DatasetLock:
    with _LOCKS_GUARD:
        key = path_key(root)
        if key not in _LOCKS:
            _LOCKS[key] = DatasetLock(os.path.join(root, LABELS_JOURNAL))
        return _LOCKS[key]


def _file_state(path: str) -> tuple | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def follow_moves(ops, path: str) -> str:
    """Where the photo once at path is now, following the journal's moves still in effect
    (ops: FileJournal.live_ops()), e.g. a labelled photo relabelled into another class."""
    moves = {path_key(op.src): op.dst for op in ops if op.kind == "move"}
    now, seen = path, set()
    while path_key(now) in moves and path_key(now) not in seen:
        seen.add(path_key(now))
        now = moves[path_key(now)]
    return now


def class_root_of(root: str) -> tuple[str, str]:
    """(layout, the folder whose subfolders are the training classes) of a dataset folder:
    ("split-folders", DATA/train) or ("class-folders", DATA)."""
    splits = {SPLIT_FOLDER_NAMES.get(n.lower()): n for n in _subfolders(root)}
    if "train" in splits or "val" in splits:
        return "split-folders", os.path.join(root, splits.get("train") or "train")
    return "class-folders", root


def training_classes(root: str) -> list[str]:
    """The class names labels go into, in the order the person gave them (core.photos.class_order),
    read without touching the dataset's journal."""
    return ordered(root, _subfolders(class_root_of(root)[1]))


class Labeller:
    """Assign photos to classes of a training dataset, journalled and undoable.

    Methods may be called from a worker thread; calls are serialized by a lock.
    """

    def __init__(self, dataset_root, move: bool = True) -> None:
        root = os.path.abspath(os.path.expanduser(os.fspath(dataset_root)))
        if not os.path.isdir(root):
            raise FledgeError(f"The dataset folder {root} does not exist. Choose the folder that holds "
                              "your class folders.")
        self.root = root
        self.move = bool(move)
        self._lock = _dataset_lock(root)      # shared by every Labeller of this dataset in this process
        self.layout, self.class_root = class_root_of(root)
        self.journal = FileJournal(os.path.join(root, LABELS_JOURNAL), prune_root=None)
        self._run: str | None = None
        self._seen = None                   # the journal file as this Labeller last read or wrote it
        try:
            with self._lock.at_once():      # never under another Labeller's copy or move in flight
                self.journal.recover()      # finish or roll back what a crash left half-done
                self._seen = _file_state(self.journal.path)
        except (OSError, FledgeError):
            pass                            # another process is at work: retried on the next label

    # -- classes ------------------------------------------------------------------------
    @property
    def classes(self) -> list[str]:
        return training_classes(self.root)

    def class_folder(self, class_name: str) -> str:
        return os.path.join(self.class_root, class_name)

    def add_class(self, name: str, remember: bool = True) -> str:
        """Create the folder of a new class; returns its path. remember: it takes the next key
        (kept in the dataset's class order; False for a val/ or test/ folder's own Labeller)."""
        with self._lock:
            name = validate_class_name(name)
            if self.layout == "class-folders" and name.lower() in SPLIT_FOLDER_NAMES:
                raise FledgeError(f"'{name}' cannot be a class name in this dataset: a folder called "
                                  f"{name} would make Fledge read {self.root} as train/val split folders. "
                                  "Choose another name.")
            for existing in self.classes:
                if existing.casefold() == name.casefold():
                    raise FledgeError(f"There is already a class called '{existing}'.")
            path = self.class_folder(name)
            before = self.classes
            try:
                os.makedirs(path)
            except OSError as exc:
                raise FledgeError(f"Could not create the class folder {path} ({describe_os_error(exc)}).") from None
            if remember:
                remember_order(self.root, before + [name])
            return path

    # -- labelling ----------------------------------------------------------------------
    def assign(self, path, class_name: str) -> LabelOp:
        """Put the photo at path into class_name's folder (moved or copied, see move)."""
        with self._lock, self._caught_up():
            src = os.path.abspath(os.fspath(path))
            if class_name not in self.classes:
                raise FledgeError(f"There is no class called '{class_name}' in {self.class_root} (its folder "
                                  "was removed?). Add it again, or choose one of: " + ", ".join(self.classes) + ".")
            if not os.path.isfile(src):
                raise FledgeError(self._gone_message(src))
            folder = self.class_folder(class_name)
            if path_key(os.path.dirname(src)) == path_key(folder):
                return LabelOp(src, src, class_name, self.move, changed=False,
                               note=f"already in class '{class_name}'")
            move = self.move or is_inside(src, self.root)   # never duplicate a dataset photo
            if not move and (copy := self._copy_of(src)) is not None:
                return self._already_copied(src, copy, class_name)
            op = self.put(src, os.path.join(folder, os.path.basename(src)), move, {"class": class_name})
            return LabelOp(op.src, op.dst, class_name, move)

    def put(self, src: str, dst: str, move: bool, meta: dict):
        """(Under the lock) copy or move src to dst (or a free name next to it), journalled;
        the journal's Op, or FledgeError in words with the photo left where it was."""
        try:
            if self._run is None:
                self._run = self.journal.new_run(tool="label")
            return self.journal.do(src, dst, move, self._run, meta=meta)
        except JournalWriteError as exc:
            # Nothing is done without a record in the journal.
            raise FledgeError(f"{exc.strerror}, so {src} was left where it was. Check that disk, "
                              "then try again.") from None
        except OSError as exc:
            raise FledgeError(f"Could not {'move' if move else 'copy'} {src} into {os.path.dirname(dst)} "
                              f"({describe_os_error(exc)}). The photo was left where it was.") from None

    @contextlib.contextmanager
    def holding(self):
        """The dataset held (across processes) with its journal caught up, for work of several
        steps on it (core.photos.class_edits)."""
        with self._lock, self._caught_up():
            yield self

    # -- another window at work on the same dataset ------------------------------------
    @contextlib.contextmanager
    def _caught_up(self):
        """(Under the lock) read what another process wrote to the journal since this Labeller
        last looked, and finish what a crash left half-done; afterwards note the journal as it is."""
        try:
            if _file_state(self.journal.path) != self._seen:
                self.journal.reload()
                with contextlib.suppress(OSError):
                    self.journal.recover()
            yield
        finally:
            self._seen = _file_state(self.journal.path)

    def _copy_of(self, src: str) -> str | None:
        """Where the copy of src labelled into this dataset is now (None: it has none)."""
        ops = self.journal.live_ops()
        for op in ops:
            if op.kind == "copy" and path_key(op.src) == path_key(src):
                now = follow_moves(ops, op.dst)
                if os.path.exists(now):
                    return now
        return None

    def _already_copied(self, src: str, copy: str, class_name: str) -> LabelOp:
        if path_key(os.path.dirname(copy)) == path_key(self.class_folder(class_name)):
            return LabelOp(src, copy, class_name, False, changed=False, note=f"already labelled '{class_name}'")
        raise FledgeError(f"{os.path.basename(src)} is already labelled '{os.path.basename(os.path.dirname(copy))}' "
                          f"(perhaps in another window): its copy is {copy}. To change its label, relabel that "
                          "copy in Check labels.")

    def _gone_message(self, src: str) -> str:
        moved = [op for op in self.journal.live_ops() if op.kind == "move" and path_key(op.src) == path_key(src)]
        if moved:
            now = follow_moves(self.journal.live_ops(), moved[-1].dst)
            return f"The photo {src} is no longer there: it was labelled already (in another window?) and is now {now}."
        return f"The photo {src} is no longer there (moved or deleted)."

    def assign_many(self, paths: Iterable, class_name: str) -> list[LabelOp]:
        return [self.assign(p, class_name) for p in paths]

    def undo_last(self, expected: LabelOp | None = None) -> LabelOp | None:
        """Undo the most recent label still in effect; None when there is nothing to undo.

        expected: the label the caller means to undo (core.photos.label_session); FledgeError,
        and nothing changes, when another label is the most recent one (another window or
        program labelled since) or it is no longer in effect."""
        with self._lock:
            self.journal.reload()
            self.journal.recover()
            live = self.journal.live_ops()
            op = live[-1] if live else None
            if expected is not None and (op is None or path_key(op.dst) != path_key(expected.dst)):
                raise FledgeError(f"{os.path.basename(expected.dst)} was not put back: other labels were applied "
                                  f"to {self.root} since (in another window or program). Move it by hand if needed.")
            if op is None:
                return None
            outcome = self.journal.undo_in_words(op)
            if outcome.result == "restored":
                where = outcome.path
            elif outcome.result == "removed":
                where = op.src              # the copy is gone; the original is where it was
            else:                           # kept or missing: nothing was moved
                where = None
            return LabelOp(op.src, op.dst, op.meta.get("class", ""), op.kind == "move",
                           restored_to=where, note=outcome.note)


__all__ = ["Labeller", "LabelOp", "LABELS_JOURNAL", "validate_class_name"]

"""One undo queue for everything a person does to a dataset's photos, in any tab or command.

    session = LabelSession()
    step = session.label(labels, [(item, "robin")], origin="review")   # queued, not done yet
    session.run(step)                     # done (the window runs it on a worker thread)
    step.done, step.failed                # what changed, for the front end to show
    back = session.take_undo("review", labels.root)    # the latest step of that origin, or None
    session.run_undo(back)                # put back: back.restored, back.problems
    session.undo_sort("~/sorted")         # every photo a sort put there goes back

The steps: LabelStep labels or relabels photos into a dataset (core.photos.dataset_labels:
Review's keys, Check labels' moves, Evaluate's cells), KeepStep keeps a label as filed
(core.photos.kept_labels), SetAsideStep is Keep one copy (core.data.duplicates_keep). As
Anki's collection owns one undo queue and its Qt layer only runs operations, the session
holds the steps and the front ends only run them and show what changed. Queueing a step and
taking one to undo are instant (a key press on the window's thread: Undo is right at once);
running one moves files, so it happens after, one step at a time. A step keeps its origin
(the tab that made it) and its dataset, so each Undo takes back the latest of its own; the
journals underneath refuse an undo when other labels were applied since. A step whose undo
could not be finished stays on the queue, so Undo can try again.

A label is an item (anything with a .path: a core.photos.review_queue.ReviewItem, a
core.photos.check_labels.Suggestion) and a class; a step reports on the items given, so a
front end finds its own rows again.
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field

from core.data.duplicates_keep import SetAside, SetAsideStopped
from core.errors import FledgeError
from core.files.file_transfer import path_key
from core.photos import sort_undo
from core.photos.dataset_labels import DatasetLabels
from core.photos.kept_labels import KeptLabels
from core.photos.labelling import LabelOp


@dataclass(eq=False)
class Step:
    """One thing a person did, undone as a whole. Results are filled in when it runs."""
    origin: str                                            # the tab or command that made it
    root: str                                              # the dataset it changed
    failed: list = field(default_factory=list)             # [(item, message)] not done
    restored: list = field(default_factory=list)           # [(item, path now)] put back by the last undo
    problems: list = field(default_factory=list)           # messages from the last undo

    def apply(self) -> None:
        raise NotImplementedError

    def revert(self) -> None:
        raise NotImplementedError

    @property
    def in_effect(self) -> bool:
        """Whether something of it is done and not undone (so it can be undone)."""
        raise NotImplementedError


@dataclass(frozen=True)
class Labelled:
    """One photo of a LabelStep that was labelled."""
    item: object
    class_name: str
    op: LabelOp                                            # where it was, where it went
    labeller: object = field(repr=False, compare=False)    # the core.photos.labelling.Labeller used


@dataclass(eq=False)
class LabelStep(Step):
    """Photos labelled (moved or copied into class folders) in one go: a key press, a bulk accept."""
    labels: DatasetLabels | None = None
    entries: list = field(default_factory=list)            # [(item, class name)]
    done: list = field(default_factory=list)               # [Labelled] in effect, in the order done
    undone: list = field(default_factory=list)             # [Labelled] taken back by the last undo

    def apply(self) -> None:
        self.failed = []
        for item, class_name in self.entries:
            try:
                lab, op = self.labels.assign(item.path, class_name)
            except FledgeError as exc:
                self.failed.append((item, str(exc)))
                continue
            self.done.append(Labelled(item, class_name, op, lab))
        _note_in_sort_destinations([d.op for d in self.done if d.op.moved and d.op.changed], self.root)

    def revert(self) -> None:
        """Newest first; stops at the first photo that cannot be put back (the rest stay labelled)."""
        self.restored, self.problems, self.undone = [], [], []
        while self.done:
            d = self.done[-1]
            if d.op.changed:
                try:
                    back = d.labeller.undo_last(expected=d.op)
                except FledgeError as exc:
                    self.problems.append(str(exc))
                    return
                if back is None or back.restored_to is None:
                    note = back.note if back is not None else "it is no longer labelled"
                    self.problems.append(f"{os.path.basename(d.op.dst)} could not be put back: {note}")
                else:
                    self.restored.append((d.item, back.restored_to))
            else:                       # it was in that class already: nothing was moved
                self.restored.append((d.item, d.op.src))
            self.undone.append(self.done.pop())

    @property
    def in_effect(self) -> bool:
        return bool(self.done)


@dataclass(eq=False)
class KeepStep(Step):
    """A label kept as filed (Check labels' K): the check does not ask about the photo again."""
    kept: KeptLabels | None = None
    item: object = None                                    # a core.photos.check_labels.Suggestion
    done: bool = False

    def apply(self) -> None:
        self.failed = []
        try:
            self.kept.keep(self.item.path, self.item.given)
        except FledgeError as exc:
            self.failed.append((self.item, str(exc)))
            return
        self.done = True

    def revert(self) -> None:
        self.restored, self.problems = [], []
        try:
            self.kept.unkeep(self.item.path)
        except FledgeError as exc:
            self.problems.append(str(exc))
            return
        self.done = False
        self.restored.append((self.item, self.item.path))

    @property
    def in_effect(self) -> bool:
        return self.done


@dataclass(eq=False)
class SetAsideStep(Step):
    """Keep one copy: extra copies moved out of the dataset into the folder next to it.

    earlier=True stands for copies set aside in an earlier session of the app, found in the
    dataset's set-aside journal: its undo puts back the latest of them, as Undo did then."""
    paths: list = field(default_factory=list)
    moves: list = field(default_factory=list)              # [core.data.duplicates_keep.SetAsideMove] in effect
    earlier: bool = False

    def apply(self) -> None:
        self.failed = []
        try:
            self.moves = SetAside(self.root).set_aside(self.paths)
        except SetAsideStopped as exc:
            self.moves = exc.moves
            self.failed.append((None, str(exc)))

    def revert(self) -> None:
        self.restored, self.problems = [], []
        try:
            back = SetAside(self.root).undo_last()
        except FledgeError as exc:
            self.problems.append(str(exc))
            return
        self.moves, self.earlier = [], False
        self.restored = [(m, m.restored_to) for m in back if m.restored_to]
        self.problems = [m.note for m in back if not m.restored_to and m.note]

    @property
    def in_effect(self) -> bool:
        return bool(self.moves) or self.earlier


class LabelSession:
    """The undo queue of one window or command; safe to use from any thread."""

    def __init__(self) -> None:
        self._steps: list[Step] = []
        self._datasets: list[str] = []          # every dataset labelled into, for undo_sort
        self._lock = threading.Lock()

    # -- queueing (instant) -------------------------------------------------------------
    def record(self, step: Step) -> Step:
        """Put a step on the queue (run(step) does it)."""
        with self._lock:
            self._steps.append(step)
            if isinstance(step, LabelStep) and not any(path_key(r) == path_key(step.root) for r in self._datasets):
                self._datasets.append(step.root)
        return step

    def label(self, labels: DatasetLabels, entries: list, origin: str = "") -> LabelStep:
        """Queue labelling these (item, class name) pairs into labels' dataset."""
        return self.record(LabelStep(origin, labels.root, labels=labels, entries=list(entries)))

    def keep(self, kept: KeptLabels, item, origin: str = "") -> KeepStep:
        """Queue keeping item (a check-labels Suggestion) as filed."""
        return self.record(KeepStep(origin, kept.root, kept=kept, item=item))

    def set_aside(self, root: str, paths: list[str], origin: str = "") -> SetAsideStep:
        """Queue setting these photos of the dataset at root aside (Keep one copy)."""
        return self.record(SetAsideStep(origin, os.path.abspath(root), paths=list(paths)))

    def recall_set_aside(self, root: str, origin: str = "") -> bool:
        """Queue, for undo, the copies set aside in root in an earlier session (when there are any
        and none of this session's is queued). True when Undo can put copies back."""
        root = os.path.abspath(root)
        if self.can_undo(origin, root):
            return True
        if not SetAside(root).can_undo:
            return False
        self.record(SetAsideStep(origin, root, earlier=True))
        return True

    def take_undo(self, origin: str = "", root: str | None = None) -> Step | None:
        """Take the latest step of this origin (and dataset, when given) off the queue, to undo."""
        with self._lock:
            for i in range(len(self._steps) - 1, -1, -1):
                if self._matches(self._steps[i], origin, root):
                    return self._steps.pop(i)
        return None

    def can_undo(self, origin: str = "", root: str | None = None) -> bool:
        with self._lock:
            return any(self._matches(s, origin, root) for s in self._steps)

    # -- doing (moves files: one step at a time, on any thread) --------------------------
    def run(self, step: Step) -> Step:
        """Do a queued step; a step that changed nothing leaves the queue (nothing to undo)."""
        try:
            step.apply()
        finally:
            if not step.in_effect:
                self._drop(step)
        return step

    def run_undo(self, step: Step) -> Step:
        """Undo a step (taken with take_undo, or still queued: it leaves the queue). When part of
        it could not be put back, it is queued again so that Undo can try again."""
        self._drop(step)
        try:
            step.revert()
        finally:
            if step.in_effect:
                self.record(step)
        return step

    def undo(self, origin: str = "", root: str | None = None) -> Step | None:
        """take_undo and run_undo in one (a script, or a test, on one thread)."""
        step = self.take_undo(origin, root)
        return self.run_undo(step) if step is not None else None

    def undo_sort(self, dest, progress=None, should_stop=None, datasets=()) -> sort_undo.UndoReport:
        """Put every photo a sort put into dest back where it was (core.photos.sort_undo.undo),
        looking for the photos labelled away since in the datasets this session labelled into,
        those noted in dest, and datasets."""
        with self._lock:
            mine = list(self._datasets)
        return sort_undo.undo(dest, progress=progress, should_stop=should_stop, datasets=[*datasets, *mine])

    # -- helpers --------------------------------------------------------------------------
    @staticmethod
    def _matches(step: Step, origin: str, root: str | None) -> bool:
        return step.origin == origin and (root is None or path_key(step.root) == path_key(root))

    def _drop(self, step: Step) -> None:
        with self._lock:
            if step in self._steps:
                self._steps.remove(step)


def _note_in_sort_destinations(ops: list[LabelOp], dataset_root: str) -> None:
    """Note in each sort destination photos were moved out of that they went into this dataset,
    so that undoing that sort (here or with `fledge undo`) finds them."""
    folders: dict[str, str | None] = {}
    for op in ops:
        folder = os.path.dirname(op.src)
        if folder not in folders:
            folders[folder] = sort_undo.sort_destination(op.src)
    for dest in dict.fromkeys(d for d in folders.values() if d is not None):
        sort_undo.note_labelled_into(dest, dataset_root)


__all__ = ["LabelSession", "Step", "LabelStep", "KeepStep", "SetAsideStep", "Labelled"]

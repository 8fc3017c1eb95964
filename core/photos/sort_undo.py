"""Undoing sorts: every photo sorting copied or moved into DEST goes back where it was.

    report = undo("~/sorted")
    report.restored, report.removed, report.kept, report.failed, report.labelled

Moved photos go back to their old place (a free " (n)" name when a new file took the
old one); copies are removed only while an identical original still exists. A photo
whose original cannot be read or reached just now stays sorted (it is in .failed), so
undo can simply be run again later. Like the sort itself, it works from DEST's journal,
can be stopped and run again, and locks the source folders as well as DEST.

A sorted photo a person labelled into a dataset since is not there to put back: it stays
in the dataset, and report.labelled says where (core.photos.review_queue.labelled_away). The
datasets to look in are those labelling noted in DEST (note_labelled_into, called by
core.photos.label_session) and any the caller names.
"""
from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field

from core.errors import FledgeError, UsageError
from core.files.fileio import atomic_write_text
from core.files.file_transfer import describe_os_error, path_key
from core.files.journal import FINISHED, KEPT, MISSING, FileJournal, JournalWriteError, UndoOutcome
from core.files.locks import source_locks
from core.photos.review_queue import labelled_away
from core.photos.sorting import Progress, ShouldStop, journal_path, open_journal

LABELLED_INTO = ".fledge-labelled-into.json"    # in DEST: the datasets photos sorted there were labelled into


@dataclass
class UndoReport:
    """What undo did, file by file."""
    dest: str
    restored: list[tuple[str, str]] = field(default_factory=list)   # (from, to) moved back
    removed: list[str] = field(default_factory=list)                # copies removed
    renamed: list[tuple[str, str]] = field(default_factory=list)    # (original path, name used instead)
    kept: list[tuple[str, str]] = field(default_factory=list)       # (path, reason)
    missing: list[tuple[str, str]] = field(default_factory=list)    # (path, reason)
    failed: list[tuple[str, str]] = field(default_factory=list)     # (path, reason)
    recovered: list[str] = field(default_factory=list)
    labelled: dict[str, list[tuple[str, str]]] = field(default_factory=dict)   # folder now -> [(was, now)]
    stopped: bool = False

    @property
    def nothing_to_do(self) -> bool:
        return not (self.restored or self.removed or self.kept or self.missing or self.failed
                    or self.recovered)

    def gone(self) -> list[str]:
        """The places in dest that no longer hold a photo: moved back, or a copy removed."""
        return [was for was, _to in self.restored] + list(self.removed)

    def to_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items()}


def undo(dest, progress: Progress = None, should_stop: ShouldStop = None, datasets: Iterable[str] = ()) -> UndoReport:
    """Put every photo that sorting copied or moved into dest back where it was, newest first;
    datasets: where photos may have been labelled into since, besides those noted in dest."""
    dest = os.path.abspath(os.path.expanduser(os.fspath(dest)))
    if os.path.exists(dest) and not os.path.isdir(dest):
        raise UsageError(f"{dest} is a file, not a folder. Give the folder the photos were sorted into.")
    if not os.path.isdir(dest):
        raise FledgeError(f"The folder {dest} does not exist, so there is nothing to undo there.")
    if not os.path.exists(journal_path(dest)):
        raise FledgeError(f"{dest} has no Fledge journal, so Fledge did not sort photos into it "
                          "(or the journal was deleted). Nothing was changed.")
    report = UndoReport(dest)
    journal = open_journal(dest)
    with journal.locked():
        journal.reload()
        with source_locks(journal.run_folders()):
            report.recovered = journal.recover()
            _undo_ops(journal, report, progress, should_stop)
            journal.compact()
        if report.missing:
            report.labelled = labelled_away([path for path, _why in report.missing], [*datasets, *labelled_into(dest)])
        if not journal.live_ops():
            with contextlib.suppress(OSError):
                os.remove(os.path.join(dest, LABELLED_INTO))       # nothing sorted is left to look for
    return report


def can_undo(dest) -> bool:
    """Whether undo(dest) has photos to put back (or a crash's leftovers to finish); read only."""
    path = journal_path(dest)
    try:
        if os.path.getsize(path) == 0:            # compacted after everything was undone
            return False
        return any(op.state not in FINISHED for op in FileJournal(path).ops.values())
    except FileNotFoundError:
        return False
    except (OSError, FledgeError):
        return True                               # cannot tell: let undo try, and say what it finds


def sort_destination(path: str) -> str | None:
    """The folder a sort put path into (the nearest folder above it with a sort journal), if any."""
    folder = os.path.dirname(os.path.abspath(path))
    while True:
        if os.path.isfile(journal_path(folder)):
            return folder
        parent = os.path.dirname(folder)
        if parent == folder:
            return None
        folder = parent


def labelled_into(dest: str) -> list[str]:
    """The datasets noted in dest as holding photos labelled out of it ([] when none or unreadable)."""
    try:
        with open(os.path.join(dest, LABELLED_INTO), encoding="utf-8") as f:
            roots = json.load(f).get("datasets", [])
        return [str(r) for r in roots if isinstance(r, str)]
    except (OSError, ValueError, AttributeError):
        return []


def note_labelled_into(dest: str, dataset_root: str) -> None:
    """Note in dest that photos sorted there were labelled into dataset_root, so undo finds them.
    Best effort: when dest cannot be written, undo still reports those photos as not found."""
    roots = labelled_into(dest)
    if any(path_key(r) == path_key(dataset_root) for r in roots):
        return
    with contextlib.suppress(OSError):
        atomic_write_text(os.path.join(dest, LABELLED_INTO),
                          json.dumps({"datasets": roots + [os.path.abspath(dataset_root)]}, indent=1))


def _undo_ops(journal, report: UndoReport, progress: Progress, should_stop: ShouldStop) -> None:
    todo = list(reversed(journal.live_ops()))
    for i, op in enumerate(todo):
        if should_stop is not None and should_stop():
            report.stopped = True
            break
        try:
            outcome = journal.undo_op(op)
        except JournalWriteError as exc:
            # Nothing is done without a record: stop here, the rest stays for the next undo.
            report.failed.append((op.dst, f"{exc.strerror}, so undo stopped before this photo"))
            break
        except OSError as exc:
            report.failed.append((op.dst, describe_os_error(exc)))
        else:
            _record_outcome(report, outcome)
        if progress is not None:
            progress(i + 1, len(todo))


def _record_outcome(report: UndoReport, o: UndoOutcome) -> None:
    if o.result == "removed":
        report.removed.append(o.path)
    elif o.result == "restored":
        report.restored.append((o.op.dst, o.path))
        if path_key(o.path) != path_key(o.op.src):
            report.renamed.append((o.op.src, o.path))
    elif o.result == KEPT:
        report.kept.append((o.path, o.note))
    elif o.result == MISSING:
        report.missing.append((o.path, o.note))

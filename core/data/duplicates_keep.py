"""Keeping one copy of a duplicated photo: the extra copies are moved out of the dataset, never deleted.

    aside = SetAside("~/birds")
    moves = aside.set_aside([c.path for g in report.groups for c in g.extras()])
    aside.undo_last()        # every photo of that call goes back where it was

The extra copies go to a folder next to the dataset, "<name> (set-aside copies)", keeping
their place inside the dataset (DATA/train/robin/a.jpg -> DATA (set-aside copies)/train/
robin/a.jpg), so the dataset no longer trains or checks on them and a person can still
see them. Every move is journalled in DATA/.fledge-set-aside.jsonl (core.files.journal:
intent before the move, recovery after a crash, undo never over another file).
"""
from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass

from core.errors import FledgeError
from core.files.file_transfer import describe_os_error, is_inside
from core.files.journal import FileJournal, JournalWriteError

JOURNAL = ".fledge-set-aside.jsonl"
FOLDER_SUFFIX = " (set-aside copies)"


@dataclass(frozen=True)
class SetAsideMove:
    src: str                     # where the copy was in the dataset
    dst: str                     # where it is now (or, after undo, where it had been put)
    restored_to: str | None = None
    note: str = ""


class SetAsideStopped(FledgeError):
    """A photo could not be set aside; moves holds those set aside before it (they stay moved)."""

    def __init__(self, message: str, moves: list[SetAsideMove]) -> None:
        super().__init__(message)
        self.moves = moves


def set_aside_folder(root: str) -> str:
    root = os.path.abspath(root)
    return os.path.join(os.path.dirname(root), os.path.basename(root) + FOLDER_SUFFIX)


class SetAside:
    """Move photos out of one dataset folder, journalled; undo puts a whole call's photos back."""

    def __init__(self, root) -> None:
        root = os.path.abspath(os.path.expanduser(os.fspath(root)))
        if not os.path.isdir(root):
            raise FledgeError(f"The dataset folder {root} does not exist.")
        self.root = root
        self.folder = set_aside_folder(root)
        self.journal = FileJournal(os.path.join(root, JOURNAL), prune_root=os.path.dirname(self.folder))
        self._lock = threading.Lock()
        try:
            self.journal.recover()          # finish or roll back what a crash left half-done
        except OSError:
            pass                            # tried again on the next undo

    def _destination(self, src: str) -> str:
        return os.path.join(self.folder, os.path.relpath(src, self.root))

    def set_aside(self, paths: Iterable[str]) -> list[SetAsideMove]:
        """Move each photo (inside the dataset) to the set-aside folder; SetAsideStopped (a
        FledgeError) on the first one that cannot be moved (those before it stay moved, and
        undo_last brings them back)."""
        with self._lock:
            run = None
            done = []
            for path in paths:
                src = os.path.abspath(os.fspath(path))
                if not is_inside(src, self.root):
                    raise SetAsideStopped(f"{src} is not inside {self.root}, so it was left where it was.", done)
                if not os.path.isfile(src):
                    raise SetAsideStopped(f"The photo {src} is no longer there (moved or deleted).", done)
                try:
                    if run is None:
                        run = self.journal.new_run(tool="set-aside")
                    op = self.journal.do(src, self._destination(src), True, run)
                except JournalWriteError as exc:
                    raise SetAsideStopped(f"{exc.strerror}, so {src} was left where it was. Check that disk, "
                                          "then try again.", done) from None
                except OSError as exc:
                    raise SetAsideStopped(f"Could not move {src} to {self.folder} ({describe_os_error(exc)}). "
                                          "The photo was left where it was.", done) from None
                done.append(SetAsideMove(op.src, op.dst))
            return done

    @property
    def can_undo(self) -> bool:
        with self._lock:
            self.journal.reload()
            return bool(self.journal.live_ops())

    def undo_last(self) -> list[SetAsideMove]:
        """Put back every photo of the latest set_aside call still in effect ([] when none)."""
        with self._lock:
            self.journal.reload()
            self.journal.recover()
            live = self.journal.live_ops()
            if not live:
                return []
            run = live[-1].run
            out = []
            for op in reversed([o for o in live if o.run == run]):
                outcome = self.journal.undo_in_words(op)
                where = outcome.path if outcome.result == "restored" else None
                out.append(SetAsideMove(op.src, op.dst, where, outcome.note))
            return out

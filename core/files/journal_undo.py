"""Undoing one journalled copy or move: FileJournal.undo_op (see core.files.journal).

* a moved photo goes back to its old name, or to a free " (n)" name next to it when
  another file has that name now (never over a file);
* a copy is removed only while an identical original still exists; a copy whose
  original is gone (its folder still there) is put back in the original's place;
* when that cannot be decided just now -- the original cannot be read (permissions
  changed) or its folder cannot be reached (a disconnected disk or share) -- Postponed
  is raised and the operation stays in effect, so a later undo finishes it.

Every step is journalled before it is taken, like the sort itself.
"""
from __future__ import annotations

import contextlib
import errno
import os

from core.errors import FledgeError
from core.files.file_transfer import (describe_os_error, file_digest, identity, path_key, remove_file,
                                       transfer, unique_path)
from core.files.journal import DONE, KEPT, MISSING, UNDONE, FileJournal, JournalWriteError, Op, UndoOutcome


class Postponed(OSError):
    """The undo of one photo cannot be done just now; it stays in effect for a later undo."""

    def __init__(self, message: str) -> None:
        super().__init__(errno.EAGAIN, message)


def undo_op(j: FileJournal, op: Op) -> UndoOutcome:
    if op.state != DONE:
        raise ValueError(f"operation {op.id} is {op.state}, not done")
    try:
        os.lstat(op.dst)
    except FileNotFoundError:
        reason = f"not found at {op.dst}: it was moved or deleted after Fledge put it there"
        j.append({"t": MISSING, "op": op.id, "reason": reason})
        return UndoOutcome(op, MISSING, op.dst, reason)
    except OSError as exc:
        raise Postponed(f"{op.dst} could not be looked at ({describe_os_error(exc)})") from None
    if op.kind == "copy":
        return _undo_copy(j, op)
    return _move_back(j, op, op.src, "")


def _undo_copy(j: FileJournal, op: Op) -> UndoOutcome:
    copy_digest = file_digest(op.dst)
    if op.sha256 is not None and copy_digest != (op.size, op.sha256):
        return _keep(j, op, "the copy was changed after Fledge made it, so it was kept")
    try:
        os.stat(op.src)
        there = True
    except FileNotFoundError:
        there = False
    except OSError as exc:
        raise Postponed(f"the original {op.src} could not be looked at ({describe_os_error(exc)}), so its "
                        "copy was left in place for now") from None
    if there:
        try:
            original = file_digest(op.src)
        except OSError as exc:
            raise Postponed(f"the original {op.src} could not be read ({describe_os_error(exc)}), so its "
                            "copy was left in place for now") from None
        if original == copy_digest:
            return _remove_copy(j, op)
        return _keep(j, op, f"the original {op.src} changed after it was copied, so the copy was kept "
                            "as the only copy of the earlier version")
    folder = os.path.dirname(op.src)
    if not os.path.isdir(folder):
        raise Postponed(f"the folder of the original, {folder}, cannot be reached (a disconnected disk or "
                        "share?), so the copy was left in place for now")
    return _move_back(j, op, op.src, "the original was gone, so the copy was put back in its place")


def _keep(j: FileJournal, op: Op, reason: str) -> UndoOutcome:
    j.append({"t": KEPT, "op": op.id, "reason": reason})
    return UndoOutcome(op, KEPT, op.dst, reason)


def _remove_copy(j: FileJournal, op: Op) -> UndoOutcome:
    j.append({"t": "undo-intent", "op": op.id, "action": "delete", "to": None})
    try:
        remove_file(op.dst)
    except OSError:
        with contextlib.suppress(OSError):
            j._recover_undo(op)
        if op.state != UNDONE:
            raise
    else:
        j._record_effect({"t": "undone", "op": op.id, "action": "delete", "to": None})
    j._prune(op)
    return UndoOutcome(op, "removed", op.dst)


def _move_back(j: FileJournal, op: Op, to: str, note: str) -> UndoOutcome:
    reserved = j.reserved()
    if os.path.lexists(to) or path_key(to) in reserved:
        to = unique_path(to, reserved)
        note = note or f"another file now has its old name, so it was restored as {os.path.basename(to)}"
    try:
        j.append({"t": "undo-intent", "op": op.id, "action": "move", "to": to, "ident": identity(op.dst)})
    except JournalWriteError:
        j._phantoms.add(path_key(to))
        raise
    try:
        transfer(op.dst, to, True, op.id + "-undo", before_copy=lambda: j._record_digest(op, "undo-digest"))
    except OSError:
        with contextlib.suppress(OSError):
            j._recover_undo(op)
        if op.state != UNDONE:     # else the disk did it all the same (an error for work done)
            raise
    else:
        j._record_effect({"t": "undone", "op": op.id, "action": "move", "to": to, "note": note})
    j._prune(op)
    return UndoOutcome(op, "restored", to, note)


def undo_in_words(j: FileJournal, op: Op) -> UndoOutcome:
    """j.undo_op(op), a failure said in plain words (FledgeError); the op then stays in effect,
    so a later undo tries again."""
    try:
        return j.undo_op(op)
    except JournalWriteError as exc:
        raise FledgeError(f"{exc.strerror}, so {op.dst} was not put back yet. Check that disk, "
                          "then try again.") from None
    except OSError as exc:
        raise FledgeError(f"Could not put {op.dst} back to {op.src} ({describe_os_error(exc)}). "
                          "Try again.") from None

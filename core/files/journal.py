"""An append-only journal of the copies and moves Fledge makes, with recovery and undo.

Sorting photos into class folders and applying review labels both copy or move a
user's files. Every such operation goes through a FileJournal:

* an "intent" record -- source, destination, the source's identity (device, inode,
  size, time) -- is appended and fsynced *before* the file is touched. An intent that
  could not be made durable (its write or fsync failed) is never acted on:
  NotRecorded is raised and nothing is done for it;
* a copying move first records the source's hash (a "digest" record, also fsynced); the
  copy must match it before the source is deleted;
* a "done" record (size, SHA-256) follows once the file is in place. If that record
  cannot be written the operation still counts as done (the file *was* moved);
  recovery writes the record later;
* the destination name of an operation that may still be unfinished is reserved: no
  other operation gets it, so recovery can never take one photo for another
  (core.files.file_transfer.settle);
* recover() finishes or rolls back what a crash left half-done, judging from the disk;
* undo_op() puts a file back where it was, never over another file (a free name is
  chosen and reported instead), and removes a copy only when an identical original
  still exists; when the original cannot be read just now, the operation stays in
  effect so a later undo finishes it (core.files.journal_undo);
* compact() rewrites the journal as the records of the operations still in effect, so
  it does not grow with every sort and undo (core.files.journal_compact).

The journal is JSON lines (ASCII: any file name, even one that is not UTF-8, is written
as escapes and read back exactly); a torn line (crash while appending) is ignored.
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
import time
from dataclasses import dataclass, field

from core.errors import FledgeError
from core.files import fsops
from core.files.file_transfer import (TransferError, describe_os_error, file_digest, fsync_dir, identity,
                                       is_inside, make_dirs, missing_dirs, part_path, path_key, settle,
                                       transfer, unique_path)
from core.files.locks import dest_lock

__all__ = ["FileJournal", "Op", "UndoOutcome", "JournalWriteError", "NotRecorded", "path_key", "is_inside"]

JOURNAL_VERSION = 2

# Op states. "done" ops are live (can be undone); the finished ones are dropped by compact().
PENDING, DONE, ROLLED_BACK = "pending", "done", "rolled-back"
UNDO_PENDING, UNDONE, KEPT, MISSING = "undo-pending", "undone", "kept", "missing"
FINISHED = frozenset({ROLLED_BACK, UNDONE, KEPT, MISSING})


class JournalWriteError(OSError):
    """A record could not be written to (or synced in) the journal."""


class NotRecorded(JournalWriteError):
    """An intent could not be made durable, so nothing was done for it."""


@dataclass
class Op:
    """One journalled copy or move and what became of it."""
    id: str
    run: str
    kind: str                   # "copy" | "move"
    src: str
    dst: str
    src_size: int | None = None
    src_mtime_ns: int | None = None
    ident: list | None = None        # the source's (device, inode, size, mtime_ns) at the intent
    src_sha: list | None = None      # (size, sha256) of the source, recorded before a copying move
    meta: dict = field(default_factory=dict)
    made_dirs: list[str] = field(default_factory=list)
    state: str = PENDING
    size: int | None = None
    sha256: str | None = None
    undo_action: str | None = None   # "delete" | "move"
    undo_to: str | None = None
    undo_ident: list | None = None   # the placed file's identity when its undo began
    undo_sha: list | None = None
    note: str = ""

    @property
    def part_path(self) -> str:
        return part_path(self.dst, self.id)

    @property
    def undo_part_path(self) -> str:
        return part_path(self.undo_to or self.src, self.id + "-undo")


@dataclass(frozen=True)
class UndoOutcome:
    op: Op
    result: str        # "removed" | "restored" | "kept" | "missing"
    path: str          # where the file is now (restored/kept) or the removed copy
    note: str = ""     # plain words when something unusual happened


class FileJournal:
    """An append-only JSON-lines journal of copies and moves, with recovery and undo.

    prune_root: on undo, folders this journal created under prune_root are removed
    again when they are left empty (None: never remove folders).
    """

    def __init__(self, path: str, prune_root: str | None = None) -> None:
        self.path = os.path.abspath(path)
        self.prune_root = prune_root
        self.ops: dict[str, Op] = {}
        self.runs: list[dict] = []
        self._n = 0
        self._lines = 0
        self._unsure: set[str] = set()        # ops whose latest record could not be written
        self._phantoms: set[str] = set()      # path_keys of intents that could not be made durable
        self._open: set[str] = set()          # ops pending or undo-pending
        self.reload()

    # -- records --------------------------------------------------------------------
    def reload(self) -> None:
        self.ops, self.runs, self._lines = {}, [], 0
        self._unsure, self._phantoms, self._open = set(), set(), set()
        try:
            with open(self.path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return
        except OSError as exc:
            raise FledgeError(f"Fledge could not read its journal {self.path} ({describe_os_error(exc)}). "
                              "Check the folder's permissions.") from None
        for line in data.split(b"\n"):
            if not line.strip():
                continue
            self._lines += 1
            try:
                rec = json.loads(line)
            except ValueError:
                continue        # a line torn by a crash while appending
            if isinstance(rec, dict):
                try:
                    self._apply(rec)
                except (KeyError, TypeError, AttributeError):
                    continue    # a record this version cannot use; the rest still counts

    def _apply(self, rec: dict) -> None:
        t = rec.get("t")
        if t == "run":
            self.runs.append(rec)
            return
        if t == "intent":
            self._open.add(rec["op"])
            self.ops[rec["op"]] = Op(
                id=rec["op"], run=rec.get("run", ""), kind=rec["kind"], src=rec["src"], dst=rec["dst"],
                src_size=rec.get("src_size"), src_mtime_ns=rec.get("src_mtime_ns"), ident=rec.get("ident"),
                meta=rec.get("meta") or {}, made_dirs=rec.get("made_dirs") or [])
            return
        op = self.ops.get(rec.get("op", ""))
        if op is not None:
            _apply_to_op(op, t, rec)
            if op.state in (PENDING, UNDO_PENDING):
                self._open.add(op.id)
            else:
                self._open.discard(op.id)

    def append(self, rec: dict, sync: bool = True) -> None:
        """Write one record; with sync, fsync it (and every record before it) before returning.

        Raises JournalWriteError (an OSError) when the record could not be written or
        synced; the record then does not count. "done"/"undone" records are written
        without a sync (see _record_effect): a crash that loses one is caught up by recover().
        """
        line = (json.dumps(rec) + "\n").encode("ascii")
        try:
            self._write(line, sync)
        except OSError as exc:
            raise JournalWriteError(exc.errno, f"Fledge could not write to its journal {self.path} "
                                    f"({describe_os_error(exc)})", self.path) from exc
        self._lines += 1
        self._apply(rec)

    def _write(self, line: bytes, sync: bool) -> None:
        folder = os.path.dirname(self.path)
        new = not os.path.exists(self.path)
        if new:
            make_dirs(folder)
        fd = fsops.open_fd(self.path, fsops.APPEND)
        try:
            end = os.lseek(fd, 0, os.SEEK_END)
            if end > 0:
                os.lseek(fd, end - 1, os.SEEK_SET)
                if os.read(fd, 1) != b"\n":
                    line = b"\n" + line     # isolate a torn line left by a crash
            fsops.write(fd, line)           # O_APPEND: always at the end
            if sync:
                fsops.fsync(fd)
        finally:
            fsops.close(fd)
        if new:
            fsync_dir(folder)

    def _record_effect(self, rec: dict) -> None:
        """Write a record of something that has already happened on disk ("done", "undone").
        If it cannot be written, it counts all the same in memory; the op's names stay
        reserved and recover() (or compact()) writes the truth later."""
        try:
            self.append(rec, sync=False)
        except JournalWriteError:
            self._apply(rec)
            self._unsure.add(rec["op"])

    # -- locking ----------------------------------------------------------------------
    def locked(self):
        """Hold an exclusive lock so two Fledge processes never work in one folder at once."""
        return dest_lock(self.path)

    # -- queries ----------------------------------------------------------------------
    def live_ops(self) -> list[Op]:
        """Operations that are in effect (can be undone), oldest first."""
        return [op for op in self.ops.values() if op.state == DONE]

    def live_sources(self) -> dict[str, Op]:
        """path_key(source) -> the live op that took it."""
        return {path_key(op.src): op for op in self.live_ops()}

    def reserved(self) -> set[str]:
        """path_keys no new operation may use: where an unfinished operation may still put a file."""
        out = set(self._phantoms)
        for op in (self.ops[i] for i in self._open | self._unsure if i in self.ops):
            if op.state == PENDING or op.id in self._unsure:
                out.add(path_key(op.dst))
            if (op.state == UNDO_PENDING or op.id in self._unsure) and op.undo_to:
                out.add(path_key(op.undo_to))
        return out

    def run_folders(self) -> list[str]:
        """The source folders of the runs with operations in effect or unfinished."""
        runs = {op.run for op in self.ops.values() if op.state not in FINISHED}
        out = {r["folder"] for r in self.runs if r.get("run") in runs and r.get("folder")}
        for op in self.ops.values():
            if op.state not in FINISHED and not any(r.get("run") == op.run and r.get("folder") for r in self.runs):
                out.add(os.path.dirname(op.src))
        return sorted(out)

    def new_run(self, **info) -> str:
        """Record the start of a run; JournalWriteError when the journal cannot be written."""
        run = time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)
        self.append({"t": "run", "v": JOURNAL_VERSION, "run": run, "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
                     **info})
        return run

    def _next_id(self, run: str) -> str:
        self._n += 1
        op_id = f"{run}-{self._n}"
        while op_id in self.ops:
            self._n += 1
            op_id = f"{run}-{self._n}"
        return op_id

    # -- doing ------------------------------------------------------------------------
    def do(self, src: str, dst: str, move: bool, run: str, meta: dict | None = None) -> Op:
        """Copy/move src to dst (or a free variant of it), journalled.

        Raises NotRecorded (nothing was done) when the intent could not be made durable,
        JournalWriteError when a later record failed before the file was touched, or
        another OSError when the transfer failed (the op is then rolled back, or rarely
        found done). A "done" record that cannot be written does not raise: the file was
        moved, and the next write to the journal will fail and say so.
        """
        src = os.path.abspath(src)
        dst = unique_path(os.path.abspath(dst), self.reserved())
        st = os.stat(src)
        if move and os.path.islink(src):
            raise TransferError(errno.EINVAL, "it is a link to a file elsewhere, so it was left alone", src)
        if any(path_key(self.ops[i].src) == path_key(src) for i in self._open if i in self.ops):
            # A crash left an operation on this photo half-done and it could not be settled
            # yet: starting another would give it two places.
            raise TransferError(errno.EBUSY, "an interrupted earlier copy or move of this photo could not be "
                                "finished yet; it will be on the next run", src)
        op_id = self._next_id(run)
        try:
            self.append({"t": "intent", "op": op_id, "run": run, "kind": "move" if move else "copy",
                         "src": src, "dst": dst, "src_size": st.st_size, "src_mtime_ns": st.st_mtime_ns,
                         "ident": identity(src), "meta": meta or {},
                         "made_dirs": missing_dirs(os.path.dirname(dst))})
        except JournalWriteError as exc:
            self._phantoms.add(path_key(dst))     # it may be on disk all the same: keep its name free
            raise NotRecorded(exc.errno, exc.strerror, self.path) from None
        op = self.ops[op_id]
        try:
            size, digest = transfer(src, dst, move, op_id, before_copy=lambda: self._record_digest(op, "digest"))
        except OSError as exc:
            with contextlib.suppress(OSError):
                self._recover_forward(op, reason=describe_os_error(exc))
            if op.state == DONE:       # the disk did it all the same (an error for work done)
                return op
            raise
        self._record_effect({"t": "done", "op": op_id, "size": size, "sha256": digest})
        return op

    def _record_digest(self, op: Op, kind: str) -> tuple[int, str]:
        """Hash the file about to be copied and moved, durably, before the copy starts."""
        path = op.src if kind == "digest" else op.dst
        size, sha = file_digest(path)
        self.append({"t": kind, "op": op.id, "size": size, "sha256": sha})
        return size, sha

    # -- recovery ---------------------------------------------------------------------
    def recover(self) -> list[str]:
        """Finish or roll back operations a crash left half-done; one message per op."""
        messages = []
        claims = self._claims()
        for op in list(self.ops.values()):
            try:
                if op.state == PENDING:
                    messages.append(self._recover_forward(op, claims=claims))
                elif op.state == UNDO_PENDING:
                    messages.append(self._recover_undo(op))
            except OSError as exc:
                messages.append(f"Could not finish an interrupted operation on {op.src}: "
                                f"{describe_os_error(exc)}. It will be tried again next time.")
        return [m for m in messages if m]

    def _claims(self) -> dict[str, str]:
        """path_key(destination) -> the id of the latest operation that chose it."""
        return {path_key(op.dst): op.id for op in self.ops.values()}

    def _recover_forward(self, op: Op, reason: str = "", claims: dict | None = None) -> str:
        verb = "move" if op.kind == "move" else "copy"
        claims = self._claims() if claims is None else claims
        if claims.get(path_key(op.dst), op.id) != op.id:
            # A later operation chose this name, so it was free then: this one never put
            # a file there, whatever is there now belongs to the other.
            if os.path.lexists(op.part_path) and os.path.lexists(op.src):
                fsops.unlink(op.part_path)
            result = "its destination name was used by a later operation, so it had not been done"
        else:
            result = settle(op.src, op.dst, op.part_path, op.kind == "move", op.ident, op.src_sha)
        if result == "done":
            size, digest = file_digest(op.dst)
            self.append({"t": "done", "op": op.id, "size": size, "sha256": digest})
            return f"Finished an interrupted {verb}: {op.src} -> {op.dst}"
        why = reason or result
        self.append({"t": "rollback", "op": op.id, "reason": why})
        self._prune(op)
        if reason:
            return ""
        return f"Rolled back an interrupted {verb} of {op.src} ({result})"

    def _recover_undo(self, op: Op) -> str:
        if op.undo_action == "delete":
            if not os.path.lexists(op.dst):
                self.append({"t": "undone", "op": op.id, "action": "delete", "to": None})
                return f"Finished removing the copy {op.dst}"
            self.append({"t": "undo-rollback", "op": op.id})
            return ""
        result = settle(op.dst, op.undo_to, op.undo_part_path, True, op.undo_ident, op.undo_sha)
        if result == "done":
            self.append({"t": "undone", "op": op.id, "action": "move", "to": op.undo_to})
            return f"Finished putting back {op.undo_to}"
        self.append({"t": "undo-rollback", "op": op.id})
        return ""

    # -- undo -------------------------------------------------------------------------
    def undo_op(self, op: Op) -> UndoOutcome:
        """Put one live op's file back. Raises OSError when it cannot be done now (the op then
        stays in effect, so a later undo tries again)."""
        from core.files.journal_undo import undo_op

        return undo_op(self, op)

    def _prune(self, op: Op) -> None:
        """Remove folders this op created, if they are empty now."""
        if self.prune_root is None:
            return
        for d in reversed(op.made_dirs):
            if not is_inside(d, self.prune_root) or path_key(d) == path_key(self.prune_root):
                continue
            try:
                fsops.rmdir(d)            # only succeeds when empty
            except OSError:
                break

    # -- compaction -------------------------------------------------------------------
    def compact(self) -> bool:
        """Rewrite the journal as the records of the operations not finished with (and their
        runs), atomically; finished operations are forgotten, in memory too. False when there
        was nothing to gain or it could not be written (the journal is then left as it was)."""
        from core.files.journal_compact import compact

        return compact(self)


def _apply_to_op(op: Op, t: str, rec: dict) -> None:
    if t == "done":
        op.state, op.size, op.sha256 = DONE, rec.get("size"), rec.get("sha256")
    elif t == "digest":
        op.src_sha = [rec["size"], rec["sha256"]]
    elif t == "rollback":
        op.state, op.note = ROLLED_BACK, rec.get("reason", "")
    elif t == "undo-intent":
        op.state, op.undo_action, op.undo_to = UNDO_PENDING, rec["action"], rec.get("to")
        op.undo_ident, op.undo_sha = rec.get("ident"), None
    elif t == "undo-digest":
        op.undo_sha = [rec["size"], rec["sha256"]]
    elif t == "undone":
        op.state, op.note = UNDONE, rec.get("note", "")
        op.undo_to = rec.get("to", op.undo_to)
    elif t == "undo-rollback":
        op.state = DONE
    elif t in (KEPT, MISSING):
        op.state, op.note = t, rec.get("reason", "")

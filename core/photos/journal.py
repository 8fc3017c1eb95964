"""An append-only journal of the copies and moves Fledge makes, with recovery and undo.

Sorting photos into class folders and applying review labels both copy or move a
user's files. Every such operation goes through a FileJournal:

* an "intent" record (source, destination) is appended and fsynced *before* the file
  is touched (core.photos.file_transfer does the copying), and a "done" record
  (size, SHA-256) after it is in place;
* an operation left half-done by a crash is finished or rolled back by recover(),
  judging from what is actually on disk;
* undo_op() puts a file back where it was, never over another file (a free name is
  chosen and reported instead), and removes a copy only when an identical original
  still exists.

The journal is JSON lines; a torn last line (crash while appending) is ignored.
"""
from __future__ import annotations

import contextlib
import json
import os
import secrets
import time
from dataclasses import dataclass, field

from core.errors import FledgeError
from core.photos.file_transfer import (describe_os_error, digest_or_none, file_digest, fsync_dir,
                                       is_inside, missing_dirs, part_path, path_key, remove_file,
                                       settle, transfer, unique_path)

JOURNAL_VERSION = 1

# Op states. "done" ops are live (can be undone); the others are finished with.
PENDING, DONE, ROLLED_BACK = "pending", "done", "rolled-back"
UNDO_PENDING, UNDONE, KEPT, MISSING = "undo-pending", "undone", "kept", "missing"


# -- operations -------------------------------------------------------------------------

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
    meta: dict = field(default_factory=dict)
    made_dirs: list[str] = field(default_factory=list)
    state: str = PENDING
    size: int | None = None
    sha256: str | None = None
    undo_action: str | None = None   # "delete" | "move"
    undo_to: str | None = None
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
        self.reload()

    # -- records --------------------------------------------------------------------
    def reload(self) -> None:
        self.ops = {}
        self.runs = []
        try:
            with open(self.path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return
        except OSError as exc:
            raise FledgeError(f"Fledge could not read its journal {self.path} ({exc.strerror}). "
                              "Check the folder's permissions.") from None
        for line in data.split(b"\n"):
            if not line.strip():
                continue
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
        op = self.ops.get(rec.get("op", ""))
        if t == "intent":
            self.ops[rec["op"]] = Op(
                id=rec["op"], run=rec.get("run", ""), kind=rec["kind"], src=rec["src"], dst=rec["dst"],
                src_size=rec.get("src_size"), src_mtime_ns=rec.get("src_mtime_ns"),
                meta=rec.get("meta") or {}, made_dirs=rec.get("made_dirs") or [])
            return
        if op is None:
            return
        if t == "done":
            op.state, op.size, op.sha256 = DONE, rec.get("size"), rec.get("sha256")
        elif t == "rollback":
            op.state, op.note = ROLLED_BACK, rec.get("reason", "")
        elif t == "undo-intent":
            op.state, op.undo_action, op.undo_to = UNDO_PENDING, rec["action"], rec.get("to")
        elif t == "undone":
            op.state, op.note = UNDONE, rec.get("note", "")
            op.undo_to = rec.get("to", op.undo_to)
        elif t == "undo-rollback":
            op.state = DONE
        elif t in (KEPT, MISSING):
            op.state, op.note = t, rec.get("reason", "")

    def append(self, rec: dict, sync: bool = True) -> None:
        """Write one record; with sync, fsync it (and every record before it) before returning.

        "done"/"undone" records skip the fsync: if a crash loses one, recover() sees the
        file already in place and records it again. The next synced record makes them durable.
        """
        folder = os.path.dirname(self.path)
        new = not os.path.exists(self.path)
        if new:
            os.makedirs(folder, exist_ok=True)
        line = (json.dumps(rec) + "\n").encode("utf-8")
        with open(self.path, "a+b") as f:
            if f.seek(0, os.SEEK_END) > 0:
                f.seek(-1, os.SEEK_END)
                if f.read(1) != b"\n":
                    line = b"\n" + line     # isolate a torn line left by a crash
            f.write(line)              # append mode: always at the end
            f.flush()
            if sync:
                os.fsync(f.fileno())
        if new:
            fsync_dir(folder)
        self._apply(rec)

    # -- locking ----------------------------------------------------------------------
    @contextlib.contextmanager
    def locked(self):
        """Hold an exclusive lock so two Fledge processes never work in one folder at once."""
        try:
            import fcntl
        except ImportError:      # Windows: no advisory locks; one process at a time is documented
            yield
            return
        lock_path = self.path + ".lock"
        os.makedirs(os.path.dirname(lock_path), exist_ok=True)
        f = open(lock_path, "a")
        try:
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                raise FledgeError(f"Another Fledge process is working in {os.path.dirname(self.path)} "
                                  "right now. Wait until it has finished, then try again.") from None
            yield
        finally:
            f.close()

    # -- queries ----------------------------------------------------------------------
    def live_ops(self) -> list[Op]:
        """Operations that are in effect (can be undone), oldest first."""
        return [op for op in self.ops.values() if op.state == DONE]

    def live_sources(self) -> dict[str, Op]:
        """path_key(source) -> the live op that took it."""
        return {path_key(op.src): op for op in self.live_ops()}

    def new_run(self, **info) -> str:
        run = time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)
        self.append({"t": "run", "v": JOURNAL_VERSION, "run": run, "time": time.strftime("%Y-%m-%dT%H:%M:%S"), **info})
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
        """Copy/move src to dst (or a free variant of it), journalled. Raises OSError on failure
        after recording what is on disk (the op then ends up rolled back or, rarely, done)."""
        src = os.path.abspath(src)
        dst = unique_path(os.path.abspath(dst))
        st = os.stat(src)
        op_id = self._next_id(run)
        self.append({"t": "intent", "op": op_id, "run": run, "kind": "move" if move else "copy",
                     "src": src, "dst": dst, "src_size": st.st_size, "src_mtime_ns": st.st_mtime_ns,
                     "meta": meta or {}, "made_dirs": missing_dirs(os.path.dirname(dst))})
        op = self.ops[op_id]
        try:
            size, digest = transfer(src, dst, move, op_id)
        except OSError as exc:
            with contextlib.suppress(OSError):
                self._recover_forward(op, reason=describe_os_error(exc))
            raise
        self.append({"t": "done", "op": op_id, "size": size, "sha256": digest}, sync=False)
        return op

    # -- recovery ---------------------------------------------------------------------
    def recover(self) -> list[str]:
        """Finish or roll back operations a crash left half-done; one message per op."""
        messages = []
        for op in list(self.ops.values()):
            try:
                if op.state == PENDING:
                    messages.append(self._recover_forward(op))
                elif op.state == UNDO_PENDING:
                    messages.append(self._recover_undo(op))
            except OSError as exc:
                messages.append(f"Could not finish an interrupted operation on {op.src}: "
                                f"{describe_os_error(exc)}. It will be tried again next time.")
        return [m for m in messages if m]

    def _recover_forward(self, op: Op, reason: str = "") -> str:
        verb = "move" if op.kind == "move" else "copy"
        original = (op.src_size, op.src_mtime_ns) if op.src_size is not None else None
        result = settle(op.src, op.dst, op.part_path, op.kind == "move", original)
        if result == "done":
            size, digest = file_digest(op.dst)
            self.append({"t": "done", "op": op.id, "size": size, "sha256": digest})
            return f"Finished an interrupted {verb}: {op.src} -> {op.dst}"
        why = reason or result
        self.append({"t": "rollback", "op": op.id, "reason": why})
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
        result = settle(op.dst, op.undo_to, op.undo_part_path, True)
        if result == "done":
            self.append({"t": "undone", "op": op.id, "action": "move", "to": op.undo_to})
            return f"Finished putting back {op.undo_to}"
        self.append({"t": "undo-rollback", "op": op.id})
        return ""

    # -- undo -------------------------------------------------------------------------
    def undo_op(self, op: Op) -> UndoOutcome:
        """Put one live op's file back. Raises OSError if the file system refuses."""
        if op.state != DONE:
            raise ValueError(f"operation {op.id} is {op.state}, not done")
        if not os.path.lexists(op.dst):
            reason = f"not found at {op.dst}: it was moved or deleted after Fledge put it there"
            self.append({"t": MISSING, "op": op.id, "reason": reason})
            return UndoOutcome(op, MISSING, op.dst, reason)
        if op.kind == "copy":
            copy_digest = file_digest(op.dst)
            if op.sha256 is not None and copy_digest != (op.size, op.sha256):
                reason = "the copy was changed after Fledge made it, so it was kept"
                self.append({"t": KEPT, "op": op.id, "reason": reason})
                return UndoOutcome(op, KEPT, op.dst, reason)
            if os.path.lexists(op.src):
                if digest_or_none(op.src) == copy_digest:
                    self.append({"t": "undo-intent", "op": op.id, "action": "delete", "to": None})
                    remove_file(op.dst)
                    self.append({"t": "undone", "op": op.id, "action": "delete", "to": None}, sync=False)
                    self._prune(op)
                    return UndoOutcome(op, "removed", op.dst)
                reason = (f"the original {op.src} changed after it was copied, so the copy was kept "
                          "as the only copy of the earlier version")
                self.append({"t": KEPT, "op": op.id, "reason": reason})
                return UndoOutcome(op, KEPT, op.dst, reason)
            note = "the original was gone, so the copy was put back in its place"
            return self._move_back(op, op.src, note)
        to = op.src
        note = ""
        if os.path.lexists(to):
            to = unique_path(to)
            note = f"another file now has its old name, so it was restored as {os.path.basename(to)}"
        return self._move_back(op, to, note)

    def _move_back(self, op: Op, to: str, note: str) -> UndoOutcome:
        if os.path.lexists(to):
            to = unique_path(to)
        self.append({"t": "undo-intent", "op": op.id, "action": "move", "to": to})
        try:
            transfer(op.dst, to, True, op.id + "-undo")
        except OSError:
            with contextlib.suppress(OSError):
                self._recover_undo(op)
            raise
        self.append({"t": "undone", "op": op.id, "action": "move", "to": to, "note": note}, sync=False)
        self._prune(op)
        return UndoOutcome(op, "restored", to, note)

    def _prune(self, op: Op) -> None:
        """Remove folders this op created, if they are empty now."""
        if self.prune_root is None:
            return
        for d in reversed(op.made_dirs):
            if not is_inside(d, self.prune_root) or path_key(d) == path_key(self.prune_root):
                continue
            try:
                os.rmdir(d)            # only succeeds when empty
            except OSError:
                break

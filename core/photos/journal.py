"""Crash-safe, undoable file transfers recorded in an append-only journal.

Sorting photos into class folders and applying review labels both copy or move a
user's files. Every such operation goes through a FileJournal:

* an "intent" record (source, destination) is appended and fsynced *before* the file
  is touched, and a "done" record (size, SHA-256) after it is in place;
* copies are written to a hidden part file next to the destination, fsynced, then put
  in place without ever replacing an existing file (hard link, or rename after a
  check where links are not supported);
* a move on one file system is a link + unlink (or rename); across file systems it is
  copy, verify size + hash of the placed file, then delete the source;
* an operation left half-done by a crash is finished or rolled back by recover(),
  judging from what is actually on disk -- at every step at least one complete copy
  of the photo exists;
* undo_op() puts a file back where it was, never over another file (a free name is
  chosen and reported instead), and removes a copy only when an identical original
  still exists.

The journal is JSON lines; a torn last line (crash while appending) is ignored.
File-system primitives are module-level functions (_copy_data, _link, _rename,
_unlink) so tests can simulate a crash at any point.
"""
from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import secrets
import shutil
import time
from dataclasses import dataclass, field

from core.errors import FledgeError

PART_PREFIX = ".fledge-part-"
JOURNAL_VERSION = 1
_CHUNK = 1 << 20

# Op states. "done" ops are live (can be undone); the others are finished with.
PENDING, DONE, ROLLED_BACK = "pending", "done", "rolled-back"
UNDO_PENDING, UNDONE, KEPT, MISSING = "undo-pending", "undone", "kept", "missing"


class TransferError(OSError):
    """A placed copy did not match its source; the source was left alone."""


# -- file-system primitives (patched by tests to simulate crashes) ----------------------

def _copy_data(src: str, tmp: str) -> tuple[int, str]:
    """Copy src's bytes to the new file tmp, fsync it; return (size, sha256)."""
    h = hashlib.sha256()
    size = 0
    with open(src, "rb") as fin, open(tmp, "xb") as fout:
        while True:
            chunk = fin.read(_CHUNK)
            if not chunk:
                break
            h.update(chunk)
            fout.write(chunk)
            size += len(chunk)
        fout.flush()
        os.fsync(fout.fileno())
    with contextlib.suppress(OSError):
        shutil.copystat(src, tmp)      # keep the photo's dates
    return size, h.hexdigest()


def _link(src: str, dst: str) -> None:
    os.link(src, dst)


def _rename(src: str, dst: str) -> None:
    os.rename(src, dst)


def _unlink(path: str) -> None:
    os.unlink(path)


def _same_device(path: str, folder: str) -> bool:
    try:
        return os.stat(path).st_dev == os.stat(folder).st_dev
    except OSError:
        return False


def file_digest(path: str) -> tuple[int, str]:
    """(size, sha256 hex) of a file."""
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while True:
            chunk = f.read(_CHUNK)
            if not chunk:
                break
            h.update(chunk)
            size += len(chunk)
    return size, h.hexdigest()


def _fsync_dir(folder: str) -> None:
    """Make a rename/new name in folder durable (POSIX; a no-op where unsupported)."""
    if os.name != "posix":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _same_content(a: str, b: str) -> bool:
    try:
        if os.path.getsize(a) != os.path.getsize(b):
            return False
        return file_digest(a) == file_digest(b)
    except OSError:
        return False


def _digest_or_none(path: str) -> tuple[int, str] | None:
    try:
        return file_digest(path)
    except OSError:
        return None


def _place(tmp_or_src: str, dst: str) -> None:
    """Give the file a new name dst without ever replacing an existing file."""
    try:
        _link(tmp_or_src, dst)       # fails with FileExistsError if dst exists
    except FileExistsError:
        raise
    except OSError:
        # No hard links here (FAT/exFAT cards, some network shares): check, then rename.
        if os.path.lexists(dst):
            raise FileExistsError(errno.EEXIST, "a file with this name already exists", dst) from None
        _rename(tmp_or_src, dst)
        return
    _unlink(tmp_or_src)


def unique_path(path: str) -> str:
    """path itself if free, else 'name (2).ext', 'name (3).ext', ... (first free)."""
    if not os.path.lexists(path):
        return path
    folder, base = os.path.split(path)
    stem, ext = os.path.splitext(base)
    m = re.fullmatch(r"(.*) \((\d+)\)", stem)
    n = 2
    if m:
        stem, n = m.group(1), int(m.group(2)) + 1
    while True:
        candidate = os.path.join(folder, f"{stem} ({n}){ext}")
        if not os.path.lexists(candidate):
            return candidate
        n += 1


def _missing_dirs(folder: str) -> list[str]:
    """The folders makedirs(folder) would create, outermost first."""
    out = []
    d = os.path.abspath(folder)
    while not os.path.isdir(d):
        out.append(d)
        parent = os.path.dirname(d)
        if parent == d:
            break
        d = parent
    return out[::-1]


def path_key(path: str) -> str:
    return os.path.normcase(os.path.abspath(path))


def is_inside(path: str, folder: str) -> bool:
    p, f = path_key(path), path_key(folder)
    return p == f or p.startswith(f.rstrip(os.sep) + os.sep)


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
        return _part_path(self.dst, self.id)

    @property
    def undo_part_path(self) -> str:
        return _part_path(self.undo_to or self.src, self.id + "-undo")


def _part_path(dst: str, op_id: str) -> str:
    return os.path.join(os.path.dirname(dst), f"{PART_PREFIX}{op_id}{os.path.splitext(dst)[1]}")


@dataclass(frozen=True)
class UndoOutcome:
    op: Op
    result: str        # "removed" | "restored" | "kept" | "missing"
    path: str          # where the file is now (restored/kept) or the removed copy
    note: str = ""     # plain words when something unusual happened


def transfer(src: str, dst: str, move: bool, op_id: str) -> tuple[int, str | None]:
    """Copy or move src to the free name dst; return (size, sha256 or None).

    On an OSError the file system is put back as it was before (best effort) and the
    error re-raised; the caller's recover() then judges from the disk.
    """
    folder = os.path.dirname(dst)
    os.makedirs(folder, exist_ok=True)
    if move and _same_device(src, folder):
        size = os.path.getsize(src)
        try:
            _place(src, dst)
        except OSError:
            # A link was made but the original could not be removed: take the link back.
            with contextlib.suppress(OSError):
                if os.path.exists(src) and os.path.exists(dst) and os.path.samefile(src, dst):
                    _unlink(dst)
            raise
        _fsync_dir(folder)
        return size, None
    tmp = _part_path(dst, op_id)
    try:
        size, digest = _copy_data(src, tmp)
        _place(tmp, dst)
    except OSError:
        with contextlib.suppress(OSError):
            if os.path.lexists(tmp):
                _unlink(tmp)
        raise
    _fsync_dir(folder)
    if move:
        try:
            if file_digest(dst) != (size, digest):
                raise TransferError(errno.EIO, "the copy did not match the original (size or hash); "
                                    "the original was left in place", dst)
            _unlink(src)
        except OSError:
            with contextlib.suppress(OSError):
                if os.path.exists(src):
                    _unlink(dst)   # the original is still whole; drop the copy
            raise
    return size, digest


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
            _fsync_dir(folder)
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
                     "meta": meta or {}, "made_dirs": _missing_dirs(os.path.dirname(dst))})
        op = self.ops[op_id]
        try:
            size, digest = transfer(src, dst, move, op_id)
        except OSError as exc:
            with contextlib.suppress(OSError):
                self._recover_forward(op, reason=_describe(exc))
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
                                f"{_describe(exc)}. It will be tried again next time.")
        return [m for m in messages if m]

    def _recover_forward(self, op: Op, reason: str = "") -> str:
        verb = "move" if op.kind == "move" else "copy"
        original = (op.src_size, op.src_mtime_ns) if op.src_size is not None else None
        result = _settle(op.src, op.dst, op.part_path, op.kind == "move", original)
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
        result = _settle(op.dst, op.undo_to, op.undo_part_path, True)
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
                if _digest_or_none(op.src) == copy_digest:
                    self.append({"t": "undo-intent", "op": op.id, "action": "delete", "to": None})
                    _unlink(op.dst)
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


def _settle(a: str, b: str, part: str, move: bool, original: tuple | None = None) -> str:
    """Judge a half-done transfer a -> b from the disk and finish it safely.

    original: (size, mtime_ns) the source had when the intent was written, if known.
    Returns "done" when b now holds the file (and, for a move, a is gone), else a
    plain reason why it was rolled back. Never deletes the only copy of anything.
    """
    a_there, b_there = os.path.lexists(a), os.path.lexists(b)
    if os.path.lexists(part) and a_there:
        _unlink(part)                       # a partial copy; the original is whole
    if a_there and b_there:
        if _same_content(a, b):
            if move:
                _unlink(a)
            return "done"
        if original is not None and _stat_key(a) != tuple(original):
            # The source is not the file the intent saw: ours was moved (or the original
            # edited) and something new took its name. b, placed only after a full,
            # fsynced (and for moves verified) copy, is ours; a is left alone.
            return "done"
        return "a different file is at the destination; both were left alone"
    if b_there:
        return "done"
    if a_there:
        return "nothing had changed yet"
    if os.path.lexists(part):
        return f"the file was not found, but a copy of it was kept at {part}"
    return "the file was no longer there"


def _stat_key(path: str) -> tuple | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns)


def _describe(exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return "the disk is full"
    if isinstance(exc, PermissionError):
        return "permission denied"
    return exc.strerror or str(exc)

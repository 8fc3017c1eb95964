"""FileJournal: the append-only journal of the copies and moves Fledge makes, with recovery,
undo and compaction (the rules are in core.files.journal's overview).

Its records, and the Op each describes, are core.files.journal.records.
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
import time

from core.errors import FledgeError
from core.files import fsops
from core.files.file_transfer import (TransferError, describe_os_error, file_digest, fsync_dir, identity,
                                       make_dirs, missing_dirs, path_key, remove_file, settle, transfer,
                                       unique_path, is_inside)
from core.files.journal.records import (DONE, FINISHED, JOURNAL_VERSION, KEPT, MISSING, OPEN, PENDING,
                                        UNDO_PENDING, UNDONE, Op, UndoOutcome, apply_record, op_from_intent,
                                        op_records)
from core.files.locks import dest_lock


class JournalWriteError(OSError):
    """A record could not be written to (or synced in) the journal."""


class NotRecorded(JournalWriteError):
    """An intent could not be made durable, so nothing was done for it."""


class Postponed(OSError):
    """The undo of one photo cannot be done just now; it stays in effect for a later undo."""

    def __init__(self, message: str) -> None:
        super().__init__(errno.EAGAIN, message)


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
            self.ops[rec["op"]] = op_from_intent(rec)
            return
        op = self.ops.get(rec.get("op", ""))
        if op is not None:
            apply_record(op, t, rec)
            if op.state in OPEN:
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
    # * a moved photo goes back to its old name, or to a free " (n)" name next to it when
    #   another file has that name now (never over a file);
    # * a copy is removed only while an identical original still exists; a copy whose
    #   original is gone (its folder still there) is put back in the original's place;
    # * when that cannot be decided just now -- the original cannot be read (permissions
    #   changed) or its folder cannot be reached (a disconnected disk or share) -- Postponed
    #   is raised and the operation stays in effect, so a later undo finishes it.
    # Every step is journalled before it is taken, like the operation itself.
    def undo_op(self, op: Op) -> UndoOutcome:
        """Put one live op's file back. Raises OSError when it cannot be done now (the op then
        stays in effect, so a later undo tries again)."""
        if op.state != DONE:
            raise ValueError(f"operation {op.id} is {op.state}, not done")
        try:
            os.lstat(op.dst)
        except FileNotFoundError:
            reason = f"not found at {op.dst}: it was moved or deleted after Fledge put it there"
            self.append({"t": MISSING, "op": op.id, "reason": reason})
            return UndoOutcome(op, MISSING, op.dst, reason)
        except OSError as exc:
            raise Postponed(f"{op.dst} could not be looked at ({describe_os_error(exc)})") from None
        if op.kind == "copy":
            return self._undo_copy(op)
        return self._move_back(op, op.src, "")

    def undo_in_words(self, op: Op) -> UndoOutcome:
        """undo_op(op), a failure said in plain words (FledgeError); the op then stays in effect,
        so a later undo tries again."""
        try:
            return self.undo_op(op)
        except JournalWriteError as exc:
            raise FledgeError(f"{exc.strerror}, so {op.dst} was not put back yet. Check that disk, "
                              "then try again.") from None
        except OSError as exc:
            raise FledgeError(f"Could not put {op.dst} back to {op.src} ({describe_os_error(exc)}). "
                              "Try again.") from None

    def _undo_copy(self, op: Op) -> UndoOutcome:
        copy_digest = file_digest(op.dst)
        if op.sha256 is not None and copy_digest != (op.size, op.sha256):
            return self._keep(op, "the copy was changed after Fledge made it, so it was kept")
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
                return self._remove_copy(op)
            return self._keep(op, f"the original {op.src} changed after it was copied, so the copy was kept "
                                  "as the only copy of the earlier version")
        folder = os.path.dirname(op.src)
        if not os.path.isdir(folder):
            raise Postponed(f"the folder of the original, {folder}, cannot be reached (a disconnected disk or "
                            "share?), so the copy was left in place for now")
        return self._move_back(op, op.src, "the original was gone, so the copy was put back in its place")

    def _keep(self, op: Op, reason: str) -> UndoOutcome:
        self.append({"t": KEPT, "op": op.id, "reason": reason})
        return UndoOutcome(op, KEPT, op.dst, reason)

    def _remove_copy(self, op: Op) -> UndoOutcome:
        self.append({"t": "undo-intent", "op": op.id, "action": "delete", "to": None})
        try:
            remove_file(op.dst)
        except OSError:
            with contextlib.suppress(OSError):
                self._recover_undo(op)
            if op.state != UNDONE:
                raise
        else:
            self._record_effect({"t": "undone", "op": op.id, "action": "delete", "to": None})
        self._prune(op)
        return UndoOutcome(op, "removed", op.dst)

    def _move_back(self, op: Op, to: str, note: str) -> UndoOutcome:
        reserved = self.reserved()
        if os.path.lexists(to) or path_key(to) in reserved:
            to = unique_path(to, reserved)
            note = note or f"another file now has its old name, so it was restored as {os.path.basename(to)}"
        try:
            self.append({"t": "undo-intent", "op": op.id, "action": "move", "to": to, "ident": identity(op.dst)})
        except JournalWriteError:
            self._phantoms.add(path_key(to))
            raise
        try:
            transfer(op.dst, to, True, op.id + "-undo", before_copy=lambda: self._record_digest(op, "undo-digest"))
        except OSError:
            with contextlib.suppress(OSError):
                self._recover_undo(op)
            if op.state != UNDONE:     # else the disk did it all the same (an error for work done)
                raise
        else:
            self._record_effect({"t": "undone", "op": op.id, "action": "move", "to": to, "note": note})
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
                fsops.rmdir(d)            # only succeeds when empty
            except OSError:
                break

    # -- compaction -------------------------------------------------------------------
    def compact(self) -> bool:
        """Rewrite the journal as the records of the operations not finished with (and their
        runs), atomically; finished operations are forgotten, in memory too. False when there
        was nothing to gain or it could not be written (the journal is then left as it was).

        The journal does not grow with every sort and undo this way (a fully undone destination
        ends with an empty journal). The rewrite is a hidden .compact.tmp next to the journal,
        fsynced, then renamed over it; if any step fails the old journal stays, which says the same.
        """
        keep = [op for op in self.ops.values() if op.state not in FINISHED]
        runs_needed = {op.run for op in keep}
        runs = [r for r in self.runs if r.get("run") in runs_needed]
        lines = [json.dumps(r) for r in runs] + [json.dumps(rec) for op in keep for rec in op_records(op)]
        if len(lines) >= self._lines and not (self._unsure or self._phantoms):
            return False
        try:
            self._replace("".join(line + "\n" for line in lines).encode("ascii"))
        except OSError:
            return False
        self.ops = {op.id: op for op in keep}
        self._open = {op.id for op in keep if op.state in OPEN}
        self.runs, self._lines = runs, len(lines)
        self._unsure, self._phantoms = set(), set()
        return True

    def _replace(self, data: bytes) -> None:
        tmp = self.path + ".compact.tmp"
        try:
            if os.path.lexists(tmp):
                fsops.unlink(tmp)              # left by a compaction that was killed
            fd = fsops.open_fd(tmp, fsops.CREATE_NEW)
            try:
                fsops.write(fd, data)
                fsops.fsync(fd)
            finally:
                fsops.close(fd)
            fsops.replace(tmp, self.path)
            fsops.fsync_dir(os.path.dirname(self.path))
        except OSError:
            try:
                if os.path.lexists(tmp):
                    fsops.unlink(tmp)
            except OSError:
                pass
            raise

"""Compacting a FileJournal (see core.files.journal): the journal is rewritten as the
fewest records that give each operation not finished with its state, so it does not grow
with every sort and undo (a fully undone destination ends with an empty journal).

The rewrite is atomic (a hidden .compact.tmp next to the journal, fsynced, then renamed
over it); if any step fails the old journal stays, which says the same.
"""
from __future__ import annotations

import json
import os

from core.files import fsops
from core.files.journal import DONE, FINISHED, UNDO_PENDING, PENDING, FileJournal, Op


def compact(j: FileJournal) -> bool:
    keep = [op for op in j.ops.values() if op.state not in FINISHED]
    runs_needed = {op.run for op in keep}
    runs = [r for r in j.runs if r.get("run") in runs_needed]
    lines = [json.dumps(r) for r in runs] + [json.dumps(rec) for op in keep for rec in _op_records(op)]
    if len(lines) >= j._lines and not (j._unsure or j._phantoms):
        return False
    try:
        _replace(j.path, "".join(line + "\n" for line in lines).encode("ascii"))
    except OSError:
        return False
    j.ops = {op.id: op for op in keep}
    j._open = {op.id for op in keep if op.state in (PENDING, UNDO_PENDING)}
    j.runs, j._lines = runs, len(lines)
    j._unsure, j._phantoms = set(), set()
    return True


def _replace(path: str, data: bytes) -> None:
    tmp = path + ".compact.tmp"
    try:
        if os.path.lexists(tmp):
            fsops.unlink(tmp)              # left by a compaction that was killed
        fd = fsops.open_fd(tmp, fsops.CREATE_NEW)
        try:
            fsops.write(fd, data)
            fsops.fsync(fd)
        finally:
            fsops.close(fd)
        fsops.replace(tmp, path)
        fsops.fsync_dir(os.path.dirname(path))
    except OSError:
        try:
            if os.path.lexists(tmp):
                fsops.unlink(tmp)
        except OSError:
            pass
        raise


def _op_records(op: Op) -> list[dict]:
    """The fewest records that give op its current state (for compact)."""
    recs = [{"t": "intent", "op": op.id, "run": op.run, "kind": op.kind, "src": op.src, "dst": op.dst,
             "src_size": op.src_size, "src_mtime_ns": op.src_mtime_ns, "ident": op.ident, "meta": op.meta,
             "made_dirs": op.made_dirs}]
    if op.src_sha:
        recs.append({"t": "digest", "op": op.id, "size": op.src_sha[0], "sha256": op.src_sha[1]})
    if op.state in (DONE, UNDO_PENDING):
        recs.append({"t": "done", "op": op.id, "size": op.size, "sha256": op.sha256})
    if op.state == UNDO_PENDING:
        recs.append({"t": "undo-intent", "op": op.id, "action": op.undo_action, "to": op.undo_to,
                     "ident": op.undo_ident})
        if op.undo_sha:
            recs.append({"t": "undo-digest", "op": op.id, "size": op.undo_sha[0], "sha256": op.undo_sha[1]})
    return recs

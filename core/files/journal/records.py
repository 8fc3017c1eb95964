"""The journal's records and the operations they describe: reading a record into an Op, and
writing an Op back as the fewest records that give its state (what compaction keeps).

Pure data, no files: core.files.journal.file_journal does the reading, writing and syncing.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from core.files.file_transfer import part_path

JOURNAL_VERSION = 2

# Op states. "done" ops are live (can be undone); the finished ones are dropped by compact().
PENDING, DONE, ROLLED_BACK = "pending", "done", "rolled-back"
UNDO_PENDING, UNDONE, KEPT, MISSING = "undo-pending", "undone", "kept", "missing"
FINISHED = frozenset({ROLLED_BACK, UNDONE, KEPT, MISSING})
OPEN = frozenset({PENDING, UNDO_PENDING})      # a crash may have left these half-done


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


def op_from_intent(rec: dict) -> Op:
    return Op(id=rec["op"], run=rec.get("run", ""), kind=rec["kind"], src=rec["src"], dst=rec["dst"],
              src_size=rec.get("src_size"), src_mtime_ns=rec.get("src_mtime_ns"), ident=rec.get("ident"),
              meta=rec.get("meta") or {}, made_dirs=rec.get("made_dirs") or [])


def apply_record(op: Op, t: str, rec: dict) -> None:
    """What a record after the intent does to its op."""
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


def op_records(op: Op) -> list[dict]:
    """The fewest records that give op its current state (what compaction writes)."""
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

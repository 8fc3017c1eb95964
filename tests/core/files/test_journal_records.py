"""The journal's records (core.files.journal.records) and compaction, at their own home: an
operation written back as its fewest records reads back the same, and a compaction that
cannot be written leaves the journal as it was."""
from __future__ import annotations

import errno
import os

import pytest

from core.files import fsops
from core.files.journal import DONE, UNDO_PENDING, FileJournal
from core.files.journal.records import apply_record, op_from_intent, op_records


def _photo(path, data: bytes) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    return str(path)


def _reread(op):
    recs = op_records(op)
    back = op_from_intent(recs[0])
    for rec in recs[1:]:
        apply_record(back, rec["t"], rec)
    return back


def test_an_op_written_back_as_its_fewest_records_reads_back_the_same(tmp_path):
    j = FileJournal(str(tmp_path / "j.jsonl"))
    run = j.new_run(tool="test")
    moved = j.do(_photo(tmp_path / "in" / "a.jpg", b"a"), str(tmp_path / "out" / "a.jpg"), True, run,
                 meta={"class": "robin"})
    copied = j.do(_photo(tmp_path / "in" / "b.jpg", b"b"), str(tmp_path / "out" / "b.jpg"), False, run)
    assert moved.state == copied.state == DONE
    j.append({"t": "undo-intent", "op": copied.id, "action": "delete", "to": None})   # an undo a crash cut short
    assert copied.state == UNDO_PENDING
    for op in (moved, copied):
        assert _reread(op) == op


def test_a_compaction_that_cannot_be_written_leaves_the_journal_as_it_was(tmp_path, monkeypatch):
    j = FileJournal(str(tmp_path / "j.jsonl"))
    run = j.new_run(tool="test")
    op = j.do(_photo(tmp_path / "in" / "a.jpg", b"a"), str(tmp_path / "out" / "a.jpg"), True, run)
    j.undo_op(op)
    before = open(j.path, "rb").read()

    def full(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device", dst)
    monkeypatch.setattr(fsops, "replace", full)
    assert j.compact() is False
    assert open(j.path, "rb").read() == before
    assert not os.path.exists(j.path + ".compact.tmp")
    monkeypatch.undo()
    assert j.compact() is True and os.path.getsize(j.path) == 0       # all undone: nothing to remember
    assert FileJournal(j.path).ops == {}


@pytest.mark.parametrize("state", ["removed", "restored"])
def test_undo_in_words_says_what_to_do_when_the_journal_cannot_be_written(tmp_path, monkeypatch, state):
    from core.errors import FledgeError

    j = FileJournal(str(tmp_path / "j.jsonl"))
    run = j.new_run(tool="test")
    src = _photo(tmp_path / "in" / "a.jpg", b"a")
    op = j.do(src, str(tmp_path / "out" / "a.jpg"), state == "restored", run)

    def no_room(fd, data):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(fsops, "write", no_room)
    with pytest.raises(FledgeError, match="was not put back yet. Check that disk"):
        j.undo_in_words(op)
    monkeypatch.undo()
    assert os.path.exists(op.dst) and j.undo_in_words(op).result == state

"""The ways sorting used to lose or misplace photos (issue 14, items 1-3, 5 and 7), one test each."""
from __future__ import annotations

import errno
import os
import tracemalloc

import pytest

from core.errors import FledgeError
from core.photos.answers_csv import read_answers, read_csv, write_csv
from core.photos.classify import classify_folder
from core.photos.sort_undo import undo
from core.photos.sorting import JOURNAL_NAME, sort_classified, sort_folder
from core.photos.sort_wording import Phrases, sort_lines
from tests.core.photos import fault_kit as kit

SAY = Phrases(again="run it again", undo_again="run undo again", undo_first="Undo first.", put_back="Undo.")


def photos(root) -> dict:
    return kit.snapshot(str(root))


def test_a_csv_with_carriage_returns_moves_only_its_photos(tmp_path, monkeypatch):
    docs = tmp_path / "Documents"
    cam = docs / "birdcam"
    kit.write(os.fsencode(cam) + b"/x\r.\ry.jpg", kit.body(1, 0))
    kit.write(os.fsencode(cam) + b"/x\rreport.docx\ry.jpg", kit.body(2, 1))
    kit.write(str(docs / "report.docx"), b"the user's report")
    kit.write(str(docs / "y.jpg"), kit.body(3, 2))
    before = photos(tmp_path)
    csv_path = write_csv(classify_folder(kit.BytePredictor(), cam), tmp_path / "o.csv")
    monkeypatch.chdir(docs)                       # run from the parent folder, as in the report
    answers = read_answers(csv_path)
    assert sorted(os.path.basename(r.path) for r in answers.results) == ["x\r.\ry.jpg", "x\rreport.docx\ry.jpg"]
    dest = tmp_path / "sorted"
    report = sort_classified(answers.results, answers.folder, dest, move=True)
    assert not report.failed and len(report.done) == 2
    assert (docs / "report.docx").read_bytes() == b"the user's report" and (docs / "y.jpg").exists()
    assert os.listdir(cam) == [] and not (dest / "_unreadable").exists()
    undo(dest)
    assert photos(tmp_path) == {**before, b"o.csv": photos(tmp_path)[b"o.csv"]}


def test_a_csv_row_outside_the_classified_folder_or_the_folder_itself_is_never_read(tmp_path):
    cam = tmp_path / "cam"
    kit.write(str(cam / "a.jpg"), kit.body(1, 0))
    kit.write(str(tmp_path / "secret.jpg"), kit.body(2, 0))
    csv_path = write_csv(classify_folder(kit.BytePredictor(), cam), tmp_path / "o.csv")
    with open(csv_path, "a", encoding="utf-8") as f:
        f.write(f"{tmp_path / 'secret.jpg'},bird,0.9,,,,,,{cam}\r\n")
        f.write(f"{cam},bird,0.9,,,,,,{cam}\r\n")
        f.write(f"{cam}/../secret.jpg,bird,0.9,,,,,,{cam}\r\n")
        f.write(f"relative.jpg,bird,0.9,,,,,,{cam}\r\n")
    answers = read_answers(csv_path)
    assert [r.path for r in answers.results] == [str(cam / "a.jpg")]
    assert len(answers.refused) == 4
    assert [r.path for r in read_csv(csv_path)] == [str(cam / "a.jpg")]


@pytest.mark.parametrize("failing", range(1, 9))
def test_an_intent_that_could_not_be_synced_is_never_acted_on(tmp_path, monkeypatch, failing):
    """Two byte-identical photos and a third; the n-th fsync fails (EIO) during a move."""
    src = tmp_path / "src"
    kit.write(str(src / "dup.jpg"), kit.body(0, 0))
    kit.write(str(src / "sub" / "dup.jpg"), kit.body(0, 0))
    kit.write(str(src / "third.jpg"), kit.body(1, 0))
    before = photos(tmp_path)
    real_fsync, calls = os.fsync, []

    def fsync(fd):
        calls.append(fd)
        if len(calls) == failing:
            raise OSError(errno.EIO, "Input/output error")
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    dest = tmp_path / "dest"
    first = sort_folder(kit.BytePredictor(), src, dest, move=True, recursive=True).report
    monkeypatch.setattr(os, "fsync", real_fsync)
    for path, _why in first.failed:
        assert os.path.exists(path), "a photo reported as left where it was is gone"
    again = sort_folder(kit.BytePredictor(), src, dest, move=True, recursive=True).report
    assert again is None or not again.failed     # None: the first run had moved them all
    assert not undo(dest).failed
    assert photos(tmp_path) == before


def _fail_record(monkeypatch, kind: str, err: int, persistent: bool = False) -> None:
    """Make writing the journal's first record of kind fail with err (and, if persistent,
    every write to the journal after it, as on a disk that stays full)."""
    from core.files import fsops

    real, fired = fsops.write, []

    def write(fd, data):
        if (f'"t": "{kind}"'.encode() in bytes(data) and not fired) or (fired and persistent):
            fired.append(kind)
            raise OSError(err, os.strerror(err))
        return real(fd, data)

    monkeypatch.setattr(fsops, "write", write)


@pytest.mark.parametrize("persistent", [False, True])
def test_a_full_disk_on_the_done_record_does_not_call_a_moved_photo_left_in_place(tmp_path, monkeypatch,
                                                                                 persistent):
    src = tmp_path / "src"
    for i in range(3):
        kit.write(str(src / f"p{i}.jpg"), kit.body(i, 0))
    before = photos(tmp_path)
    _fail_record(monkeypatch, "done", errno.ENOSPC, persistent)
    report = sort_folder(kit.BytePredictor(), src, tmp_path / "dest", move=True).report
    moved = [f.src for f in report.done]
    assert str(src / "p0.jpg") in moved and not os.path.exists(src / "p0.jpg")
    assert all(os.path.exists(path) for path, _ in report.failed)
    text = "\n".join(sort_lines(report, SAY))
    assert f"Failed {src / 'p0.jpg'}" not in text
    if persistent:                  # the next photo's intent cannot be written: stop, untouched
        assert report.disk_full and [p for p, _ in report.failed] == [str(src / "p1.jpg")]
        assert "The disk holding" in text
    else:
        assert len(report.done) == 3 and not report.failed
    monkeypatch.undo()
    again = sort_folder(kit.BytePredictor(), src, tmp_path / "dest", move=True).report
    assert again is None or not again.failed
    assert not undo(tmp_path / "dest").failed
    assert photos(tmp_path) == before


def test_a_failed_run_record_is_a_plain_message_and_nothing_moves(tmp_path, monkeypatch):
    src = tmp_path / "src"
    kit.write(str(src / "p.jpg"), kit.body(1, 0))
    _fail_record(monkeypatch, "run", errno.EIO)
    report = sort_folder(kit.BytePredictor(), src, tmp_path / "dest", move=True).report
    assert not report.done and os.path.exists(src / "p.jpg")
    [(path, why)] = report.failed
    assert "could not record this step in its journal" in why and "Check that disk" in why


def test_undo_while_the_original_cannot_be_reached_keeps_the_copy_for_a_later_undo(tmp_path):
    share = tmp_path / "share" / "cam"
    kit.write(str(share / "a.jpg"), kit.body(1, 0))
    dest = tmp_path / "dest"
    sort_folder(kit.BytePredictor(), share, dest)
    os.rename(tmp_path / "share", tmp_path / "offline")          # the share goes offline
    first = undo(dest)
    assert not first.kept and not first.removed and len(first.failed) == 1
    assert "cannot be reached" in first.failed[0][1]
    assert os.path.exists(dest / "bird" / "a.jpg")
    os.rename(tmp_path / "offline", tmp_path / "share")          # and comes back
    second = undo(dest)
    assert second.removed == [str(dest / "bird" / "a.jpg")] and not second.failed
    assert not (dest / "bird").exists() and (share / "a.jpg").exists()


def test_undo_while_the_original_cannot_be_read_keeps_the_copy_for_a_later_undo(tmp_path, monkeypatch):
    from core.files.journal import file_journal

    cam = tmp_path / "cam"
    kit.write(str(cam / "a.jpg"), kit.body(1, 0))
    dest = tmp_path / "dest"
    sort_folder(kit.BytePredictor(), cam, dest)
    real = file_journal.file_digest

    def unreadable(path):
        if os.path.dirname(path) == str(cam):
            raise PermissionError(errno.EACCES, "Permission denied", path)
        return real(path)

    monkeypatch.setattr(file_journal, "file_digest", unreadable)
    first = undo(dest)
    assert not first.kept and "could not be read" in first.failed[0][1]
    monkeypatch.undo()
    second = undo(dest)
    assert len(second.removed) == 1 and not (dest / "bird").exists()


def test_the_same_source_cannot_be_sorted_into_two_places_at_once(tmp_path):
    cam = tmp_path / "cam"
    for i in range(3):
        kit.write(str(cam / f"p{i}.jpg"), kit.body(i, 0))

    kit.write(str(cam / "day2" / "q.jpg"), kit.body(7, 0))
    kit.write(str(tmp_path / "cam2" / "r.jpg"), kit.body(8, 0))
    before = photos(tmp_path)
    refused, others = [], []

    def start_other_sorts(done, total):
        if done != 1 or refused:
            return
        for folder in (cam, cam / "day2"):          # the same folder, or one inside it: refused
            with pytest.raises(FledgeError, match="Another Fledge run is sorting photos from") as exc:
                sort_folder(kit.BytePredictor(), folder, tmp_path / "d2", move=True)
            refused.append(str(exc.value))
        with pytest.raises(FledgeError, match="Another Fledge process is working in"):
            undo(tmp_path / "d1")                     # (the destination is busy too)
        others.append(sort_folder(kit.BytePredictor(), tmp_path / "cam2", tmp_path / "d3", move=True))

    from core.photos.sorting import apply_sort, plan_sort

    ops = plan_sort(classify_folder(kit.BytePredictor(), cam), cam, tmp_path / "d1")
    apply_sort(ops, tmp_path / "d1", move=True, progress=start_other_sorts)
    assert len(refused) == 2 and len(others[0].report.done) == 1      # another folder is fine
    assert not (tmp_path / "d2").exists() or photos(tmp_path / "d2") == {}
    undo(tmp_path / "d1")
    undo(tmp_path / "d3")
    assert photos(tmp_path) == before


def test_a_destination_given_through_a_link_into_the_source_is_left_out(tmp_path):
    cam = tmp_path / "cam"
    for i in range(3):
        kit.write(str(cam / f"p{i}.jpg"), kit.body(i, i % 3))
    os.makedirs(cam / "sorted")
    os.symlink(cam / "sorted", tmp_path / "link")
    for _ in range(3):
        sort_folder(kit.BytePredictor(), cam, tmp_path / "link", recursive=True)
    copies = [p for p in photos(cam) if p.startswith(b"sorted/")]
    assert len(copies) == 3


def test_a_recursive_move_never_follows_a_linked_folder_out_of_the_folder(tmp_path):
    cam, elsewhere = tmp_path / "cam", tmp_path / "elsewhere"
    kit.write(str(cam / "a.jpg"), kit.body(1, 0))
    kit.write(str(elsewhere / "b.jpg"), kit.body(2, 0))
    os.symlink(elsewhere, cam / "linked")
    out = sort_folder(kit.BytePredictor(), cam, tmp_path / "dest", move=True, recursive=True)
    assert (elsewhere / "b.jpg").exists() and not (cam / "a.jpg").exists()
    assert [src for src, _ in out.report.skipped] == [str(cam / "linked" / "b.jpg")]


def test_a_move_across_bind_mounts_falls_back_to_copy_verify_delete(tmp_path, monkeypatch):
    cam = tmp_path / "cam"
    for i in range(3):
        kit.write(str(cam / f"p{i}.jpg"), kit.body(i, 0))
    before = photos(tmp_path)
    real_link, real_rename = os.link, os.rename

    def cross(real):
        def call(a, b, *args, **kw):
            tops = {os.path.relpath(os.fsdecode(p), tmp_path).split(os.sep)[0] for p in (a, b)}
            if len(tops) > 1:
                raise OSError(errno.EXDEV, "Invalid cross-device link")
            return real(a, b, *args, **kw)
        return call

    monkeypatch.setattr(os, "link", cross(real_link))
    monkeypatch.setattr(os, "rename", cross(real_rename))
    report = sort_folder(kit.BytePredictor(), cam, tmp_path / "dest", move=True).report
    assert not report.failed and len(report.done) == 3 and os.listdir(cam) == []
    assert not undo(tmp_path / "dest").failed
    assert photos(tmp_path) == before


def test_a_255_byte_name_taken_again_at_the_source_can_be_undone(tmp_path):
    cam = tmp_path / "cam"
    name = "a" * 251 + ".jpg"
    kit.write(str(cam / name), kit.body(1, 0))
    dest = tmp_path / "dest"
    sort_folder(kit.BytePredictor(), cam, dest, move=True)
    kit.write(str(cam / name), b"a new photo with the same name")
    u = undo(dest)
    assert not u.failed
    [(_, used)] = u.renamed
    back = os.path.basename(used)
    assert len(back.encode()) <= 255 and back.endswith(" (2).jpg")
    assert (cam / name).read_bytes() == b"a new photo with the same name"
    assert (cam / back).read_bytes() == kit.body(1, 0)


def test_the_journal_is_compacted_and_memory_stays_flat_over_many_sorts_and_undos(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "fsync", lambda fd: None)        # durability is not what is measured here
    cam = tmp_path / "cam"
    for i in range(40):
        kit.write(str(cam / f"p{i}.jpg"), kit.body(i, i % 3))
    dest = tmp_path / "dest"
    journal = dest / JOURNAL_NAME
    sizes, memory = [], []
    tracemalloc.start()
    try:
        for _ in range(8):
            sort_folder(kit.BytePredictor(), cam, dest, move=True)
            assert not undo(dest).failed
            sizes.append(os.path.getsize(journal))
            memory.append(tracemalloc.get_traced_memory()[0])
    finally:
        tracemalloc.stop()
    assert sizes == [0] * 8                      # fully undone: nothing left to remember
    assert memory[-1] - memory[1] < 200_000, memory

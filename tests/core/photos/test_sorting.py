"""Sorting photos into class folders, with undo and resume, and sort_folder end to end."""
from __future__ import annotations

import json
import os

import pytest

from core.errors import FledgeError
from core.photos import sorting
from core.files import file_transfer
from core.files import fsops
from core.photos.answers_csv import read_csv
from core.photos.classify import ClassifiedImage, classify_folder
from core.photos.sort_undo import undo
from core.photos.sorting import ALREADY, apply_sort, plan_sort, sort_classified, sort_folder
from core.progress import JobProgress
from tests.fakes import BIRD, PLANE, UNSURE, ColorPredictor, FakePredictor, Pred, full_disk_at
from tests.fakes import color_photo as photo
from tests.file_trees import digest, tree


def hidden_parts(root) -> list[str]:
    return [os.path.join(d, f) for d, _, files in os.walk(root) for f in files
            if f.startswith(file_transfer.PART_PREFIX)]


@pytest.fixture
def src(tmp_path):
    s = tmp_path / "cam"
    photo(s / "IMG_0001.jpg", BIRD)
    photo(s / "IMG_0002.jpg", PLANE)
    photo(s / "IMG_0003.jpg", UNSURE)
    (s / "IMG_0004.jpg").write_bytes(b"this is not a jpeg")
    (s / "notes.txt").write_text("not a photo")
    photo(s / "day2" / "IMG_0001.jpg", PLANE)
    return str(s)


def sort(src, dest, threshold=0.7, move=False, recursive=False, keep=False, **kw):
    results = classify_folder(ColorPredictor(), src, recursive=recursive)
    ops = plan_sort(results, src, dest, threshold, keep_structure=keep)
    return apply_sort(ops, dest, move=move, **kw)


# -- sorting ---------------------------------------------------------------------------------

def test_copy_with_threshold_review_and_unreadable(src, tmp_path):
    before = tree(src)
    dest = str(tmp_path / "sorted")
    report = sort(src, dest, threshold=0.7)
    assert tree(src) == before                                   # copies leave the source alone
    got = tree(dest)
    assert got == {
        "bird/IMG_0001.jpg": before["IMG_0001.jpg"],
        "plane/IMG_0002.jpg": before["IMG_0002.jpg"],
        "_review/IMG_0003.jpg": before["IMG_0003.jpg"],           # 0.55 < 0.7
        "_unreadable/IMG_0004.jpg": before["IMG_0004.jpg"],
    }
    assert report.counts() == {"bird": 1, "plane": 1, "_review": 1, "_unreadable": 1}
    assert not report.failed and not report.stopped
    assert not report.renamed and not report.skipped and not report.disk_full
    # Photo dates survive the copy.
    assert os.stat(os.path.join(dest, "bird/IMG_0001.jpg")).st_mtime_ns == \
        os.stat(os.path.join(src, "IMG_0001.jpg")).st_mtime_ns


def test_threshold_zero_sends_nothing_to_review(src, tmp_path):
    report = sort(src, str(tmp_path / "d"), threshold=0.0)
    assert report.counts() == {"bird": 2, "plane": 1, "_unreadable": 1}


def test_collisions_get_new_names_and_never_overwrite(src, tmp_path):
    dest = tmp_path / "sorted"
    old = photo(dest / "bird" / "IMG_0001.jpg", (1, 2, 3))
    old_hash = digest(old)
    photo(dest / "plane" / "IMG_0001.jpg", (4, 5, 6))
    report = sort(src, str(dest), threshold=0.0, recursive=True)
    assert digest(old) == old_hash
    got = tree(dest)
    assert got["bird/IMG_0001 (2).jpg"] == digest(os.path.join(src, "IMG_0001.jpg"))
    # day2/IMG_0001.jpg (a plane) collides with the pre-existing plane/IMG_0001.jpg
    assert got["plane/IMG_0001 (2).jpg"] == digest(os.path.join(src, "day2", "IMG_0001.jpg"))
    renamed = sorted(os.path.basename(f.dst) for f in report.done if f.renamed)
    assert renamed == ["IMG_0001 (2).jpg", "IMG_0001 (2).jpg"]
    # Undo removes only Fledge's copies.
    undo(str(dest))
    assert set(tree(dest)) == {"bird/IMG_0001.jpg", "plane/IMG_0001.jpg"}
    assert digest(old) == old_hash


def test_same_names_from_subfolders_do_not_collide_in_one_run(tmp_path):
    s = tmp_path / "cam"
    a = photo(s / "a" / "x.jpg", BIRD)
    b = photo(s / "b" / "x.jpg", (250, 0, 5))
    report = sort(str(s), str(tmp_path / "d"), threshold=0.0, recursive=True)
    got = tree(tmp_path / "d")
    assert got == {"bird/x.jpg": digest(a), "bird/x (2).jpg": digest(b)}
    assert [f.renamed for f in report.done] == [False, True]


def test_move_recursive_keep_structure_then_undo(src, tmp_path):
    before = tree(src)
    dest = str(tmp_path / "sorted")
    report = sort(src, dest, threshold=0.7, move=True, recursive=True, keep=True)
    assert not report.failed
    assert tree(src) == {"notes.txt": before["notes.txt"]}       # only the non-photo stays
    assert tree(dest) == {
        "bird/IMG_0001.jpg": before["IMG_0001.jpg"],
        "plane/IMG_0002.jpg": before["IMG_0002.jpg"],
        "plane/day2/IMG_0001.jpg": before["day2/IMG_0001.jpg"],
        "_review/IMG_0003.jpg": before["IMG_0003.jpg"],
        "_unreadable/IMG_0004.jpg": before["IMG_0004.jpg"],
    }
    u = undo(dest)
    assert len(u.restored) == 5 and not u.failed and not u.renamed
    assert tree(src) == before
    assert tree(dest) == {}
    # The class folders Fledge created are gone again; the journal stays as history.
    assert sorted(os.listdir(dest)) == [".fledge-journal.jsonl", ".fledge-journal.jsonl.lock"]
    assert undo(dest).nothing_to_do


def test_undo_copy_cases(src, tmp_path):
    dest = tmp_path / "sorted"
    sort(src, str(dest), threshold=0.7)
    # A copy the user edited is kept; a copy whose original is gone is put back in its place.
    (dest / "plane" / "IMG_0002.jpg").write_bytes(b"edited")
    bird_hash = digest(os.path.join(src, "IMG_0001.jpg"))
    os.unlink(os.path.join(src, "IMG_0001.jpg"))
    u = undo(str(dest))
    assert [os.path.basename(p) for p, _ in u.kept] == ["IMG_0002.jpg"]
    assert "changed" in u.kept[0][1]
    assert digest(os.path.join(src, "IMG_0001.jpg")) == bird_hash
    assert (dest / "plane" / "IMG_0002.jpg").read_bytes() == b"edited"
    assert len(u.removed) == 2         # _review and _unreadable copies
    assert set(tree(dest)) == {"plane/IMG_0002.jpg"}


def test_undo_move_never_overwrites_a_new_file_at_the_old_place(src, tmp_path):
    dest = str(tmp_path / "sorted")
    original = digest(os.path.join(src, "IMG_0002.jpg"))
    sort(src, dest, move=True)
    newcomer = photo(os.path.join(src, "IMG_0002.jpg"), (9, 9, 9))     # the camera reused the name
    new_hash = digest(newcomer)
    u = undo(dest)
    assert digest(newcomer) == new_hash
    assert digest(os.path.join(src, "IMG_0002 (2).jpg")) == original
    assert u.renamed == [(os.path.join(src, "IMG_0002.jpg"), os.path.join(src, "IMG_0002 (2).jpg"))]


def test_rerun_skips_what_is_done_but_not_a_new_photo_with_an_old_name(src, tmp_path):
    dest = str(tmp_path / "sorted")
    first = sort(src, dest)
    assert len(first.done) == 4
    again = sort(src, dest)
    assert not again.done and [r for _, r in again.skipped] == [ALREADY] * 4
    assert len(again.already_sorted) == 4 and not again.other_skips
    os.unlink(os.path.join(src, "IMG_0002.jpg"))
    photo(os.path.join(src, "IMG_0002.jpg"), BIRD)          # a different photo, same name
    os.utime(os.path.join(src, "IMG_0002.jpg"), ns=(1, 10**18))
    third = sort(src, dest)
    assert [(os.path.basename(f.src), f.category) for f in third.done] == [("IMG_0002.jpg", "bird")]


def test_stop_then_continue(src, tmp_path):
    dest = str(tmp_path / "sorted")
    calls = []
    report = sort(src, dest, move=True, progress=lambda d, t: calls.append(d),
                  should_stop=lambda: len(calls) >= 2)
    assert report.stopped and len(report.done) == 2
    rest = sort(src, dest, move=True)
    assert len(rest.done) == 2 and not rest.skipped
    assert len(tree(dest)) == 4


class Crash(BaseException):
    """Stands in for the process dying: not an OSError, so nothing handles it."""


def _home(name):
    """Where the primitive called name lives: fsops.link/unlink, or file_transfer._copy_data."""
    return (file_transfer, name) if name == "_copy_data" else (fsops, name.lstrip("_"))


def crash_on_call(monkeypatch, name, n, after=False):
    module, attr = _home(name)
    orig = getattr(module, attr)
    count = {"n": 0}

    def wrapper(*args, **kwargs):
        count["n"] += 1
        if count["n"] == n:
            if after:
                orig(*args, **kwargs)
            raise Crash(name)
        return orig(*args, **kwargs)

    monkeypatch.setattr(module, attr, wrapper)


@pytest.mark.parametrize("name,after,move", [
    ("_copy_data", True, False),     # copied into the part file, not yet placed
    ("_link", True, False),          # placed, part file not yet removed
    ("_link", True, True),           # linked, original not yet removed
    ("_unlink", False, True),
])
def test_resume_after_a_crash_finishes_without_duplicates(src, tmp_path, monkeypatch, name, after, move):
    before = tree(src)
    dest = str(tmp_path / "sorted")
    crash_on_call(monkeypatch, name, 2, after=after)
    with pytest.raises(Crash):
        sort(src, dest, move=move)
    monkeypatch.undo()
    with open(os.path.join(dest, sorting.JOURNAL_NAME)) as f:
        kinds = [json.loads(line)["t"] for line in f]
    assert kinds.count("intent") == 2 and kinds.count("done") == 1
    report = sort(src, dest, move=move)
    assert not report.failed
    assert len(report.recovered) == 1
    assert hidden_parts(dest) == []
    got = tree(dest)
    expected = {k: v for k, v in before.items() if k != "notes.txt" and "/" not in k}
    assert sorted(got.values()) == sorted(expected.values())   # each photo exactly once
    assert len(report.done) + (1 if "Finished" in report.recovered[0] else 0) == 3
    if move:
        assert set(tree(src)) == {"notes.txt", "day2/IMG_0001.jpg"}
    else:
        assert tree(src) == before
    undo(dest)
    assert tree(src) == before and tree(dest) == {}


def test_torn_journal_line_is_ignored(src, tmp_path):
    dest = str(tmp_path / "sorted")
    sort(src, dest)
    with open(os.path.join(dest, sorting.JOURNAL_NAME), "ab") as f:
        f.write(b'{"t": "intent", "op": "x", "ki')          # a crash mid-append
    again = sort(src, dest)
    assert len(again.skipped) == 4
    u = undo(dest)
    assert len(u.removed) == 4 and tree(dest) == {}


def test_cross_device_move_is_copy_verify_delete(src, tmp_path, monkeypatch):
    monkeypatch.setattr(file_transfer, "_same_device", lambda a, b: False)
    before = tree(src)
    dest = str(tmp_path / "sorted")
    sort(src, dest, move=True)
    assert sorted(tree(dest).values()) == sorted(v for k, v in before.items() if k.startswith("IMG"))

    # A copy that comes out different is dropped and the original kept.
    src2 = tmp_path / "cam2"
    p = photo(src2 / "z.jpg", BIRD)
    orig_copy = file_transfer._copy_data

    def bad_copy(a, tmp):
        out = orig_copy(a, tmp)
        with open(tmp, "r+b") as f:
            f.write(b"\0\0\0")
        return out

    monkeypatch.setattr(file_transfer, "_copy_data", bad_copy)
    report = sort(str(src2), dest, move=True)
    assert report.failed and "did not match" in report.failed[0][1]
    assert os.path.exists(p) and not os.path.exists(os.path.join(dest, "bird", "z.jpg"))
    assert hidden_parts(dest) == []


def test_no_hard_links_falls_back_to_rename(src, tmp_path, monkeypatch):
    def no_links(a, b):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(fsops, "link", no_links)
    before = tree(src)
    dest = str(tmp_path / "sorted")
    photo(os.path.join(dest, "bird", "IMG_0001.jpg"), (1, 1, 1))
    report = sort(src, dest, move=True)
    assert not report.failed and hidden_parts(dest) == []
    undo(dest)
    assert tree(src) == before


def test_dest_inside_the_source_folder(src):
    dest = os.path.join(src, "sorted")
    sort(src, dest, recursive=True, move=True)
    results = classify_folder(ColorPredictor(), src, recursive=True)
    ops = plan_sort(results, src, dest, 0.7)
    assert ops == []                 # everything there is already in DEST's class folders
    excluded = classify_folder(ColorPredictor(), src, recursive=True,
                               exclude=[os.path.join(dest, c) for c in ("bird", "plane", "_review", "_unreadable")])
    assert excluded == []


def test_second_process_is_refused_while_one_sorts(src, tmp_path):
    dest = str(tmp_path / "sorted")
    j = sorting.open_journal(dest)
    with j.locked():
        with pytest.raises(FledgeError, match="Another Fledge process"):
            sort(src, dest)


def test_plan_checks_threshold_and_reserved_names(tmp_path):
    r = [ClassifiedImage(str(tmp_path / "a.jpg"), (("_review", 0.9),))]
    with pytest.raises(FledgeError, match="_review"):
        plan_sort(r, tmp_path, tmp_path / "d")
    with pytest.raises(FledgeError, match="threshold"):
        plan_sort([], tmp_path, tmp_path / "d", threshold=1.5)


def test_plan_accepts_predictions_from_the_predictor(tmp_path):
    preds = [Pred(str(tmp_path / "a.jpg"), [("plane", 0.9), ("bird", 0.1)]),
             Pred(str(tmp_path / "b.jpg"), [], "file is truncated or damaged")]
    ops = plan_sort(preds, tmp_path, tmp_path / "d", threshold=0.5)
    assert [(o.category, o.label, o.probability) for o in ops] == [("plane", "plane", 0.9),
                                                                   ("_unreadable", None, 0.0)]


def test_undo_without_journal_is_a_clear_error(tmp_path):
    with pytest.raises(FledgeError, match="no Fledge journal"):
        undo(tmp_path)
    with pytest.raises(FledgeError, match="does not exist"):
        undo(tmp_path / "nope")


def test_a_full_disk_ends_the_run_and_says_so(src, tmp_path, monkeypatch):
    calls = full_disk_at(monkeypatch, 2)
    dest = str(tmp_path / "sorted")
    report = sort(src, dest)
    assert report.disk_full and not report.stopped
    assert len(report.done) == 1 and report.failed == [(calls[1], "the disk is full")]
    with open(os.path.join(dest, sorting.JOURNAL_NAME)) as f:
        end = [json.loads(line) for line in f][-1]
    assert end["t"] == "end" and end["stopped"] is True


# -- a whole folder --------------------------------------------------------------------------

def test_sort_folder_classifies_writes_the_answers_and_sorts(src, tmp_path):
    dest = str(tmp_path / "sorted")
    events = []
    out = sort_folder(ColorPredictor(), src, dest, threshold=0.7, csv_path=os.path.join(dest, "answers.csv"),
                      replace_csv=False, report=events.append)
    assert not out.stopped_while and out.unreadable == 1
    assert out.report.counts() == {"bird": 1, "plane": 1, "_review": 1, "_unreadable": 1}
    assert [r.path for r in read_csv(out.csv_path)] == [r.path for r in out.results]
    [item] = out.review_items()
    assert item.path == os.path.join(dest, "_review", "IMG_0003.jpg") and item.suggestion == "bird"
    stages = [e.stage for e in events]
    assert stages[0] == "classifying" and "sorting" in stages
    assert events[-1] == JobProgress("sorting", 4, 4)

    # The same sort again continues: nothing to do, and the first CSV is kept.
    again = sort_folder(ColorPredictor(), src, dest, threshold=0.7, csv_path=os.path.join(dest, "answers.csv"),
                        replace_csv=False)
    assert os.path.basename(again.csv_path) == "answers (2).csv" and os.path.isfile(out.csv_path)
    assert not again.report.done and len(again.report.already_sorted) == 4


def test_sort_folder_stopped_while_classifying_changes_nothing(src, tmp_path):
    stop = []
    predictor = FakePredictor(["bird", "plane"], {}, on_image=lambda i: stop.append(i))
    predictor.answer = lambda path: ("bird", 0.9)
    dest = tmp_path / "sorted"
    out = sort_folder(predictor, src, dest, move=True, csv_path=dest / "answers.csv",
                      should_stop=lambda: len(stop) >= 2)
    assert out.stopped_while == "classifying" and out.report is None and len(out.results) == 2
    assert not dest.exists() and not out.csv_path


def test_sort_folder_leaves_out_what_it_sorted_into_dest_inside_the_folder(src):
    dest = os.path.join(src, "sorted")
    first = sort_folder(ColorPredictor(), src, dest, move=True, recursive=True)
    assert len(first.report.done) == 5
    again = sort_folder(ColorPredictor(), src, dest, move=True, recursive=True)
    assert again.results == [] and again.report is None and not again.stopped_while


def test_sort_folder_refuses_a_file_as_destination_before_classifying(src, tmp_path):
    (tmp_path / "dest").write_text("a file")
    predictor = FakePredictor(["bird"], {})
    with pytest.raises(FledgeError, match="is a file"):
        sort_folder(predictor, src, tmp_path / "dest")
    assert predictor.calls == []


def test_sort_classified_sorts_answers_from_a_csv_without_the_model(src, tmp_path):
    from core.photos.answers_csv import common_folder, write_csv

    answers = read_csv(write_csv(classify_folder(ColorPredictor(), src, recursive=True), tmp_path / "a.csv"))
    assert common_folder(answers) == src
    dest = str(tmp_path / "sorted")
    report = sort_classified(answers, src, dest, threshold=0.5, keep_structure=True)
    assert report.counts() == {"bird": 2, "plane": 2, "_unreadable": 1}
    assert os.path.isfile(os.path.join(dest, "plane", "day2", "IMG_0001.jpg"))


def test_the_sort_result_names_the_threshold_each_class_used(src, tmp_path):
    from core.photos.sort_wording import Phrases, sort_lines
    from core.photos.thresholds import ReviewThresholds

    say = Phrases("again", "undo again", "Undo first.", "Undo puts it back.")
    own = ReviewThresholds(1.0, {"bird": 0.5}, {"plane": "evidence"})
    out = sort_folder(ColorPredictor(), src, tmp_path / "own", threshold=own)
    assert out.report.counts() == {"bird": 2, "_review": 1, "_unreadable": 1}     # the plane to review
    assert out.report.thresholds == own
    assert out.report.to_dict()["thresholds"] == {"default": 1.0, "classes": {"bird": 0.5},
                                                  "review": {"plane": "evidence"}}
    lines = sort_lines(out.report, say)
    assert lines[1] == "The model's own thresholds: bird 0.50, plane to review (too little evidence)."
    one = sort_folder(ColorPredictor(), src, tmp_path / "one", threshold=0.7)
    assert sort_lines(one.report, say)[1] == ("Threshold 0.70 for every class: photos the model was less sure "
                                              "of went to review.")

"""Classifying a folder to CSV and sorting photos into class folders, with undo and resume."""
from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass

import pytest
from PIL import Image

from core.photos import journal as jmod
from core.photos import sorting
from core.errors import FledgeError
from core.data.imageio import load_rgb
from core.photos.sorting import (ALREADY, ClassifiedImage, apply_sort, classify_folder, plan_sort, read_csv,
                          undo, write_csv)
from tests.file_trees import digest, tree


@dataclass(frozen=True)
class Pred:
    source: str
    top: list
    error: str | None = None


class ColorPredictor:
    """bird vs plane by how red (bird) or blue (plane) a picture is; decodes like the real one."""
    classes = ["bird", "plane"]

    def predict_many(self, images, batch_size=64, top_k=5, progress=None, should_stop=None):
        out = []
        images = list(images)
        for i, path in enumerate(images):
            if should_stop is not None and should_stop():
                break
            try:
                im = load_rgb(path)
            except FledgeError as exc:
                out.append(Pred(path, [], exc.reason))
                continue
            r, _, b = im.getpixel((0, 0))
            p_bird = r / (r + b) if r + b else 0.5
            top = sorted([("bird", p_bird), ("plane", 1 - p_bird)], key=lambda t: -t[1])
            out.append(Pred(path, top[:top_k]))
            if progress:
                progress(i + 1, len(images))
        return out


def photo(path, color, exif=None):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.new("RGB", (8, 8), color).save(path, exif=exif) if exif is not None else \
        Image.new("RGB", (8, 8), color).save(path)
    return str(path)


BIRD = (240, 0, 10)       # ~0.96 bird
PLANE = (10, 0, 240)      # ~0.96 plane
UNSURE = (110, 0, 90)     # 0.55 bird


def hidden_parts(root) -> list[str]:
    return [os.path.join(d, f) for d, _, files in os.walk(root) for f in files
            if f.startswith(jmod.PART_PREFIX)]


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


# -- classify + CSV --------------------------------------------------------------------------

def test_csv_rows_errors_and_exif_time(tmp_path):
    folder = tmp_path / "in"
    exif = Image.Exif()
    exif[306] = "2021:01:02 03:04:05"
    exif.get_ifd(0x8769)[36867] = "2020:05:06 07:08:09"
    a = photo(folder / "a.jpg", BIRD, exif=exif)
    only_dt = Image.Exif()
    only_dt[306] = "2019:12:31 23:59:58"
    b = photo(folder / "b.jpg", PLANE, exif=only_dt)
    c = photo(folder / "c.png", UNSURE)
    (folder / "d.jpg").write_bytes(b"")
    (folder / "readme.txt").write_text("ignored")

    results = classify_folder(ColorPredictor(), folder, top_k=2)
    assert [os.path.basename(r.path) for r in results] == ["a.jpg", "b.jpg", "c.png", "d.jpg"]
    out = write_csv(results, tmp_path / "out.csv")
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]
    with open(out, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["path", "class", "probability", "class_2", "probability_2", "captured", "error"]
    by_name = {os.path.basename(r[0]): r for r in rows[1:]}
    assert by_name["a.jpg"][:2] == [a, "bird"] and float(by_name["a.jpg"][2]) > 0.9
    assert by_name["a.jpg"][3] == "plane" and float(by_name["a.jpg"][4]) < 0.1
    assert by_name["a.jpg"][5] == "2020-05-06T07:08:09"        # DateTimeOriginal wins
    assert by_name["b.jpg"][5] == "2019-12-31T23:59:58"        # DateTime when that is all
    assert by_name["c.png"][1] == "bird" and float(by_name["c.png"][2]) == pytest.approx(0.55, abs=1e-3)
    assert by_name["c.png"][5] == ""
    assert by_name["d.jpg"][1:6] == ["", "", "", "", ""] and by_name["d.jpg"][6] == "empty file (0 bytes)"

    back = read_csv(out)
    assert [r.path for r in back] == [a, b, c, str(folder / "d.jpg")]
    assert back[0].label == "bird" and back[0].captured == "2020-05-06T07:08:09"
    assert back[2].probability == pytest.approx(results[2].probability, abs=1e-6)
    assert back[3].error == "empty file (0 bytes)" and back[3].label is None


def test_read_csv_rejects_foreign_files(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text("name,score\na,1\n")
    with pytest.raises(FledgeError, match="not a Fledge classification CSV"):
        read_csv(p)
    p.write_text("path,class,probability\n/a.jpg,bird,high\n")
    with pytest.raises(FledgeError, match="Line 2 .* not a probability"):
        read_csv(p)
    with pytest.raises(FledgeError, match="does not exist"):
        read_csv(tmp_path / "missing.csv")


def test_read_csv_accepts_spreadsheet_edits(tmp_path):
    p = tmp_path / "edited.csv"
    p.write_text("path,probability,class,class_2\n/a.jpg,80%,bird,plane\n/b.jpg,\"0,3\",plane,\n",
                 encoding="utf-8")
    a, b = read_csv(p)
    assert a.top == (("bird", 0.8),) and b.top == (("plane", 0.3),)
    ops = plan_sort([a, b], "/", tmp_path / "d", threshold=0.5)
    assert [o.category for o in ops] == ["bird", "_review"]


def test_classify_missing_or_file_folder(tmp_path):
    with pytest.raises(FledgeError, match="does not exist"):
        classify_folder(ColorPredictor(), tmp_path / "nope")
    (tmp_path / "f.jpg").write_bytes(b"x")
    with pytest.raises(FledgeError, match="is a file"):
        classify_folder(ColorPredictor(), tmp_path / "f.jpg")


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
    assert "fledge undo" in report.format_text()
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
    assert "new name" in report.format_text()
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
    assert undo(dest).format_text() == f"Nothing to undo in {dest}."


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
    assert "Kept" in u.format_text()


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
    assert "IMG_0002 (2).jpg" in u.format_text()


def test_rerun_skips_what_is_done_but_not_a_new_photo_with_an_old_name(src, tmp_path):
    dest = str(tmp_path / "sorted")
    first = sort(src, dest)
    assert len(first.done) == 4
    again = sort(src, dest)
    assert not again.done and [r for _, r in again.skipped] == [ALREADY] * 4
    assert "already sorted" in again.format_text()
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
    assert "run the same command again" in report.format_text()
    rest = sort(src, dest, move=True)
    assert len(rest.done) == 2 and not rest.skipped
    assert len(tree(dest)) == 4


class Crash(BaseException):
    """Stands in for the process dying: not an OSError, so nothing handles it."""


def crash_on_call(monkeypatch, name, n, after=False):
    orig = getattr(jmod, name)
    count = {"n": 0}

    def wrapper(*args, **kwargs):
        count["n"] += 1
        if count["n"] == n:
            if after:
                orig(*args, **kwargs)
            raise Crash(name)
        return orig(*args, **kwargs)

    monkeypatch.setattr(jmod, name, wrapper)


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
    monkeypatch.setattr(jmod, "_same_device", lambda a, b: False)
    before = tree(src)
    dest = str(tmp_path / "sorted")
    sort(src, dest, move=True)
    assert sorted(tree(dest).values()) == sorted(v for k, v in before.items() if k.startswith("IMG"))

    # A copy that comes out different is dropped and the original kept.
    src2 = tmp_path / "cam2"
    p = photo(src2 / "z.jpg", BIRD)
    orig_copy = jmod._copy_data

    def bad_copy(a, tmp):
        out = orig_copy(a, tmp)
        with open(tmp, "r+b") as f:
            f.write(b"\0\0\0")
        return out

    monkeypatch.setattr(jmod, "_copy_data", bad_copy)
    report = sort(str(src2), dest, move=True)
    assert report.failed and "did not match" in report.failed[0][1]
    assert os.path.exists(p) and not os.path.exists(os.path.join(dest, "bird", "z.jpg"))
    assert hidden_parts(dest) == []


def test_no_hard_links_falls_back_to_rename(src, tmp_path, monkeypatch):
    def no_links(a, b):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(jmod, "_link", no_links)
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

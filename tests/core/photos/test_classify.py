"""Classifying a folder of photos, and the CSV of the model's answers."""
from __future__ import annotations

import csv
import os

import pytest
from PIL import Image

from core.errors import FledgeError
from core.photos.answers_csv import read_csv, write_csv
from core.photos.classify import ClassifiedImage, classify_folder
from core.photos.sorting import plan_sort
from tests.fakes import BIRD, PLANE, UNSURE, ColorPredictor
from tests.fakes import color_photo as photo


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
    assert rows[0] == ["path", "class", "probability", "class_2", "probability_2", "captured", "error", "folder",
                       "burst"]
    assert {r[7] for r in rows[1:]} == {str(folder)}
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




def test_write_csv_can_keep_an_earlier_file(tmp_path):
    results = [ClassifiedImage("/cam/a.jpg", (("bird", 0.9),))]
    first = write_csv(results, tmp_path / "answers.csv")
    assert write_csv(results, tmp_path / "answers.csv") == first          # replaced by default
    kept = write_csv(results, tmp_path / "answers.csv", replace=False)
    assert os.path.basename(kept) == "answers (2).csv" and os.path.isfile(first)
    assert [r.label for r in read_csv(kept)] == ["bird"]

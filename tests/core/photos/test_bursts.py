"""Bursts: photos one camera took seconds apart that look alike, grouped, kept together by
sorting, and written to the classification CSV."""
from __future__ import annotations

import csv
import os
from datetime import datetime, timedelta

import numpy as np
import pytest
from PIL import Image

from core.bench.burst_camera import _exif, _frame, _scene, write_camera_folder
from core.bench.bursts import score_grouping
from core.photos.answers_csv import read_answers, write_csv
from core.photos.bursts import MAX_GAP_S, find_bursts, group_frames, per_burst, with_bursts
from core.photos.classify import ClassifiedImage, classify_folder
from core.photos.sorting import sort_classified
from tests.fakes import FakePredictor
from tests.file_trees import tree

T0 = datetime(2024, 5, 6, 6, 0, 0)
NORTH, SOUTH = ("Birdcam", "North 1"), ("Birdcam", "South 2")


@pytest.fixture(autouse=True)
def own_hash_cache(tmp_path, monkeypatch):
    """Hashes are cached in the user data folder: keep this test's to itself."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "userdata"))


def shot(folder, name, seconds: float, scene: int, camera=NORTH, step: int = 0) -> str:
    """A 160x120 JPEG of scene number `scene` (a bird moved a little by step), taken T0 + seconds;
    camera None writes no EXIF and sets the file's time instead."""
    rng = np.random.default_rng([scene, step])
    background = _scene(np.random.default_rng(scene), (160, 120))
    path = os.path.join(folder, name)
    os.makedirs(folder, exist_ok=True)
    taken = T0 + timedelta(seconds=seconds)
    _frame(background, "bird", 70 + 2 * step, 60, rng).save(path, "JPEG", quality=85, exif=_exif(camera, taken))
    if camera is None:
        os.utime(path, (taken.timestamp(), taken.timestamp()))
    return path


def groups(paths) -> list[list[str]]:
    return [sorted(os.path.basename(p) for p in b.paths) for b in find_bursts(paths)]


def test_frames_seconds_apart_that_look_alike_are_one_burst_and_a_gap_ends_it(tmp_path):
    paths = [shot(tmp_path, f"a{i}.jpg", i, scene=1, step=i) for i in range(4)]
    paths += [shot(tmp_path, f"b{i}.jpg", 3 + MAX_GAP_S + 1 + i, scene=1, step=i) for i in range(3)]
    assert groups(paths) == [["a0.jpg", "a1.jpg", "a2.jpg", "a3.jpg"], ["b0.jpg", "b1.jpg", "b2.jpg"]]


def test_a_photo_that_does_not_look_alike_starts_a_new_burst(tmp_path):
    paths = [shot(tmp_path, f"a{i}.jpg", i, scene=1, step=i) for i in range(3)]
    paths += [shot(tmp_path, f"b{i}.jpg", 3 + i, scene=2, step=i) for i in range(3)]     # no gap, new view
    assert groups(paths) == [["a0.jpg", "a1.jpg", "a2.jpg"], ["b0.jpg", "b1.jpg", "b2.jpg"]]


def test_two_cameras_shooting_at_the_same_time_are_separate_bursts(tmp_path):
    paths = [shot(tmp_path, f"n{i}.jpg", i, scene=1, camera=NORTH, step=i) for i in range(3)]
    paths += [shot(tmp_path, f"s{i}.jpg", i, scene=1, camera=SOUTH, step=i) for i in range(3)]
    assert groups(paths) == [["n0.jpg", "n1.jpg", "n2.jpg"], ["s0.jpg", "s1.jpg", "s2.jpg"]]


def test_a_photo_without_exif_goes_by_its_file_time(tmp_path):
    paths = [shot(tmp_path, f"a{i}.jpg", i, scene=1, camera=None, step=i) for i in range(3)]
    late = shot(tmp_path, "late.jpg", 60, scene=1, camera=None, step=3)
    with Image.open(late) as im:
        assert not im.getexif()
    assert groups(paths + [late]) == [["a0.jpg", "a1.jpg", "a2.jpg"], ["late.jpg"]]


def test_burst_ids_are_the_same_whatever_order_the_photos_come_in(tmp_path):
    planted = write_camera_folder(tmp_path / "cam", visits=12, seed=3, size=(160, 120), quick_change_share=0)
    paths = [p for b in planted for p in b.paths]
    first, again = find_bursts(paths), find_bursts(list(reversed(paths)))
    assert [(b.id, b.paths) for b in first] == [(b.id, b.paths) for b in again]
    assert len({b.id for b in first}) == len(first)
    assert score_grouping([b.paths for b in first], planted)["exact"] == len(planted)


def test_a_frame_without_a_time_or_hash_is_a_burst_of_its_own():
    frames = [("a", "cam", 0.0, 0), ("b", "cam", 1.0, 0), ("c", "cam", None, 0), ("d", "cam", 2.0, None)]
    assert group_frames(frames) == [[0, 1], [3], [2]]


def _answers(paths: list[str], answers: dict) -> list[ClassifiedImage]:
    return with_bursts([ClassifiedImage(p, answers[os.path.basename(p)]) for p in paths])


def test_sorting_per_burst_never_splits_a_burst(tmp_path):
    src = tmp_path / "cam"
    paths = [shot(src, f"a{i}.jpg", i, scene=1, step=i) for i in range(4)]
    paths.append(shot(src, "lone.jpg", 100, scene=5))
    answers = {"a0.jpg": (("bird", 0.7), ("plane", 0.3)), "a1.jpg": (("bird", 0.8), ("plane", 0.2)),
               "a2.jpg": (("plane", 0.9), ("bird", 0.1)), "a3.jpg": (("bird", 0.6), ("plane", 0.4)),
               "lone.jpg": (("plane", 0.95), ("bird", 0.05))}
    results = _answers(paths, answers)
    assert len({r.burst for r in results[:4]}) == 1 and results[4].burst != results[0].burst
    before = tree(src)

    split = sort_classified(results, src, tmp_path / "photo-by-photo")
    assert {f.category for f in split.done if "a" in os.path.basename(f.src)[0]} == {"bird", "plane"}

    report = sort_classified(results, src, tmp_path / "by-burst", by_burst=True)
    where = {os.path.basename(f.src): f.category for f in report.done}
    assert {where[f"a{i}.jpg"] for i in range(4)} == {"bird"}          # mean: bird 0.55, plane 0.45
    assert where["lone.jpg"] == "plane"
    by_burst = {r.path: r for r in per_burst(results)}
    assert by_burst[paths[2]].top == (("bird", pytest.approx(0.55)), ("plane", pytest.approx(0.45)))
    assert tree(src) == before                                           # copies: nothing lost

    unsure = sort_classified(results, src, tmp_path / "review", threshold=0.6, by_burst=True)
    assert {f.category for f in unsure.done if os.path.basename(f.src).startswith("a")} == {"_review"}


def test_classify_folder_names_each_photos_burst_and_the_csv_keeps_it(tmp_path):
    src = tmp_path / "cam"
    paths = [shot(src, f"a{i}.jpg", i, scene=1, step=i) for i in range(3)]
    paths.append(shot(src, "b.jpg", 50, scene=2))
    predictor = FakePredictor(["bird", "plane"], {os.path.basename(p): ("bird", 0.8) for p in paths})
    results = classify_folder(predictor, src)
    assert [r.burst for r in results] == ["burst-0001"] * 3 + ["burst-0002"]

    out = write_csv(results, tmp_path / "answers.csv", folder=src)
    with open(out, encoding="utf-8-sig", newline="") as f:
        header, *rows = list(csv.reader(f))
    assert header[-2:] == ["folder", "burst"] and header[:3] == ["path", "class", "probability"]
    assert [r[-1] for r in rows] == ["burst-0001"] * 3 + ["burst-0002"]
    assert [r.burst for r in read_answers(out).results] == [r.burst for r in results]


def test_a_csv_written_before_bursts_still_reads(tmp_path):
    photo = shot(tmp_path / "cam", "a.jpg", 0, scene=1)
    old = tmp_path / "old.csv"
    old.write_text("path,class,probability,class_2,probability_2,captured,error,folder\r\n"
                   f"{photo},bird,0.900000,plane,0.100000,,,{tmp_path / 'cam'}\r\n", encoding="utf-8-sig")
    (back,) = read_answers(old).results
    assert back.path == photo and back.label == "bird" and back.burst is None
    report = sort_classified([back], tmp_path / "cam", tmp_path / "out", by_burst=True)
    assert [f.category for f in report.done] == ["bird"]


def test_fledge_classify_by_burst_sorts_whole_bursts(tmp_path, monkeypatch, capsys):
    import argparse

    from core.cli import photos

    src = tmp_path / "cam"
    for i in range(3):
        shot(src, f"a{i}.jpg", i, scene=1, step=i)
    answers = {"a0.jpg": ("bird", 0.9), "a1.jpg": ("plane", 0.6), "a2.jpg": ("bird", 0.7)}
    fake = FakePredictor(["bird", "plane"], answers)
    monkeypatch.setattr(photos, "_load_predictor", lambda path, device: fake)
    (tmp_path / "model.pt").write_bytes(b"not read: the predictor is a fake")
    parser = argparse.ArgumentParser()
    photos.register(parser.add_subparsers())

    def run(*args):
        parsed = parser.parse_args(["classify", *map(str, args)])
        return parsed.func(parsed)

    assert run(tmp_path / "model.pt", src, "--by-burst") == 2           # needs --sort-into
    assert "--by-burst needs --sort-into" in capsys.readouterr().err
    csv_path = tmp_path / "a.csv"
    assert run(tmp_path / "model.pt", src, "--sort-into", tmp_path / "out", "--by-burst", "--csv", csv_path) == 0
    assert "3 of them in 1 burst" in capsys.readouterr().err
    assert sorted(os.listdir(tmp_path / "out" / "bird")) == ["a0.jpg", "a1.jpg", "a2.jpg"]
    # Again from the CSV, photo by photo: the burst is split.
    assert run("--from-csv", csv_path, "--sort-into", tmp_path / "again") == 0
    assert sorted(os.listdir(tmp_path / "again" / "plane")) == ["a1.jpg"]


def test_the_bench_scores_grouping_and_key_presses_against_the_planted_bursts():
    from core.bench.burst_camera import PlantedBurst

    planted = [PlantedBurst(("a", "b", "c"), "cam", "bird"), PlantedBurst(("d", "e"), "cam", "plane"),
               PlantedBurst(("f",), "cam", "bird")]
    exact = score_grouping([("a", "b", "c"), ("d", "e"), ("f",)], planted)
    assert (exact["precision"], exact["recall"], exact["exact"]) == (1.0, 1.0, 3)
    assert (exact["keys_photo_by_photo"], exact["keys_burst_by_burst"]) == (6, 3)
    merged = score_grouping([("a", "b", "c", "d", "e"), ("f",)], planted)     # two bursts taken as one
    assert merged["precision"] == pytest.approx(4 / 10) and merged["recall"] == 1.0
    assert merged["keys_burst_by_burst"] == 2 + 2                             # d and e labelled again
    split = score_grouping([("a",), ("b", "c"), ("d", "e"), ("f",)], planted)
    assert split["precision"] == 1.0 and split["recall"] == pytest.approx(2 / 4)


def test_fledge_bench_bursts_prints_the_figures(capsys):
    from core.cli.main import main

    assert main(["bench", "--bursts", "--images", "6"]) == 0
    out = capsys.readouterr().out
    assert "key presses to label it" in out and "precision=" in out and "keys_burst_by_burst=" in out

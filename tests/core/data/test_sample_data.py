"""core.data.sample_data: the bird/plane sample folder."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
from PIL import Image

from core.data.dataset import scan_dataset
from core.errors import DatasetError
from core.data.sample_data import CLASSES, MARKER, draw_sample, write_sample_data


def _files(root) -> list[str]:
    return sorted(os.path.relpath(os.path.join(d, f), root)
                  for d, _, fs in os.walk(root) for f in fs if not f.startswith("."))


def test_writes_the_layout_and_scans_as_two_classes(tmp_path):
    dest = write_sample_data(tmp_path / "sample", per_class=10, size=32, seed=0)
    assert dest == str(tmp_path / "sample")
    files = _files(dest)
    assert len(files) == 20
    for split, n in (("train", 8), ("val", 2)):
        for cls in CLASSES:
            got = [f for f in files if f.startswith(os.path.join(split, cls) + os.sep)]
            assert len(got) == n and all(f.endswith(".jpg") for f in got)
    with Image.open(os.path.join(dest, files[0])) as im:
        assert im.size == (32, 32) and im.mode == "RGB"
    ds = scan_dataset(dest)
    assert ds.layout == "split-folders" and ds.classes == ["bird", "plane"]
    assert ds.counts() == {"train": {"bird": 8, "plane": 8}, "val": {"bird": 2, "plane": 2},
                           "test": {"bird": 0, "plane": 0}}
    assert not ds.skipped
    assert os.path.isfile(os.path.join(dest, MARKER))


def _contents(root) -> dict[str, bytes]:
    return {f: open(os.path.join(root, f), "rb").read() for f in _files(root)}


def test_same_seed_same_pictures(tmp_path):
    a = _contents(write_sample_data(tmp_path / "a", per_class=6, size=24, seed=7))
    b = _contents(write_sample_data(tmp_path / "b", per_class=6, size=24, seed=7))
    c = _contents(write_sample_data(tmp_path / "c", per_class=6, size=24, seed=8))
    assert a == b
    assert a.keys() == c.keys() and a != c
    assert len(set(a.values())) == len(a)            # no two pictures alike


def test_pictures_vary_and_classes_differ():
    rng = np.random.default_rng(0)
    birds = np.stack([np.asarray(draw_sample("bird", 32, rng), dtype=float) for _ in range(20)])
    planes = np.stack([np.asarray(draw_sample("plane", 32, rng), dtype=float) for _ in range(20)])
    assert birds.std(axis=0).mean() > 10 and planes.std(axis=0).mean() > 10
    # Silhouettes stand out from their sky: each picture has strong local contrast.
    for im in np.concatenate([birds, planes]):
        gray = im.mean(axis=2)
        assert np.abs(np.diff(gray, axis=1)).max() > 20
    with pytest.raises(ValueError):
        draw_sample("cat", 32, rng)


def test_refuses_a_folder_with_other_files(tmp_path):
    mine = tmp_path / "photos"
    mine.mkdir()
    (mine / "holiday.jpg").write_bytes(b"precious")
    with pytest.raises(DatasetError) as e:
        write_sample_data(mine, per_class=4, size=16)
    assert "not empty" in str(e.value)
    assert os.listdir(mine) == ["holiday.jpg"]
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(DatasetError):
        write_sample_data(f, per_class=4, size=16)


def test_empty_folder_is_fine(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / ".DS_Store").write_bytes(b"Bud1")     # left by a file manager
    write_sample_data(tmp_path / "empty", per_class=3, size=16)
    assert len(_files(tmp_path / "empty")) == 6


def test_rewrites_an_earlier_sample_and_drops_its_extra_pictures(tmp_path):
    dest = tmp_path / "s"
    write_sample_data(dest, per_class=10, size=16)
    (dest / "train" / "bird" / "mine.jpg").write_bytes(b"a user's own file")
    write_sample_data(dest, per_class=5, size=16)
    files = _files(dest)
    assert os.path.join("train", "bird", "mine.jpg") in files          # not ours: kept
    ours = [f for f in files if not f.endswith("mine.jpg")]
    assert len(ours) == 10
    marker = json.loads((dest / MARKER).read_text())
    assert marker["per_class"] == 5 and len(marker["files"]) == 10


@pytest.mark.parametrize("kw", [{"per_class": 1}, {"size": 8}, {"size": 5000}])
def test_bad_arguments(tmp_path, kw):
    with pytest.raises(DatasetError):
        write_sample_data(tmp_path / "x", **kw)

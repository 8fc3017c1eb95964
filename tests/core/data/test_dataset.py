"""core.data.dataset: layouts, the automatic split, skipped files, and errors a person can act on."""
from __future__ import annotations

import json
import os
import shutil

import pytest
from PIL import Image

from core.data import imageio
from core.data.dataset import NOT_IN_CLASS, Dataset, Sample, scan_dataset
from core.data.split import split_class
from core.errors import DatasetError, FledgeError


def _splits(ds: Dataset) -> dict[str, str]:
    """path -> split name"""
    return {s.path: name for name in ("train", "val", "test") for s in ds.split(name)}


def _names(samples) -> list[str]:
    return [os.path.basename(s.path) for s in samples]


# -- layouts ---------------------------------------------------------------------------

def test_class_folders_are_split_automatically(make_image_folder):
    root = make_image_folder(classes={"plane": 12, "bird": 12, "Ant": 12})
    ds = scan_dataset(root)
    assert ds.layout == "class-folders"
    assert ds.classes == ["Ant", "bird", "plane"]
    assert ds.root == str(root)
    counts = ds.counts()
    for cls in ds.classes:
        assert counts["train"][cls] + counts["val"][cls] == 12
        assert counts["val"][cls] >= 1 and counts["train"][cls] >= 1
        assert counts["test"][cls] == 0
    paths = [s.path for s in ds.train + ds.val]
    assert len(paths) == len(set(paths)) == 36
    for s in ds.train + ds.val:
        assert os.path.isabs(s.path)
        assert os.path.basename(os.path.dirname(s.path)) == ds.classes[s.label]
    assert not ds.skipped


def test_split_folders(make_image_folder):
    root = make_image_folder(layout="split", classes={"bird": {"train": 5, "val": 2, "test": 1},
                                                      "plane": {"train": 4, "val": 3}},
                             splits=("train", "val", "test"))
    ds = scan_dataset(root)
    assert ds.layout == "split-folders"
    assert ds.classes == ["bird", "plane"]
    assert ds.counts() == {"train": {"bird": 5, "plane": 4}, "val": {"bird": 2, "plane": 3},
                           "test": {"bird": 1, "plane": 0}}
    assert all(f"{os.sep}train{os.sep}" in s.path for s in ds.train)
    assert all(f"{os.sep}val{os.sep}" in s.path for s in ds.val)
    assert any("test" in w and "plane" in w for w in ds.warnings)


@pytest.mark.parametrize("train,val,test", [
    ("train", "val", None), ("Train", "Validation", "Test"), ("TRAIN", "valid", "testing"),
    ("training", "VAL", None), ("train", "validation", "TEST"),
])
def test_split_folder_names_any_case(make_image_folder, train, val, test):
    splits = tuple(s for s in (train, val, test) if s)
    root = make_image_folder(layout="split", classes={"bird": 3, "plane": 3}, splits=splits, size=16)
    ds = scan_dataset(root)
    assert ds.layout == "split-folders"
    assert len(ds.train) == 6 and len(ds.val) == 6 and len(ds.test) == (6 if test else 0)
    assert all(f"{os.sep}{val}{os.sep}" in s.path for s in ds.val)


def test_train_folder_without_val_folder_sets_part_aside(make_image_folder):
    root = make_image_folder(layout="split", classes={"bird": 10, "plane": 10}, splits=("train",))
    ds = scan_dataset(root)
    assert ds.layout == "split-folders"
    assert ds.counts()["val"]["bird"] >= 1 and ds.counts()["val"]["plane"] >= 1
    assert len(ds.train) + len(ds.val) == 20
    assert any("no validation folder" in w for w in ds.warnings)


def test_nested_pictures_count_for_their_class(make_image_folder):
    root = make_image_folder(classes={"bird": 4, "plane": 4}, size=16)
    (root / "bird" / "2024" / "may").mkdir(parents=True)
    shutil.copy(root / "bird" / "bird_000.png", root / "bird" / "2024" / "may" / "deep.png")
    ds = scan_dataset(root)
    assert ds.counts()["train"]["bird"] + ds.counts()["val"]["bird"] == 5
    assert "deep.png" in _names(ds.train + ds.val)
    assert ds.classes == ["bird", "plane"]


def test_hidden_files_and_folders_are_ignored(make_image_folder):
    root = make_image_folder(classes={"bird": 4, "plane": 4}, size=16)
    (root / ".thumbnails").mkdir()
    shutil.copy(root / "bird" / "bird_000.png", root / ".thumbnails" / "t.png")
    (root / "bird" / ".cache").mkdir()
    shutil.copy(root / "bird" / "bird_000.png", root / "bird" / ".cache" / "c.png")
    (root / "bird" / "._bird_000.png").write_bytes(b"\x00\x05\x16\x07 resource fork")
    (root / "plane" / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (root / "plane" / "notes.txt").write_text("taken in May")
    ds = scan_dataset(root)
    assert ds.classes == ["bird", "plane"]
    assert len(ds.train) + len(ds.val) == 8
    assert not ds.skipped


def test_symlink_cycle_in_dataset_terminates(make_image_folder):
    root = make_image_folder(classes={"bird": 3, "plane": 3}, size=16)
    try:
        os.symlink(root, root / "bird" / "loop")
    except OSError:
        pytest.skip("cannot make symbolic links here")
    ds = scan_dataset(root)
    assert len(ds.train) + len(ds.val) <= 3 + 3 + 6          # the loop is entered at most once
    assert ds.classes == ["bird", "plane"]


# -- the automatic split ----------------------------------------------------------------

def test_split_is_deterministic_for_a_seed(make_image_folder):
    root = make_image_folder(classes={"bird": 20, "plane": 20}, size=16)
    a, b = scan_dataset(root, seed=3), scan_dataset(root, seed=3)
    assert a.train == b.train and a.val == b.val
    c = scan_dataset(root, seed=4)
    assert _splits(a) != _splits(c)


def test_split_is_stable_when_files_are_added(make_image_folder):
    root = make_image_folder(classes={"bird": 30, "plane": 30}, size=16)
    before = _splits(scan_dataset(root, seed=0))
    for cls in ("bird", "plane"):
        for i in range(30):
            shutil.copy(root / cls / f"{cls}_{i:03d}.png", root / cls / f"new_{i:03d}.png")
    after = _splits(scan_dataset(root, seed=0))
    assert len(after) == 120
    moved = [p for p, split in before.items() if after[p] != split]
    assert moved == []


def test_split_depends_on_path_inside_class_not_on_root(make_image_folder, tmp_path):
    root = make_image_folder(classes={"bird": 15, "plane": 15}, size=16)
    moved = tmp_path / "elsewhere" / "copy"
    shutil.copytree(root, moved)
    a = {os.path.relpath(p, root): s for p, s in _splits(scan_dataset(root)).items()}
    b = {os.path.relpath(p, moved): s for p, s in _splits(scan_dataset(moved)).items()}
    assert a == b


def test_split_class_fractions_and_minimums():
    items = [(f"/d/x/{i}.jpg", f"{i}.jpg") for i in range(1000)]
    parts = split_class(items, "x", 0, 0.2, 0.1)
    assert sorted(sum(parts.values(), [])) == sorted(p for p, _ in items)
    assert 150 < len(parts["val"]) < 250 and 60 < len(parts["test"]) < 140
    for n in range(1, 8):
        for seed in range(20):
            few = items[:n]
            p = split_class(few, "x", seed, 0.2, 0.0)
            assert len(p["train"]) >= 1
            assert len(p["val"]) >= (1 if n >= 2 else 0)
            assert not p["test"]
            q = split_class(few, "x", seed, 0.2, 0.2)
            assert len(q["train"]) >= 1 and len(q["val"]) >= (1 if n >= 2 else 0)
            assert len(q["test"]) >= (1 if n >= 3 else 0)
            assert sum(map(len, q.values())) == n


def test_every_class_of_three_or_more_gets_validation_pictures(make_image_folder):
    root = make_image_folder(classes={f"c{i}": 2 + i % 3 for i in range(8)}, size=16)
    ds = scan_dataset(root, seed=1)
    counts = ds.counts()
    for cls in ds.classes:
        n = counts["train"][cls] + counts["val"][cls]
        assert counts["train"][cls] >= 1 and (counts["val"][cls] >= 1 if n >= 3 else counts["val"][cls] == 0)


def test_test_fraction_makes_a_test_split(make_image_folder):
    root = make_image_folder(classes={"bird": 20, "plane": 20}, size=16)
    ds = scan_dataset(root, val_fraction=0.2, test_fraction=0.2)
    counts = ds.counts()
    assert all(counts["test"][c] >= 1 for c in ds.classes)
    assert len(ds.train) + len(ds.val) + len(ds.test) == 40
    assert not set(_names(ds.test)) & set(_names(ds.val))
    assert "test" in ds.summary()


# -- unusable files ----------------------------------------------------------------------

def test_unusable_files_are_skipped_with_reasons(make_image_folder, tmp_path):
    root = make_image_folder(classes={"bird": 12, "plane": 12}, size=24, fmt="jpg")
    bird, plane = root / "bird", root / "plane"
    (bird / "empty.jpg").write_bytes(b"")
    data = (bird / "bird_000.jpg").read_bytes()
    (bird / "cut.JPG").write_bytes(data[: len(data) // 2])
    (plane / "readme.jpg").write_text("not a picture")
    (plane / "IMG_0001.HEIC").write_bytes(b"\x00\x00\x00\x18ftypheic")
    (plane / "clip.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42")
    (plane / "notes.txt").write_text("ignored silently")
    (root / "loose.png").write_bytes((root / "plane" / "plane_000.jpg").read_bytes())
    ds = scan_dataset(root)
    reasons = {os.path.basename(s.path): s.reason for s in ds.skipped}
    assert reasons["empty.jpg"] == imageio.EMPTY
    assert reasons["cut.JPG"] == imageio.DAMAGED
    assert reasons["readme.jpg"] == imageio.NOT_IMAGE
    assert "HEIC" in reasons["IMG_0001.HEIC"]
    assert "video" in reasons["clip.mp4"]
    assert reasons["loose.png"] == NOT_IN_CLASS
    assert "notes.txt" not in reasons
    assert len(ds.skipped) == 6
    used = _names(ds.train + ds.val)
    assert len(used) == 24 and not set(reasons) & set(used)
    text = ds.summary()
    assert "Skipped 6 files" in text and "cut.JPG" in text and imageio.DAMAGED in text
    assert any("6 files could not be used" in w for w in ds.warnings)


def test_verify_false_does_not_open_files(make_image_folder):
    root = make_image_folder(classes={"bird": 3, "plane": 3}, size=16)
    (root / "bird" / "broken.png").write_bytes(b"garbage")
    assert "broken.png" not in _names(scan_dataset(root).train + scan_dataset(root).val)
    ds = scan_dataset(root, verify=False)
    assert "broken.png" in _names(ds.train + ds.val)


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_decompression_bomb_is_skipped(make_image_folder, monkeypatch):
    root = make_image_folder(classes={"bird": 3, "plane": 3}, size=16)
    Image.new("RGB", (64, 64)).save(root / "bird" / "huge.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 40 * 40)
    ds = scan_dataset(root)
    (bomb,) = ds.skipped
    assert os.path.basename(bomb.path) == "huge.png" and "too large" in bomb.reason


@pytest.mark.parametrize("slow_disk", [False, True])
def test_many_files_report_progress(make_image_folder, monkeypatch, slow_disk):
    import core.data.folder_scan
    # On a slow disk (here: pretended) the checks run in threads; the result is the same.
    monkeypatch.setattr(core.data.folder_scan, "SLOW_CHECK_S", -1.0 if slow_disk else 1e9)
    root = make_image_folder(classes={"bird": 40, "plane": 40}, size=8)
    (root / "plane" / "bad.png").write_bytes(b"nope")
    seen = []
    ds = scan_dataset(root, progress=lambda done, total: seen.append((done, total)))
    assert seen and seen[-1] == (81, 81)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert [os.path.basename(s.path) for s in ds.skipped] == ["bad.png"]
    assert len(ds.train) + len(ds.val) == 80


# -- errors a person can act on ---------------------------------------------------------

def _error(root, **kw) -> str:
    with pytest.raises(DatasetError) as e:
        scan_dataset(root, **kw)
    assert isinstance(e.value, FledgeError)
    return str(e.value)


def test_missing_folder(tmp_path):
    assert "does not exist" in _error(tmp_path / "nothing-here")


def test_path_is_a_file(tmp_path):
    f = tmp_path / "photo.jpg"
    f.write_bytes(b"x")
    assert "not a folder" in _error(f)


def test_empty_folder(tmp_path):
    msg = _error(tmp_path)
    assert "no class folders" in msg and "one subfolder per class" in msg


def test_pictures_without_class_folders(make_image_folder, tmp_path):
    root = make_image_folder(classes={"x": 3}, size=16)
    flat = tmp_path / "flat"
    shutil.move(str(root / "x"), flat)
    msg = _error(flat)
    assert "3 pictures but no class folders" in msg and "flat/bird" in msg
    assert "one subfolder per class" in msg and "bird" in msg


def test_one_class_only(make_image_folder):
    msg = _error(make_image_folder(classes={"bird": 5}, size=16))
    assert "only one class" in msg and "'bird'" in msg and "at least two" in msg


def test_an_empty_class_folder_is_left_out_with_a_note_not_an_error(make_image_folder):
    root = make_image_folder(classes={"bird": 3, "plane": 3}, size=16)
    (root / "owl").mkdir()                          # made by "New class" before any photo was labelled
    ds = scan_dataset(root)
    assert ds.classes == ["bird", "plane"]
    assert any("'owl'" in w and "empty" in w and "left out" in w for w in ds.warnings)


def test_an_empty_class_folder_in_a_split_layout_is_left_out_too(make_image_folder):
    root = make_image_folder(layout="split", classes={"bird": 3, "plane": 3}, size=16)
    (root / "train" / "owl").mkdir()
    (root / "val" / "owl").mkdir()
    ds = scan_dataset(root)
    assert ds.classes == ["bird", "plane"] and any("'owl'" in w and "empty" in w for w in ds.warnings)


def test_only_one_class_with_photos_says_which_are_still_empty(make_image_folder):
    root = make_image_folder(classes={"bird": 3}, size=16)
    (root / "lemming").mkdir()
    msg = _error(root)
    assert "Only 'bird' has photos" in msg and "'lemming'" in msg and "still empty" in msg


def test_class_folder_with_only_broken_files(make_image_folder):
    root = make_image_folder(classes={"bird": 3, "plane": 3}, size=16)
    (root / "owl").mkdir()
    (root / "owl" / "a.jpg").write_bytes(b"")
    msg = _error(root)
    assert "owl" in msg and "could not be used" in msg and imageio.EMPTY in msg


@pytest.mark.parametrize("n", [1, 2])
def test_a_class_of_one_or_two_photos_keeps_them_all_for_training_and_says_so(make_image_folder, n):
    root = make_image_folder(classes={"bird": 12, "lemming": n}, size=16)
    for seed in range(5):                          # wherever the split's hash would put them
        ds = scan_dataset(root, seed=seed)
        counts = ds.counts()
        assert counts["train"]["lemming"] == n and counts["val"]["lemming"] == 0
        assert counts["val"]["bird"] >= 1
    thin = [w for w in ds.warnings if "'lemming'" in w and "none is kept to check the model" in w]
    assert len(thin) == 1 and "guesses" in thin[0] and "Label more photos" in thin[0]


def test_three_photos_of_a_class_still_give_one_to_validation(make_image_folder):
    ds = scan_dataset(make_image_folder(classes={"bird": 12, "lemming": 3}, size=16))
    assert ds.counts()["val"]["lemming"] >= 1
    assert not any("none is kept to check the model" in w for w in ds.warnings)


def test_a_thin_class_without_validation_photos_is_welcome_in_a_split_layout(make_image_folder):
    root = make_image_folder(layout="split", classes={"bird": 3, "vole": {"train": 2}}, size=16)
    ds = scan_dataset(root)
    assert ds.counts()["train"]["vole"] == 2 and ds.counts()["val"]["vole"] == 0
    assert any("'vole' (2)" in w for w in ds.warnings)


def test_class_missing_from_val(make_image_folder):
    root = make_image_folder(layout="split", classes={"bird": 3, "plane": {"train": 3}}, size=16)
    msg = _error(root)
    assert "'plane' has no validation pictures" in msg
    assert os.path.join("val", "plane") in msg and "one folder per class" in msg


def test_class_missing_from_val_because_of_case(make_image_folder):
    root = make_image_folder(layout="split", classes={"bird": 3, "Plane": {"train": 3},
                                                      "plane": {"val": 2}}, size=16)
    msg = _error(root)
    assert "'Plane' has no validation pictures" in msg and "'plane'" in msg


def test_class_only_in_val(make_image_folder):
    root = make_image_folder(layout="split", classes={"bird": 3, "plane": 3, "owl": {"val": 2}}, size=16)
    msg = _error(root)
    assert "'owl'" in msg and "no training pictures" in msg


def test_split_folder_without_class_folders(make_image_folder):
    root = make_image_folder(layout="split", classes={"bird": 3, "plane": 3}, size=16)
    for p in (root / "val").rglob("*.png"):
        shutil.move(str(p), root / "val" / p.name)
    for d in (root / "val").iterdir():
        if d.is_dir():
            d.rmdir()
    msg = _error(root)
    assert "no class folders" in msg and f"{root.name}/val/bird" in msg


def test_val_folder_without_train(make_image_folder):
    root = make_image_folder(layout="split", classes={"bird": 3, "plane": 3}, splits=("val",), size=16)
    msg = _error(root)
    assert "no train folder" in msg


def test_two_validation_folders(make_image_folder):
    root = make_image_folder(layout="split", classes={"bird": 3, "plane": 3},
                             splits=("train", "val", "validation"), size=16)
    msg = _error(root)
    assert "more than one validation folder" in msg


@pytest.mark.parametrize("val,test", [(0, 0), (1.0, 0), (0.5, 0.5), (0.2, -0.1)])
def test_bad_fractions(make_image_folder, val, test):
    root = make_image_folder(classes={"bird": 3, "plane": 3}, size=16)
    assert "between 0 and 1" in _error(root, val_fraction=val, test_fraction=test)


# -- warnings, summary, round trip -------------------------------------------------------

def test_warnings_for_imbalance_and_few_pictures(make_image_folder):
    root = make_image_folder(classes={"bird": 60, "plane": 6}, size=8)
    ds = scan_dataset(root)
    text = " ".join(ds.warnings)
    assert "unbalanced" in text and "'bird'" in text
    assert "Very few training pictures" in text and "'plane'" in text
    balanced = scan_dataset(make_image_folder(name="ok", classes={"bird": 20, "plane": 20}, size=8))
    assert not balanced.warnings


def test_summary_lists_classes_and_counts(make_image_folder):
    ds = scan_dataset(make_image_folder(classes={"bird": 12, "plane": 12}, size=16))
    text = ds.summary()
    c = ds.counts()
    assert "Classes: 2" in text and "one folder per class" in text and "seed 0" in text
    bird_line = next(line for line in text.splitlines() if line.strip().startswith("bird"))
    assert bird_line.split()[1:] == [str(c["train"]["bird"]), str(c["val"]["bird"])]


def test_to_dict_is_json_and_round_trips(make_image_folder):
    root = make_image_folder(classes={"bird": 6, "plane": 6}, size=16)
    (root / "bird" / "bad.jpg").write_bytes(b"")
    ds = scan_dataset(root, seed=5)
    d = json.loads(json.dumps(ds.to_dict()))
    assert d["classes"] == ["bird", "plane"] and d["counts"] == ds.counts()
    back = Dataset.from_dict(d)
    assert back == ds
    assert isinstance(back.train[0], Sample)

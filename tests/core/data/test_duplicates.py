"""Duplicate photos: exact and near copies are found, the ones across train/val are reported with the
share that inflates the score, the Trainer warns, and keeping one copy moves (never deletes) the rest."""
from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
from PIL import Image

from core.data.dataset import scan_dataset
from core.data.duplicates import duplicate_groups, find_duplicates, hash_photos, near_pairs
from core.data.duplicates_keep import SetAside, set_aside_folder
from core.training.config import TrainConfig
from core.training.events import Message
from core.training.trainer import Trainer
from tests.file_trees import tree


def near_copy(src, dst) -> None:
    """A resized, recompressed copy: other bytes, the same picture."""
    with Image.open(src) as im:
        w, h = im.size
        im.convert("RGB").resize((w * 3 // 4, h * 3 // 4)).save(dst, "JPEG", quality=70)


def blob_photo(path, seed: int, size: int = 64) -> None:
    """A smooth random picture, unlike any other seed's (shapes drawn on noise look alike to a
    perceptual hash, as real photos of one subject from one spot do)."""
    rng = np.random.default_rng(seed)
    small = Image.fromarray(rng.integers(0, 256, (6, 6, 3), dtype=np.uint8))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    small.resize((size, size), Image.BICUBIC).save(path, "JPEG", quality=90)


def blob_folder(root, counts: dict) -> None:
    """root/<split>/<class>/<class>_NNN.jpg for counts {(split, class): n}."""
    for n_folder, ((split, cls), n) in enumerate(sorted(counts.items())):
        for i in range(n):
            blob_photo(os.path.join(root, split, cls, f"{cls}_{i:03d}.jpg"), 1000 * n_folder + i)


@pytest.fixture
def leaky(tmp_path):
    """train/ and val/ with 10 + 5 photos per class; planted: two training photos copied into val
    (one exact, one near copy) and one training photo twice in training."""
    root = tmp_path / "data"
    blob_folder(root, {("train", "bird"): 10, ("val", "bird"): 5, ("train", "plane"): 10, ("val", "plane"): 5})
    shutil.copy2(root / "train/bird/bird_003.jpg", root / "val/bird/copy_of_bird_003.jpg")
    near_copy(root / "train/plane/plane_007.jpg", root / "val/plane/resized_plane_007.jpg")
    shutil.copy2(root / "train/plane/plane_001.jpg", root / "train/plane/plane_001 again.jpg")
    return root


def test_a_folder_without_copies_has_no_duplicates(tmp_path):
    root = tmp_path / "data"
    blob_folder(root, {("train", "bird"): 40, ("train", "plane"): 40, ("val", "bird"): 20, ("val", "plane"): 20})
    report = find_duplicates(scan_dataset(root))
    assert report.groups == [] and report.leak_warning() == ""


def test_planted_copies_are_found_and_the_leaks_reported(leaky):
    report = find_duplicates(scan_dataset(leaky))
    found = {frozenset(os.path.basename(c.path) for c in g.copies): g for g in report.groups}
    assert set(found) == {frozenset({"bird_003.jpg", "copy_of_bird_003.jpg"}),
                          frozenset({"plane_007.jpg", "resized_plane_007.jpg"}),
                          frozenset({"plane_001.jpg", "plane_001 again.jpg"})}
    exact = {k: g.exact for k, g in found.items()}
    assert exact[frozenset({"bird_003.jpg", "copy_of_bird_003.jpg"})]
    assert not exact[frozenset({"plane_007.jpg", "resized_plane_007.jpg"})]
    assert len(report.leaking) == 2                                  # the copy inside training does not leak
    assert report.counts["val"] == 12 and report.twins_in_train["val"] == 2
    assert report.leak_share("val") == pytest.approx(2 / 12)
    warning = report.leak_warning()
    assert "2 of the 12 validation photos" in warning and "16.7 points" in warning
    for g in report.leaking:                                         # keep the training copy
        assert g.keep().split == "train" and [c.split for c in g.extras()] == ["val"]


def test_the_split_is_the_datasets_own(tmp_path):
    """In one folder per class, whether a copy leaks follows the automatic split."""
    root = tmp_path / "data"
    for n, cls in enumerate(("bird", "plane")):
        for i in range(12):
            blob_photo(root / cls / f"{cls}_{i:03d}.jpg", 100 * n + i)
    for i in range(6):
        shutil.copy2(root / f"bird/bird_{i:03d}.jpg", root / f"bird/twin_{i:03d}.jpg")
    ds = scan_dataset(root)
    split_of = {s.path: name for name in ("train", "val", "test") for s in ds.split(name)}
    report = find_duplicates(ds)
    assert len(report.groups) == 6
    for g in report.groups:
        assert {c.split for c in g.copies} == {split_of[c.path] for c in g.copies}
        assert g.leaks == (len(g.splits) > 1)
    expected = sum(1 for g in report.groups for c in g.copies if c.split == "val" and "train" in g.splits)
    assert report.twins_in_train["val"] == expected


def test_near_pairs_and_groups_join_chains_of_copies(tmp_path):
    assert near_pairs([0b0, 0b111, 0b1111111, (1 << 64) - 1], max_distance=4) == [(0, 1, 3), (1, 2, 4)]
    a = tmp_path / "a.png"
    Image.new("RGB", (40, 40), (200, 30, 30)).save(a)
    shutil.copy(a, tmp_path / "b.png")
    (tmp_path / "broken.png").write_bytes(b"not a picture")
    hashes = hash_photos([str(a), str(tmp_path / "b.png"), str(tmp_path / "broken.png")])
    assert hashes[2].error and hashes[2].phash is None
    assert duplicate_groups(hashes) == [[0, 1]]


def test_trainer_warns_when_validation_photos_are_in_training(leaky, tmp_path):
    messages = []
    trainer = Trainer(TrainConfig(recipe="custom", epochs=1, arch="small_cnn", image_size=32, batch_size=16, workers=0),
                      scan_dataset(leaky), run_dir=str(tmp_path / "run"),
                      callbacks=[lambda ev: messages.append(ev) if isinstance(ev, Message) else None])
    ended = trainer.fit()
    assert ended.reason == "completed", ended.message
    warnings = [m.text for m in messages if m.level == "warning" and "also in training" in m.text]
    assert len(warnings) == 1 and "16.7 points too high" in warnings[0]


def test_trainer_says_nothing_without_leaks(tmp_path):
    root = tmp_path / "data"
    blob_folder(root, {("train", "bird"): 8, ("train", "plane"): 8, ("val", "bird"): 3, ("val", "plane"): 3})
    messages = []
    Trainer(TrainConfig(recipe="custom", epochs=1, arch="small_cnn", image_size=32, batch_size=16, workers=0),
            scan_dataset(root), run_dir=str(tmp_path / "run"), callbacks=[messages.append]).fit()
    assert not [m for m in messages if isinstance(m, Message) and "also in training" in m.text]


def test_keeping_one_copy_moves_the_extras_out_and_undo_puts_them_back(leaky):
    before = tree(leaky)
    report = find_duplicates(scan_dataset(leaky))
    extras = [c.path for g in report.groups for c in g.extras()]
    aside = SetAside(leaky)
    moves = aside.set_aside(extras)
    assert [m.src for m in moves] == extras
    outside = set_aside_folder(leaky)
    after = {**tree(leaky), **{os.path.join("..", os.path.basename(outside), k): v
                               for k, v in tree(outside).items()}}
    assert sorted(after.values()) == sorted(before.values())         # every photo is still somewhere
    assert os.path.isfile(os.path.join(outside, "val", "bird", "copy_of_bird_003.jpg"))
    rescanned = find_duplicates(scan_dataset(leaky))
    assert rescanned.groups == [] and rescanned.leak_warning() == ""
    assert aside.can_undo
    back = SetAside(leaky).undo_last()                               # a new session can undo it too
    assert sorted(m.restored_to for m in back) == sorted(extras)
    assert tree(leaky) == before
    assert not os.path.exists(outside)                               # the folder it made is gone again
    assert SetAside(leaky).undo_last() == []


def test_hashes_are_stored_so_a_later_run_reads_only_new_photos(tmp_path, monkeypatch):
    from core.data import duplicates

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "userdata"))
    monkeypatch.setattr(duplicates, "_cache", {})
    monkeypatch.setattr(duplicates, "_stored", {"loaded": False, "added": 0})
    for i in range(3):
        blob_photo(str(tmp_path / "p" / f"{i}.jpg"), seed=i)
    paths = sorted(str(p) for p in (tmp_path / "p").iterdir())
    first = hash_photos(paths)
    assert os.path.isfile(tmp_path / "userdata" / "fledge" / duplicates.CACHE_FILE)

    # A new process: nothing in memory; decoding now fails, so only stored hashes can answer.
    monkeypatch.setattr(duplicates, "_cache", {})
    monkeypatch.setattr(duplicates, "_stored", {"loaded": False, "added": 0})
    import core.data.imageio as imageio

    def no_decoding(*a, **k):
        raise AssertionError("a stored photo was decoded again")

    monkeypatch.setattr(imageio, "load_rgb", no_decoding)
    again = hash_photos(paths)
    assert [(h.sha256, h.phash) for h in again] == [(h.sha256, h.phash) for h in first]

    # A changed photo is hashed anew (its size or time differ), not taken from the store.
    monkeypatch.undo()
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "userdata"))
    blob_photo(paths[0], seed=99)
    changed = hash_photos(paths[:1])
    assert changed[0].sha256 != first[0].sha256


def test_a_damaged_hash_store_is_ignored(tmp_path, monkeypatch):
    from core.data import duplicates

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "userdata"))
    monkeypatch.setattr(duplicates, "_cache", {})
    monkeypatch.setattr(duplicates, "_stored", {"loaded": False, "added": 0})
    (tmp_path / "userdata" / "fledge").mkdir(parents=True)
    (tmp_path / "userdata" / "fledge" / duplicates.CACHE_FILE).write_text("[[1, 2", encoding="utf-8")
    blob_photo(str(tmp_path / "a.jpg"), seed=1)
    (h,) = hash_photos([str(tmp_path / "a.jpg")])
    assert h.phash is not None and h.error is None

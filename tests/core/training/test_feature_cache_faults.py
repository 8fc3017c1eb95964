"""The feature cache is only a cache: a damaged, cut-short or unreadable chunk is set aside and its
photos computed again, and a store that cannot be written (full, read-only, a file in the way) only
costs time. Either is said in one line; check-labels and quick training go on."""
from __future__ import annotations

import errno
import logging
import os

import numpy as np
import pytest

import core.training.feature_store as feature_store
from core.cli.main import main
from core.data.dataset import scan_dataset
from core.files import cache_faults
from core.training.config import TrainConfig
from core.training.feature_store import FeatureStore
from core.training.features import extract_features
from core.training.trainer import Trainer
from tests.core.training.test_features import backbone, photos, store  # noqa: F401 - fixtures


def said(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == cache_faults.__name__]


def _chunks(folder) -> list:
    return sorted(folder.glob("chunk-*.npz"))


def _cut_short(path):
    path.write_bytes(path.read_bytes()[: os.path.getsize(path) // 2])


def _garbage(path):
    path.write_bytes(os.urandom(os.path.getsize(path)))


def _flip_a_byte_of_the_vectors(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF                     # inside the stored vectors: the CRC no longer fits
    path.write_bytes(bytes(data))


def _wrong_shape(path):
    with np.load(path) as z:
        keys = z["keys"]
    with open(path, "wb") as f:
        np.savez(f, keys=keys, vectors=np.zeros((len(keys) - 1, 6), np.float32))


def _keys_not_names(path):
    with open(path, "wb") as f:
        np.savez(f, keys=np.zeros((2, 2)), vectors=np.zeros((2, 6), np.float32))


@pytest.mark.parametrize("damage", [_cut_short, _garbage, _flip_a_byte_of_the_vectors, _wrong_shape,
                                    _keys_not_names])
def test_a_damaged_chunk_is_set_aside_and_its_photos_computed_again(photos, store, caplog, damage):
    bb = backbone()
    first = extract_features(photos, bb, store=store)
    (chunk,) = _chunks(store.folder)
    damage(chunk)
    bb.network.images = 0
    again = extract_features(photos, bb, store=FeatureStore(store.folder, root=store.root))
    assert again.usable.all() and again.computed == len(photos)
    np.testing.assert_allclose(again.vectors, first.vectors, atol=1e-6)
    lines = said(caplog)
    assert lines == [f"The feature cache file {chunk} is damaged; Fledge ignores it and works out again "
                     "what it held."]
    assert chunk not in _chunks(store.folder)           # deleted: the next run is clean and quiet
    assert extract_features(photos, bb, store=FeatureStore(store.folder, root=store.root)).computed == 0


def _fail_writes(monkeypatch, exc: OSError) -> list:
    """Every chunk write fails with exc after writing part of the file (a full disk mid-write)."""
    real = feature_store.atomic_write
    tried = []

    def failing(path, write):
        def part_then_fail(f):
            f.write(b"PK\x03\x04 part of a chunk")
            raise exc
        tried.append(path)
        real(path, part_then_fail)
    monkeypatch.setattr(feature_store, "atomic_write", failing)
    return tried


def test_a_full_disk_is_said_once_naming_the_folder_and_features_still_come_back(
        photos, store, caplog, monkeypatch):
    tried = _fail_writes(monkeypatch, OSError(errno.ENOSPC, "No space left on device"))
    bb = backbone()
    got = extract_features(photos, bb, store=store)
    got_again = extract_features(photos, bb, store=store)
    assert got.usable.all() and got_again.computed == len(photos) and len(tried) == 2
    np.testing.assert_array_equal(got.vectors, got_again.vectors)
    assert said(caplog) == [f"The disk holding {store.folder} is full, so Fledge could not keep its feature "
                            "cache there. It goes on without it (the next run takes longer); free some space "
                            "to keep it."]
    assert os.listdir(store.folder) == []               # no half-written chunk or tmp file left


def test_a_file_in_the_way_of_the_store_is_said_and_ignored(photos, tmp_path, caplog):
    (tmp_path / "features").mkdir()
    (tmp_path / "features" / "b").write_text("a file where the store's folder should be")
    store = FeatureStore(tmp_path / "features" / "b" / "v", root=tmp_path / "features")
    got = extract_features(photos, backbone(), store=store)
    assert got.usable.all() and got.computed == len(photos)
    assert said(caplog) == [f"Fledge could not write its feature cache in {store.folder} (a file is where a "
                            "folder should be). It goes on without it (the next run takes longer)."]


def test_a_read_only_store_is_still_read(photos, store, caplog, monkeypatch):
    bb = backbone()
    extract_features(photos, bb, store=store)
    # Read-only (as root, chmod would not stop the writes): touching and writing chunks fail.
    def refuse(*args, **kwargs):
        raise PermissionError(errno.EROFS, "Read-only file system")
    monkeypatch.setattr(os, "utime", refuse)
    _fail_writes(monkeypatch, PermissionError(errno.EROFS, "Read-only file system"))
    bb.network.images = 0
    again = extract_features(photos, bb, store=FeatureStore(store.folder, root=store.root))
    assert again.computed == 0 and again.reused == len(photos) and bb.network.images == 0
    assert said(caplog) == []


def test_check_labels_goes_on_past_a_cut_short_chunk(make_image_folder, tmp_path, monkeypatch, capsys):
    import core.training.features as features
    from tests.core.photos.test_check_labels import grid_backbone

    monkeypatch.setattr(features, "default_backbone", lambda image_size=224: grid_backbone())
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "userdata"))
    root = make_image_folder(classes={"bird": 8, "owl": 8}, size=32)
    assert main(["check-labels", str(root)]) == 0
    (chunk,) = list((tmp_path / "userdata").rglob("chunk-*.npz"))
    _cut_short(chunk)
    capsys.readouterr()
    assert main(["check-labels", str(root)]) == 0
    out, err = capsys.readouterr()
    assert f"The feature cache file {chunk} is damaged" in err and "Traceback" not in out + err


def test_quick_training_completes_on_a_full_or_damaged_feature_cache(make_image_folder, tmp_path, monkeypatch,
                                                                     caplog):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    root = make_image_folder(classes={"bird": 5, "plane": 5}, size=40)
    ds = scan_dataset(root, val_fraction=0.3)
    n = len(ds.train) + len(ds.val)
    with monkeypatch.context() as m:                    # a full disk where the cache is, not the run folder
        _fail_writes(m, OSError(errno.ENOSPC, "No space left on device"))
        full = Trainer(TrainConfig(recipe="quick", epochs=2), ds, run_dir=str(tmp_path / "r1"))
        ended = full.fit()
    assert ended.reason == "completed", ended.message
    assert "The disk holding" in " ".join(said(caplog)) and os.path.isfile(ended.best_model)
    Trainer(TrainConfig(recipe="quick", epochs=2), ds, run_dir=str(tmp_path / "r2")).fit()
    (chunk,) = list((tmp_path / "xdg").rglob("chunk-*.npz"))
    _cut_short(chunk)
    again = Trainer(TrainConfig(recipe="quick", epochs=2), ds, run_dir=str(tmp_path / "r3"))
    ended = again.fit()
    assert ended.reason == "completed", ended.message
    assert again.extracted == n


@pytest.fixture(autouse=True)
def _warnings(caplog):
    caplog.set_level(logging.WARNING, logger=cache_faults.__name__)

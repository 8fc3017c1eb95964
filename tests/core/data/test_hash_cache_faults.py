"""The stored photo hashes are only a cache: a damaged file or entry is said in one line and its
photos hashed again; a store that cannot be written (full, a file in the way) is said and ignored."""
from __future__ import annotations

import errno
import json
import logging
import os

import pytest

import core.data.imageio as imageio
import core.files.fileio as fileio
from core.data import duplicates
from core.data.duplicates import hash_photos
from core.files import cache_faults
from tests.core.data.test_duplicates import blob_photo


@pytest.fixture
def fresh(tmp_path, monkeypatch, caplog):
    """A new process's view: nothing in memory, the user data folder in tmp_path; three photos."""
    caplog.set_level(logging.WARNING, logger=cache_faults.__name__)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "userdata"))
    monkeypatch.setattr(duplicates, "_cache", {})
    monkeypatch.setattr(duplicates, "_stored", {"loaded": False, "added": 0})
    for i in range(3):
        blob_photo(str(tmp_path / "p" / f"{i}.jpg"), seed=i)
    return sorted(str(p) for p in (tmp_path / "p").iterdir())


def forget(monkeypatch) -> None:
    monkeypatch.setattr(duplicates, "_cache", {})
    monkeypatch.setattr(duplicates, "_stored", {"loaded": False, "added": 0})


def said(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == cache_faults.__name__]


def store_path(tmp_path):
    return tmp_path / "userdata" / "fledge" / duplicates.CACHE_FILE


def test_damaged_entries_are_left_out_and_the_good_ones_used(fresh, tmp_path, monkeypatch, caplog):
    first = hash_photos(fresh)
    rows = json.loads(store_path(tmp_path).read_text())
    rows[1] = ["x", "not a size", 3, "sha", None]                # one entry damaged
    store_path(tmp_path).write_text(json.dumps(rows + [7, "junk", [1, 2]]))
    forget(monkeypatch)
    decoded = []
    real = imageio.load_rgb
    monkeypatch.setattr(imageio, "load_rgb", lambda data, **kw: decoded.append(1) or real(data, **kw))
    again = hash_photos(fresh)
    assert [(h.sha256, h.phash) for h in again] == [(h.sha256, h.phash) for h in first]
    assert len(decoded) == 1                                      # only the damaged entry's photo
    assert said(caplog) == [f"The photo hash cache file {store_path(tmp_path)} is damaged; Fledge ignores "
                            "it and works out again what it held."]


@pytest.mark.parametrize("text", ['[["a", 1, 2', "[" * 100_000 + "]" * 100_000, "\udcff"],
                         ids=["cut short", "nested 100,000 deep", "not text"])
def test_a_damaged_store_is_said_and_mended_by_the_next_save(fresh, tmp_path, caplog, text):
    store_path(tmp_path).parent.mkdir(parents=True)
    store_path(tmp_path).write_bytes(text.encode("utf-8", "surrogateescape"))
    hashes = hash_photos(fresh)
    assert all(h.phash is not None and h.error is None for h in hashes)
    assert said(caplog) == [f"The photo hash cache file {store_path(tmp_path)} is damaged; Fledge ignores "
                            "it and works out again what it held."]
    assert len(json.loads(store_path(tmp_path).read_text())) == 3


def test_a_full_disk_is_said_naming_the_folder(fresh, tmp_path, monkeypatch, caplog):
    real = fileio.atomic_write

    def full(path, write):
        def part_then_fail(f):
            f.write(b"[[")
            raise OSError(errno.ENOSPC, "No space left on device")
        real(path, part_then_fail)
    monkeypatch.setattr(fileio, "atomic_write", full)
    hashes = hash_photos(fresh)
    assert all(h.phash is not None for h in hashes)
    folder = store_path(tmp_path).parent
    assert said(caplog) == [f"The disk holding {folder} is full, so Fledge could not keep its photo hash "
                            "cache there. It goes on without it (the next run takes longer); free some space "
                            "to keep it."]
    assert os.listdir(folder) == []


def test_a_file_in_the_way_of_the_user_data_folder_is_said(fresh, tmp_path, caplog):
    (tmp_path / "userdata").mkdir()
    (tmp_path / "userdata" / "fledge").write_text("a file where Fledge's folder should be")
    hashes = hash_photos(fresh)
    assert all(h.phash is not None for h in hashes)
    assert said(caplog) == [f"Fledge could not write its photo hash cache in {tmp_path / 'userdata' / 'fledge'} "
                            "(a file is where a folder should be). It goes on without it (the next run takes "
                            "longer)."]

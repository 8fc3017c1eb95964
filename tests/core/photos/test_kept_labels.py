"""Kept labels: a photo a person confirmed is not asked about again -- until it moves or changes."""
from __future__ import annotations

import json
import os
import shutil

import pytest

from core.errors import FledgeError
from core.photos.check_labels import Suggestion
from core.photos.kept_labels import KEPT_FILE, KeptLabels
from tests.fakes import noise_photo


@pytest.fixture
def data(tmp_path):
    root = tmp_path / "birds"
    for n, cls in enumerate(("robin", "wren")):
        (root / cls).mkdir(parents=True)
        for i in range(2):
            noise_photo(root / cls / f"{cls}{i}.png", 10 * n + i)
    return root


def _s(root, rel, given, suggested="wren"):
    return Suggestion(str(root / rel), "train", given, suggested, 0.9, 0.1)


def test_a_kept_photo_is_left_out_of_the_next_check_and_unkeep_brings_it_back(data):
    kept = KeptLabels(data)
    a, b = _s(data, "robin/robin0.png", "robin"), _s(data, "robin/robin1.png", "robin")
    kept.keep(a.path, "robin")
    assert KeptLabels(data).to_ask([a, b]) == ([b], 1)            # read back from disk by a new object
    stored = json.loads((data / KEPT_FILE).read_text(encoding="utf-8"))
    assert list(stored["kept"]) == ["robin/robin0.png"]
    kept.unkeep(a.path)
    assert KeptLabels(data).to_ask([a, b]) == ([a, b], 0)
    assert [p for p in os.listdir(data) if p.endswith(".tmp")] == []   # written atomically


def test_a_photo_moved_to_another_class_or_replaced_is_asked_again(data):
    kept = KeptLabels(data)
    path = data / "robin" / "robin0.png"
    kept.keep(path, "robin")
    assert not kept.is_kept(path, "wren")                        # filed as another class now
    noise_photo(path, 999, size=40)                              # another picture, same name
    assert not kept.is_kept(path, "robin")
    shutil.move(path, data / "wren" / "robin0.png")
    assert not kept.is_kept(data / "wren" / "robin0.png", "wren")


def test_a_damaged_store_counts_as_nothing_kept_and_outside_photos_are_refused(data, tmp_path):
    (data / KEPT_FILE).write_text("{not json", encoding="utf-8")
    kept = KeptLabels(data)
    assert kept.count() == 0
    kept.keep(data / "wren" / "wren1.png", "wren")                # and is rewritten whole
    assert kept.is_kept(data / "wren" / "wren1.png", "wren")
    outside = noise_photo(tmp_path / "elsewhere.png", 5)
    with pytest.raises(FledgeError, match="not inside"):
        kept.keep(outside, "wren")
    with pytest.raises(FledgeError, match="no longer there"):
        kept.keep(data / "wren" / "gone.png", "wren")


def test_a_decisions_file_nested_absurdly_deep_counts_as_none(tmp_path):
    data = tmp_path / "data"
    (data / "cat").mkdir(parents=True)
    noise_photo(data / "cat" / "a.jpg", seed=1)
    (data / KEPT_FILE).write_text('{"kept":' * 100_000 + "{}" + "}" * 100_000, encoding="utf-8")
    kept = KeptLabels(data)
    assert not kept.is_kept(data / "cat" / "a.jpg", "cat")
    kept.keep(data / "cat" / "a.jpg", "cat")              # and the next decision mends the file
    assert KeptLabels(data).is_kept(data / "cat" / "a.jpg", "cat")

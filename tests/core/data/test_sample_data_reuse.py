"""core.data.sample_data.ensure_sample_data: a finished sample is reused, a damaged one rewritten."""
from __future__ import annotations

import os

import pytest

import core.data.sample_data as sample_data
from core.errors import DatasetError


@pytest.fixture
def writes(monkeypatch):
    """write_sample_data made small and counted."""
    calls = []
    real = sample_data.write_sample_data

    def small(dest):
        calls.append(dest)
        return real(dest, per_class=4, size=16)
    monkeypatch.setattr(sample_data, "write_sample_data", small)
    return calls


def test_a_complete_sample_is_reused_and_a_damaged_one_written_again(tmp_path, writes):
    dest = tmp_path / "sample"
    assert not sample_data.sample_data_complete(dest)
    assert sample_data.ensure_sample_data(dest) == str(dest)
    assert sample_data.sample_data_complete(dest) and len(writes) == 1
    assert sample_data.ensure_sample_data(dest) == str(dest)
    assert len(writes) == 1                         # nothing was drawn again
    victim = next(os.scandir(dest / "train" / "bird"))
    os.remove(victim.path)
    assert not sample_data.sample_data_complete(dest)
    sample_data.ensure_sample_data(dest)
    assert len(writes) == 2 and os.path.exists(victim.path)


def test_an_unreadable_marker_means_write_again_and_other_files_are_refused(tmp_path, writes):
    dest = tmp_path / "sample"
    sample_data.ensure_sample_data(dest)
    (dest / sample_data.MARKER).write_text("not json")
    assert not sample_data.sample_data_complete(dest)
    sample_data.ensure_sample_data(dest)            # the folder is still recognised as ours
    assert len(writes) == 2 and sample_data.sample_data_complete(dest)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "holiday.jpg").write_bytes(b"a photo")
    with pytest.raises(DatasetError, match="not empty"):
        sample_data.ensure_sample_data(mine)

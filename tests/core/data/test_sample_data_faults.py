"""core.data.sample_data where it cannot write: a read-only or full disk is a message, not a
traceback; a hostile marker file does not crash it."""
from __future__ import annotations

import errno
import os

import pytest

import core.data.sample_data as sample_data
from core.cli.main import main
from core.data.sample_data import MARKER, write_sample_data
from core.errors import DatasetError


def test_a_read_only_folder_is_a_message(tmp_path, monkeypatch, capsys):
    dest = tmp_path / "sample"
    dest.mkdir()

    def read_only(path, mode=0o777):                 # as root, chmod alone would not stop the writes
        raise OSError(errno.EROFS, "Read-only file system", path)
    monkeypatch.setattr(os, "mkdir", read_only)
    with pytest.raises(DatasetError) as err:
        write_sample_data(dest, per_class=4, size=32)
    assert str(err.value) == (f"Fledge could not write the sample pictures in {dest} (Read-only file system). "
                              "Choose a folder you may write to.")
    assert main(["sample-data", str(dest), "--per-class", "4"]) == 1
    captured = capsys.readouterr()
    assert captured.err == f"fledge: {err.value}\n" and "Traceback" not in captured.out


def test_a_full_disk_says_so_and_leaves_no_half_picture(tmp_path, monkeypatch):
    real, written = sample_data.atomic_write, []

    def full_after_three(path, write):
        if len(written) == 3:
            def part_then_fail(f):
                f.write(b"\xff\xd8 part of a jpeg")
                raise OSError(errno.ENOSPC, "No space left on device")
            return real(path, part_then_fail)
        written.append(path)
        return real(path, write)
    monkeypatch.setattr(sample_data, "atomic_write", full_after_three)
    with pytest.raises(DatasetError, match=r"\(the disk is full\)\. Free some space, or choose a folder on "
                                           r"another disk\."):
        write_sample_data(tmp_path / "sample", per_class=4, size=32)
    files = sorted(os.path.relpath(os.path.join(d, f), tmp_path / "sample")
                   for d, _, fs in os.walk(tmp_path / "sample") for f in fs)
    assert files == sorted(os.path.relpath(p, tmp_path / "sample") for p in written)   # no tmp, no half file
    monkeypatch.undo()
    assert write_sample_data(tmp_path / "sample", per_class=4, size=32)          # space again: it finishes


def test_a_marker_nested_too_deep_does_not_crash(tmp_path):
    dest = tmp_path / "sample"
    dest.mkdir()
    (dest / MARKER).write_text("[" * 100_000 + "]" * 100_000)
    write_sample_data(dest, per_class=4, size=32)
    assert len([f for _, _, fs in os.walk(dest) for f in fs if f.endswith(".jpg")]) == 8

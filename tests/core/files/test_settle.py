"""core.files.file_transfer.settle: a transfer a crash left half-done counts as done only when
the destination holds that transfer's own photo, never because some file has that name."""
from __future__ import annotations

import os

from core.files.file_transfer import identity, part_path, settle


def _write(path, data: bytes) -> str:
    with open(path, "wb") as f:
        f.write(data)
    return str(path)


def test_a_copy_is_done_only_when_the_destination_holds_the_same_bytes(tmp_path):
    src = _write(tmp_path / "IMG_0001.jpg", b"the lemming from card 2")
    dst = _write(tmp_path / "bird IMG_0001.jpg", b"the vole from card 1")       # another card's photo
    assert settle(src, dst, part_path(dst, "op"), False, identity(src)) != "done"
    assert open(dst, "rb").read() == b"the vole from card 1" and os.path.exists(src)
    _write(dst, b"the lemming from card 2")
    assert settle(src, dst, part_path(dst, "op"), False, identity(src)) == "done"


def test_with_the_source_gone_its_recorded_size_and_time_must_match(tmp_path):
    src = _write(tmp_path / "IMG_0001.jpg", b"the lemming")
    ident = identity(src)
    other = _write(tmp_path / "other.jpg", b"a different photo, longer")    # made first: its own inode
    os.remove(src)
    assert settle(src, other, part_path(other, "op"), False, ident) != "done"
    assert settle(src, other, part_path(other, "op"), True, ident) != "done"
    copy = _write(tmp_path / "copy.jpg", b"the lemming")
    os.utime(copy, ns=(ident[3], ident[3]))          # a copy keeps the photo's time
    assert settle(src, copy, part_path(copy, "op"), False, ident) == "done"
    assert os.path.exists(other) and os.path.exists(copy)

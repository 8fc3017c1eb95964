"""Copying or moving one photo without ever losing it or replacing another file.

* copies are written to a hidden part file next to the destination, fsynced, then put
  in place without ever replacing an existing file (hard link, or rename after a
  check where links are not supported);
* a move on one file system is a link + unlink (or rename); across file systems it is
  copy, verify size + hash of the placed file, then delete the source;
* settle() judges a transfer a crash left half-done from what is on disk and finishes
  or rolls it back -- at every step at least one complete copy of the photo exists.

core.photos.journal records each transfer before and after it happens. The file-system
primitives are module-level functions (_copy_data, _link, _rename, _unlink,
_same_device) so tests can simulate a crash at any point.
"""
from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import shutil

PART_PREFIX = ".fledge-part-"
_CHUNK = 1 << 20


class TransferError(OSError):
    """A placed copy did not match its source; the source was left alone."""


# -- file-system primitives (patched by tests to simulate crashes) ----------------------

def _copy_data(src: str, tmp: str) -> tuple[int, str]:
    """Copy src's bytes to the new file tmp, fsync it; return (size, sha256)."""
    h = hashlib.sha256()
    size = 0
    with open(src, "rb") as fin, open(tmp, "xb") as fout:
        while True:
            chunk = fin.read(_CHUNK)
            if not chunk:
                break
            h.update(chunk)
            fout.write(chunk)
            size += len(chunk)
        fout.flush()
        os.fsync(fout.fileno())
    with contextlib.suppress(OSError):
        shutil.copystat(src, tmp)      # keep the photo's dates
    return size, h.hexdigest()


def _link(src: str, dst: str) -> None:
    os.link(src, dst)


def _rename(src: str, dst: str) -> None:
    os.rename(src, dst)


def _unlink(path: str) -> None:
    os.unlink(path)


def _same_device(path: str, folder: str) -> bool:
    try:
        return os.stat(path).st_dev == os.stat(folder).st_dev
    except OSError:
        return False


def remove_file(path: str) -> None:
    """Delete a file (through the primitive tests can make crash)."""
    _unlink(path)


# -- paths and contents -----------------------------------------------------------------

def path_key(path: str) -> str:
    return os.path.normcase(os.path.abspath(path))


def is_inside(path: str, folder: str) -> bool:
    p, f = path_key(path), path_key(folder)
    return p == f or p.startswith(f.rstrip(os.sep) + os.sep)


def unique_path(path: str) -> str:
    """path itself if free, else 'name (2).ext', 'name (3).ext', ... (first free)."""
    if not os.path.lexists(path):
        return path
    folder, base = os.path.split(path)
    stem, ext = os.path.splitext(base)
    m = re.fullmatch(r"(.*) \((\d+)\)", stem)
    n = 2
    if m:
        stem, n = m.group(1), int(m.group(2)) + 1
    while True:
        candidate = os.path.join(folder, f"{stem} ({n}){ext}")
        if not os.path.lexists(candidate):
            return candidate
        n += 1


def part_path(dst: str, op_id: str) -> str:
    """The hidden file a copy to dst is written to before it gets its name."""
    return os.path.join(os.path.dirname(dst), f"{PART_PREFIX}{op_id}{os.path.splitext(dst)[1]}")


def missing_dirs(folder: str) -> list[str]:
    """The folders makedirs(folder) would create, outermost first."""
    out = []
    d = os.path.abspath(folder)
    while not os.path.isdir(d):
        out.append(d)
        parent = os.path.dirname(d)
        if parent == d:
            break
        d = parent
    return out[::-1]


def file_digest(path: str) -> tuple[int, str]:
    """(size, sha256 hex) of a file."""
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while True:
            chunk = f.read(_CHUNK)
            if not chunk:
                break
            h.update(chunk)
            size += len(chunk)
    return size, h.hexdigest()


def digest_or_none(path: str) -> tuple[int, str] | None:
    try:
        return file_digest(path)
    except OSError:
        return None


def _same_content(a: str, b: str) -> bool:
    try:
        if os.path.getsize(a) != os.path.getsize(b):
            return False
        return file_digest(a) == file_digest(b)
    except OSError:
        return False


def fsync_dir(folder: str) -> None:
    """Make a rename/new name in folder durable (POSIX; a no-op where unsupported)."""
    if os.name != "posix":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def describe_os_error(exc: OSError) -> str:
    """An OSError in a few plain words."""
    if exc.errno == errno.ENOSPC:
        return "the disk is full"
    if isinstance(exc, PermissionError):
        return "permission denied"
    return exc.strerror or str(exc)


# -- transfers --------------------------------------------------------------------------

def _place(tmp_or_src: str, dst: str) -> None:
    """Give the file a new name dst without ever replacing an existing file."""
    try:
        _link(tmp_or_src, dst)       # fails with FileExistsError if dst exists
    except FileExistsError:
        raise
    except OSError:
        # No hard links here (FAT/exFAT cards, some network shares): check, then rename.
        if os.path.lexists(dst):
            raise FileExistsError(errno.EEXIST, "a file with this name already exists", dst) from None
        _rename(tmp_or_src, dst)
        return
    _unlink(tmp_or_src)


def transfer(src: str, dst: str, move: bool, op_id: str) -> tuple[int, str | None]:
    """Copy or move src to the free name dst; return (size, sha256 or None).

    On an OSError the file system is put back as it was before (best effort) and the
    error re-raised; the journal's recover() then judges from the disk.
    """
    folder = os.path.dirname(dst)
    os.makedirs(folder, exist_ok=True)
    if move and _same_device(src, folder):
        size = os.path.getsize(src)
        try:
            _place(src, dst)
        except OSError:
            # A link was made but the original could not be removed: take the link back.
            with contextlib.suppress(OSError):
                if os.path.exists(src) and os.path.exists(dst) and os.path.samefile(src, dst):
                    _unlink(dst)
            raise
        fsync_dir(folder)
        return size, None
    tmp = part_path(dst, op_id)
    try:
        size, digest = _copy_data(src, tmp)
        _place(tmp, dst)
    except OSError:
        with contextlib.suppress(OSError):
            if os.path.lexists(tmp):
                _unlink(tmp)
        raise
    fsync_dir(folder)
    if move:
        try:
            if file_digest(dst) != (size, digest):
                raise TransferError(errno.EIO, "the copy did not match the original (size or hash); "
                                    "the original was left in place", dst)
            _unlink(src)
        except OSError:
            with contextlib.suppress(OSError):
                if os.path.exists(src):
                    _unlink(dst)   # the original is still whole; drop the copy
            raise
    return size, digest


def settle(a: str, b: str, part: str, move: bool, original: tuple | None = None) -> str:
    """Judge a half-done transfer a -> b from the disk and finish it safely.

    original: (size, mtime_ns) the source had when the transfer was recorded, if known.
    Returns "done" when b now holds the file (and, for a move, a is gone), else a
    plain reason why it was rolled back. Never deletes the only copy of anything.
    """
    a_there, b_there = os.path.lexists(a), os.path.lexists(b)
    if os.path.lexists(part) and a_there:
        _unlink(part)                       # a partial copy; the original is whole
    if a_there and b_there:
        if _same_content(a, b):
            if move:
                _unlink(a)
            return "done"
        if original is not None and _stat_key(a) != tuple(original):
            # The source is not the file the intent saw: ours was moved (or the original
            # edited) and something new took its name. b, placed only after a full,
            # fsynced (and for moves verified) copy, is ours; a is left alone.
            return "done"
        return "a different file is at the destination; both were left alone"
    if b_there:
        return "done"
    if a_there:
        return "nothing had changed yet"
    if os.path.lexists(part):
        return f"the file was not found, but a copy of it was kept at {part}"
    return "the file was no longer there"


def _stat_key(path: str) -> tuple | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns)

"""Copying or moving one photo without ever losing it or replacing another file.

* copies are written to a hidden part file next to the destination, fsynced, then put
  in place without ever replacing an existing file (hard link, or rename after a
  check where links are not supported);
* a move on one file system is a link + unlink (or rename); across file systems -- or
  where the link is refused as cross-device, as between bind mounts -- it is copy,
  verify size + hash of the placed file against the source's recorded hash, then delete
  the source (only if it is still the same file: device, inode, size, time);
* settle() judges a transfer a crash left half-done from what is on disk and finishes
  or rolls it back. It deletes a source only when the destination is provably the same
  file (the same inode) or a verified copy of exactly the recorded source (same hash,
  and the source's identity unchanged) -- never on the strength of equal bytes alone.

core.files.journal records each transfer before and after it happens. Every call that
changes the disk goes through core.files.fsops, so tests can fail any of them;
_copy_data and _same_device are kept as seams of their own.
"""
from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import shutil

from core.files import fsops

PART_PREFIX = ".fledge-part-"
_CHUNK = 1 << 20
NAME_MAX = 255
# A link or rename refused because the two names are on different mounts.
_CROSS_DEVICE = {errno.EXDEV}
# A link refused because the file system has no hard links (FAT/exFAT cards, some shares).
_NO_LINKS = {errno.EPERM, errno.EACCES, getattr(errno, "ENOTSUP", 95), getattr(errno, "EOPNOTSUPP", 95),
             errno.ENOSYS, errno.EINVAL, errno.EMLINK}


class TransferError(OSError):
    """A placed copy did not match its source, or the source changed; the source was left alone."""


# -- seams (patched by tests) -----------------------------------------------------------

def _copy_data(src: str, tmp: str) -> tuple[int, str]:
    """Copy src's bytes to the new file tmp, fsync it; return (size, sha256)."""
    h = hashlib.sha256()
    size = 0
    with open(src, "rb") as fin:
        fd = fsops.open_fd(tmp, fsops.CREATE_NEW)
        try:
            while True:
                chunk = fin.read(_CHUNK)
                if not chunk:
                    break
                h.update(chunk)
                fsops.write(fd, chunk)
                size += len(chunk)
            fsops.fsync(fd)
        finally:
            fsops.close(fd)
    with contextlib.suppress(OSError):
        shutil.copystat(src, tmp)      # keep the photo's dates
    return size, h.hexdigest()


def _same_device(path: str, folder: str) -> bool:
    try:
        return os.stat(path).st_dev == os.stat(folder).st_dev
    except OSError:
        return False


def remove_file(path: str) -> None:
    fsops.unlink(path)


# -- paths and contents -----------------------------------------------------------------

def path_key(path: str) -> str:
    return os.path.normcase(os.path.abspath(path))


def is_inside(path: str, folder: str) -> bool:
    p, f = path_key(path), path_key(folder)
    return p == f or p.startswith(f.rstrip(os.sep) + os.sep)


def real_key(path: str) -> str:
    """path_key of the real path (symbolic links resolved)."""
    return os.path.normcase(os.path.realpath(path))


def is_really_inside(path: str, folder: str) -> bool:
    """Whether path, with links resolved, is folder (links resolved) or inside it."""
    p, f = real_key(path), real_key(folder)
    return p == f or p.startswith(f.rstrip(os.sep) + os.sep)


def _name_max(folder: str) -> int:
    try:
        return min(NAME_MAX, os.pathconf(folder, "PC_NAME_MAX"))
    except (OSError, ValueError, AttributeError):
        return NAME_MAX


def _fit(stem: str, tail: str, limit: int) -> str:
    """stem + tail, the stem shortened (at a character boundary) to fit limit bytes."""
    budget = limit - len(os.fsencode(tail))
    while stem and len(os.fsencode(stem)) > budget:
        stem = stem[:-1]
    return stem + tail


def unique_path(path: str, reserved: frozenset[str] | set[str] = frozenset()) -> str:
    """path itself if free, else 'name (2).ext', 'name (3).ext', ... (first free).

    reserved: path_keys that count as taken although nothing is there (names other
    journalled operations may still place a file at). A name that would grow past the
    file system's limit (255 bytes) is shortened, keeping the extension.
    """
    if not os.path.lexists(path) and path_key(path) not in reserved:
        return path
    folder, base = os.path.split(path)
    stem, ext = os.path.splitext(base)
    if len(os.fsencode(ext)) > 32:          # not really an extension: part of the name
        stem, ext = base, ""
    m = re.fullmatch(r"(.*) \((\d+)\)", stem)
    n = 2
    if m:
        stem, n = m.group(1), int(m.group(2)) + 1
    limit = _name_max(folder)
    while True:
        candidate = os.path.join(folder, _fit(stem, f" ({n}){ext}", limit))
        if not os.path.lexists(candidate) and path_key(candidate) not in reserved:
            return candidate
        n += 1


def part_path(dst: str, op_id: str) -> str:
    """The hidden file a copy to dst is written to before it gets its name."""
    ext = os.path.splitext(dst)[1]
    if len(os.fsencode(ext)) > 16:
        ext = ""
    return os.path.join(os.path.dirname(dst), f"{PART_PREFIX}{op_id}{ext}")


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


def make_dirs(folder: str) -> None:
    """os.makedirs through fsops (so a failing mkdir can be tested too)."""
    for d in missing_dirs(folder):
        try:
            fsops.mkdir(d)
        except FileExistsError:
            if not os.path.isdir(d):
                raise


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


def identity(path: str) -> tuple[int, int, int, int] | None:
    """(device, inode, size, mtime_ns) of the file at path (not following a final link)."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _same_inode(a: tuple | None, b: tuple | None) -> bool:
    return a is not None and b is not None and a[:2] == b[:2] and a[1] != 0


def fsync_dir(folder: str) -> None:
    """Make a new name in folder durable; a failure here is ignored (use fsops.fsync_dir
    where it matters)."""
    with contextlib.suppress(OSError):
        fsops.fsync_dir(folder)


def describe_os_error(exc: OSError) -> str:
    """An OSError in a few plain words."""
    if exc.errno == errno.ENOSPC:
        return "the disk is full"
    if isinstance(exc, PermissionError):
        return "permission denied"
    if exc.errno == errno.ENAMETOOLONG:
        return "the name is too long for this disk"
    return exc.strerror or str(exc)


# -- transfers --------------------------------------------------------------------------

def _place(tmp_or_src: str, dst: str) -> None:
    """Give the file the new name dst without ever replacing an existing file; the old name
    is removed. Raises OSError with errno EXDEV when the two are on different mounts."""
    try:
        fsops.link(tmp_or_src, dst)       # fails with FileExistsError if dst exists
    except FileExistsError:
        raise
    except OSError as exc:
        if exc.errno not in _NO_LINKS:
            raise
        # No hard links here: check, then rename.
        if os.path.lexists(dst):
            raise FileExistsError(errno.EEXIST, "a file with this name already exists", dst) from None
        fsops.rename(tmp_or_src, dst)
        return
    fsops.unlink(tmp_or_src)


def _take_back_link(src: str, dst: str) -> None:
    """After a failed move by link: remove dst again if it is a second name of src."""
    with contextlib.suppress(OSError):
        if _same_inode(identity(src), identity(dst)):
            fsops.unlink(dst)


def transfer(src: str, dst: str, move: bool, op_id: str, before_copy=None) -> tuple[int, str | None]:
    """Copy or move src to the free name dst; return (size, sha256 or None for a moved inode).

    For a move that has to copy (another file system, or a cross-device link refused),
    before_copy() is called first and returns the (size, sha256) recorded for the source;
    the copy must match it and the source must be unchanged before it is deleted.
    On an OSError the file system is put back as it was (best effort) and the error
    re-raised; the journal's recover() then judges from the disk.
    """
    folder = os.path.dirname(dst)
    make_dirs(folder)
    if move and _same_device(src, folder):
        before = identity(src)
        try:
            _place(src, dst)
        except OSError as exc:
            _take_back_link(src, dst)
            if exc.errno not in _CROSS_DEVICE:
                raise
        else:
            fsync_dir(folder)
            return (before[2] if before else os.path.getsize(dst)), None
    expected = before_copy() if (move and before_copy is not None) else None
    tmp = part_path(dst, op_id)
    src_before = identity(src)
    try:
        size, digest = _copy_data(src, tmp)
        if expected is not None and (size, digest) != tuple(expected):
            raise TransferError(errno.EIO, "the photo changed while it was being moved; it was left "
                                "in place", src)
        _place(tmp, dst)
    except OSError:
        with contextlib.suppress(OSError):
            if os.path.lexists(tmp):
                fsops.unlink(tmp)
        raise
    if move:
        _finish_copy_move(src, dst, folder, (size, digest), src_before)
    else:
        fsync_dir(folder)
    return size, digest


def _finish_copy_move(src: str, dst: str, folder: str, digest: tuple[int, str], src_before) -> None:
    """The copy of a move is in place: verify it, make it durable, then delete the source
    (only if it is still the file that was copied)."""
    try:
        if file_digest(dst) != digest:
            raise TransferError(errno.EIO, "the copy did not match the original (size or hash); "
                                "the original was left in place", dst)
        if identity(src) != src_before:
            raise TransferError(errno.EIO, "the photo changed while it was being moved; it was left "
                                "in place", src)
        fsops.fsync_dir(folder)
        fsops.unlink(src)
    except OSError:
        with contextlib.suppress(OSError):
            if os.path.exists(src):
                fsops.unlink(dst)   # the original is still whole; drop the copy
        raise


def settle(a: str, b: str, part: str, move: bool, ident: tuple | None = None,
           digest: tuple | None = None) -> str:
    """Judge a half-done transfer a -> b from the disk and finish it safely.

    ident: (device, inode, size, mtime_ns) a had when the transfer was recorded;
    digest: (size, sha256) recorded for a before a copying move (None for a move by link).
    b's name is reserved for this transfer in its journal, but another program (or a Fledge
    that did not know of the reservation) may have put a file there: "done" only when b
    holds this transfer's own photo (its content), else a plain reason why it was rolled
    back (and b is left alone). Never deletes the only copy of anything.
    """
    a_id, b_id = identity(a), identity(b)
    if os.path.lexists(part):
        p_id = identity(part)
        if _same_inode(p_id, b_id) or a_id is not None:
            fsops.unlink(part)             # an extra name of b, or a copy of a whole original
    if b_id is None:
        if a_id is not None:
            return "nothing had changed yet"
        if os.path.lexists(part):
            return f"the file was not found, but a copy of it was kept at {part}"
        return "the file was no longer there"
    if not move or a_id is None:
        return "done" if _holds_source(b, b_id, a, a_id, ident, digest) else _NOT_OURS
    if _same_inode(a_id, b_id):
        fsops.unlink(a)                      # linked, the old name not yet removed
        return "done"
    if ident is not None and _same_inode(b_id, tuple(ident)):
        return "done"                        # renamed; a is a new file with the old name
    if digest is not None and digest_or_none(b) == tuple(digest):
        if ident is not None and a_id == tuple(ident):
            fsops.unlink(a)                  # the verified copy of exactly this source
        return "done"
    return _NOT_OURS


_NOT_OURS = "a different file is at the destination; both were left alone"
_COARSE_MTIME_NS = 2_000_000_000      # FAT cards keep times to 2 s


def _holds_source(b: str, b_id: tuple, a: str, a_id: tuple | None, ident, digest) -> bool:
    """Whether b is the file a transfer of a placed there: the same inode, the recorded hash, the
    same bytes as a while a is still there, or (a gone, nothing else to go by) a's recorded size
    and time, which a copy keeps."""
    if ident is not None and _same_inode(b_id, tuple(ident)):
        return True
    if digest is not None:
        return digest_or_none(b) == tuple(digest)
    if a_id is not None:
        theirs = digest_or_none(b)
        return theirs is not None and theirs == digest_or_none(a)
    return (ident is not None and b_id[2] == ident[2]
            and abs(b_id[3] - ident[3]) < _COARSE_MTIME_NS)

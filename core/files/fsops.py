"""The file-system calls that change anything while Fledge copies, moves or journals a photo.

Everything in core.files.file_transfer and core.files.journal that writes, syncs,
names or removes a file goes through these few functions -- nothing calls os.write,
os.fsync, os.link, os.rename, os.replace, os.unlink, os.mkdir or os.rmdir directly -- so
a test can make any one of them fail (or the process die) at any call position by
patching this module (see tests/core/photos/test_fault_injection.py).
Reading is not routed here: a failed read changes nothing on disk.
"""
from __future__ import annotations

import os

CREATE_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
APPEND = os.O_RDWR | os.O_CREAT | os.O_APPEND | getattr(os, "O_BINARY", 0)


def open_fd(path: str, flags: int, mode: int = 0o644) -> int:
    return os.open(path, flags, mode)


def write(fd: int, data: bytes) -> None:
    """Write all of data to fd (a short write is continued; an error is raised)."""
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def fsync(fd: int) -> None:
    os.fsync(fd)


def close(fd: int) -> None:
    os.close(fd)


def link(src: str, dst: str) -> None:
    os.link(src, dst)


def rename(src: str, dst: str) -> None:
    os.rename(src, dst)


def replace(src: str, dst: str) -> None:
    os.replace(src, dst)


def unlink(path: str) -> None:
    os.unlink(path)


def mkdir(path: str) -> None:
    os.mkdir(path)


def rmdir(path: str) -> None:
    os.rmdir(path)


def fsync_dir(folder: str) -> None:
    """Make a new name (or a removed one) in folder durable: POSIX only; where a folder cannot
    be opened for syncing (Windows, some network file systems) it is a no-op."""
    if os.name != "posix":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        fsync(fd)
    finally:
        os.close(fd)

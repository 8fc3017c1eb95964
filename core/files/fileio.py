"""Writing files so that a crash, a full disk or a killed process never leaves half
a file: write a temporary file in the same folder, fsync, then os.replace."""
from __future__ import annotations

import os
import stat
import tempfile
from typing import BinaryIO, Callable


class NotARegularFile(OSError):
    """The path is a FIFO, a device, a socket or a folder: reading it could block forever."""


def open_regular(path, what: str = "file") -> BinaryIO:
    """Open path for reading only if it is a regular file (a FIFO would block open() itself).

    O_NONBLOCK makes open() return at once even on a FIFO; fstat on the open descriptor then
    says what it really is, with no window for the path to be swapped in between.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(os.fspath(path), flags)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            kind = "a folder" if stat.S_ISDIR(st.st_mode) else "not an ordinary file (a pipe or a device)"
            raise NotARegularFile(f"{os.fspath(path)} is {kind}, not a {what}")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def atomic_write(path, write: Callable[[BinaryIO], object]) -> None:
    """write(file) into a tmp file next to path, fsync, then os.replace onto path.

    A crash or error leaves the old file intact and no tmp file behind.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    # The writer's pid is in the name, so a later write can tell a killed writer's leftover.
    prefix = f".{os.path.basename(path)}.{os.getpid()}."
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _remove_leftovers(folder, os.path.basename(path))
    if os.name == "posix":   # make the rename itself durable
        try:
            dfd = os.open(folder, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        except OSError:
            pass


def atomic_write_text(path, text: str, encoding: str = "utf-8") -> None:
    atomic_write(path, lambda f: f.write(text.encode(encoding)))


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists (one we may not signal counts as alive)."""
    if pid <= 0:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def _remove_leftovers(folder: str, name: str) -> None:
    """Delete tmp files of earlier writes of `name` whose writer died (kill -9 mid-write).

    Only files named as atomic_write names them, for this target, from a process that is
    gone: a live writer's tmp file is never touched.
    """
    start = f".{name}."
    try:
        entries = os.listdir(folder)
    except OSError:
        return
    for entry in entries:
        if not (entry.startswith(start) and entry.endswith(".tmp")):
            continue
        pid = entry[len(start):].split(".", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not pid_alive(int(pid)):
            try:
                os.unlink(os.path.join(folder, entry))
            except OSError:
                pass

"""Writing files so that a crash, a full disk or a killed process never leaves half
a file: write a temporary file in the same folder, fsync, then os.replace.

The new file gets the permissions any program's would: those the umask allows for a new
file, or the old file's own when one is rewritten. A read-only file is refused, not replaced.
"""
from __future__ import annotations

import errno
import os
import secrets
import stat
from typing import BinaryIO, Callable

from core.errors import FledgeError


class NotARegularFile(OSError):
    """The path is a FIFO, a device, a socket or a folder: reading it could block forever."""


class ReadOnlyFile(FledgeError, PermissionError):
    """The file exists and is read-only: replacing it would undo what its owner chose."""

    def __init__(self, path) -> None:
        path = os.fspath(path)
        super().__init__(errno.EACCES, f"{path} is read-only, so Fledge left it as it is. Make it "
                                       "writable first, or choose another file.", path)

    def __str__(self) -> str:
        return self.strerror


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

    A crash or error leaves the old file intact and no tmp file behind. An existing file keeps
    its permissions; a read-only one raises ReadOnlyFile and is not touched.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    mode = _kept_mode(path)
    # The writer's pid is in the name, so a later write can tell a killed writer's leftover.
    # A rewrite starts private and then takes the old file's mode: a 0600 file's contents
    # never sit in a file others may open.
    fd, tmp = _create_tmp(folder, f".{os.path.basename(path)}.{os.getpid()}.",
                          0o666 if mode is None else 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            if mode is not None:
                _chmod(f.fileno(), tmp, mode)
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


def _kept_mode(path: str) -> int | None:
    """The permission bits a rewrite of path keeps (None for a new file); ReadOnlyFile when the
    file may not be written (no write bit at all stops root too, as it stops an editor)."""
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    if stat.S_ISREG(st.st_mode) and (not st.st_mode & 0o222 or not os.access(path, os.W_OK)):
        raise ReadOnlyFile(path)
    return stat.S_IMODE(st.st_mode) if stat.S_ISREG(st.st_mode) else None


def _create_tmp(folder: str, prefix: str, mode: int) -> tuple[int, str]:
    """A new file prefix<random>.tmp in folder, opened with mode through the umask (and a
    folder's default ACL) as any program's new file is: mkstemp would fix it at 0600."""
    flags = (os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
             | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0))
    for _ in range(100):
        tmp = os.path.join(folder, f"{prefix}{secrets.token_hex(4)}.tmp")
        try:
            return os.open(tmp, flags, mode), tmp
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temporary file name", os.path.join(folder, prefix))


def _chmod(fd: int, tmp: str, mode: int) -> None:
    if hasattr(os, "fchmod"):
        os.fchmod(fd, mode)
    else:                      # Windows: only the read-only bit means anything there
        os.chmod(tmp, mode)


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

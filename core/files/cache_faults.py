"""A cache is only a cache: when one of its files is damaged or cannot be written, Fledge says so
in one line and goes on (what the file held is worked out again; a cache that cannot be written
only costs time later).

The line is a logging warning, so each front end shows it its own way (a command prints it on
stderr); each trouble is said once per process, not once per photo or per write.
"""
from __future__ import annotations

import errno
import logging
import os
import threading

from core.files.file_transfer import describe_os_error
from core.files.fileio import NotARegularFile

log = logging.getLogger(__name__)
_said: set[tuple] = set()
_said_lock = threading.Lock()
_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
_IN_THE_WAY = {errno.ENOTDIR, errno.EEXIST}


def _say(key: tuple, line: str) -> str:
    with _said_lock:
        new = key not in _said
        _said.add(key)
    if new:
        log.warning("%s", line)
    return line


def cache_unreadable(what: str, path, exc: BaseException) -> str:
    """Say that a cache file (what: e.g. "feature cache") was damaged or unreadable and is ignored."""
    path = os.fspath(path)
    if isinstance(exc, NotARegularFile) or getattr(exc, "errno", None) == errno.EISDIR:
        how = "is not an ordinary file"
    elif isinstance(exc, OSError):
        how = f"could not be read ({describe_os_error(exc)})"
    else:
        how = "is damaged"
    return _say(("read", what, path), f"The {what} file {path} {how}; Fledge ignores it and works out "
                                      "again what it held.")


def cache_unwritable(what: str, folder, exc: OSError) -> str:
    """Say that the cache in folder could not be written (a full disk names the folder that is full)."""
    folder = os.fspath(folder)
    if exc.errno in _FULL:
        line = (f"The disk holding {folder} is full, so Fledge could not keep its {what} there. It goes "
                "on without it (the next run takes longer); free some space to keep it.")
    else:
        why = "a file is where a folder should be" if exc.errno in _IN_THE_WAY else describe_os_error(exc)
        line = (f"Fledge could not write its {what} in {folder} ({why}). It goes on "
                "without it (the next run takes longer).")
    return _say(("write", what, folder, exc.errno), line)


def cache_let_go(what: str, why: str) -> str:
    """Say that an in-memory cache (what: e.g. "decoded pictures kept from the last run") was let go."""
    return _say(("let go", what, why), f"Fledge let go of the {what} ({why}); they are worked out again.")

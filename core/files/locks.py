"""Locks that keep two Fledge runs from working on the same photos at once.

* dest_lock(journal_path): one process at a time per destination (its journal);
* source_locks(folders): one sort (or undo) at a time per source folder -- exclusive on
  each folder, shared on every folder above it, so sorting ~/cam while another run sorts
  ~/cam/day2 (or ~ itself) is refused too, while sorting ~/cam and ~/cam2 together is fine.

Locks are advisory (flock), taken without waiting: a second run is told plainly that
another one is at work. Source locks live in a per-user folder outside the photos (a
card or share may be read-only), named by a hash of the folder's real path, so a folder
reached through a link is the same folder. Where flock does not exist (Windows) there
are no locks; one Fledge run at a time is documented there.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import time

from core.errors import FledgeError
from core.files.file_transfer import describe_os_error

try:
    import fcntl
except ImportError:                 # Windows
    fcntl = None


def _flock(path: str, exclusive: bool, busy_message: str, stack: contextlib.ExitStack,
           wait_s: float = 0.0) -> None:
    f = open(path, "a")
    stack.callback(f.close)
    deadline = time.monotonic() + wait_s
    while True:
        try:
            fcntl.flock(f.fileno(), (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
            return
        except OSError:
            if time.monotonic() >= deadline:
                raise FledgeError(busy_message) from None
        time.sleep(0.02)        # flock cannot wait with a time limit; a short poll can


@contextlib.contextmanager
def dest_lock(journal_path: str, wait_s: float = 0.0, busy: str = ""):
    """Hold an exclusive lock so two Fledge processes never work in one destination at once.

    wait_s: how long to wait for another process to let go (labelling one photo takes a moment)
    before FledgeError says so; busy: that sentence, if not the default one."""
    if fcntl is None:
        yield
        return
    folder = os.path.dirname(journal_path)
    with contextlib.ExitStack() as stack:
        try:
            os.makedirs(folder, exist_ok=True)
            _flock(journal_path + ".lock", True, busy or f"Another Fledge process is working in {folder} right "
                   "now. Wait until it has finished, then try again.", stack, wait_s)
        except OSError as exc:
            raise FledgeError(f"Fledge could not create its lock file in {folder} "
                              f"({describe_os_error(exc)}). Check that the folder can be written to.") from None
        yield


def _lock_folder() -> str | None:
    base = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    uid = os.getuid() if hasattr(os, "getuid") else 0
    folder = os.path.join(base, f"fledge-locks-{uid}")
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
    except OSError:
        return None
    return folder


def _ancestors(real: str) -> list[str]:
    out = []
    d = os.path.dirname(real)
    while True:
        out.append(d)
        parent = os.path.dirname(d)
        if parent == d:
            return out
        d = parent


def _plan(folders) -> tuple[list[str], list[str]]:
    """(folders to lock exclusively, folders above them to lock shared), real paths."""
    reals = sorted({os.path.normcase(os.path.realpath(os.fspath(f))) for f in folders})
    exclusive = [r for r in reals
                 if not any(o != r and (r + os.sep).startswith(o.rstrip(os.sep) + os.sep) for o in reals)]
    shared = sorted({a for r in exclusive for a in _ancestors(r)} - set(exclusive))
    return exclusive, shared


@contextlib.contextmanager
def source_locks(folders):
    """Hold a lock on each source folder (see the module docstring); FledgeError when another
    Fledge run holds one. Without a usable lock folder it does not lock (rather than refuse)."""
    where = _lock_folder() if fcntl is not None else None
    if where is None:
        yield
        return
    exclusive, shared = _plan(folders)
    with contextlib.ExitStack() as stack:
        for real, ex in [(s, False) for s in shared] + [(e, True) for e in exclusive]:
            name = hashlib.sha256(os.fsencode(real)).hexdigest()[:32] + ".lock"
            if ex:
                busy = (f"Another Fledge run is sorting photos from {real} (or from a folder inside it), "
                        "or putting them back, right now. Wait until it has finished, then try again.")
            else:
                busy = (f"Another Fledge run is sorting photos from {real}, which holds this folder, or "
                        "putting them back, right now. Wait until it has finished, then try again.")
            try:
                _flock(os.path.join(where, name), ex, busy, stack)
            except OSError:
                continue            # the lock file cannot be made: work without this lock
        yield

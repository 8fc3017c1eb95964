"""Which photos in a watched folder have finished arriving.

A camera, a phone app or a network copy writes a photo over a while; the watcher must
not take it half-written. Arrivals keeps every file it has been told about and takes
one only once it has stopped changing: its size and modification time the same for
`settle` seconds, and it does not end cut short (core.data.imageio.check_image: an
empty or truncated picture is still arriving, or was left unfinished -- either way it
is left where it is).

    arrivals = Arrivals(settle=1.0)
    arrivals.saw(path)                 # a file appeared or changed (an event, a scan)
    for path, sig in arrivals.ready(): # settled and whole: take these
        ...
        arrivals.hold(path, sig)       # taken (or left alone): not again while it stays so

A held file is considered again only once it changes (another size or time), so a
photo copied out of the folder is not copied twice, and an unfinished one is looked
at again as soon as more of it arrives. Not thread-safe: one thread owns it.
"""
from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass

from core.data.imageio import DAMAGED, EMPTY, check_image
from core.files.file_transfer import path_key

Signature = tuple[int, int]          # (size, modification time in ns)


def signature(path: str) -> Signature | None:
    """The file's (size, mtime_ns); None when it is gone or not an ordinary file."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    return st.st_size, st.st_mtime_ns


def unfinished(path: str) -> str:
    """Why the picture at path looks unfinished ('' when it looks whole, or is no picture at
    all -- sorting puts those in _unreadable)."""
    reason = check_image(path)
    if reason == EMPTY:
        return "it is still empty"
    if reason == DAMAGED:
        return "it ends cut short (still being written, or the copy was interrupted)"
    return ""


@dataclass
class _Seen:
    path: str
    sig: Signature | None
    since: float                 # when sig was first seen
    noticed: float               # when the file was first seen (time.time(), for latencies)


class Arrivals:
    """The files waiting to be taken, and the ones already taken or left alone."""

    def __init__(self, settle: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.settle = float(settle)
        self._clock = clock
        self._pending: dict[str, _Seen] = {}       # path_key -> what was seen
        self._held: dict[str, Signature] = {}      # path_key -> the signature it had when held

    def __len__(self) -> int:
        return len(self._pending)

    def saw(self, path: str) -> None:
        """A file appeared or changed: look at it (again) from now on."""
        key = path_key(path)
        if key not in self._pending:
            self._pending[key] = _Seen(path, None, self._clock(), time.time())

    def noticed(self, path: str) -> float | None:
        """When (time.time()) the file was first seen, if it is still waiting."""
        seen = self._pending.get(path_key(path))
        return seen.noticed if seen is not None else None

    def hold(self, path: str, sig: Signature | None) -> None:
        """Taken or left alone: not offered again until it has another signature."""
        key = path_key(path)
        self._pending.pop(key, None)
        if sig is not None:
            self._held[key] = sig

    def is_held(self, path: str, sig: Signature | None) -> bool:
        return sig is not None and self._held.get(path_key(path)) == sig

    def ready(self) -> list[tuple[str, Signature]]:
        """The files that have stopped changing and look whole, oldest first (each with
        the signature it had). Files gone or held unchanged are dropped."""
        now = self._clock()
        out = []
        for key, seen in list(self._pending.items()):
            sig = signature(seen.path)
            if sig is None or self._held.get(key) == sig:
                del self._pending[key]
                continue
            if sig != seen.sig:
                seen.sig, seen.since = sig, now
                continue
            if now - seen.since >= self.settle:
                out.append((seen, sig))
        out.sort(key=lambda item: item[0].noticed)
        return [(seen.path, sig) for seen, sig in out]

    def unfinished_now(self, path: str, sig: Signature) -> str:
        """Why a settled file is not whole yet ('' when it is). An unfinished file is held:
        it is looked at again once it changes, so the caller hears of it once per state."""
        why = unfinished(path)
        if why:
            self.hold(path, sig)
        return why

"""How core operations report progress.

A one-step operation takes ``progress(done, total)``; an operation of several steps
(e.g. core.photos.sorting.sort_folder) takes ``report(JobProgress)``. Throttled turns
the first into the second for a named stage, at most every ~50 ms -- the reports a
front end's background task passes on (gui.background).
"""
from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass(frozen=True)
class JobProgress:
    """What a panel job reports: a stage name and how far it is."""
    stage: str   # "loading" | "scanning" | "evaluating" | "classifying" | "sorting" | "undoing" | "predicting"
    done: int = 0
    total: int = 0


class Throttled:
    """A progress(done, total) callback that reports a JobProgress at most every ~50 ms
    (and always the first and the last): moving small files can go thousands per second,
    far faster than a progress bar needs."""

    def __init__(self, report, stage: str, interval: float = 0.05, clock=time.monotonic) -> None:
        self._report = report
        self._clock = clock
        self._stage = stage
        self._interval = interval
        self._last = float("-inf")

    def __call__(self, done: int, total: int) -> None:
        now = self._clock()
        if done >= total or now - self._last >= self._interval:
            self._last = now
            self._report(JobProgress(self._stage, done, total))


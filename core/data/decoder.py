"""Decoding image files into a Store, in parallel, in an order the consumer can change.

A Decoder fills a store's rows with a pool of threads, the first epoch's shuffled
order first, so training starts as soon as its first batch is decoded.

Pillow releases the GIL while it decodes and resizes, so threads decode in parallel.
On 2 cores, 640x480 JPEGs to 73 px: 1 thread ~460/s, 2 threads ~770/s, 2 worker
processes ~590/s (they pay for pickling the pictures back); threads also cost no
process start-up and write straight into the store.
"""
from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

import numpy as np
from PIL import Image

from core.data.decode_cache import FAILED, PENDING, READY, Store
from core.errors import ImageError
from core.priority import lower_thread_priority


def decode_square(src, cache_size: int) -> np.ndarray:
    """(C, C, 3) uint8: src decoded (JPEG draft mode), short side resized to C, centre square.

    Raises core.errors.ImageError(path, reason) for a picture that cannot be read.
    """
    from core.data.imageio import load_rgb

    c = int(cache_size)
    im = load_rgb(src, draft_size=c)
    w, h = im.size
    s = min(w, h)
    left, top = (w - s) / 2.0, (h - s) / 2.0
    # One pass: crop the centre square and resize it (bilinear, antialiased when shrinking).
    out = im.resize((c, c), Image.Resampling.BILINEAR, box=(left, top, left + s, top + s))
    arr = np.asarray(out)
    if not arr.flags.writeable:
        arr = arr.copy()
    return arr


def decode_or_reason(src, cache_size: int) -> tuple[np.ndarray | None, str | None]:
    """decode_square that never raises: (array, None) or (None, reason)."""
    try:
        return decode_square(src, cache_size), None
    except ImageError as e:
        return None, e.reason
    except MemoryError:
        return None, "not enough memory to open this image"
    except Exception as e:  # noqa: BLE001 - one bad file must never stop a run
        return None, f"could not be read ({type(e).__name__}: {e})"


class Decoder:
    """Fills PENDING rows of a store from files with a pool of threads, in priority order."""

    CHUNK = 4  # pictures per task: few, so the first batch is ready quickly

    def __init__(self, store: Store, paths: Sequence[str | None], order: Sequence[int],
                 workers: int, should_stop: Callable[[], bool] | None = None, nice: int = 0) -> None:
        self.store = store
        self.paths = paths                      # per row; None for rows with nothing to decode
        self.workers = max(1, int(workers))
        self.nice = int(nice)
        self._should_stop = should_stop
        self._lock = threading.Lock()
        self._queue: deque[int] = deque(int(r) for r in order)
        self._taken = np.zeros(store.capacity, dtype=bool)
        self._cancel = threading.Event()
        self.finished = threading.Event()
        self._thread: threading.Thread | None = None
        store.fence()
        if store.complete():
            self.finished.set()
        else:
            self._thread = threading.Thread(target=self._run, name="fledge-decode", daemon=True)
            self._thread.start()

    def prioritize(self, rows: Sequence[int]) -> None:
        """Decode these rows next, in this order (rows already done are skipped)."""
        with self._lock:
            self._queue.extendleft(int(r) for r in reversed(list(rows)))

    def _next_chunk(self) -> np.ndarray | None:
        st = self.store.state
        chunk: list[int] = []
        with self._lock:
            while self._queue and len(chunk) < self.CHUNK:
                r = self._queue.popleft()
                if not self._taken[r] and st[r] == PENDING:
                    self._taken[r] = True
                    chunk.append(r)
        return np.asarray(chunk, dtype=np.int64) if chunk else None

    def _decode_chunk(self, rows: np.ndarray):
        c = self.store.cache_size
        arr = np.zeros((len(rows), c, c, 3), dtype=np.uint8)
        errors: dict[int, str] = {}
        for j, r in enumerate(rows.tolist()):
            if self._cancel.is_set():
                errors[j] = ""              # not decoded; stays PENDING
                continue
            img, reason = decode_or_reason(self.paths[r], c)
            if img is None:
                errors[j] = reason
            else:
                arr[j] = img
        return arr, errors

    def _finish_chunk(self, rows: np.ndarray, arr: np.ndarray, errors: dict[int, str]) -> None:
        store = self.store
        ok = np.array([j not in errors for j in range(len(rows))], dtype=bool)
        if ok.any():
            store.put(rows[ok], arr[ok])
        with store.cond:
            for j, reason in errors.items():
                if reason:                  # the reason first: readers check state without the lock
                    store.reasons[int(rows[j])] = reason
                    store.state[rows[j]] = FAILED
            store.state[rows[ok]] = READY
            store.cond.notify_all()

    def _stopping(self) -> bool:
        if self._cancel.is_set():
            return True
        try:
            return bool(self._should_stop and self._should_stop())
        except Exception:  # noqa: BLE001 - a broken callback must not kill decoding
            return False

    def _run(self) -> None:
        pool = ThreadPoolExecutor(self.workers, thread_name_prefix="fledge-decode",
                                  initializer=lower_thread_priority, initargs=(self.nice,))
        in_flight: dict = {}
        try:
            while not self._stopping():
                while len(in_flight) < 2 * self.workers:
                    rows = self._next_chunk()
                    if rows is None:
                        break
                    in_flight[pool.submit(self._decode_chunk, rows)] = rows
                if not in_flight:
                    break
                done, _ = wait(in_flight, timeout=0.5, return_when=FIRST_COMPLETED)
                for fut in done:
                    rows = in_flight.pop(fut)
                    arr, errors = fut.result()
                    self._finish_chunk(rows, arr, errors)
        except Exception as e:  # noqa: BLE001 - surfaced to the consumer as a readable error
            with self.store.cond:
                self.store.error = f"{type(e).__name__}: {e}"
                self.store.cond.notify_all()
        finally:
            self._cancel.set()              # chunks still running return without decoding
            pool.shutdown(wait=True, cancel_futures=True)
            with self.store.cond:
                self.finished.set()
                self.store.cond.notify_all()

    def wait_rows(self, rows: np.ndarray, should_stop: Callable[[], bool] | None = None) -> bool:
        """Block until no row in rows is PENDING; False if stopped or decoding ended first."""
        store = self.store
        with store.cond:
            while (store.state[rows] == PENDING).any():
                if store.error is not None or self.finished.is_set():
                    return False
                if should_stop is not None and should_stop():
                    return False
                store.cond.wait(0.25)
        return True

    def close(self) -> None:
        """Stop decoding and wait for the threads to end."""
        self._cancel.set()
        if self._thread is not None:
            self._thread.join()
        self.finished.set()


def default_workers() -> int:
    """Cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)

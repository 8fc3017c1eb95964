"""Decoding every image once into one uint8 store, in parallel, and keeping the store.

A Store is one preallocated tensor (rows, C, C, 3) of square uint8 pictures, on the
GPU, in pinned host memory or in plain host memory. A Decoder fills its rows with a
pool of threads in an order the consumer can change at any time (the first epoch's
shuffled order first), so training starts as soon as its first batch is decoded.

Pillow releases the GIL while it decodes and resizes, so threads decode in parallel.
On 2 cores, 640x480 JPEGs to 73 px: 1 thread ~460/s, 2 threads ~770/s, 2 worker
processes ~590/s (they pay for pickling the pictures back); threads also cost no
process start-up and write straight into the store.

After a run the store is retained (one per process, bounded by the memory budget),
so the next run on the same folder (the GUI trains again and again) skips decoding.
Rows are keyed by (real path, size, mtime_ns, cache size): a changed file is decoded
again.
"""
from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

import numpy as np
import torch
from PIL import Image

from core.errors import ImageError
from core.priority import lower_thread_priority

PENDING, READY, FAILED, UNUSED = 0, 1, 2, 3

FileKey = tuple  # (real path, size in bytes, mtime_ns, cache size)


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


def decode_or_reason(path: str, cache_size: int) -> tuple[np.ndarray | None, str | None]:
    """decode_square that never raises: (array, None) or (None, reason)."""
    try:
        return decode_square(path, cache_size), None
    except ImageError as e:
        return None, e.reason
    except MemoryError:
        return None, "not enough memory to open this image"
    except Exception as e:  # noqa: BLE001 - one bad file must never stop a run
        return None, f"could not be read ({type(e).__name__}: {e})"


def file_keys(paths: Sequence[str], cache_size: int) -> list[FileKey | str]:
    """A key per path that changes when the file does, or the reason the file cannot be used.

    Real paths are resolved per folder (one realpath per folder, not per file) so tens
    of thousands of files take a fraction of a second.
    """
    from core.data.imageio import NO_PERMISSION, NOT_FOUND

    real_dirs: dict[str, str] = {}
    keys: list[FileKey | str] = []
    for p in paths:
        try:
            st = os.stat(p)
            d, base = os.path.split(os.path.abspath(p))
            rd = real_dirs.get(d)
            if rd is None:
                rd = real_dirs[d] = os.path.realpath(d)
            real = os.path.join(rd, base)
            if os.path.islink(real):
                real = os.path.realpath(real)
            keys.append((real, st.st_size, st.st_mtime_ns, int(cache_size)))
        except FileNotFoundError:
            keys.append(NOT_FOUND)
        except PermissionError:
            keys.append(NO_PERMISSION)
        except OSError as e:
            keys.append(f"cannot be read ({e.strerror or e})")
    return keys


class Store:
    """Rows of decoded pictures plus, per row, its state and the key it holds."""

    def __init__(self, capacity: int, cache_size: int, device: torch.device, pinned: bool) -> None:
        self.cache_size = int(cache_size)
        self.device = torch.device(device)
        self.pinned = bool(pinned)
        c = self.cache_size
        self.data = torch.empty((capacity, c, c, 3), dtype=torch.uint8, device=self.device,
                                pin_memory=self.pinned)
        self.state = np.full(capacity, UNUSED, dtype=np.uint8)
        self.keys: list[FileKey | None] = [None] * capacity
        self.reasons: dict[int, str] = {}
        self.cond = threading.Condition()
        self.error: str | None = None          # an unexpected failure of the decoder itself
        self._np = self.data.numpy() if self.device.type == "cpu" else None
        self._stream = torch.cuda.Stream(self.device) if self.device.type == "cuda" else None

    @property
    def capacity(self) -> int:
        return int(self.data.shape[0])

    @property
    def nbytes(self) -> int:
        return self.data.numel()

    def compatible(self, cache_size: int, device: torch.device, pinned: bool) -> bool:
        return (self.cache_size == int(cache_size) and self.device == torch.device(device)
                and self.pinned == bool(pinned))

    def ready_rows(self) -> dict[FileKey, int]:
        return {k: r for r, k in enumerate(self.keys) if k is not None and self.state[r] == READY}

    def put(self, rows: np.ndarray, arr: np.ndarray) -> None:
        """Write decoded pictures into rows; on the GPU the copy is finished on return."""
        if self._np is not None:
            self._np[rows] = arr
            return
        src = torch.from_numpy(arr)
        idx = torch.from_numpy(np.ascontiguousarray(rows, dtype=np.int64))
        if self.device.type == "cuda":
            src, idx = src.pin_memory(), idx.pin_memory()
            with torch.cuda.stream(self._stream):
                d = src.to(self.device, non_blocking=True)
                i = idx.to(self.device, non_blocking=True)
                self.data.index_copy_(0, i, d)
                done = torch.cuda.Event()
                done.record(self._stream)
            done.synchronize()      # only this thread waits; the row is marked ready after
        else:
            self.data.index_copy_(0, idx.to(self.device), src.to(self.device))

    def fence(self) -> None:
        """Make later writes from the decoder's stream wait for work already queued on the
        current stream (the allocation may reuse memory that queued kernels still touch)."""
        if self._stream is not None:
            self._stream.wait_stream(torch.cuda.current_stream(self.device))

    def complete(self) -> bool:
        return not (self.state == PENDING).any()


def assign_rows(keys: Sequence[FileKey | str], cache_size: int, device: torch.device,
                pinned: bool, budget_bytes: int) -> tuple[Store, np.ndarray]:
    """A store with one row per distinct key, reusing the retained store where it can.

    keys: from file_keys (a str is the reason a file cannot be used). Returns the store
    and, for each key, its row. Rows whose file is unchanged since a previous run come
    back READY; the rest are PENDING (FAILED, with the reason, for unusable files).
    """
    distinct: dict[FileKey, int] = {}
    failures: dict[int, str] = {}
    slot_of = np.empty(len(keys), dtype=np.int64)
    n_slots = 0
    for i, k in enumerate(keys):
        if isinstance(k, str):
            failures[n_slots] = k         # an unusable file gets a row of its own, FAILED
            slot_of[i] = n_slots
            n_slots += 1
        else:
            j = distinct.get(k)
            if j is None:
                j = distinct[k] = n_slots
                n_slots += 1
            slot_of[i] = j
    slot_keys: list[FileKey | None] = [None] * n_slots
    for k, j in distinct.items():
        slot_keys[j] = k

    old = take_retained(cache_size, device, pinned)
    row_bytes = int(cache_size) ** 2 * 3
    store: Store
    slot_row = np.full(n_slots, -1, dtype=np.int64)
    if old is not None and n_slots <= old.capacity <= 2 * max(1, n_slots):
        # Reuse in place: unchanged files keep their rows, the rest take the free ones.
        store = old
        have = store.ready_rows()
        reused = np.zeros(store.capacity, dtype=bool)
        for j, k in enumerate(slot_keys):
            r = have.get(k) if k is not None else None
            if r is not None:
                slot_row[j] = r
                reused[r] = True
        missing = np.flatnonzero(slot_row < 0)
        slot_row[missing] = np.flatnonzero(~reused)[:len(missing)]
        store.state[:] = UNUSED
        store.state[slot_row] = PENDING
        store.state[reused] = READY
        store.keys = [None] * store.capacity
        store.reasons = {}
        store.error = None
    else:
        hits: list[tuple[int, int]] = []
        if old is not None and old.nbytes + n_slots * row_bytes <= budget_bytes:
            have = old.ready_rows()
            hits = [(j, have[k]) for j, k in enumerate(slot_keys) if k is not None and k in have]
        else:
            old = drop_store(old)
        store = Store(n_slots, cache_size, device, pinned)
        slot_row = np.arange(n_slots, dtype=np.int64)
        store.state[:] = PENDING
        if hits:
            new_rows = torch.tensor([j for j, _ in hits], dtype=torch.long, device=store.device)
            old_rows = torch.tensor([r for _, r in hits], dtype=torch.long, device=old.device)
            store.data.index_copy_(0, new_rows, old.data.index_select(0, old_rows).to(store.device))
            store.state[[j for j, _ in hits]] = READY
        drop_store(old)
    for j, k in enumerate(slot_keys):
        store.keys[slot_row[j]] = k
    for j, reason in failures.items():
        r = int(slot_row[j])
        store.state[r] = FAILED
        store.reasons[r] = reason
    return store, slot_row[slot_of]


# -- the retained store: one per process ----------------------------------------------------

_retained: Store | None = None
_retained_lock = threading.Lock()


def retain(store: Store) -> None:
    """Keep store for the next run (replacing any other)."""
    global _retained
    with _retained_lock:
        old, _retained = _retained, store
    if old is not None and old is not store:
        drop_store(old)


def take_retained(cache_size: int, device, pinned: bool) -> Store | None:
    """The retained store if it fits these settings (and forget it); otherwise free it."""
    global _retained
    with _retained_lock:
        old, _retained = _retained, None
    if old is not None and old.compatible(cache_size, device, pinned):
        return old
    drop_store(old)
    return None


def retained_bytes(cache_size: int, device, pinned: bool) -> int:
    """Bytes held by a retained store that a run with these settings would reuse."""
    with _retained_lock:
        old = _retained
    if old is not None and old.compatible(cache_size, device, pinned):
        return old.nbytes
    return 0


def release_cache() -> None:
    """Free the pictures kept from the last run (GPU or host memory)."""
    global _retained
    with _retained_lock:
        old, _retained = _retained, None
    drop_store(old)


def drop_store(store: Store | None) -> None:
    if store is None:
        return
    cuda, pinned = store.device.type == "cuda", store.pinned
    store.data = torch.empty(0, dtype=torch.uint8)
    store._np = None
    if cuda:
        torch.cuda.empty_cache()
    if pinned:
        # Page-locked blocks stay cached by torch until asked; hand them back to the OS.
        empty_host = getattr(torch._C, "_host_emptyCache", None)
        if empty_host is not None:
            empty_host()


# -- the decoder ------------------------------------------------------------------------------

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

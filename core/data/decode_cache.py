"""The store of decoded pictures: one uint8 tensor of rows, kept between runs.

A Store is one preallocated tensor (rows, C, C, 3) of square uint8 pictures, on the
GPU, in pinned host memory or in plain host memory; core.data.decoder fills it.

After a run the store is retained (one per process, bounded by the memory budget),
so the next run on the same folder (the GUI trains again and again) skips decoding.
Rows are keyed by (real path, size, mtime_ns, cache size): a changed file is decoded
again.
"""
from __future__ import annotations

import os
import threading
from collections.abc import Sequence

import numpy as np
import torch

from core.files.cache_faults import cache_let_go

PENDING, READY, FAILED, UNUSED = 0, 1, 2, 3

FileKey = tuple  # (real path, size in bytes, mtime_ns, cache size)


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


def _slots(keys: Sequence[FileKey | str]) -> tuple[list[FileKey | None], dict[int, str], np.ndarray]:
    """One slot per distinct key: (key per slot, reason per unusable slot, slot per key).

    An unusable file (its key is the reason) gets a slot of its own, with no key."""
    distinct: dict[FileKey, int] = {}
    failures: dict[int, str] = {}
    slot_of = np.empty(len(keys), dtype=np.int64)
    n_slots = 0
    for i, k in enumerate(keys):
        if isinstance(k, str):
            failures[n_slots] = k
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
    return slot_keys, failures, slot_of


def _reuse_in_place(store: Store, slot_keys: list[FileKey | None]) -> np.ndarray:
    """Row per slot in the retained store: unchanged files keep their rows (READY), the
    rest take the free ones (PENDING)."""
    slot_row = np.full(len(slot_keys), -1, dtype=np.int64)
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
    return slot_row


def _new_store(old: Store | None, slot_keys: list[FileKey | None], cache_size: int,
               device: torch.device, pinned: bool, budget_bytes: int) -> Store:
    """A store of one row per slot; pictures the old store holds are copied over when
    both fit in the budget together. The old store is freed.

    It is only a cache: when the two do not fit together after all (the budget is an estimate),
    the old pictures are let go and decoded again rather than the run refused."""
    n_slots = len(slot_keys)
    hits: list[tuple[int, int]] = []
    if old is not None and old.nbytes + n_slots * int(cache_size) ** 2 * 3 <= budget_bytes:
        have = old.ready_rows()
        hits = [(j, have[k]) for j, k in enumerate(slot_keys) if k is not None and k in have]
    else:
        old = drop_store(old)
    store = None
    try:
        store = Store(n_slots, cache_size, device, pinned)
        store.state[:] = PENDING
        if hits:
            new_rows = torch.tensor([j for j, _ in hits], dtype=torch.long, device=store.device)
            old_rows = torch.tensor([r for _, r in hits], dtype=torch.long, device=old.device)
            store.data.index_copy_(0, new_rows, old.data.index_select(0, old_rows).to(store.device))
            store.state[[j for j, _ in hits]] = READY
    except (torch.OutOfMemoryError, RuntimeError, MemoryError):
        if old is None:
            raise
        old = drop_store(old)
        cache_let_go("decoded pictures kept from the last run", "they did not fit beside this run's")
        if store is None:
            store = Store(n_slots, cache_size, device, pinned)
        store.state[:] = PENDING
    drop_store(old)
    return store


def assign_rows(keys: Sequence[FileKey | str], cache_size: int, device: torch.device,
                pinned: bool, budget_bytes: int) -> tuple[Store, np.ndarray]:
    """A store with one row per distinct key, reusing the retained store where it can.

    keys: from file_keys (a str is the reason a file cannot be used). Returns the store
    and, for each key, its row. Rows whose file is unchanged since a previous run come
    back READY; the rest are PENDING (FAILED, with the reason, for unusable files).
    """
    slot_keys, failures, slot_of = _slots(keys)
    n_slots = len(slot_keys)
    old = take_retained(cache_size, device, pinned)
    if old is not None and n_slots <= old.capacity <= 2 * max(1, n_slots):
        store = old
        slot_row = _reuse_in_place(store, slot_keys)
    else:
        store = _new_store(old, slot_keys, cache_size, device, pinned, budget_bytes)
        slot_row = np.arange(n_slots, dtype=np.int64)
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

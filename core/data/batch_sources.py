"""Batch sources: the batches of one split, epoch by epoch, on the training device.

A CachedSource gathers its batches from the decoded store (in the first epoch, as
decoding goes); a StreamSource has DataLoader workers decode the files every epoch.
Both shuffle with the same generators and finish batches with the same transforms,
so they give the same batches for the same seed and epoch. An unreadable picture is
reported through on_skip and left out.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import torch

from core.data.augmentation import PRESETS, Augmentation, augmentation
from core.data.decode_cache import READY, Store, drop_store, retain
from core.data.decoder import Decoder, decode_or_reason
from core.data.transforms import cache_size_for, eval_batch, train_batch
from core.errors import TrainingError


def epoch_generators(seed: int, epoch: int, device: torch.device) -> tuple[torch.Generator, torch.Generator]:
    """(order generator on the CPU, augmentation generator on the device), from (seed, epoch)."""
    a, b = np.random.SeedSequence([int(seed) % 2 ** 64, int(epoch) % 2 ** 64]).generate_state(2, np.uint64)
    order = torch.Generator().manual_seed(int(a) >> 1)
    try:
        aug = torch.Generator(device=device) if device.type in ("cuda", "mps") else torch.Generator()
    except RuntimeError:
        aug = torch.Generator()
    aug.manual_seed(int(b) >> 1)
    return order, aug


def _batches_of(n: int, batch_size: int, train: bool) -> list[slice]:
    """Consecutive slices of n items; a train epoch leaves out a last batch of one
    (BatchNorm cannot train on a single picture) unless it is the only batch."""
    b = max(1, int(batch_size))
    out = [slice(i, min(n, i + b)) for i in range(0, n, b)]
    if train and b > 1 and len(out) > 1 and out[-1].stop - out[-1].start == 1:
        out.pop()
    return out


def _to_device(a: np.ndarray, device: torch.device) -> torch.Tensor:
    t = torch.from_numpy(np.ascontiguousarray(a, dtype=np.int64))
    if device.type == "cuda":
        return t.pin_memory().to(device, non_blocking=True)
    return t.to(device)


class BatchSource:
    """Batches of one split: (x float32 normalized (N,3,S,S) on the device, y int64)."""

    num_images: int
    steps_per_epoch: int

    def __init__(self, split: str, paths: Sequence[str], labels: Sequence[int], *, image_size: int,
                 mean, std, batch_size: int, augment: Augmentation | str | bool, seed: int, device: torch.device,
                 should_stop: Callable[[], bool] | None, on_skip: Callable[[str, str], None] | None,
                 reported: set[str]) -> None:
        self.split = split
        self.train = split == "train"
        self.paths = list(paths)
        self.num_images = len(self.paths)
        self.image_size = int(image_size)
        self.cache_size = cache_size_for(image_size)
        self.mean, self.std = tuple(mean), tuple(std)
        self.batch_size = max(1, int(batch_size))
        self.augment = augmentation(augment) if self.train else PRESETS["none"]
        self.seed = int(seed)
        self.device = device
        self.steps_per_epoch = len(_batches_of(self.num_images, self.batch_size, self.train))
        self.skipped: list[tuple[str, str]] = []
        self._should_stop = should_stop
        self._on_skip = on_skip
        self._reported = reported          # shared by the splits of one build: one report per file
        self._failed = np.zeros(self.num_images, dtype=bool)
        self._closed = False
        # channels_last everywhere: oneDNN on the CPU is faster with it too (measured
        # 1.3-3x for the small CNN and ResNet-18 on 2 cores), as cuDNN is on the GPU.
        self._memory_format = torch.channels_last if device.type in ("cuda", "cpu") else torch.contiguous_format
        with torch.inference_mode(False):
            self._labels = _to_device(np.asarray(labels, dtype=np.int64), device)

    def _skip(self, pos: int, reason: str) -> None:
        self._failed[pos] = True
        path = self.paths[pos]
        if path in self._reported:
            return
        self._reported.add(path)
        self.skipped.append((path, reason))
        if self._on_skip is not None:
            self._on_skip(path, reason)

    def _order(self, epoch: int) -> tuple[np.ndarray, torch.Generator | None]:
        """Positions of this epoch in order (pictures known to be unreadable left out)."""
        if self.train:
            g_order, g_aug = epoch_generators(self.seed, epoch, self.device)
            order = torch.randperm(self.num_images, generator=g_order).numpy()
        else:
            order, g_aug = np.arange(self.num_images), None
        return order[~self._failed[order]], g_aug

    def _finish(self, x_u8: torch.Tensor, gen: torch.Generator | None) -> torch.Tensor:
        if self.train:
            x = train_batch(x_u8, self.image_size, self.mean, self.std, gen, self.augment)
        else:
            x = eval_batch(x_u8, self.image_size, self.mean, self.std)
        return x.contiguous(memory_format=self._memory_format)

    def _too_small(self, n: int, epoch_size: int) -> bool:
        return n == 0 or (self.train and self.batch_size > 1 and n == 1 and epoch_size > 1)

    def batches(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        raise NotImplementedError

    def close(self) -> None:
        self._closed = True


# -- cached ------------------------------------------------------------------------------------

class CachedShared:
    """The store and decoder behind the sources of one build."""

    def __init__(self, store: Store, decoder: Decoder, n_sources: int, budget_bytes: int) -> None:
        self.store = store
        self.decoder = decoder
        self.budget_bytes = budget_bytes
        self.open_sources = n_sources
        self.all_ready = store.complete()
        self._lock = threading.Lock()

    def source_closed(self) -> None:
        with self._lock:
            self.open_sources -= 1
            last = self.open_sources == 0
        if last:
            self.decoder.close()
            if self.store.nbytes <= self.budget_bytes:     # kept for the next run, within budget
                retain(self.store)
            else:
                drop_store(self.store)


class CachedSource(BatchSource):
    """Batches gathered from the decoded store; in the first epoch, as decoding goes."""

    def __init__(self, shared: CachedShared, rows: np.ndarray, split: str, paths, labels, **kw) -> None:
        super().__init__(split, paths, labels, **kw)
        self._shared = shared
        self._rows = np.asarray(rows, dtype=np.int64)
        self._pinned = shared.store.pinned and self.device.type == "cuda"
        self._ring: list[torch.Tensor] = []
        self._ring_done: list[torch.cuda.Event | None] = []
        self._ring_i = 0

    def _gather(self, rows: np.ndarray, rows_t: torch.Tensor | None) -> torch.Tensor:
        """uint8 (n,C,C,3) of these store rows, on the training device."""
        data = self._shared.store.data
        if rows_t is None:
            rows_t = _to_device(rows, data.device)
        if self._pinned:
            # Gather on the host into a reused pinned buffer, then one async copy.
            n = len(rows)
            if not self._ring:
                c = self.cache_size
                self._ring = [torch.empty((self.batch_size, c, c, 3), dtype=torch.uint8, pin_memory=True)
                              for _ in range(3)]
                self._ring_done = [None] * 3
            k = self._ring_i
            self._ring_i = (k + 1) % len(self._ring)
            if self._ring_done[k] is not None:
                self._ring_done[k].synchronize()   # the copy from it two batches ago
            buf = self._ring[k][:n]
            torch.index_select(data, 0, rows_t, out=buf)
            x = buf.to(self.device, non_blocking=True)
            ev = torch.cuda.Event()
            ev.record()
            self._ring_done[k] = ev
            return x
        x = data.index_select(0, rows_t)
        return x if x.device == self.device else x.to(self.device, non_blocking=True)

    def batches(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        if self._closed:
            return
        sh = self._shared
        store, decoder = sh.store, sh.decoder
        order, gen = self._order(epoch)
        rows = self._rows[order]
        if not sh.all_ready:
            decoder.prioritize(rows)
        # Whole-epoch index tensors, moved once: no per-step host->device copy.
        rows_t = _to_device(rows, store.data.device)
        labels = self._labels.index_select(0, _to_device(order, self.device))
        for sl in _batches_of(len(order), self.batch_size, self.train):
            r = rows[sl]
            if not sh.all_ready:
                if not decoder.wait_rows(r, self._should_stop):
                    if store.error is not None:
                        raise TrainingError(f"Decoding the images failed ({store.error}). Try the "
                                            f"'stream' data pipeline in the training settings.")
                    return                          # stopped
                sh.all_ready = store.complete()
            state = store.state[r]
            if (state == READY).all():
                x_u8 = self._gather(r, rows_t[sl])
                y = labels[sl]
            else:
                keep = state == READY
                for pos, row in zip(order[sl][~keep].tolist(), r[~keep].tolist()):
                    self._skip(pos, store.reasons.get(row, "could not be read"))
                if self._too_small(int(keep.sum()), len(order)):
                    continue
                x_u8 = self._gather(r[keep], None)
                y = self._labels.index_select(0, _to_device(order[sl][keep], self.device))
            yield self._finish(x_u8, gen), y

    def close(self) -> None:
        if self._closed:
            return
        super().close()
        self._ring, self._ring_done = [], []
        self._shared.source_closed()


# -- stream ------------------------------------------------------------------------------------

class _FileDataset(torch.utils.data.Dataset):
    """Item i: (uint8 (C,C,3) tensor, i, None), or (None, i, reason) for an unreadable file."""

    def __init__(self, paths: Sequence[str], cache_size: int) -> None:
        self.paths = list(paths)
        self.cache_size = int(cache_size)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        arr, reason = decode_or_reason(self.paths[i], self.cache_size)
        return (None if arr is None else torch.from_numpy(arr)), int(i), reason


def _collate(items):
    """Stack the readable pictures; pass the unreadable ones on to be reported."""
    good = [(t, i) for t, i, reason in items if reason is None]
    failed = [(i, reason) for t, i, reason in items if reason is not None]
    x = torch.stack([t for t, _ in good]) if good else None
    idx = torch.tensor([i for _, i in good], dtype=torch.long)
    return x, idx, failed


class _EpochBatches(torch.utils.data.Sampler):
    """The batches of the current epoch; set before each iteration."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []

    def __iter__(self):
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


class StreamSource(BatchSource):
    """Batches decoded from disk by DataLoader workers every epoch."""

    def __init__(self, split: str, paths, labels, *, workers: int, persistent: bool, **kw) -> None:
        super().__init__(split, paths, labels, **kw)
        self._sampler = _EpochBatches()
        self.workers = max(0, int(workers))
        self._loader = torch.utils.data.DataLoader(
            _FileDataset(self.paths, self.cache_size), batch_sampler=self._sampler,
            num_workers=self.workers, collate_fn=_collate, pin_memory=self.device.type == "cuda",
            persistent_workers=persistent and self.workers > 0,
            prefetch_factor=4 if self.workers > 0 else None,
            # Its own generator: the loader's worker seed must not consume the global
            # RNG, or dropout would differ from the cached path's run.
            generator=torch.Generator().manual_seed(0))
        self._iter = None

    def batches(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        if self._closed:
            return
        order, gen = self._order(epoch)
        self._sampler.batches = [order[sl].tolist() for sl in _batches_of(len(order), self.batch_size, self.train)]
        if not self._sampler.batches:
            return
        self._iter = it = iter(self._loader)
        try:
            for x_u8, idx, failed in it:
                for pos, reason in failed:
                    self._skip(pos, reason)
                if x_u8 is None or self._too_small(len(idx), len(order)):
                    continue
                x_u8 = x_u8.to(self.device, non_blocking=True)
                y = self._labels.index_select(0, idx.to(self.device, non_blocking=True))
                yield self._finish(x_u8, gen), y
        finally:
            if not self._loader.persistent_workers:
                self._shutdown(it)

    @staticmethod
    def _shutdown(it) -> None:
        stop = getattr(it, "_shutdown_workers", None)
        if stop is None:
            return
        queues = list(getattr(it, "_index_queues", []) or [])
        queues.append(getattr(it, "_worker_result_queue", None))
        stop()
        # The workers are joined; the queues' feeder threads end a moment later: wait
        # for them too, so that nothing of this source outlives close().
        for q in queues:
            feeder = getattr(q, "_thread", None)
            if feeder is not None and feeder is not threading.current_thread():
                feeder.join(timeout=5)

    def close(self) -> None:
        if self._closed:
            return
        super().close()
        if self._iter is not None:
            self._shutdown(self._iter)
        persistent = getattr(self._loader, "_iterator", None)
        if persistent is not None:
            self._shutdown(persistent)
            self._loader._iterator = None
        self._iter = None

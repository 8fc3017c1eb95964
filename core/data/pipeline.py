"""Turning image files into training batches fast.

Two ways, with the same results:

* "cached" (the default): every picture is decoded once per run (JPEG draft mode,
  resized to a little above the training size) into one preallocated uint8 tensor,
  on the GPU when it fits, else in (pinned) host memory. Decoding runs on all cores
  and overlaps the first epoch: batches come out in the epoch's shuffled order as
  soon as their pictures are decoded. Later epochs cost augmentation and compute only.
* "stream": for folders larger than the memory budget, a DataLoader decodes the files
  in worker processes every epoch.

Either way the augmentation (random resized crop + horizontal flip: one grid_sample
call per batch on an affine grid) and normalization run batched on the training device,
so both ways give the same batches for the same seed and epoch.
An unreadable picture never stops a run: it is reported through on_skip and left out.
"""
from __future__ import annotations

import math
import os
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

from core.data.decode_cache import (PENDING, READY, Decoder, Store, assign_rows, decode_or_reason, decode_square,
                           default_workers, drop_store, file_keys, release_cache, retain,
                           retained_bytes)
from core.errors import FledgeError, TrainingError

__all__ = [
    "cache_size_for", "decode_square", "eval_batch", "train_batch", "PipelinePlan",
    "plan_pipeline", "BatchSource", "build_sources", "release_cache", "host_available_bytes",
]

SCALE = (0.35, 1.0)                      # random resized crop: share of the picture's area
RATIO = (3 / 4, 4 / 3)                   # ... and aspect ratio range
_CROP_TRIES = 10                         # as torchvision: draw again when a crop does not fit

DECODE_NICE_CPU = 5                     # decoding yields to training when both use the CPU
GPU_SHARE = 0.6                          # default budget: share of free GPU memory
HOST_SHARE = 0.4                         # ... of available host memory


def cache_size_for(image_size: int) -> int:
    """Side of the decoded square: a little above the training size, room for crops."""
    return int(round(int(image_size) * 8 / 7))


# -- batch transforms (any device) -----------------------------------------------------------

def _nchw(x: torch.Tensor) -> torch.Tensor:
    """(N,H,W,3) or (N,3,H,W) -> a (N,3,H,W) view (channels-last strides for the former)."""
    if x.dim() != 4:
        raise ValueError(f"expected a batch of pictures (N, H, W, 3) or (N, 3, H, W), got shape {tuple(x.shape)}")
    if x.shape[-1] == 3 and (x.shape[1] == x.shape[2] or x.shape[1] != 3):
        return x.permute(0, 3, 1, 2)
    if x.shape[1] == 3:
        return x
    raise ValueError(f"expected 3 colour channels, got shape {tuple(x.shape)}")


@lru_cache(maxsize=32)
def _norm_consts(device: torch.device, mean: tuple, std: tuple) -> tuple[torch.Tensor, torch.Tensor]:
    """(scale, shift) with x/255 normalized = x * scale + shift, per channel.

    Cached so no host->device copy (a sync on CUDA) happens per batch; made outside
    inference mode so training can use them too."""
    with torch.inference_mode(False):
        m = torch.tensor(mean, dtype=torch.float64).view(1, 3, 1, 1)
        s = torch.tensor(std, dtype=torch.float64).view(1, 3, 1, 1)
        scale = (1.0 / (255.0 * s)).to(device=device, dtype=torch.float32)
        shift = (-m / s).to(device=device, dtype=torch.float32)
    return scale, shift


def _normalize(x255: torch.Tensor, mean, std) -> torch.Tensor:
    """Pictures in 0..255 (uint8 or float) -> float32 (x/255 - mean)/std, in one pass."""
    scale, shift = _norm_consts(x255.device, tuple(float(v) for v in mean), tuple(float(v) for v in std))
    if not x255.is_floating_point() and x255.device.type not in ("cpu", "cuda"):
        x255 = x255.float()    # mixed-dtype addcmul is certain on CPU and CUDA only
    return torch.addcmul(shift, x255, scale)


def eval_batch(x: torch.Tensor, image_size: int, mean, std) -> torch.Tensor:
    """uint8 (N,C,C,3) or (N,3,C,C) -> float32 (N,3,S,S): centre crop S, scale, normalize."""
    x = _nchw(x)
    s = int(image_size)
    h, w = int(x.shape[2]), int(x.shape[3])
    if h >= s and w >= s:
        top, left = (h - s) // 2, (w - s) // 2
        out = x[:, :, top:top + s, left:left + s]
    else:
        out = F.interpolate(x.float(), size=(s, s), mode="bilinear", align_corners=False)
    return _normalize(out, mean, std)


def _crop_grid(n: int, size: int, generator: torch.Generator | None, rdev: torch.device,
               device: torch.device) -> torch.Tensor:
    """(n,S,S,2) sampling grid of a random resized crop (area share in SCALE, aspect in
    RATIO) of a square picture, mirrored half the time.

    The same grid F.affine_grid makes for theta = [[w*flip, 0, cx], [0, h, cy]]; built
    directly because such a crop is separable in x and y, which on the CPU costs a
    tenth of affine_grid's batched matrix product. Random numbers are drawn on rdev
    (the generator's device)."""
    area = torch.empty((n, _CROP_TRIES), device=rdev).uniform_(SCALE[0], SCALE[1], generator=generator)
    logr = torch.empty((n, _CROP_TRIES), device=rdev).uniform_(
        math.log(RATIO[0]), math.log(RATIO[1]), generator=generator)
    u = torch.rand((n, 3), device=rdev, generator=generator)
    ratio = logr.exp()
    w = (area * ratio).sqrt()              # crop width and height as shares of the side
    h = (area / ratio).sqrt()
    fits = (w <= 1) & (h <= 1)
    first = fits.float().argmax(dim=1, keepdim=True)   # the first draw that fits, as torchvision
    any_fit = fits.any(dim=1)
    one = torch.ones_like(u[:, 0])
    w = torch.where(any_fit, w.gather(1, first).squeeze(1), one)
    h = torch.where(any_fit, h.gather(1, first).squeeze(1), one)
    cx = (u[:, 0] * 2 - 1) * (1 - w)       # crop centre, normalized -1..1
    cy = (u[:, 1] * 2 - 1) * (1 - h)
    sx = torch.where(u[:, 2] < 0.5, -w, w)  # a negative x scale mirrors the crop
    params = torch.stack([sx, cx, h, cy], 1).to(device, non_blocking=True)
    base = (torch.arange(size, device=device, dtype=torch.float32) * 2 + 1) / size - 1  # pixel centres
    gx = params[:, 0:1] * base + params[:, 1:2]          # (n, S): x depends on the column only
    gy = params[:, 2:3] * base + params[:, 3:4]          # (n, S): y on the row only
    return torch.stack([gx[:, None, :].expand(n, size, size), gy[:, :, None].expand(n, size, size)], dim=-1)


def train_batch(x: torch.Tensor, image_size: int, mean, std,
                generator: torch.Generator | None = None, augment: bool = True) -> torch.Tensor:
    """uint8 (N,C,C,3) or (N,3,C,C) -> float32 (N,3,S,S), augmented on x's device.

    Per picture a random resized crop (area 35-100 %, aspect 3/4-4/3) resized to SxS and
    a random horizontal flip, all in one grid_sample (bilinear) call on an affine grid;
    then normalized. The random numbers come from generator (on its own device), so a seeded
    generator gives the same batch every time. augment=False: the same as eval_batch.
    """
    if not augment:
        return eval_batch(x, image_size, mean, std)
    x = _nchw(x)
    n, s = int(x.shape[0]), int(image_size)
    if n == 0:
        return torch.empty((0, 3, s, s), dtype=torch.float32, device=x.device)
    rdev = generator.device if generator is not None else x.device
    grid = _crop_grid(n, s, generator, rdev, x.device)
    out = F.grid_sample(x.float(), grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    return _normalize(out, mean, std)


# -- the plan --------------------------------------------------------------------------------

@dataclass(frozen=True)
class PipelinePlan:
    kind: str           # "cached" | "stream"
    where: str          # "gpu" | "pinned host memory" | "host memory" | "workers"
    reason: str         # plain words for the user
    cache_bytes: int    # decoded size of all pictures
    budget_bytes: int


def host_available_bytes() -> int:
    """Memory the system could give this process now (no psutil needed)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        pass
    if sys.platform == "win32":
        try:
            import ctypes

            class _MemStatus(ctypes.Structure):
                _fields_ = [("dwLength", ctypes.c_ulong), ("dwMemoryLoad", ctypes.c_ulong),
                            ("ullTotalPhys", ctypes.c_ulonglong), ("ullAvailPhys", ctypes.c_ulonglong),
                            ("ullTotalPageFile", ctypes.c_ulonglong), ("ullAvailPageFile", ctypes.c_ulonglong),
                            ("ullTotalVirtual", ctypes.c_ulonglong), ("ullAvailVirtual", ctypes.c_ulonglong),
                            ("ullAvailExtendedVirtual", ctypes.c_ulonglong)]

            st = _MemStatus()
            st.dwLength = ctypes.sizeof(st)
            if ctypes.windll.kernel32.GlobalMemoryStatusEx(ctypes.byref(st)):
                return int(st.ullAvailPhys)
        except Exception:  # noqa: BLE001 - fall through to a guess
            pass
    try:   # macOS: no "available" figure; half the physical memory is a fair guess
        return int(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")) // 2
    except (ValueError, OSError, AttributeError):
        return 2 * 1024 ** 3


def _size(b: int) -> str:
    if b < 1e6:
        return f"{b / 1e3:.0f} kB"
    if b < 1e9:
        return f"{b / 1e6:.0f} MB"
    return f"{b / 1e9:.1f} GB"


def _images(n: int) -> str:
    return f"{n:,} image" + ("" if n == 1 else "s")


def _stream_via(workers: int) -> str:
    if workers <= 0:
        return "in the training process"
    return f"through {workers} worker process" + ("" if workers == 1 else "es")


def plan_pipeline(n_images: int, image_size: int, device, kind: str = "auto",
                  memory_budget_mb: int | None = None, *, workers: int | None = None,
                  reclaimable_bytes: int = 0) -> PipelinePlan:
    """Decide between keeping every decoded picture in memory and streaming from disk.

    Default budget: 60 % of free GPU memory on CUDA (pinned host memory as a second
    choice), else 40 % of available host memory. memory_budget_mb overrides it.
    kind "cached"/"stream" forces the choice. reclaimable_bytes: memory held by the
    retained store of an earlier run that this run would reuse.
    """
    device = torch.device(device)
    n = max(0, int(n_images))
    c = cache_size_for(image_size)
    need = n * c * c * 3
    workers = default_workers() if workers is None else max(0, int(workers))
    user = None if memory_budget_mb is None else int(float(memory_budget_mb) * 2 ** 20)
    cuda = device.type == "cuda"
    host_avail = host_available_bytes() + (0 if cuda else reclaimable_bytes)
    host_budget = int(HOST_SHARE * host_avail) if user is None else user
    gpu_budget = gpu_free = 0
    if cuda:
        gpu_free = int(torch.cuda.mem_get_info(device)[0]) + reclaimable_bytes
        gpu_budget = int(GPU_SHARE * gpu_free) if user is None else min(user, int(0.9 * gpu_free))
        if user is not None:
            host_budget = min(user, int(0.8 * host_avail))
    subject = f"All {_images(n)} fit" if n != 1 else "The 1 image fits"

    def cached(where: str, budget: int, reason: str) -> PipelinePlan:
        return PipelinePlan("cached", where, reason, need, budget)

    if kind == "stream":
        budget = max(gpu_budget, host_budget)
        return PipelinePlan("stream", "workers",
                            f"Streaming the {_images(n)} from disk {_stream_via(workers)}, as set in the "
                            f"settings (slower: every image is decoded again in every epoch).", need, budget)
    if kind not in ("auto", "cached"):
        raise ValueError(f"unknown pipeline kind {kind!r}")
    if cuda and need <= gpu_budget:
        return cached("gpu", gpu_budget,
                      f"{subject} in the memory budget ({_size(need)} of {_size(gpu_budget)}): each image "
                      f"is decoded once and kept in GPU memory.")
    if cuda and need <= host_budget:
        return cached("pinned host memory", host_budget,
                      f"The {_images(n)} need {_size(need)} decoded, more than the GPU budget "
                      f"({_size(gpu_budget)}), but fit in host memory ({_size(need)} of "
                      f"{_size(host_budget)}): each image is decoded once and kept in pinned host "
                      f"memory, then copied to the GPU batch by batch.")
    if not cuda and need <= host_budget:
        return cached("host memory", host_budget,
                      f"{subject} in the memory budget ({_size(need)} of {_size(host_budget)}): each image "
                      f"is decoded once and kept in memory.")
    budget = max(gpu_budget, host_budget)
    if kind == "cached":
        where = "gpu" if cuda and need <= int(0.9 * gpu_free) else "host memory"
        place = "GPU memory" if where == "gpu" else "memory"
        return cached(where, budget,
                      f"Keeping all {_images(n)} decoded in {place}, as set in the settings, although they "
                      f"need {_size(need)}, more than the {_size(budget)} budget: the computer may run "
                      f"out of memory.")
    return PipelinePlan("stream", "workers",
                        f"The {_images(n)} need {_size(need)} decoded, more than the {_size(budget)} budget: "
                        f"streaming them from disk {_stream_via(workers)} (slower).", need, budget)


# -- shared by both kinds of source ----------------------------------------------------------

def _generators(seed: int, epoch: int, device: torch.device) -> tuple[torch.Generator, torch.Generator]:
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
                 mean, std, batch_size: int, augment: bool, seed: int, device: torch.device,
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
        self.augment = bool(augment) and self.train
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
            g_order, g_aug = _generators(self.seed, epoch, self.device)
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

class _CachedShared:
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

    def __init__(self, shared: _CachedShared, rows: np.ndarray, split: str, paths, labels, **kw) -> None:
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


# -- building the sources of a run ----------------------------------------------------------

def build_sources(dataset, *, image_size: int, mean, std, batch_size: int, augment: bool, seed: int,
                  device, kind: str = "auto", memory_budget_mb: int | None = None,
                  workers: int | None = None, should_stop: Callable[[], bool] | None = None,
                  on_skip: Callable[[str, str], None] | None = None,
                  ) -> tuple[BatchSource, BatchSource, BatchSource | None, PipelinePlan]:
    """Train, val and test (None when the dataset has no test images) sources and the plan."""
    device = torch.device(device)
    workers = default_workers() if workers is None else max(0, int(workers))
    splits = {name: list(getattr(dataset, name, None) or []) for name in ("train", "val", "test")}
    n_images = sum(len(v) for v in splits.values())
    c = cache_size_for(image_size)
    # A store kept from an earlier run on this device is reused or freed: count it as free.
    reclaim = retained_bytes(c, device, False)
    plan = plan_pipeline(n_images, image_size, device, kind, memory_budget_mb, workers=workers,
                         reclaimable_bytes=reclaim)
    reported: set[str] = set()
    common = dict(image_size=image_size, mean=mean, std=std, batch_size=batch_size, augment=augment,
                  seed=seed, device=device, should_stop=should_stop, on_skip=on_skip, reported=reported)
    names = [n for n in ("train", "val", "test") if n == "train" or n == "val" or splits[n]]
    if plan.kind == "stream":
        srcs = {n: StreamSource(n, [s.path for s in splits[n]], [s.label for s in splits[n]],
                                workers=workers, persistent=n != "test", **common) for n in names}
        return srcs["train"], srcs["val"], srcs.get("test"), plan

    paths = [s.path for n in names for s in splits[n]]
    store, rows, plan = _make_store(paths, c, device, plan)
    row_paths: list[str | None] = [None] * store.capacity
    for p, r in zip(paths, rows.tolist()):
        row_paths[r] = p
    offsets = np.cumsum([0] + [len(splits[n]) for n in names])
    split_rows = {n: rows[offsets[i]:offsets[i + 1]] for i, n in enumerate(names)}
    # Decode in the order the first epoch will ask for: its shuffled train order, then val, test.
    first_order = split_rows["train"][torch.randperm(
        len(split_rows["train"]), generator=_generators(seed, 0, device)[0]).numpy()]
    order = np.concatenate([first_order] + [split_rows[n] for n in names[1:]])
    decoder = Decoder(store, row_paths, order[store.state[order] == PENDING], workers, should_stop,
                      nice=DECODE_NICE_CPU if device.type == "cpu" else 0)
    shared = _CachedShared(store, decoder, len(names), plan.budget_bytes)
    srcs = {n: CachedSource(shared, split_rows[n], n, [s.path for s in splits[n]],
                            [s.label for s in splits[n]], **common) for n in names}
    return srcs["train"], srcs["val"], srcs.get("test"), plan


def _make_store(paths: list[str], cache_size: int, device: torch.device,
                plan: PipelinePlan) -> tuple[Store, np.ndarray, PipelinePlan]:
    keys = file_keys(paths, cache_size)
    where = plan.where
    store_device = device if where == "gpu" else torch.device("cpu")
    pinned = where == "pinned host memory"
    try:
        store, rows = assign_rows(keys, cache_size, store_device, pinned, plan.budget_bytes)
    except (torch.OutOfMemoryError, RuntimeError, MemoryError) as e:
        if pinned:   # page-locked memory is scarcer than plain memory: fall back to it
            from dataclasses import replace

            plan = replace(plan, where="host memory", reason=plan.reason.replace(
                "pinned host memory", "host memory"))
            return _make_store(paths, cache_size, device, plan)
        raise FledgeError(
            f"There is not enough memory to keep the {len(paths):,} decoded images "
            f"({_size(plan.cache_bytes)}). Choose the 'stream' data pipeline or a smaller memory "
            f"budget or image size in the training settings.") from e
    return store, rows, plan

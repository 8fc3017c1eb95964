"""Where a run's decoded pictures go: kept in GPU or host memory, or streamed from disk.

The plan compares the decoded size of every picture with a memory budget and says
why it chose what it chose, in words the training log shows.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass

import torch

from core.data.decoder import default_workers
from core.data.transforms import cache_size_for

GPU_SHARE = 0.6                          # default budget: share of free GPU memory
HOST_SHARE = 0.4                         # ... of available host memory


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


def size_text(b: int) -> str:
    """A byte count in words: '73 MB', '1.2 GB'."""
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


@dataclass(frozen=True)
class _Budgets:
    gpu: int            # bytes of GPU memory the store may take (0 without CUDA)
    gpu_free: int       # free GPU memory, counting a retained store as free
    host: int           # bytes of host memory the store may take

    @property
    def largest(self) -> int:
        return max(self.gpu, self.host)


def _budgets(device: torch.device, user: int | None, reclaimable_bytes: int) -> _Budgets:
    """The default shares of free memory, or the person's budget (capped on CUDA)."""
    cuda = device.type == "cuda"
    host_avail = host_available_bytes() + (0 if cuda else reclaimable_bytes)
    host = int(HOST_SHARE * host_avail) if user is None else user
    if not cuda:
        return _Budgets(0, 0, host)
    gpu_free = int(torch.cuda.mem_get_info(device)[0]) + reclaimable_bytes
    if user is None:
        return _Budgets(int(GPU_SHARE * gpu_free), gpu_free, host)
    return _Budgets(min(user, int(0.9 * gpu_free)), gpu_free, min(user, int(0.8 * host_avail)))


def _cache_that_fits(n: int, need: int, cuda: bool, b: _Budgets) -> PipelinePlan | None:
    """Keeping every picture decoded, where the budget allows it; None if nowhere."""
    subject = f"All {_images(n)} fit" if n != 1 else "The 1 image fits"
    if cuda and need <= b.gpu:
        return PipelinePlan("cached", "gpu",
                            f"{subject} in the memory budget ({size_text(need)} of {size_text(b.gpu)}): "
                            f"each image is decoded once and kept in GPU memory.", need, b.gpu)
    if cuda and need <= b.host:
        return PipelinePlan("cached", "pinned host memory",
                            f"The {_images(n)} need {size_text(need)} decoded, more than the GPU budget "
                            f"({size_text(b.gpu)}), but fit in host memory ({size_text(need)} of "
                            f"{size_text(b.host)}): each image is decoded once and kept in pinned host "
                            f"memory, then copied to the GPU batch by batch.", need, b.host)
    if not cuda and need <= b.host:
        return PipelinePlan("cached", "host memory",
                            f"{subject} in the memory budget ({size_text(need)} of {size_text(b.host)}): "
                            f"each image is decoded once and kept in memory.", need, b.host)
    return None


def _forced_cache(n: int, need: int, cuda: bool, b: _Budgets) -> PipelinePlan:
    where = "gpu" if cuda and need <= int(0.9 * b.gpu_free) else "host memory"
    place = "GPU memory" if where == "gpu" else "memory"
    return PipelinePlan("cached", where,
                        f"Keeping all {_images(n)} decoded in {place}, as set in the settings, although "
                        f"they need {size_text(need)}, more than the {size_text(b.largest)} budget: the "
                        f"computer may run out of memory.", need, b.largest)


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
    b = _budgets(device, user, reclaimable_bytes)
    if kind == "stream":
        return PipelinePlan("stream", "workers",
                            f"Streaming the {_images(n)} from disk {_stream_via(workers)}, as set in the "
                            f"settings (slower: every image is decoded again in every epoch).", need, b.largest)
    if kind not in ("auto", "cached"):
        raise ValueError(f"unknown pipeline kind {kind!r}")
    cuda = device.type == "cuda"
    plan = _cache_that_fits(n, need, cuda, b)
    if plan is not None:
        return plan
    if kind == "cached":
        return _forced_cache(n, need, cuda, b)
    return PipelinePlan("stream", "workers",
                        f"The {_images(n)} need {size_text(need)} decoded, more than the {size_text(b.largest)} "
                        f"budget: streaming them from disk {_stream_via(workers)} (slower).", need, b.largest)

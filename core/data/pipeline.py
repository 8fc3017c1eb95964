"""Turning image files into training batches fast.

Two ways, with the same results:

* "cached" (the default): every picture is decoded once per run (JPEG draft mode,
  resized to a little above the training size) into one preallocated uint8 tensor,
  on the GPU when it fits, else in (pinned) host memory. Decoding runs on all cores
  and overlaps the first epoch: batches come out in the epoch's shuffled order as
  soon as their pictures are decoded. Later epochs cost augmentation and compute only.
* "stream": for folders larger than the memory budget, a DataLoader decodes the files
  in worker processes every epoch.

Either way the augmentation (crop, flip, shift, rotation: one grid_sample call per batch
on an affine grid; colour jitter) and normalization run batched on the training device,
so both ways give the same batches for the same seed and epoch.
An unreadable picture never stops a run: it is reported through on_skip and left out.

This module builds a run's sources; the parts live beside it: core.data.pipeline_plan
(cached or stream, and why), core.data.decode_cache (the store) and core.data.decoder
(filling it), core.data.batch_sources (the sources), core.data.transforms (the batches).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np
import torch

from core.data.batch_sources import BatchSource, CachedShared, CachedSource, StreamSource, epoch_generators
from core.data.decode_cache import PENDING, Store, assign_rows, file_keys, retained_bytes
from core.data.decoder import Decoder, default_workers
from core.data.pipeline_plan import PipelinePlan, plan_pipeline, size_text
from core.data.transforms import cache_size_for
from core.errors import FledgeError

DECODE_NICE_CPU = 5                     # decoding yields to training when both use the CPU


def build_sources(dataset, *, image_size: int, mean, std, batch_size: int, augment, seed: int,
                  device, kind: str = "auto", memory_budget_mb: int | None = None,
                  workers: int | None = None, should_stop: Callable[[], bool] | None = None,
                  on_skip: Callable[[str, str], None] | None = None,
                  ) -> tuple[BatchSource, BatchSource, BatchSource | None, PipelinePlan]:
    """Train, val and test (None when the dataset has no test images) sources and the plan.
    augment: the train batches' core.data.augmentation.Augmentation (or a preset's name)."""
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
        len(split_rows["train"]), generator=epoch_generators(seed, 0, device)[0]).numpy()]
    order = np.concatenate([first_order] + [split_rows[n] for n in names[1:]])
    decoder = Decoder(store, row_paths, order[store.state[order] == PENDING], workers, should_stop,
                      nice=DECODE_NICE_CPU if device.type == "cpu" else 0)
    shared = CachedShared(store, decoder, len(names), plan.budget_bytes)
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
            plan = replace(plan, where="host memory", reason=plan.reason.replace(
                "pinned host memory", "host memory"))
            return _make_store(paths, cache_size, device, plan)
        raise FledgeError(
            f"There is not enough memory to keep the {len(paths):,} decoded images "
            f"({size_text(plan.cache_bytes)}). Choose the 'stream' data pipeline or a smaller memory "
            f"budget or image size in the training settings.") from e
    return store, rows, plan

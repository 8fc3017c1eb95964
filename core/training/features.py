"""Features of a frozen backbone for a list of photos, computed once and kept on disk.

A photo is decoded and cropped exactly as the Predictor does (decode_square, then
eval_batch's centre crop and normalization), so a head trained on these features
answers like the saved model. Each photo gives a few fixed views: the photo itself and
its mirror image (more training examples for free; prediction sees the photo only).
"""
from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from core.data.decode_cache import file_keys
from core.data.decoder import decode_or_reason
from core.data.transforms import cache_size_for, eval_batch
from core.model.devices import inference_dtype
from core.model.threads import paced
from core.training.feature_store import FeatureStore, entry_key, store_for

VIEWS = ("photo", "mirror")
PREPROCESSING = "decode_square+eval_batch/1"   # change when either changes what a photo looks like
BATCH_SIZE = 4                                 # photos per forward pass: fastest on a 2-core CPU
STORE_EVERY = 256                              # photos computed between writes to the store


@dataclass
class Backbone:
    """A frozen network from normalized images (N,3,S,S) to feature vectors (N, dim)."""
    id: str                  # names the weights, e.g. "efficientnet_lite0-57934424"
    network: nn.Module
    image_size: int
    mean: tuple
    std: tuple
    dim: int
    precision: str = "fp32"  # "bf16": the forward runs under bfloat16 autocast (core.model.devices)

    @property
    def cache_size(self) -> int:
        return cache_size_for(self.image_size)

    @property
    def variant(self) -> str:
        """Names what else a feature depends on: image size and preprocessing."""
        recipe = f"{PREPROCESSING}|{self.cache_size}|{tuple(self.mean)}|{tuple(self.std)}"
        if self.precision != "fp32":      # fp32 keeps the key it always had: its cache stays valid
            recipe += f"|{self.precision}"
        return f"{self.image_size}px-{hashlib.sha1(recipe.encode()).hexdigest()[:10]}"


_default: dict[tuple[str, int, str], Backbone] = {}
_default_lock = threading.Lock()


def default_backbone(arch: str | None = None, precision: str | None = None,
                     image_size: int | None = None) -> Backbone:
    """What quick training uses: an installed network (EfficientNet-Lite0 unless arch names
    another of core.model.offline_backbone.BACKBONES) with its ImageNet weights, at the image
    size it was trained at (built once per process), in bf16 where the CPU computes it in
    hardware (2.2 times the photos per second; the features differ from fp32 by about 0.007 on
    average and the heads trained on them score the same), else fp32. precision "fp32"/"bf16"
    overrides."""
    from core.model import offline_backbone as ob

    spec = ob.backbone(arch or ob.ARCH)
    if precision is None:
        precision = "bf16" if inference_dtype(torch.device("cpu")) == torch.bfloat16 else "fp32"
    key = (spec.arch, int(image_size or spec.image_size), precision)
    with _default_lock:
        if key not in _default:
            network = ob.feature_extractor(spec.arch).to(memory_format=torch.channels_last)
            _default[key] = Backbone(spec.id, network, key[1], ob.MEAN, ob.STD, ob.FEATURES, precision)
        return _default[key]


@dataclass
class Features:
    vectors: np.ndarray                 # (N, views, dim) float32; zeros for unusable photos
    usable: np.ndarray                  # (N,) bool
    errors: dict[int, str] = field(default_factory=dict)   # photo index -> why it was left out
    computed: int = 0                   # photos that went through the backbone now
    reused: int = 0                     # photos whose features came from the store
    stopped: bool = False               # should_stop ended extraction early


def _compute(backbone: Backbone, arrays: list[np.ndarray], views: Sequence[str]) -> np.ndarray:
    """uint8 squares -> (n, views, dim) float32, every view in one forward pass."""
    x = eval_batch(torch.from_numpy(np.stack(arrays)), backbone.image_size, backbone.mean,
                   backbone.std)
    x = x.contiguous(memory_format=torch.channels_last)
    batch = torch.cat([x.flip(3) if v == "mirror" else x for v in views])
    bf16 = backbone.precision == "bf16"
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        out = backbone.network(batch).float()
    return out.reshape(len(views), len(arrays), -1).transpose(0, 1).numpy()


def extract_features(paths: Sequence[str], backbone: Backbone, views: Sequence[str] = VIEWS,
                     store: FeatureStore | None = None, batch_size: int = BATCH_SIZE,
                     workers: int = 2, progress: Callable[[int, int], None] | None = None,
                     should_stop: Callable[[], bool] | None = None) -> Features:
    """Features of every photo: from the store when the file is unchanged, else computed
    (and stored). Unreadable photos are reported in errors, never raised."""
    views = tuple(views)
    unknown = set(views) - set(VIEWS)
    if unknown:
        raise ValueError(f"unknown views {sorted(unknown)}; choose from {VIEWS}")
    store = store if store is not None else store_for(backbone.id, backbone.variant)
    n, total = len(paths), len(paths)
    result = Features(np.zeros((n, len(views), backbone.dim), dtype=np.float32),
                      np.zeros(n, dtype=bool))
    keys: list[list[str] | None] = []
    for i, k in enumerate(file_keys(list(paths), backbone.cache_size)):
        if isinstance(k, str):
            result.errors[i] = k            # the reason the file cannot be used
            keys.append(None)
        else:
            keys.append([entry_key(v, k[0], k[1], k[2]) for v in views])
    wanted = [i for i in range(n) if keys[i] is not None]
    flat = [key for i in wanted for key in keys[i]]
    vectors, found = store.get(flat, backbone.dim)
    vectors = vectors.reshape(len(wanted), len(views), backbone.dim)
    found = found.reshape(len(wanted), len(views)).all(axis=1)
    todo = []
    for j, i in enumerate(wanted):
        if found[j]:
            result.vectors[i], result.usable[i] = vectors[j], True
        else:
            todo.append(i)
    result.reused = len(wanted) - len(todo)
    done = n - len(todo)
    if progress is not None:
        progress(done, total)
    unstored: list[int] = []                # computed, not yet written (one write per few hundred)

    def write() -> None:
        if unstored:
            store.put([key for i in unstored for key in keys[i]],
                      result.vectors[unstored].reshape(-1, backbone.dim))
            unstored.clear()

    try:
        for batch, decoded in paced(_decoded_batches(paths, todo, backbone.cache_size, batch_size,
                                                     workers, should_stop), "cpu"):
            good = [(i, arr) for i, arr, reason in decoded if arr is not None]
            for i, _, reason in decoded:
                if reason is not None:
                    result.errors[i] = reason
            if good:
                feats = _compute(backbone, [a for _, a in good], views)
                for (i, _), f in zip(good, feats):
                    result.vectors[i], result.usable[i] = f, True
                unstored += [i for i, _ in good]
                result.computed += len(good)
                if len(unstored) >= STORE_EVERY:
                    write()
            done += len(batch)
            if progress is not None:
                progress(done, total)
    finally:
        write()                             # stopped or failed: what was computed is kept
    result.stopped = done < total
    return result


def _decoded_batches(paths: Sequence[str], todo: list[int], cache_size: int, batch_size: int,
                     workers: int, should_stop: Callable[[], bool] | None):
    """(batch indices, [(index, array or None, reason or None)]): the next batch decodes in
    threads while the caller runs the backbone on this one."""
    batches = [todo[s:s + max(1, batch_size)] for s in range(0, len(todo), max(1, batch_size))]
    if not batches:
        return
    with ThreadPoolExecutor(max(1, workers), thread_name_prefix="fledge-features") as pool:
        def submit(batch):
            return [(i, pool.submit(decode_or_reason, paths[i], cache_size)) for i in batch]

        pending = submit(batches[0])
        for b, batch in enumerate(batches):
            if should_stop is not None and should_stop():
                for _, fut in pending:
                    fut.cancel()
                return
            decoded = [(i, *fut.result()) for i, fut in pending]
            pending = submit(batches[b + 1]) if b + 1 < len(batches) else []
            yield batch, decoded

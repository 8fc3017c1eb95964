"""Using a trained model: one photo, or many in batches with decoding in parallel.

Preprocessing is the training pipeline's own evaluation path (core.data.decoder's
decode_or_reason, then core.data.transforms' eval_batch), so a photo is seen exactly as
validation saw it.
"""
from __future__ import annotations

import collections
import contextlib
import copy
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

import numpy as np
import torch
from torch import nn

from core.data.decoder import decode_or_reason
from core.data.transforms import cache_size_for, eval_batch
from core.model import offline_backbone
from core.model.devices import inference_dtype, resolve_device
from core.errors import FledgeError
from core.model.networks import main_logits
from core.model.threads import paced

_PIL_LABEL = "<image>"
_BYTES_LABEL = "<image data>"
# For at most this many photos the predictor starts without folding BatchNorm: the fold and its
# check cost more than they save over so few. Measured in CPU seconds (one thread, a Xeon with
# AMX): folding paid back after about 25 photos for EfficientNet-Lite0 and 150 for ResNet-18
# at 224 px, never within 64 for Small CNN.
FEW_PHOTOS = 16
NO_ANSWER = ("the model gave no answer for this photo (its output is not a number); the model is "
             "broken: train it again")


@dataclass(frozen=True)
class Prediction:
    source: str                        # the path, or a label for bytes / in-memory images
    top: list[tuple[str, float]]       # (class, probability), most likely first
    error: str | None = None           # why the image could not be classified

    @property
    def label(self) -> str | None:
        return self.top[0][0] if self.top and self.error is None else None

    @property
    def probability(self) -> float:
        return self.top[0][1] if self.top and self.error is None else 0.0

    @property
    def ok(self) -> bool:
        return self.error is None


def source_label(image) -> str:
    """How an input is named in a Prediction."""
    if isinstance(image, (str, os.PathLike)):
        return os.fspath(image)
    if isinstance(image, (bytes, bytearray, memoryview)):
        return _BYTES_LABEL
    return str(getattr(image, "filename", "") or _PIL_LABEL)


def _resolve_device(name) -> torch.device:
    return name if isinstance(name, torch.device) else resolve_device(name or "auto")


def _folded(model: nn.Module) -> nn.Module:
    """A copy with each BatchNorm folded into the convolution before it: torch.fx for
    torchvision's networks; the EfficientNet-Lites (the quick recipe's models), whose "same"
    padding fx cannot trace, by their module layout (core.model.efficientnet_lite)."""
    if offline_backbone.has_foldable_blocks(model):
        return offline_backbone.fold_batchnorm(copy.deepcopy(model))
    from torch.fx.experimental.optimization import fuse      # only the networks fx traces need it

    return fuse(model)


def _fold_batchnorm(model: nn.Module, image_size: int, device) -> nn.Module:
    """The model with BatchNorm folded: the same answers (to rounding) for less work per
    image (ResNet-18 on a 2-core CPU: ~7% faster; EfficientNet-Lite0: 53 photos/s against 33).
    Kept only if it answers like the original on a test input; otherwise, and for models
    that cannot be folded, the model is used as it is."""
    try:
        folded = _folded(model)
        # One image: a folded BatchNorm acts on each image alone, so a second checks nothing more.
        x = torch.randn(1, 3, image_size, image_size, device=device)
        with torch.inference_mode():
            want, got = main_logits(model(x)), main_logits(folded(x))
        if torch.allclose(want, got, rtol=1e-3, atol=1e-3 * float(want.abs().max()) + 1e-5):
            return folded
    except Exception:  # noqa: BLE001 - an unfoldable model still predicts, just unfolded
        pass
    return model


class Predictor:
    """A loaded model, kept in eval mode on its device, ready for repeated use."""

    def __init__(self, model: nn.Module, classes, image_size: int, mean, std, device,
                 arch: str = "", info: dict | None = None, precision: str = "auto",
                 fold: bool = True) -> None:
        self._describe(_resolve_device(device), classes, image_size, mean, std, arch, info)
        self.cuda = self.device.type == "cuda"
        # channels_last: measured faster for convolutions on CPU (oneDNN) as on CUDA.
        self._channels_last = self.device.type in ("cuda", "cpu")
        model = model.to(self.device).eval()
        if fold:
            model = _fold_batchnorm(model, self.image_size, self.device)
        if self._channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.model = model
        # bf16 where the hardware computes it (a GPU, or a CPU with AMX / AVX512-BF16);
        # precision "fp32" where answers must match another fp32 runtime (export parity).
        self._amp_dtype = None if precision == "fp32" else inference_dtype(self.device)

    def _describe(self, device, classes, image_size: int, mean, std, arch: str, info,
                  cache_size: int | None = None) -> None:
        """What every predictor says about itself and its input (also an exported model's)."""
        self.device = device
        self.classes = [str(c) for c in classes]
        self.image_size = int(image_size)
        self.mean = tuple(float(x) for x in mean)
        self.std = tuple(float(x) for x in std)
        self.arch = arch
        self.info = dict(info or {})           # checkpoint metadata (config, metrics, ...)
        self.cache_size = int(cache_size or cache_size_for(self.image_size))

    # -- construction -------------------------------------------------------------------

    @classmethod
    def from_checkpoint(cls, path, device="auto", photos: int | None = None) -> "Predictor":
        """Load a Fledge model file (safely) and get it ready; CheckpointError if unusable.

        photos: how many photos it will classify, when that is known beforehand (a command's
        list): then there is no warm-up, whose only use is a quick first photo later, and for
        FEW_PHOTOS or fewer BatchNorm stays unfolded. None (a window, a folder): both."""
        from core.model.checkpoints import checkpoint_info, load_checkpoint, model_from_checkpoint

        ckpt = load_checkpoint(path)
        model = model_from_checkpoint(ckpt)
        predictor = cls(model, ckpt["classes"], ckpt["image_size"], ckpt["mean"], ckpt["std"],
                        device, arch=ckpt["arch"], info=checkpoint_info(ckpt),
                        fold=photos is None or photos > FEW_PHOTOS)
        if photos is None:
            predictor.warmup()
        return predictor

    @classmethod
    def from_model(cls, model: nn.Module, classes, image_size: int, mean, std, device,
                   arch: str = "") -> "Predictor":
        """Wrap a model in memory. The model itself is moved to device, put in eval mode
        and (on CPU/CUDA) switched to channels_last memory format."""
        return cls(model, classes, image_size, mean, std, device, arch=arch)

    def warmup(self) -> None:
        """One forward pass on a blank image so the first real photo is not slow."""
        blank = np.zeros((1, self.cache_size, self.cache_size, 3), dtype=np.uint8)
        self._forward(blank)

    # -- the model ----------------------------------------------------------------------

    def _autocast(self):
        if self._amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self._amp_dtype)

    def _forward(self, batch: np.ndarray) -> torch.Tensor:
        """(N, C, C, 3) uint8 -> (N, classes) float probabilities on the CPU."""
        x = torch.from_numpy(batch)
        with torch.inference_mode():
            if self.cuda:
                if len(batch) > 1:
                    x = x.pin_memory()
                x = x.to(self.device, non_blocking=True)
            elif x.device != self.device:
                x = x.to(self.device)
            x = eval_batch(x, self.image_size, self.mean, self.std)
            if self._channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            try:
                with self._autocast():
                    logits = main_logits(self.model(x))
            except torch.OutOfMemoryError:
                if len(batch) == 1:
                    raise FledgeError("The graphics card ran out of memory for a single image. "
                                      "Close other programs using it, or use the CPU.") from None
                if self.cuda:
                    torch.cuda.empty_cache()
                half = len(batch) // 2
                return torch.cat([self._forward(batch[:half]), self._forward(batch[half:])])
            return logits.float().softmax(dim=1).cpu()

    def _decode(self, image) -> tuple[np.ndarray | None, str | None]:
        """(C, C, 3) uint8 array, or (None, reason) -- never raises for a bad image."""
        return decode_or_reason(image, self.cache_size)

    def _top(self, source: str, probs: torch.Tensor, top_k: int) -> Prediction:
        if not bool(torch.isfinite(probs).all()):
            # Never a class for a photo the model gave no number for (a diverged or broken model).
            return Prediction(source, [], NO_ANSWER)
        k = max(1, min(int(top_k), len(self.classes)))
        values, indices = torch.topk(probs, k)
        return Prediction(source, [(self.classes[i], float(v))
                                   for v, i in zip(values.tolist(), indices.tolist())])

    # -- public -------------------------------------------------------------------------

    def predict(self, image, top_k: int = 5) -> Prediction:
        """Classify one image (path, bytes or PIL image); errors come back in .error."""
        source = source_label(image)
        arr, err = self._decode(image)
        if err is not None:
            return Prediction(source, [], err)
        return self._top(source, self._forward(arr[None])[0], top_k)

    def _decoded_batches(self, items: list, batch_size: int, workers: int | None,
                         should_stop: Callable[[], bool] | None
                         ) -> Iterator[list[tuple[int, np.ndarray | None, str | None]]]:
        """Batches of (index, array, error) in input order; decoding runs ahead in threads
        while the caller runs the model on the previous batch."""
        batch_size = max(1, int(batch_size))
        workers = workers or min(8, os.cpu_count() or 1)
        ahead = 2 * batch_size + workers        # bounded: memory stays a few batches
        indices = iter(range(len(items)))
        pending: collections.deque = collections.deque()
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fledge-decode")

        def fill() -> None:
            while len(pending) < ahead:
                i = next(indices, None)
                if i is None:
                    return
                pending.append((i, pool.submit(self._decode, items[i])))

        try:
            fill()
            while pending:
                if should_stop is not None and should_stop():
                    return
                batch = []
                while pending and len(batch) < batch_size:
                    i, fut = pending.popleft()
                    arr, err = fut.result()
                    batch.append((i, arr, err))
                    fill()
                yield batch
        finally:
            for _, fut in pending:
                fut.cancel()
            pool.shutdown(wait=True, cancel_futures=True)

    def predict_many(self, images: Iterable, batch_size: int = 64, top_k: int = 5,
                     workers: int | None = None,
                     progress: Callable[[int, int], None] | None = None,
                     should_stop: Callable[[], bool] | None = None) -> list[Prediction]:
        """Predictions in input order; unreadable images get Prediction(error=reason).

        When should_stop() turns true, returns the predictions made so far (a prefix).
        """
        items = list(images)
        total = len(items)
        out: list[Prediction] = []
        for batch in paced(self._decoded_batches(items, batch_size, workers, should_stop), self.device):
            good = [(i, a) for i, a, err in batch if err is None]
            probs = self._forward(np.stack([a for _, a in good])) if good else None
            row = {i: r for r, (i, _) in enumerate(good)}
            for i, _, err in batch:
                source = source_label(items[i])
                if err is not None:
                    out.append(Prediction(source, [], err))
                else:
                    out.append(self._top(source, probs[row[i]], top_k))
            if progress is not None:
                progress(len(out), total)
        return out

    def probabilities(self, images: Iterable, batch_size: int = 64,
                      workers: int | None = None) -> np.ndarray:
        """(N, classes) float32 probabilities; rows of unreadable images are NaN."""
        items = list(images)
        out = np.full((len(items), len(self.classes)), np.nan, dtype=np.float32)
        for batch in paced(self._decoded_batches(items, batch_size, workers, None), self.device):
            good = [(i, a) for i, a, err in batch if err is None]
            if good:
                probs = self._forward(np.stack([a for _, a in good])).numpy()
                out[[i for i, _ in good]] = probs
        return out

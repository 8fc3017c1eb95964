"""Batch transforms on any device: decoded uint8 squares -> normalized float32 batches.

Training batches get a random resized crop and a horizontal flip, built as one
grid_sample call on an affine grid; evaluation batches a centre crop. Both run
batched on the training device, so the cached and the stream pipeline give the same
batches for the same seed and epoch, and the predictor sees photos as validation did.
"""
from __future__ import annotations

import math
from functools import lru_cache

import torch
import torch.nn.functional as F

SCALE = (0.35, 1.0)                      # random resized crop: share of the picture's area
RATIO = (3 / 4, 4 / 3)                   # ... and aspect ratio range
_CROP_TRIES = 10                         # as torchvision: draw again when a crop does not fit


def cache_size_for(image_size: int) -> int:
    """Side of the decoded square: a little above the training size, room for crops."""
    return int(round(int(image_size) * 8 / 7))


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

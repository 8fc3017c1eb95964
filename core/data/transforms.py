"""Batch transforms on any device: decoded uint8 squares -> normalized float32 batches.

Training batches get the random changes of their Augmentation (core.data.augmentation):
crop, flip, shift and rotation built as one grid_sample call on an affine grid, then colour
jitter and grey, each picture its own random numbers; evaluation batches a centre crop. Both run
batched on the training device, so the cached and the stream pipeline give the same
batches for the same seed and epoch, and the predictor sees photos as validation did.
"""
from __future__ import annotations

import math
from functools import lru_cache

import torch
import torch.nn.functional as F

from core.data.augmentation import Augmentation, augmentation

RATIO = (3 / 4, 4 / 3)                   # random resized crop: aspect ratio range
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
    return _normalize(_centre(_nchw(x), int(image_size)), mean, std)


def _crop_grid(n: int, size: int, aug: Augmentation, window: float, generator: torch.Generator | None,
               rdev: torch.device, device: torch.device) -> torch.Tensor:
    """(n,S,S,2) sampling grid of aug's geometric changes of a square picture: a random
    resized crop (area share from 1 - aug.crop to 1, aspect in RATIO; without crop the
    centre window, a share window of the side, as eval_batch sees), mirrored with chance
    aug.flip, moved by up to aug.shift of the side and turned by up to aug.rotation degrees.

    Without rotation it is the same grid F.affine_grid makes for theta = [[w*flip, 0, cx],
    [0, h, cy]], built directly because such a crop is separable in x and y, which on the
    CPU costs a tenth of affine_grid's batched matrix product. Random numbers are drawn on
    rdev (the generator's device); light's (crop and flip) in the order they always were,
    so a seed gives the batches it gave before presets existed."""
    area = torch.empty((n, _CROP_TRIES), device=rdev).uniform_(1.0 - aug.crop, 1.0, generator=generator)
    logr = torch.empty((n, _CROP_TRIES), device=rdev).uniform_(
        math.log(RATIO[0]), math.log(RATIO[1]), generator=generator)
    u = torch.rand((n, 3), device=rdev, generator=generator)
    if aug.crop > 0:
        ratio = logr.exp()
        w = (area * ratio).sqrt()              # crop width and height as shares of the side
        h = (area / ratio).sqrt()
        fits = (w <= 1) & (h <= 1)
        first = fits.float().argmax(dim=1, keepdim=True)   # the first draw that fits, as torchvision
        any_fit = fits.any(dim=1)
        one = torch.ones_like(u[:, 0])
        w = torch.where(any_fit, w.gather(1, first).squeeze(1), one)
        h = torch.where(any_fit, h.gather(1, first).squeeze(1), one)
        cx = (u[:, 0] * 2 - 1) * (1 - w)   # crop centre, normalized -1..1
        cy = (u[:, 1] * 2 - 1) * (1 - h)
    else:                                  # the centre window: only the other changes move it
        w = h = torch.full_like(u[:, 0], window)
        cx = cy = torch.zeros_like(w)
    if aug.shift > 0:                      # a side is 2 long in normalized coordinates
        t = torch.empty((n, 2), device=rdev).uniform_(-2 * aug.shift, 2 * aug.shift, generator=generator)
        cx, cy = cx + t[:, 0], cy + t[:, 1]
    sx = torch.where(u[:, 2] < aug.flip, -w, w)  # a negative x scale mirrors the crop
    base = (torch.arange(size, device=device, dtype=torch.float32) * 2 + 1) / size - 1  # pixel centres
    if aug.rotation > 0:
        angle = torch.empty(n, device=rdev).uniform_(-aug.rotation, aug.rotation, generator=generator)
        cos, sin = torch.deg2rad(angle).cos(), torch.deg2rad(angle).sin()
        # theta = rotation @ diag(sx, h): the crop window turned about its centre.
        theta = torch.stack([cos * sx, -sin * h, cx, sin * sx, cos * h, cy], 1).to(device, non_blocking=True)
        t = theta[:, :, None, None]
        gx = t[:, 0] * base[None, :] + t[:, 1] * base[:, None] + t[:, 2]
        gy = t[:, 3] * base[None, :] + t[:, 4] * base[:, None] + t[:, 5]
        return torch.stack([gx, gy], dim=-1)
    params = torch.stack([sx, cx, h, cy], 1).to(device, non_blocking=True)
    gx = params[:, 0:1] * base + params[:, 1:2]          # (n, S): x depends on the column only
    gy = params[:, 2:3] * base + params[:, 3:4]          # (n, S): y on the row only
    return torch.stack([gx[:, None, :].expand(n, size, size), gy[:, :, None].expand(n, size, size)], dim=-1)


@lru_cache(maxsize=8)
def _luma(device: torch.device) -> torch.Tensor:
    """torchvision's rgb_to_grayscale weights, on device; cached: no copy (a CUDA sync) per batch."""
    with torch.inference_mode(False):
        return torch.tensor((0.2989, 0.587, 0.114), dtype=torch.float32).to(device)


def _colour(x: torch.Tensor, aug: Augmentation, generator: torch.Generator | None,
            rdev: torch.device) -> torch.Tensor:
    """Float pictures in 0..255 (N,3,S,S) with aug's colour changes, each picture its own
    random factors: brightness, contrast and saturation (torchvision's ColorJitter blends, in
    that order), then grey with chance aug.grayscale.

    Every one of them is linear in the colours, so together they are one 3x3 matrix and
    offset per picture, applied in one batched product and clipped once at the end (ColorJitter
    clips after each step; only pixels pushed past black or white differ). On the CPU this
    costs a fifth of blending step by step."""
    n = int(x.shape[0])
    u = torch.rand((n, 4), device=rdev, generator=generator).to(x.device, non_blocking=True)
    f = lambda col, strength: 1 + (u[:, col] * 2 - 1) * strength  # noqa: E731 - a factor within 1 +- strength
    eye = torch.eye(3, device=x.device).expand(n, 3, 3)
    luma = _luma(x.device)
    grey = luma.expand(3, 3).expand(n, 3, 3)             # every channel becomes the luma
    scale = f(0, aug.brightness) * f(1, aug.contrast)    # (n,): brightness, then contrast's gain
    sat = f(2, aug.saturation).view(n, 1, 1)
    matrix = sat * eye + (1 - sat) * grey                # saturation: a blend with the grey picture
    if aug.grayscale > 0:
        matrix = torch.where((u[:, 3] < aug.grayscale).view(n, 1, 1), grey @ matrix, matrix)
    offset = torch.zeros((n, 3, 1), device=x.device)
    if aug.contrast > 0:                                 # contrast blends with the mean grey level
        mean = x.mean(dim=(2, 3)) @ luma * f(0, aug.brightness)
        offset = (matrix.sum(2) * ((1 - f(1, aug.contrast)) * mean)[:, None])[:, :, None]
    out = torch.baddbmm(offset, matrix * scale.view(n, 1, 1), x.reshape(n, 3, -1))
    return out.clamp_(0, 255).view_as(x)


def _centre(x: torch.Tensor, s: int) -> torch.Tensor:
    """(N,3,H,W) -> its centre SxS (resized when smaller), as eval_batch sees it."""
    h, w = int(x.shape[2]), int(x.shape[3])
    if h >= s and w >= s:
        top, left = (h - s) // 2, (w - s) // 2
        return x[:, :, top:top + s, left:left + s]
    return F.interpolate(x.float(), size=(s, s), mode="bilinear", align_corners=False)


def train_batch(x: torch.Tensor, image_size: int, mean, std, generator: torch.Generator | None = None,
                augment: Augmentation | str | bool = "light") -> torch.Tensor:
    """uint8 (N,C,C,3) or (N,3,C,C) -> float32 (N,3,S,S), augmented on x's device.

    augment: an Augmentation, a preset's name, or True/False for light/none. Its geometric
    changes (crop, flip, shift, rotation) are one grid_sample (bilinear) call on an affine
    grid, its colour changes a few blends on the result; then normalized. The random
    numbers come from generator (on its own device), so a seeded generator gives the same
    batch every time. No change at all: the same as eval_batch.
    """
    aug = augment if isinstance(augment, Augmentation) else augmentation(augment)
    if aug.identity:
        return eval_batch(x, image_size, mean, std)
    x = _nchw(x)
    n, s = int(x.shape[0]), int(image_size)
    if n == 0:
        return torch.empty((0, 3, s, s), dtype=torch.float32, device=x.device)
    rdev = generator.device if generator is not None else x.device
    if aug.geometric:
        grid = _crop_grid(n, s, aug, min(1.0, s / int(x.shape[2])), generator, rdev, x.device)
        out = F.grid_sample(x.float(), grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    else:
        out = _centre(x, s).float()
    if aug.colour:
        out = _colour(out, aug, generator, rdev)
    return _normalize(out, mean, std)

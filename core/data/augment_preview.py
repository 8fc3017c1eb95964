"""A person's own photo as training would show it: a few samples of an augmentation, made by
the very transforms the training batches go through (core.data.transforms.train_batch)."""
from __future__ import annotations

import os

import numpy as np
import torch

from core.data.augmentation import Augmentation
from core.data.decoder import decode_or_reason
from core.data.transforms import cache_size_for, train_batch
from core.errors import FledgeError


def augmented_samples(path: str, augment: Augmentation | str, *, count: int = 5, size: int = 96,
                      seed: int = 0) -> list[np.ndarray]:
    """count (size, size, 3) uint8 pictures of the photo at path, each a random draw of augment
    (an Augmentation or a preset's name); the same seed draws the same samples."""
    picture, reason = decode_or_reason(path, cache_size_for(size))
    if picture is None:
        raise FledgeError(f"{os.path.basename(path)} cannot be shown: {reason}.")
    batch = torch.from_numpy(picture)[None].expand(int(count), -1, -1, -1)
    generator = torch.Generator().manual_seed(int(seed))
    # Normalizing with mean 0 and std 1 leaves the pictures in 0..1.
    out = train_batch(batch, size, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), generator, augment)
    pictures = (out * 255).round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()
    return list(pictures)

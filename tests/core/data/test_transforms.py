"""Decoding a file into a square, and the batch transforms (augmentation, normalization)."""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from core.data.decoder import decode_square
from core.data.transforms import cache_size_for, eval_batch, train_batch

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
SIZE = 32                       # training size in these tests; cache size 37


def test_cache_size_is_a_little_above_training_size():
    assert cache_size_for(64) == 73
    assert cache_size_for(128) == 146
    assert cache_size_for(224) == 256


def test_decode_square_keeps_the_centre_square(tmp_path):
    # 90x30: left third red, middle green, right third blue -> the centre square is green.
    arr = np.zeros((30, 90, 3), np.uint8)
    arr[:, :30, 0] = 255
    arr[:, 30:60, 1] = 255
    arr[:, 60:, 2] = 255
    p = tmp_path / "wide.png"
    Image.fromarray(arr).save(p)
    out = decode_square(str(p), 37)
    assert out.shape == (37, 37, 3) and out.dtype == np.uint8
    mean = out[2:-2, 2:-2].reshape(-1, 3).mean(0)
    assert mean[1] > 240 and mean[0] < 15 and mean[2] < 15


def test_decode_square_of_a_photo_sized_jpeg_uses_draft_size(tmp_path):
    p = tmp_path / "photo.jpg"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)).save(p, quality=90)
    out = decode_square(str(p), 73)
    assert out.shape == (73, 73, 3) and out.dtype == np.uint8
    # PIL images and bytes work too (the predictor passes both).
    assert decode_square(Image.open(p), 73).shape == (73, 73, 3)
    assert decode_square(p.read_bytes(), 73).shape == (73, 73, 3)


def test_eval_batch_accepts_both_layouts_and_normalizes_exactly():
    x = torch.zeros((2, 37, 37, 3), dtype=torch.uint8)
    x[0] = 51
    x[1, 10:27, 10:27] = 255               # a bright centre, cut from the dark border
    out = eval_batch(x, SIZE, MEAN, STD)
    assert out.shape == (2, 3, SIZE, SIZE) and out.dtype == torch.float32
    assert torch.equal(out, eval_batch(x.permute(0, 3, 1, 2).contiguous(), SIZE, MEAN, STD))
    expected0 = (torch.tensor(51 / 255) - torch.tensor(MEAN)) / torch.tensor(STD)
    assert torch.allclose(out[0, :, 5, 5], expected0)
    # Centre crop: offset (37-32)//2 = 2, so pixel (8, 8) of the crop is pixel (10, 10).
    assert torch.allclose(out[1, :, 8, 8], (1 - torch.tensor(MEAN)) / torch.tensor(STD))
    assert torch.allclose(out[1, :, 7, 7], -torch.tensor(MEAN) / torch.tensor(STD))


def test_train_batch_shape_range_and_determinism():
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.integers(0, 256, (6, 37, 37, 3), dtype=np.uint8))
    g = lambda s: torch.Generator().manual_seed(s)   # noqa: E731
    a = train_batch(x, SIZE, MEAN, STD, g(1), True)
    assert a.shape == (6, 3, SIZE, SIZE) and a.dtype == torch.float32
    lo = -torch.tensor(MEAN) / torch.tensor(STD)
    hi = (1 - torch.tensor(MEAN)) / torch.tensor(STD)
    per_channel = a.transpose(0, 1).reshape(3, -1)
    assert (per_channel.min(1).values >= lo - 1e-5).all() and (per_channel.max(1).values <= hi + 1e-5).all()
    assert torch.equal(a, train_batch(x, SIZE, MEAN, STD, g(1), True))
    assert not torch.equal(a, train_batch(x, SIZE, MEAN, STD, g(2), True))
    assert torch.equal(train_batch(x, SIZE, MEAN, STD, g(1), False), eval_batch(x, SIZE, MEAN, STD))


def test_train_batch_crops_and_flips_at_random():
    # Dark left half, bright right half: a flip puts the bright side on the left.
    x = torch.zeros((200, 37, 37, 3), dtype=torch.uint8)
    x[:, :, 19:] = 255
    out = train_batch(x, SIZE, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), torch.Generator().manual_seed(0), True)
    left, right = out[:, 0, :, :8].mean((1, 2)), out[:, 0, :, -8:].mean((1, 2))
    flipped = int((left > right).sum())
    assert 60 < flipped < 140
    # Crops differ in size and place: the bright share of the picture varies.
    assert out[:, 0].mean((1, 2)).std() > 0.05

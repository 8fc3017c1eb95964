"""Augmentation presets and each random change, applied to batches as training applies them."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from core.data.augment_preview import augmented_samples
from core.data.augmentation import PRESETS, STRENGTHS, Augmentation, augmentation, preset_of, preview_photo
from core.data.dataset import scan_dataset
from core.data.transforms import eval_batch, train_batch
from core.errors import FledgeError

SIZE = 32                        # training size; the decoded squares are 37 px
PLAIN = ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0))   # leaves the pictures in 0..1
ON = dict(crop=0.65, flip=0.5, rotation=30.0, shift=0.2, brightness=0.5, contrast=0.5, saturation=0.5,
          grayscale=0.5)


def _photos(n: int = 16, seed: int = 0) -> torch.Tensor:
    """Colourful pictures with structure: a gradient, a bright square off centre, some noise."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n, 37, 37, 3), np.float32)
    x[..., 0] = np.linspace(0, 200, 37)[None, None, :]
    x[..., 1] = np.linspace(0, 120, 37)[None, :, None]
    x[..., 2] = 60
    x[:, 5:15, 20:32] = (250, 40, 90)
    x += rng.normal(0, 10, x.shape)
    return torch.from_numpy(np.clip(x, 0, 255).astype(np.uint8))


def _batch(aug, seed: int = 0, x=None) -> torch.Tensor:
    x = _photos() if x is None else x
    return train_batch(x, SIZE, *PLAIN, torch.Generator().manual_seed(seed), aug)


@pytest.mark.parametrize("name", STRENGTHS)
def test_each_change_alters_the_batch_reproducibly_and_strength_zero_is_none(name):
    only = Augmentation(**{name: ON[name]})
    a = _batch(only, seed=1)
    assert a.shape == (16, 3, SIZE, SIZE) and a.dtype == torch.float32
    assert float(a.min()) >= -1e-5 and float(a.max()) <= 1 + 1e-5
    assert torch.equal(a, _batch(only, seed=1))                 # a seed repeats the batch
    assert not torch.equal(a, _batch(only, seed=2))             # another seed draws anew
    plain = eval_batch(_photos(), SIZE, *PLAIN)
    assert not torch.allclose(a, plain, atol=1e-3)
    # Per picture its own draw: the pictures of one batch (all alike before) now differ.
    assert (a - a[:1]).abs().flatten(1).amax(1).gt(1e-3).sum() >= 4
    assert torch.equal(_batch(Augmentation(**{name: 0.0}), seed=1), plain)


def test_rotation_keeps_the_shape_and_turns_the_picture():
    x = torch.zeros((8, 37, 37, 3), dtype=torch.uint8)
    x[:, :, 17:20] = 255                                        # a vertical bar through the centre
    out = _batch(Augmentation(rotation=90.0), x=x)
    assert out.shape == (8, 3, SIZE, SIZE)
    col = out[:, 0, :, 15:17].mean((1, 2))                      # the bar's column, top to bottom
    assert float(col.min()) < 0.9                               # some pictures turned well away


def test_without_crop_a_change_keeps_the_centre_window_validation_sees():
    x = _photos(4)[:, :32, :32]                                  # 28 px from 32: a whole-pixel margin
    flipped = train_batch(x, 28, *PLAIN, torch.Generator().manual_seed(0), Augmentation(flip=1.0))
    assert torch.allclose(flipped, eval_batch(x, 28, *PLAIN).flip(3), atol=1e-5)   # mirrored, nothing else


def test_grayscale_makes_the_channels_equal():
    out = _batch(Augmentation(grayscale=1.0))
    assert torch.allclose(out[:, 0], out[:, 1], atol=1e-5) and torch.allclose(out[:, 1], out[:, 2], atol=1e-5)
    # Chance 0.5: about half the pictures grey, the rest in colour.
    some = _batch(Augmentation(grayscale=0.5), x=_photos(64))
    grey = (some[:, 0] - some[:, 1]).abs().flatten(1).amax(1) < 1e-5
    assert 16 < int(grey.sum()) < 48


def test_brightness_scales_each_picture_by_its_own_factor():
    out = _batch(Augmentation(brightness=0.5))
    ratio = out.flatten(1).mean(1) / eval_batch(_photos(), SIZE, *PLAIN).flatten(1).mean(1)
    assert float(ratio.min()) >= 0.5 - 1e-3 and float(ratio.max()) <= 1.5 + 1e-3
    assert float(ratio.std()) > 0.05


def test_colour_changes_are_torchvisions_colour_jitter_with_each_pictures_own_factors():
    import torchvision.transforms.v2.functional as TF

    rng = np.random.default_rng(5)
    x = torch.from_numpy(rng.integers(80, 170, (8, 37, 37, 3), dtype=np.uint8))   # nothing clips
    aug = Augmentation(brightness=0.15, contrast=0.15, saturation=0.15)
    out = _batch(aug, seed=7, x=x)
    u = torch.rand((8, 4), generator=torch.Generator().manual_seed(7))       # the draws, as made
    plain = eval_batch(x, SIZE, *PLAIN)
    for i in range(8):
        f = 1 + (u[i] * 2 - 1) * 0.15
        expected = TF.adjust_saturation(TF.adjust_contrast(TF.adjust_brightness(plain[i], float(f[0])),
                                                           float(f[1])), float(f[2]))
        assert torch.allclose(out[i], expected, atol=1e-4), i


def test_light_is_the_crop_and_flip_of_before_and_none_is_evaluation():
    assert PRESETS["light"] == Augmentation(crop=0.65, flip=0.5)
    assert PRESETS["none"].identity and not PRESETS["strong"].identity
    assert all(getattr(PRESETS["strong"], name) > 0 for name in STRENGTHS)
    assert torch.equal(_batch("light", seed=4), _batch(True, seed=4))
    assert torch.equal(_batch("none"), eval_batch(_photos(), SIZE, *PLAIN))
    assert torch.equal(_batch(False), _batch("none"))


def test_a_strength_given_replaces_the_presets_and_none_keeps_it():
    a = augmentation("strong", rotation=40, flip=0.0, shift=None)
    assert a == dataclasses.replace(PRESETS["strong"], rotation=40.0, flip=0.0)
    assert augmentation("none", grayscale=0.2) == Augmentation(grayscale=0.2)
    assert (preset_of(True), preset_of(False), preset_of("true"), preset_of("false"), preset_of("strong")) == (
        "light", "none", "light", "none", "strong")


def test_the_preview_shows_count_samples_of_a_photo_of_the_dataset(make_image_folder):
    dataset = scan_dataset(str(make_image_folder(size=48)))
    path = preview_photo(dataset)
    assert path in {s.path for s in dataset.train}
    samples = augmented_samples(path, "strong", count=6, size=40, seed=3)
    assert len(samples) == 6
    assert all(s.shape == (40, 40, 3) and s.dtype == np.uint8 for s in samples)
    assert any(not np.array_equal(samples[0], s) for s in samples[1:])
    again = augmented_samples(path, "strong", count=6, size=40, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip(samples, again))
    none = augmented_samples(path, "none", count=2, size=40)
    assert np.array_equal(none[0], none[1])
    assert preview_photo(None) is None


def test_the_preview_of_an_unreadable_photo_says_so(tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a photo")
    with pytest.raises(FledgeError, match="broken.jpg cannot be shown"):
        augmented_samples(str(bad), "light")


def test_cached_and_streamed_photos_get_the_same_strong_batches(make_image_folder):
    from core.data.pipeline import build_sources

    dataset = scan_dataset(str(make_image_folder(size=48)), val_fraction=0.25)
    batches = {}
    for kind in ("cached", "stream"):
        train, val, test, _ = build_sources(dataset, image_size=SIZE, mean=PLAIN[0], std=PLAIN[1], batch_size=4,
                                            augment=PRESETS["strong"], seed=5, device="cpu", kind=kind, workers=0)
        try:
            batches[kind] = [x for x, _ in train.batches(1)]
        finally:
            for src in (train, val, test):
                if src is not None:
                    src.close()
    assert len(batches["cached"]) == len(batches["stream"]) > 1
    assert all(torch.equal(a, b) for a, b in zip(batches["cached"], batches["stream"]))

"""A generated camera folder with known bursts, for `fledge bench --bursts` and the tests.

    planted = write_camera_folder("/tmp/cam", visits=60)
    planted[0].paths, planted[0].camera, planted[0].label

Two cameras shoot on one timeline (their bursts overlap in time), and a third writes no
EXIF at all (its photos' file times say when). Each visit is a burst of 3-10 frames one or
two seconds apart of one scene (a smooth random background and a bird, a plane or
nothing, moving a little from frame to frame, with sensor noise); some visits are a single
photo. Visits are 10 s to 5 min apart, except that now and then a new scene follows the
last frame of the one before within a second: only the look of the photos tells those apart,
and a third of those keep the view (the background) and change only the subject, which the
look alone barely tells (a known limit, measured by the benchmark).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

CAMERAS = (("Birdcam", "North 1"), ("Birdcam", "South 2"), None)    # None: no EXIF written
CLASSES = ("bird", "plane", "empty")
START = datetime(2024, 5, 6, 6, 0, 0)


@dataclass(frozen=True)
class PlantedBurst:
    paths: tuple[str, ...]
    camera: str                  # "Make Model", or "" for the camera without EXIF
    label: str                   # every frame's class


def _exif(camera, taken: datetime):
    from PIL import Image

    exif = Image.Exif()
    if camera is not None:
        exif[0x010F], exif[0x0110] = camera
        exif.get_ifd(0x8769)[0x9003] = taken.strftime("%Y:%m:%d %H:%M:%S")      # DateTimeOriginal
    return exif


def _scene(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    from PIL import Image

    w, h = size
    coarse = rng.uniform(30, 225, (6, 8, 3)).astype(np.uint8)
    return np.asarray(Image.fromarray(coarse).resize((w, h), Image.Resampling.BICUBIC), dtype=np.float32)


def _frame(background: np.ndarray, label: str, x: float, y: float, rng: np.random.Generator):
    from PIL import Image, ImageDraw

    im = Image.fromarray(np.clip(background + rng.normal(0, 4, background.shape), 0, 255).astype(np.uint8))
    d = ImageDraw.Draw(im)
    r = im.height * 0.12
    if label == "bird":
        d.ellipse([x - r, y - r * 0.7, x + r, y + r * 0.7], fill=(170, 60, 40))
    elif label == "plane":
        d.rectangle([x - 2 * r, y - r * 0.2, x + 2 * r, y + r * 0.2], fill=(200, 200, 210))
        d.rectangle([x - r * 0.3, y - r, x + r * 0.3, y + r], fill=(200, 200, 210))
    return im


def write_camera_folder(folder, visits: int = 60, seed: int = 0, size: tuple[int, int] = (320, 240),
                        single_share: float = 0.15, quick_change_share: float = 0.15) -> list[PlantedBurst]:
    """Write the photos (JPEG) into folder; the planted bursts, in the order written."""
    folder = os.fspath(folder)
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    clock = {i: START + timedelta(seconds=float(rng.uniform(0, 30))) for i in range(len(CAMERAS))}
    planted, views = [], {}
    for v in range(visits):
        cam = int(rng.integers(len(CAMERAS)))
        camera = CAMERAS[cam]
        quick = rng.random() < quick_change_share and v > 0
        clock[cam] += timedelta(seconds=1 if quick else float(rng.integers(10, 300)))
        n = 1 if rng.random() < single_share else int(rng.integers(3, 11))
        label = CLASSES[int(rng.integers(len(CLASSES)))]
        same_view = quick and cam in views and rng.random() < 1 / 3
        background = views[cam] if same_view else _scene(rng, size)
        views[cam] = background
        x, y = rng.uniform(0.3, 0.7) * size[0], rng.uniform(0.3, 0.7) * size[1]
        paths = []
        for f in range(n):
            if f:
                clock[cam] += timedelta(seconds=int(rng.integers(1, 3)))
                x, y = x + rng.normal(0, 3), y + rng.normal(0, 2)
            taken = clock[cam]
            path = os.path.join(folder, f"cam{cam + 1}_{v:04d}_{f:02d}.jpg")
            _frame(background, label, x, y, rng).save(path, "JPEG", quality=85, exif=_exif(camera, taken))
            if camera is None:
                os.utime(path, (taken.timestamp(), taken.timestamp()))
            paths.append(path)
        planted.append(PlantedBurst(tuple(paths), " ".join(camera) if camera else "", label))
    return planted

"""Shared fixtures for core tests: small synthetic image folders drawn with PIL.

make_image_folder(...) builds a dataset folder in tmp_path and returns its Path:

    root = make_image_folder()                                  # DATA/<class>/..., 2 classes x 8
    root = make_image_folder(classes={"cat": 5, "dog": 7, "owl": 3}, size=24, fmt="jpg")
    root = make_image_folder(layout="split", classes={"bird": 6, "plane": 6})
           # DATA/train/<class>/ and DATA/val/<class>/ with 6 pictures each
    root = make_image_folder(layout="split", splits=("Train", "Validation", "test"),
                             classes={"bird": {"Train": 6, "Validation": 2, "test": 1}})

Each class gets its own shape (ellipse, square, triangle, cross, ...) and colour on a
noisy background, so a tiny model can learn to tell them apart. The same arguments
and seed give the same pixels.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

@pytest.fixture(autouse=True)
def own_user_data(tmp_path_factory, monkeypatch):
    """Caches Fledge keeps in the user's data folder (photo hashes, backbone features) go to one
    folder for the session, never the real one; a test may still point XDG_DATA_HOME elsewhere."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path_factory.getbasetemp() / "user-data"))


_FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".bmp": "BMP", ".gif": "GIF",
            ".tif": "TIFF", ".tiff": "TIFF", ".webp": "WEBP"}
_COLOURS = [(220, 40, 40), (40, 90, 220), (40, 170, 60), (230, 200, 30), (160, 60, 200),
            (240, 130, 20), (30, 190, 200), (120, 120, 120)]


def draw_class_image(index: int, size: int | tuple[int, int] = 32, seed: int = 0) -> Image.Image:
    """An RGB picture for class number `index`: its shape and colour on a noisy grey background."""
    w, h = (size, size) if isinstance(size, int) else size
    rng = np.random.default_rng([seed, index])
    bg = rng.integers(90, 160, (h, w, 3), dtype=np.uint8)
    im = Image.fromarray(bg, "RGB")
    d = ImageDraw.Draw(im)
    s = min(w, h)
    r = s * rng.uniform(0.25, 0.4)
    cx, cy = w / 2 + rng.uniform(-0.1, 0.1) * s, h / 2 + rng.uniform(-0.1, 0.1) * s
    colour = tuple(int(c) for c in np.clip(np.array(_COLOURS[index % len(_COLOURS)])
                                           + rng.integers(-20, 21, 3), 0, 255))
    kind = index % 4
    if kind == 0:
        d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=colour)
    elif kind == 1:
        d.rectangle([cx - r, cy - r, cx + r, cy + r], fill=colour)
    elif kind == 2:
        d.polygon([(cx, cy - r), (cx + r, cy + r), (cx - r, cy + r)], fill=colour)
    else:
        t = max(1, int(r / 3))
        d.rectangle([cx - r, cy - t, cx + r, cy + t], fill=colour)
        d.rectangle([cx - t, cy - r, cx + t, cy + r], fill=colour)
    return im


def save_image(im: Image.Image, path: str | os.PathLike) -> Path:
    """Save with the format the extension names (any case); converts modes the format lacks."""
    path = Path(path)
    fmt = _FORMATS[path.suffix.lower()]
    if fmt == "JPEG" and im.mode not in ("RGB", "L", "CMYK"):
        im = im.convert("RGB")
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path, fmt)
    return path


def _write_class(folder: Path, cls: str, index: int, n: int, size, ext: str, seed: int) -> None:
    for i in range(n):
        im = draw_class_image(index, size, seed=seed * 1_000_003 + hash_name(cls) + i)
        save_image(im, folder / f"{cls}_{i:03d}{ext}")


def hash_name(name: str) -> int:
    """A stable small number for a name (Python's hash() changes between runs)."""
    return sum((i + 1) * ord(c) for i, c in enumerate(name)) * 7919


@pytest.fixture
def make_image_folder(tmp_path):
    """Factory: make_image_folder(name="data", layout="classes"|"split", classes=..., size=32,
    fmt="png", splits=("train", "val"), seed=0) -> Path of the new folder.

    classes: {class: count}; with layout="split" a count is either one int for every
    split or a dict {split folder name: count}. fmt is the file extension to write
    (e.g. "png", "jpg", "JPG", "webp"); size an int or (width, height).
    Calling it again with the same name adds to the existing folder.
    """

    def make(name: str = "data", layout: str = "classes", classes: dict | None = None,
             size: int | tuple[int, int] = 32, fmt: str = "png",
             splits: tuple[str, ...] = ("train", "val"), seed: int = 0) -> Path:
        classes = {"bird": 8, "plane": 8} if classes is None else classes
        root = tmp_path / name
        root.mkdir(parents=True, exist_ok=True)
        ext = "." + fmt.lstrip(".")
        order = sorted(classes)
        for cls, count in classes.items():
            index = order.index(cls)
            if layout == "classes":
                if not isinstance(count, int):
                    raise TypeError("layout='classes' takes {class: count}")
                (root / cls).mkdir(exist_ok=True)
                _write_class(root / cls, cls, index, count, size, ext, seed)
            elif layout == "split":
                per_split = count if isinstance(count, dict) else {s: count for s in splits}
                for split, n in per_split.items():
                    (root / split / cls).mkdir(parents=True, exist_ok=True)
                    _write_class(root / split / cls, cls, index, n, size, ext,
                                 seed + 7 * (1 + list(per_split).index(split)))
            else:
                raise ValueError(f"layout must be 'classes' or 'split', not {layout!r}")
        return root

    return make

"""A small sample dataset to try Fledge with: birds and planes against the sky.

Each picture is drawn from scratch: a sky (day blue, overcast grey, sunset, dusk)
with clouds and grain, and one silhouette seen from the side or from below, at a
random place, size, angle and colour. Birds have round bodies, a head and bent,
flapping wings; planes have a long straight fuselage, straight swept wings and a
tail. The classes share colours and backgrounds, so a model must learn the shapes.
"""
from __future__ import annotations

import errno
import json
import math
import os

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from core.errors import DatasetError
from core.files.file_transfer import describe_os_error
from core.files.fileio import atomic_write, open_regular

CLASSES = ("bird", "plane")
MARKER = ".fledge-sample"        # hidden, so scanning the folder ignores it
VAL_SHARE = 0.2
# Files a file manager leaves in a folder the user still sees as empty.
_HARMLESS = {".DS_Store", "Thumbs.db", "desktop.ini", ".directory"}
SUPERSAMPLE = 4                  # silhouettes are drawn larger, then shrunk: smooth edges

Point = tuple[float, float]


# -- shapes, in a unit frame: x to the right (the way it flies), y down ----------------

def _ellipse(cx: float, cy: float, rx: float, ry: float, n: int = 28) -> list[Point]:
    return [(cx + rx * math.cos(t), cy + ry * math.sin(t))
            for t in np.linspace(0, 2 * math.pi, n, endpoint=False)]


def _bezier(p0: Point, p1: Point, p2: Point, n: int = 12) -> list[Point]:
    t = np.linspace(0, 1, n)[:, None]
    pts = (1 - t) ** 2 * np.array(p0) + 2 * (1 - t) * t * np.array(p1) + t ** 2 * np.array(p2)
    return [tuple(p) for p in pts]


def _stroke(points: list[Point], widths: list[float]) -> list[Point]:
    """A polygon around a polyline whose half-width varies along it (a tapering wing)."""
    pts = np.array(points, dtype=float)
    w = np.interp(np.linspace(0, 1, len(pts)), np.linspace(0, 1, len(widths)), widths)
    d = np.gradient(pts, axis=0)
    d /= np.linalg.norm(d, axis=1, keepdims=True) + 1e-9
    normal = np.stack([-d[:, 1], d[:, 0]], axis=1)
    left = pts + normal * w[:, None]
    right = pts - normal * w[:, None]
    return [tuple(p) for p in np.concatenate([left, right[::-1]])]


def _bird_side(rng: np.random.Generator) -> list[list[Point]]:
    flap = rng.uniform(-0.6, 1.0)            # 1: wings up, negative: down stroke
    body_ry = rng.uniform(0.11, 0.16)
    parts = [
        _ellipse(0.0, 0.0, 0.40, body_ry),
        _ellipse(0.43, -0.07, 0.11, 0.10),                              # head
        [(0.52, -0.10), (0.52 + rng.uniform(0.10, 0.20), -0.05), (0.52, -0.02)],   # beak
        [(-0.34, -0.04), (-0.74, -0.14 - rng.uniform(0, 0.08)),
         (-0.76, 0.10 + rng.uniform(0, 0.08)), (-0.34, 0.06)],           # tail fan
    ]
    for scale, dx in ((1.0, 0.0), (0.72, 0.10)):                         # near and far wing
        tip = (-0.30 + dx - rng.uniform(0.0, 0.2), -0.95 * flap * scale + 0.05)
        lead = _bezier((0.16 + dx, -0.06), (0.30 + dx, -0.55 * flap * scale), tip)
        trail = _bezier(tip, (-0.35 + dx, -0.25 * flap * scale), (-0.14 + dx, -0.02))
        parts.append(lead + trail)
    return parts


def _bird_front(rng: np.random.Generator) -> list[list[Point]]:
    flap = rng.uniform(-0.5, 1.0)
    parts = [_ellipse(0.0, 0.02, 0.11, 0.17), _ellipse(0.0, -0.16, 0.08, 0.08)]
    for side in (-1, 1):                    # gull wings: shoulder, bent wrist, drooping tip
        wrist = (side * rng.uniform(0.40, 0.50), -0.30 * flap - 0.05)
        tip = (side * rng.uniform(0.85, 0.98), 0.10 + 0.20 * flap)
        line = _bezier((side * 0.06, -0.02), (side * 0.25, -0.35 * flap - 0.05), wrist, 8) + \
            _bezier(wrist, (side * 0.70, -0.20 * flap), tip, 8)[1:]
        parts.append(_stroke(line, [0.10, 0.09, 0.06, 0.012]))
    return parts


def _plane_below(rng: np.random.Generator) -> list[list[Point]]:
    sweep = rng.uniform(0.05, 0.35)
    span = rng.uniform(0.75, 0.95)
    half = rng.uniform(0.055, 0.08)
    parts = [_ellipse(0.0, 0.0, 0.88, half, 36)]                       # fuselage
    for s in (-1, 1):
        parts.append([(0.18, s * half * 0.8), (0.18 - sweep - 0.08, s * span),
                      (0.18 - sweep - 0.22, s * span), (-0.14, s * half * 0.8)])     # wing
        parts.append([(-0.58, s * half * 0.6), (-0.58 - sweep * 0.6 - 0.08, s * 0.32),
                      (-0.58 - sweep * 0.6 - 0.17, s * 0.32), (-0.80, s * half * 0.6)])  # tailplane
        if rng.random() < 0.6:                                          # engines
            y = s * span * 0.45
            parts.append(_ellipse(0.14 - sweep * 0.45, y, 0.11, 0.035, 16))
    return parts


def _plane_side(rng: np.random.Generator) -> list[list[Point]]:
    h = rng.uniform(0.08, 0.12)
    fin = rng.uniform(0.30, 0.45)
    return [
        _ellipse(0.0, 0.0, 0.88, h, 36),                                # fuselage
        [(-0.50, -h * 0.5), (-0.78, -fin), (-0.90, -fin), (-0.86, -h * 0.3)],   # tail fin
        [(0.20, h * 0.3), (-0.30, h + 0.10), (-0.44, h + 0.10), (-0.08, h * 0.3)],  # wing
        [(-0.62, 0.0), (-0.80, 0.06), (-0.90, 0.06), (-0.84, 0.0)],    # tailplane
    ]


def _shape(cls: str, rng: np.random.Generator) -> list[list[Point]]:
    if cls == "bird":
        return _bird_side(rng) if rng.random() < 0.6 else _bird_front(rng)
    return _plane_below(rng) if rng.random() < 0.6 else _plane_side(rng)


# -- colours and sky -------------------------------------------------------------------

_SKIES = {   # (top colour, bottom colour) before jitter
    "day": ((40, 95, 185), (150, 195, 240)),
    "overcast": ((120, 125, 135), (200, 203, 208)),
    "sunset": ((70, 60, 130), (245, 150, 80)),
    "dusk": ((15, 25, 60), (90, 90, 140)),
}


def _sky(size: int, rng: np.random.Generator) -> np.ndarray:
    kind = rng.choice(list(_SKIES), p=[0.45, 0.25, 0.18, 0.12])
    top, bottom = (np.clip(np.array(c) + rng.normal(0, 14, 3), 0, 255) for c in _SKIES[kind])
    angle = rng.uniform(-0.5, 0.5)
    yy, xx = np.mgrid[0:size, 0:size] / max(size - 1, 1)
    t = np.clip(yy * math.cos(angle) + (xx - 0.5) * math.sin(angle), 0, 1)[..., None]
    img = top * (1 - t) + bottom * t
    n_clouds = rng.integers(0, 5)
    if n_clouds:
        mask = Image.new("L", (size, size), 0)
        draw = ImageDraw.Draw(mask)
        for _ in range(n_clouds):
            cx, cy = rng.uniform(-0.1, 1.1, 2) * size
            rx, ry = rng.uniform(0.12, 0.4) * size, rng.uniform(0.04, 0.14) * size
            draw.ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=int(rng.uniform(90, 230)))
        mask = mask.filter(ImageFilter.GaussianBlur(size * rng.uniform(0.03, 0.08)))
        a = np.asarray(mask, dtype=np.float64)[..., None] / 255.0
        cloud = np.clip(np.array([235, 237, 242]) * rng.uniform(0.75, 1.05), 0, 255)
        img = img * (1 - a) + cloud * a
    return img


def _silhouette_colour(cls: str, rng: np.random.Generator) -> np.ndarray:
    r = rng.random()
    if cls == "bird":
        if r < 0.8:       # dark, warm browns and blacks
            base = np.array([52, 40, 30]) * rng.uniform(0.35, 2.0)
        else:             # light gulls and doves
            base = np.array([222, 218, 208]) * rng.uniform(0.8, 1.1)
    else:
        if r < 0.35:      # grey undersides, dark against the light
            base = np.array([70, 74, 82]) * rng.uniform(0.5, 1.6)
        elif r < 0.85:    # white and silver
            base = np.array([222, 226, 232]) * rng.uniform(0.8, 1.1)
        else:             # a coloured livery
            base = rng.uniform(40, 200, 3)
    return np.clip(base + rng.normal(0, 8, 3), 0, 255)


_LUMA = np.array([0.299, 0.587, 0.114])
MIN_CONTRAST = 45.0     # brightness difference between a silhouette and the sky behind it


def _keep_visible(colour: np.ndarray, sky: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Darken or lighten colour so the silhouette is not lost against its sky."""
    weight = alpha[..., 0]
    if weight.sum() <= 0:
        return colour
    behind = float((sky @ _LUMA * weight).sum() / weight.sum())
    lum = float(colour @ _LUMA)
    if abs(lum - behind) >= MIN_CONTRAST:
        return colour
    if behind >= 128:                        # bright sky: make it darker
        target = behind - MIN_CONTRAST
        return colour * max(target, 0.0) / max(lum, 1.0)
    target = behind + MIN_CONTRAST           # dark sky: blend towards white
    t = (target - lum) / max(255.0 - lum, 1.0)
    return colour + (255.0 - colour) * min(max(t, 0.0), 1.0)


def draw_sample(cls: str, size: int, rng: np.random.Generator) -> Image.Image:
    """One sample picture of class cls ("bird" or "plane"), size x size RGB."""
    if cls not in CLASSES:
        raise ValueError(f"unknown sample class {cls!r}")
    big = size * SUPERSAMPLE
    extent = rng.uniform(0.5, 0.85) * big / 2                      # half the wingspan, pixels
    angle = math.radians(rng.uniform(-35, 35))
    flip = -1.0 if rng.random() < 0.5 else 1.0                      # flying left or right
    cx, cy = rng.uniform(0.36, 0.64, 2) * big
    cos, sin = math.cos(angle), math.sin(angle)
    mask = Image.new("L", (big, big), 0)
    draw = ImageDraw.Draw(mask)
    for poly in _shape(cls, rng):
        pts = [(cx + extent * (flip * x * cos - y * sin), cy + extent * (flip * x * sin + y * cos))
               for x, y in poly]
        draw.polygon(pts, fill=255)
    alpha = np.asarray(mask.resize((size, size), Image.BOX), dtype=np.float64)[..., None] / 255.0

    sky = _sky(size, rng)
    colour = _keep_visible(_silhouette_colour(cls, rng), sky, alpha)
    shade = rng.normal(0, 6, (size, size, 1))                       # a little texture on the body
    img = sky * (1 - alpha) + (colour + shade) * alpha
    if rng.random() < 0.15:                                         # a distant wire or contrail
        y0, y1 = rng.uniform(0, size, 2)
        line = Image.new("L", (size, size), 0)
        ImageDraw.Draw(line).line([(0, y0), (size, y1)], fill=int(rng.uniform(60, 160)), width=1)
        a = np.asarray(line, dtype=np.float64)[..., None] / 255.0
        img = img * (1 - a) + rng.uniform(20, 240) * a
    img = img + rng.normal(0, rng.uniform(1.5, 7.0), img.shape)      # sensor grain
    return Image.fromarray(np.clip(np.rint(img), 0, 255).astype(np.uint8), "RGB")


# -- writing the folder ----------------------------------------------------------------

def _plan(per_class: int) -> list[tuple[str, str, int]]:
    """(split, class, index) for every picture: the last ~20% of each class go to val."""
    n_val = max(1, round(per_class * VAL_SHARE))
    return [("train" if i < per_class - n_val else "val", cls, i)
            for cls in CLASSES for i in range(per_class)]


def _rel_path(split: str, cls: str, i: int) -> str:
    return f"{split}/{cls}/{cls}_{i:04d}.jpg"


def _read_marker(dest: str) -> dict | None:
    try:
        with open_regular(os.path.join(dest, MARKER), "marker") as f:
            data = json.load(f)
        return data if isinstance(data, dict) else {}
    except FileNotFoundError:
        return None
    except (OSError, ValueError, RecursionError):
        return {}     # a marker we cannot read still says the folder is ours


def write_sample_data(dest, per_class: int = 150, size: int = 64, seed: int = 0) -> str:
    """Draw per_class pictures of each class into dest/train/<class> and dest/val/<class>.

    The same seed gives the same pictures. dest must be new, empty, or an earlier
    sample folder (recognised by its hidden marker file); pictures an earlier run
    wrote that this run does not are removed, nothing else is touched.
    Returns the absolute path of dest; DatasetError (in words) when it cannot be written.
    """
    if not isinstance(per_class, int) or per_class < 2:
        raise DatasetError("The sample needs at least 2 pictures per class (150 is a good number).")
    if not isinstance(size, int) or not 16 <= size <= 1024:
        raise DatasetError("The sample picture size must be a whole number of pixels from 16 to 1024.")
    dest = os.path.abspath(os.path.expanduser(os.fspath(dest)))
    try:
        _draw_into(dest, per_class, size, seed)
    except OSError as exc:
        full = exc.errno == errno.ENOSPC
        raise DatasetError(f"Fledge could not write the sample pictures in {dest} ({describe_os_error(exc)}). "
                           + ("Free some space, or choose a folder on another disk." if full else
                              "Choose a folder you may write to.")) from None
    return dest


def _draw_into(dest: str, per_class: int, size: int, seed: int) -> None:
    previous = None
    if os.path.exists(dest):
        if not os.path.isdir(dest):
            raise DatasetError(f"{dest} is a file. Choose a new or empty folder for the sample pictures.")
        previous = _read_marker(dest)
        if previous is None and set(os.listdir(dest)) - _HARMLESS:
            raise DatasetError(f"The folder {dest} is not empty. Choose a new or empty folder for "
                               "the sample pictures; Fledge will not write among your own files.")
    plan = _plan(per_class)
    files = [_rel_path(*p) for p in plan]

    # Drop pictures of an earlier, larger or differently split sample; only files it listed.
    keep = set(files)
    for rel in (previous or {}).get("files", []):
        if isinstance(rel, str) and rel not in keep and rel.endswith(".jpg") and ".." not in rel:
            try:
                os.remove(os.path.join(dest, *rel.split("/")))
            except OSError:
                pass
    for split in ("train", "val"):
        for cls in CLASSES:
            os.makedirs(os.path.join(dest, split, cls), exist_ok=True)
    # The marker goes first, so an interrupted run can simply be started again.
    marker = {"generator": "Fledge sample data", "version": 1, "classes": list(CLASSES),
              "per_class": per_class, "size": size, "seed": seed, "files": files}
    atomic_write(os.path.join(dest, MARKER),
                  lambda f: f.write(json.dumps(marker, indent=1).encode("utf-8")))

    for (split, cls, i), rel in zip(plan, files):
        # One generator per picture: a picture does not change when per_class does.
        rng = np.random.default_rng([seed, CLASSES.index(cls), i])
        img = draw_sample(cls, size, rng)
        atomic_write(os.path.join(dest, *rel.split("/")),
                      lambda f, img=img: img.save(f, "JPEG", quality=90))


def sample_data_complete(dest) -> bool:
    """True when dest holds every picture its marker lists (an earlier, finished sample)."""
    dest = os.fspath(dest)
    files = (_read_marker(dest) or {}).get("files") or []
    return bool(files) and all(
        isinstance(rel, str) and os.path.isfile(os.path.join(dest, *rel.split("/"))) for rel in files)


def ensure_sample_data(dest) -> str:
    """The sample in dest: the one written earlier when it is complete, else written anew.

    Refuses (DatasetError) to write among other files, as write_sample_data does.
    Returns the absolute path of dest.
    """
    if sample_data_complete(dest):
        return os.path.abspath(os.path.expanduser(os.fspath(dest)))
    return write_sample_data(dest)

"""Whether two photos that look alike are one capture (a copy) or two (frames of a burst, a fixed scene).

    groups = copy_groups(paths, exact_pairs, near_pairs)     # indices of the photos that are one capture

A perceptual hash says that two photos look alike; a fixed camera's frames all do. A copy is
the same capture: the same pixels after resizing, re-saving or converting. Two checks follow
the hash, for each pair it puts near:

1. The capture time the camera recorded (EXIF DateTimeOriginal, and its fraction of a second
   where written). Two photos with different recorded times are two captures, however alike,
   which is what frames of one burst and the empty frames of a fixed camera are. A re-saved or
   resized copy keeps the time, or loses it (then the pixels decide).
2. The pixels, compared as 32x32 grey thumbnails, each scaled to zero mean and unit spread so
   that a brighter or re-toned copy still matches: the mean difference, and the largest
   difference of a 4x4 patch (an animal that moved, grass in the wind, a shadow).

The thresholds were measured on real photos and generated ones: flowers128 photos re-saved
at JPEG quality 30-95, halved, quartered, made 3/4 or twice the size, turned into PNG or grey
measure at most 0.10 mean and 0.16 patch (all 150 such copies are found), the collection's own
duplicates (one Flickr photo uploaded twice) up to 0.11; a generated fixed camera's copies
(core.bench.burst_camera: re-saved, halved, PNG, EXIF dropped) at most 0.03 and 0.07; the
check-labels benchmark's very noisy photos made 3/4 the size up to 0.12 and 0.29. Different
photos the hash confused, and strongly re-coloured edits of one photo, measure from 0.35
patch up. Frames in which nothing but noise changed measure like copies (a fixed camera's
empty frames: 0.02-0.1): for those only the recorded time tells, which is why it is asked
first; a camera that records no time leaves such frames taken for copies.

Grouping never joins two photos with different recorded times, even through a third (a copy
that lost its time and looks like both): each photo joins the group it is most alike.
"""
from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence

import numpy as np
from PIL import Image

from core.data.imageio import ImageError, load_rgb
from core.data.sequences import camera_times
from core.data.shortcuts import read_all_facts

COPY_MEAN = 0.15         # standardized thumbnails of one capture differ at most this much on average...
COPY_PATCH = 0.33        # ...and at most this much in any 4x4 patch of the 32x32
THUMB = 32
PATCH = 4
_SPREAD_FLOOR = 8.0      # grey levels: a nearly flat picture is not blown up to full contrast
_THUMBS_KEPT = 50_000

_thumbs: dict[tuple[str, int, int], np.ndarray] = {}
_thumbs_lock = threading.Lock()


def thumbnail(path: str) -> np.ndarray | None:
    """The photo as a standardized 32x32 grey picture (float32), None when it cannot be read.
    Kept in memory per file version, so checking a folder again reads only changed photos."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    key = (os.path.realpath(path), st.st_size, st.st_mtime_ns)
    with _thumbs_lock:
        hit = _thumbs.get(key)
    if hit is not None:
        return hit
    try:
        grey = load_rgb(path, draft_size=2 * THUMB).convert("L")
    except ImageError:
        return None
    t = np.asarray(grey.resize((THUMB, THUMB), Image.Resampling.BOX), dtype=np.float32)
    t = (t - t.mean()) / max(float(t.std()), _SPREAD_FLOOR)
    with _thumbs_lock:
        if len(_thumbs) >= _THUMBS_KEPT:
            _thumbs.clear()
        _thumbs[key] = t
    return t


def pixel_difference(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(mean, largest 4x4 patch mean) of |a - b| for two thumbnails."""
    d = np.abs(a - b)
    k = THUMB // PATCH
    patches = d.reshape(k, PATCH, k, PATCH).mean(axis=(1, 3))
    return float(d.mean()), float(patches.max())


def same_pixels(difference: tuple[float, float]) -> bool:
    mean, patch = difference
    return mean <= COPY_MEAN and patch <= COPY_PATCH


def capture_times(paths: Sequence[str], workers: int = 2,
                  should_stop: Callable[[], bool] | None = None) -> list[float | None] | None:
    """The capture time each camera recorded (seconds; None where the photo records none)."""
    facts = read_all_facts(list(paths), workers, should_stop)
    if facts is None:
        return None
    return [t for _camera, t in camera_times(facts)]


def copy_groups(paths: Sequence[str], exact_pairs: Sequence[tuple[int, int]],
                near_pairs: Sequence[tuple[int, int]], times: dict[int, float | None] | None = None,
                workers: int = 2, should_stop: Callable[[], bool] | None = None) -> list[list[int]] | None:
    """Indices of paths that are one capture: each group of size >= 2, sorted, in order of first
    member. exact_pairs have the same bytes; near_pairs look alike (their hashes are near) and are
    checked here. times: index -> recorded capture time (read here for the photos in near pairs
    when not given). None when should_stop() turned true."""
    involved = sorted({i for pair in near_pairs for i in pair})
    if times is None:
        read = capture_times([paths[i] for i in involved], workers, should_stop)
        if read is None:
            return None
        times = dict(zip(involved, read))
    passing: list[tuple[float, int, int]] = []
    for i, j in near_pairs:
        ti, tj = times.get(i), times.get(j)
        if ti is not None and tj is not None and ti != tj:
            continue                                     # two recorded moments: two captures
        if should_stop is not None and should_stop():
            return None
        a, b = thumbnail(paths[i]), thumbnail(paths[j])
        if a is None or b is None:
            continue
        diff = pixel_difference(a, b)
        if same_pixels(diff):
            passing.append((diff[0], i, j))
    return _join(len(paths), [(0.0, i, j) for i, j in exact_pairs] + sorted(passing), times)


def _join(n: int, pairs: list[tuple[float, int, int]], times: dict[int, float | None]) -> list[list[int]]:
    """Union-find over pairs in the order given (most alike first), never joining two groups whose
    photos recorded different capture times."""
    parent = list(range(n))
    moments: dict[int, set[float]] = {i: {times[i]} if times.get(i) is not None else set() for i in range(n)}

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for _diff, a, b in pairs:
        ra, rb = find(a), find(b)
        if ra == rb or len(moments[ra] | moments[rb]) > 1:
            continue
        keep, gone = min(ra, rb), max(ra, rb)
        parent[gone] = keep
        moments[keep] |= moments.pop(gone)
    members: dict[int, list[int]] = {}
    for i in range(n):
        members.setdefault(find(i), []).append(i)
    return sorted((m for m in members.values() if len(m) > 1), key=lambda m: m[0])

"""What the folders of a dataset hold: candidate pictures, files Fledge cannot read, checks.

core.data.dataset decides what the folders mean (layout, classes, splits); this module
only lists and checks their files. Files that cannot be used are listed with the reason,
never silently dropped.
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from core.data.imageio import check_image, is_image_name, iter_files

_RAW = "camera RAW file: export it as JPEG to use it"
_HEIC = "HEIC/HEIF photo (the iPhone format), which Fledge cannot read: export it as JPEG"
_VIDEO = "a video, not a picture: Fledge learns from still images"
# Files people expect to count as pictures but which Fledge cannot read; other
# non-image files (notes, .DS_Store, Thumbs.db, ...) are ignored without comment.
CONFUSIONS = {
    ".heic": _HEIC, ".heif": _HEIC,
    ".avif": "AVIF picture, which Fledge cannot read: convert it to JPEG or PNG",
    ".jxl": "JPEG XL picture, which Fledge cannot read: convert it to JPEG or PNG",
    ".svg": "vector drawing: export it as PNG to use it",
    ".psd": "Photoshop file: export it as JPEG or PNG to use it",
    **{ext: _RAW for ext in (".cr2", ".cr3", ".nef", ".arw", ".dng", ".raf", ".orf",
                             ".rw2", ".raw", ".pef", ".srw")},
    **{ext: _VIDEO for ext in (".mp4", ".mov", ".avi", ".mkv", ".m4v", ".3gp", ".mts")},
}

SLOW_CHECK_S = 0.005    # seconds per file above which the disk, not Python, is the bottleneck


@dataclass(frozen=True)
class SkippedFile:
    path: str
    reason: str


def subfolders(folder: str) -> list[str]:
    """Names of non-hidden folders (links to folders included) directly in folder, sorted."""
    out = []
    try:
        with os.scandir(folder) as it:
            for e in it:
                if e.name.startswith("."):
                    continue
                try:
                    if e.is_dir():
                        out.append(e.name)
                except OSError:
                    continue
    except OSError:
        return []
    return sorted(out)


def loose_files(folder: str) -> list[str]:
    """The files directly in folder (not in its subfolders)."""
    return list(iter_files(folder, recursive=False))


@dataclass
class Found:
    """What one folder holds before checking: candidate images and skipped files."""
    images: list[tuple[str, str]] = field(default_factory=list)   # (path, relative path)
    skipped: list[SkippedFile] = field(default_factory=list)


def collect(folder: str) -> Found:
    """The pictures anywhere under folder, and the files people mistake for pictures."""
    found = Found()
    for path in iter_files(folder):
        if is_image_name(path):
            found.images.append((path, os.path.relpath(path, folder)))
        else:
            reason = CONFUSIONS.get(os.path.splitext(path)[1].lower())
            if reason:
                found.skipped.append(SkippedFile(path, reason))
    return found


def verify_pictures(paths: list[str], progress: Callable[[int, int], None] | None) -> dict[str, str]:
    """path -> reason for every path that cannot be used.

    Header checks are mostly Python work, so threads only get in each other's way on
    a local disk; on a slow network folder they overlap the waiting. The first files
    are checked one by one and time tells which case this is.
    """
    bad: dict[str, str] = {}
    total = len(paths)
    done = 0

    def record(path: str, reason: str | None) -> None:
        nonlocal done
        done += 1
        if reason:
            bad[path] = reason
        if progress and (done % 256 == 0 or done == total):
            progress(done, total)

    probe = paths[:64]
    start = time.perf_counter()
    for p in probe:
        record(p, check_image(p))
    rest = paths[len(probe):]
    slow = probe and (time.perf_counter() - start) / len(probe) > SLOW_CHECK_S
    if rest and slow:
        with ThreadPoolExecutor(max_workers=8, thread_name_prefix="fledge-scan") as pool:
            for p, reason in zip(rest, pool.map(check_image, rest)):
                record(p, reason)
    else:
        for p in rest:
            record(p, check_image(p))
    return bad


def check_all(found: dict, verify: bool, progress) -> tuple[dict, list[SkippedFile]]:
    """found: key -> Found. Returns key -> usable images, and every skipped file."""
    skipped = [s for f in found.values() for s in f.skipped]
    bad = verify_pictures([p for f in found.values() for p, _ in f.images], progress) if verify else {}
    skipped += [SkippedFile(p, r) for p, r in bad.items()]
    usable = {k: [(p, rel) for p, rel in f.images if p not in bad] for k, f in found.items()}
    return usable, skipped

"""The same photo twice in a dataset: exact copies and near copies, and the ones that leak.

    report = find_duplicates(dataset)          # a core.data.dataset.Dataset
    report.groups                              # DuplicateGroup: the photos that are one capture
    report.bursts                              # frames of one burst in training and validation
    report.leak_warning()                      # '' or what to tell the user before training

A copy is the same capture. Exact copies have the same bytes (SHA-256). Near copies (resized,
re-saved, recompressed) have perceptual hashes (imagehash's DCT hash, 64 bits) at most
max_distance bits apart and pass core.data.same_capture: no two different recorded capture
times, and the same pixels. Consecutive frames of a burst and the frames of a fixed camera
look alike too, but are not copies.
A group leaks when one of its photos is in training and another in validation or test:
the model is then checked on a photo it learned from, and its score looks better than it
is. Frames of one burst on both sides leak the same moment; Fledge's own split (core.data.split,
decided when the folder is scanned) keeps bursts whole, a split made by hand may not.

Hashes are kept per file version (path, size, modification time), in memory and in
photo-hashes.json in Fledge's user data folder, so checking the same folder again, in this
process or a later one, costs only the photos that changed.
"""
from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import imagehash
import numpy as np

from core.data import imageio
from core.data.same_capture import copy_groups
from core.data.sequences import LOOK_ALIKE_BITS, camera_times, group_frames
from core.data.shortcuts import read_all_facts
from core.files.cache_faults import cache_unreadable, cache_unwritable
from core.files.fileio import atomic_write_text, open_regular
from core.files.user_data import user_data_dir
from core.wording import percent, plural

MAX_DISTANCE = 6           # bits of 64: on flowers128, re-saved and recoloured copies measure 0-8, different
                           # photos mostly 10 or more; a near hash is only a candidate (core.data.same_capture)
HASH_DRAFT = 64            # JPEGs are decoded at >= this many pixels a side: the hash needs 32
_BLOCK = 2048              # rows compared at once when looking for near copies


@dataclass(frozen=True)
class PhotoHash:
    path: str
    sha256: str | None = None
    phash: int | None = None         # 64-bit perceptual hash
    error: str | None = None         # why the photo could not be hashed


_cache: dict[tuple[str, int, int], tuple[str, int | None]] = {}
_cache_lock = threading.Lock()
_stored: dict = {"loaded": False, "added": 0}
CACHE_FILE = "photo-hashes.json"    # in Fledge's user data folder: a later run hashes only new photos
CACHE_LIMIT = 500_000               # entries kept on disk (about 100 bytes each)
HASH_CACHE = "photo hash cache"     # its name in the line that says it is damaged or not written


def _cache_path() -> str:
    return os.path.join(user_data_dir(), CACHE_FILE)


def _load_cache() -> None:
    """The hashes earlier runs stored, once per process. A damaged file or entry is said in one
    line and left out (those photos are hashed again; the next save mends the file)."""
    with _cache_lock:
        if _stored["loaded"]:
            return
        _stored["loaded"] = True
    path = _cache_path()
    try:
        with open_regular(path, "file") as f:
            rows = json.load(f)
    except (FileNotFoundError, NotADirectoryError):
        return                            # nothing stored yet (a save says what is in the way)
    except (OSError, ValueError, RecursionError) as exc:
        cache_unreadable(HASH_CACHE, path, exc)
        return
    entries, damaged = {}, not isinstance(rows, list)
    for row in rows if isinstance(rows, list) else ():
        entry = _stored_entry(row)
        if entry is None:
            damaged = True
        else:
            entries[entry[0]] = entry[1]
    if damaged:
        cache_unreadable(HASH_CACHE, path, ValueError("an entry is not a stored hash"))
    with _cache_lock:
        for key, value in entries.items():
            _cache.setdefault(key, value)


def _stored_entry(row) -> tuple[tuple[str, int, int], tuple[str, int | None]] | None:
    """((real path, size, mtime_ns), (sha256, phash)) of one stored row, None if it is not one."""
    if not (isinstance(row, list) and len(row) == 5):
        return None
    path, size, mtime, sha, ph = row
    ints = all(isinstance(v, int) and not isinstance(v, bool) for v in (size, mtime))
    if not (isinstance(path, str) and ints and isinstance(sha, str) and len(sha) == 64
            and (ph is None or (isinstance(ph, int) and not isinstance(ph, bool) and 0 <= ph < 1 << 64))):
        return None
    return (path, size, mtime), (sha, ph)


def _save_cache() -> None:
    """Store the hashes (atomically); a cache that cannot be written only costs time later,
    and is said in one line."""
    with _cache_lock:
        if not _stored["added"]:
            return
        rows = [[k[0], k[1], k[2], v[0], v[1]] for k, v in list(_cache.items())[-CACHE_LIMIT:]]
        _stored["added"] = 0
    path = _cache_path()
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        atomic_write_text(path, json.dumps(rows))
    except OSError as exc:
        cache_unwritable(HASH_CACHE, os.path.dirname(path), exc)


def _hash_one(path: str) -> PhotoHash:
    try:
        st = os.stat(path)
        key = (os.path.realpath(path), st.st_size, st.st_mtime_ns)
        with _cache_lock:
            hit = _cache.get(key)
        if hit is not None:
            return PhotoHash(path, hit[0], hit[1])
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        return PhotoHash(path, error=exc.strerror or str(exc))
    sha = hashlib.sha256(data).hexdigest()
    try:
        im = imageio.load_rgb(data, draft_size=HASH_DRAFT)
        ph = int(str(imagehash.phash(im)), 16)
    except imageio.ImageError as exc:
        with _cache_lock:
            _cache[key] = (sha, None)
            _stored["added"] += 1
        return PhotoHash(path, sha, None, exc.reason)
    with _cache_lock:
        _cache[key] = (sha, ph)
        _stored["added"] += 1
    return PhotoHash(path, sha, ph)


def hash_photos(paths: Sequence[str], workers: int = 2,
                progress: Callable[[int, int], None] | None = None,
                should_stop: Callable[[], bool] | None = None) -> list[PhotoHash] | None:
    """A PhotoHash per path (in order), or None when should_stop ended it early."""
    out: list[PhotoHash] = []
    total = len(paths)
    _load_cache()
    with ThreadPoolExecutor(max(1, workers), thread_name_prefix="fledge-hash") as pool:
        for start in range(0, total, 64):
            if should_stop is not None and should_stop():
                return None
            out += pool.map(_hash_one, paths[start:start + 64])
            if progress is not None:
                progress(len(out), total)
    if progress is not None and not total:
        progress(0, 0)
    _save_cache()
    return out


def _popcount(x: np.ndarray) -> np.ndarray:
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(x)
    bytes_ = x.view(np.uint8).reshape(*x.shape, 8)
    return np.unpackbits(bytes_, axis=-1).sum(-1)


def near_pairs(phashes: Sequence[int], max_distance: int = MAX_DISTANCE) -> list[tuple[int, int, int]]:
    """(i, j, distance) with i < j for every two hashes at most max_distance bits apart."""
    h = np.array([int(v) for v in phashes], dtype=np.uint64)
    pairs = []
    for start in range(0, len(h), _BLOCK):
        block = h[start:start + _BLOCK]
        dist = _popcount(block[:, None] ^ h[None, start:])
        rows, cols = np.nonzero(dist <= max_distance)
        for r, c in zip(rows.tolist(), cols.tolist()):
            i, j = start + r, start + c
            if i < j:
                pairs.append((i, j, int(dist[r, c])))
    return pairs


def _groups(n: int, pairs: Sequence[tuple[int, int]]) -> list[list[int]]:
    """Connected components of size >= 2 (union-find), each sorted, in order of first member."""
    parent = list(range(n))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for a, b in pairs:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    members: dict[int, list[int]] = {}
    for i in range(n):
        members.setdefault(find(i), []).append(i)
    return sorted((m for m in members.values() if len(m) > 1), key=lambda m: m[0])


def duplicate_groups(hashes: Sequence[PhotoHash], max_distance: int = MAX_DISTANCE, strict: bool = True,
                     should_stop: Callable[[], bool] | None = None) -> list[list[int]] | None:
    """Indices into hashes of the photos that are one picture (exact or near copies).

    strict: a near pair must also be one capture (core.data.same_capture: the recorded capture
    time, then the pixels), so frames of a burst or of a fixed camera are not copies; False:
    the hash alone decides (as Fledge did before). None when should_stop() turned true."""
    exact, near = _pairs(hashes, max_distance)
    if not strict:
        return _groups(len(hashes), exact + [(i, j) for i, j, _ in near])
    return copy_groups([h.path for h in hashes], exact, [(i, j) for i, j, _ in near], should_stop=should_stop)


def _pairs(hashes: Sequence[PhotoHash], max_distance: int
           ) -> tuple[list[tuple[int, int]], list[tuple[int, int, int]]]:
    """(pairs with the same bytes, (i, j, distance) of pairs whose hashes are at most max_distance apart)."""
    exact: list[tuple[int, int]] = []
    by_sha: dict[str, int] = {}
    for i, h in enumerate(hashes):
        if h.sha256 is None:
            continue
        if h.sha256 in by_sha:
            exact.append((by_sha[h.sha256], i))
        else:
            by_sha[h.sha256] = i
    with_phash = [i for i, h in enumerate(hashes) if h.phash is not None]
    if max_distance < 0:
        return exact, []
    found = near_pairs([hashes[i].phash for i in with_phash], max_distance)
    return exact, [(with_phash[a], with_phash[b], d) for a, b, d in found]


@dataclass(frozen=True)
class Copy:
    path: str
    split: str                       # "train" | "val" | "test"
    class_name: str


@dataclass(frozen=True)
class DuplicateGroup:
    """Photos that are one picture; exact when every copy has the same bytes."""
    copies: tuple[Copy, ...]
    exact: bool

    @property
    def splits(self) -> set[str]:
        return {c.split for c in self.copies}

    @property
    def leaks(self) -> bool:
        """In training and in validation or test."""
        return "train" in self.splits and bool(self.splits & {"val", "test"})

    @property
    def classes_differ(self) -> bool:
        return len({c.class_name for c in self.copies}) > 1

    def keep(self) -> Copy:
        """The copy to keep: a training one if there is one (then nothing is learnt less)."""
        order = {"train": 0, "val": 1, "test": 2}
        return min(self.copies, key=lambda c: (order.get(c.split, 3), c.path))

    def extras(self) -> list[Copy]:
        kept = self.keep()
        return [c for c in self.copies if c is not kept]


@dataclass
class DuplicateReport:
    groups: list[DuplicateGroup]
    counts: dict[str, int]                         # split -> photos in it
    twins_in_train: dict[str, int]                 # split -> its photos with a copy in training
    errors: list[tuple[str, str]] = field(default_factory=list)   # (path, why) not hashed
    # Frames of one burst (not copies) in training and in validation or test, which a split made
    # by hand (train/ and val/ folders) can do; Fledge's own split keeps bursts whole.
    bursts: list[tuple[Copy, ...]] = field(default_factory=list)
    burst_twins: dict[str, int] = field(default_factory=dict)    # split -> its such frames (copies apart)

    @property
    def leaking(self) -> list[DuplicateGroup]:
        return [g for g in self.groups if g.leaks]

    def extra_copies(self) -> list[Copy]:
        """Every copy but the one its group keeps: what keeping one copy sets aside."""
        return [c for g in self.groups for c in g.extras()]

    def leak_share(self, split: str = "val") -> float:
        """The share of the split's photos that are also in training (0 when it is empty)."""
        n = self.counts.get(split, 0)
        return self.twins_in_train.get(split, 0) / n if n else 0.0

    def burst_share(self, split: str = "val") -> float:
        """The share of the split's photos that are frames of a burst with other frames in training."""
        n = self.counts.get(split, 0)
        return self.burst_twins.get(split, 0) / n if n else 0.0

    def leak_warning(self, hint: bool = True) -> str:
        """What to say before training when photos are in training and validation/test, as copies
        or as frames of one burst; '' if none.

        hint: end with where to find the copies and keep one of each (the Data tab, which offers it
        itself, leaves it out)."""
        parts = []
        for split, title in (("val", "validation"), ("test", "test")):
            twins = self.twins_in_train.get(split, 0)
            if twins:
                share = self.leak_share(split)
                parts.append(f"{twins} of the {plural(self.counts[split], title + ' photo')} "
                             f"({percent(share)}) {'is' if twins == 1 else 'are'} also in training "
                             f"(the same capture: the same photo, or a resized or re-saved copy). The model learns "
                             f"{'it' if twins == 1 else 'those'}, so its {title} score may be up to "
                             f"{100 * share:.1f} points too high.")
            frames = self.burst_twins.get(split, 0)
            if frames:
                share = self.burst_share(split)
                parts.append(f"{frames} of the {plural(self.counts[split], title + ' photo')} ({percent(share)}) "
                             f"{'is a frame' if frames == 1 else 'are frames'} of a burst whose other frames are in "
                             f"training: not copies, but taken seconds apart by one camera, so the model has seen "
                             f"that moment and its {title} score may be up to {100 * share:.1f} points too high. "
                             f"Keep each burst in one folder, or use one folder per class: Fledge then splits "
                             f"whole bursts.")
        if not parts or not hint or not any(self.twins_in_train.values()):
            return " ".join(parts)
        return " ".join(parts) + (" Run 'fledge check-labels' on the folder to list the copies, then keep one "
                                  "copy of each (the Data tab offers it too).")


def find_duplicates(dataset, max_distance: int = MAX_DISTANCE, workers: int = 2,
                    progress: Callable[[int, int], None] | None = None,
                    should_stop: Callable[[], bool] | None = None) -> DuplicateReport | None:
    """Copies (the same capture) among a Dataset's train, val and test photos, and frames of one
    burst on both sides of its split (None if stopped)."""
    copies = [Copy(s.path, split, dataset.classes[s.label])
              for split in ("train", "val", "test") for s in (getattr(dataset, split, None) or [])]
    paths = [c.path for c in copies]
    hashes = hash_photos(paths, workers, progress, should_stop)
    if hashes is None:
        return None
    exact, alike = _pairs(hashes, max(max_distance, LOOK_ALIKE_BITS))
    involved = sorted({i for i, j, _ in alike for i in (i, j)})
    facts = read_all_facts([paths[i] for i in involved], workers, should_stop)
    if facts is None:
        return None
    seen = dict(zip(involved, camera_times(facts)))              # index -> (camera, recorded time)
    members = copy_groups(paths, exact, [(i, j) for i, j, d in alike if d <= max_distance],
                          {i: t for i, (_c, t) in seen.items()}, workers, should_stop)
    if members is None:
        return None
    groups = []
    for m in members:
        exact_group = len({hashes[i].sha256 for i in m}) == 1
        groups.append(DuplicateGroup(tuple(copies[i] for i in m), exact_group))
    counts = {split: sum(1 for c in copies if c.split == split) for split in ("train", "val", "test")}
    twins = {"val": 0, "test": 0}
    copied = set()                                   # photos with a copy in training
    for m in members:
        if any(copies[i].split == "train" for i in m):
            for i in m:
                if copies[i].split in twins:
                    twins[copies[i].split] += 1
                    copied.add(i)
    bursts, burst_twins = _bursts_across(copies, hashes, seen, copied)
    errors = [(h.path, h.error) for h in hashes if h.error]
    return DuplicateReport(groups, counts, twins, errors, bursts, burst_twins)


def _bursts_across(copies: list[Copy], hashes: Sequence[PhotoHash], seen: dict[int, tuple[str, float | None]],
                   copied: set[int]) -> tuple[list[tuple[Copy, ...]], dict[str, int]]:
    """The bursts (core.data.sequences: one camera, seconds apart, alike) with frames in training
    and in validation or test, and per split how many of its photos are such frames (those with
    a copy in training apart: they are counted as copies)."""
    order = sorted(seen)
    frames = [(copies[i].path, seen[i][0], seen[i][1], hashes[i].phash) for i in order]
    across, twins = [], {"val": 0, "test": 0}
    for g in group_frames(frames):
        members = [order[k] for k in g]
        if len(members) < 2 or not any(copies[i].split == "train" for i in members):
            continue
        held = [i for i in members if copies[i].split in twins]
        if held:
            across.append(tuple(copies[i] for i in members))
            for i in held:
                if i not in copied:
                    twins[copies[i].split] += 1
    return across, twins

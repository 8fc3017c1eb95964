"""Bursts: the near-identical frames a camera takes within a few seconds of each other.

    bursts = find_bursts(paths)                # [Burst("burst-0001", (path, path, ...)), ...]
    results = with_bursts(results)             # each ClassifiedImage's .burst (classify_folder does it)
    sort_classified(per_burst(results), ...)   # one decision per burst: never split

A birdcam shoots 3-10 frames per visit. Two photos belong to one burst when the same
camera (EXIF Make and Model) took them at most MAX_GAP_S apart (EXIF DateTimeOriginal;
the file's modification time when the photo has none) and they look alike (perceptual
hashes at most LOOK_ALIKE_BITS apart). A longer gap ends a burst; a frame that does not
look like the one before it starts a new one (the bird left and a plane flew by). Every
photo is in exactly one burst, a lone photo in a burst of its own.

The rule itself lives in core.data.sequences (the automatic split keeps bursts whole by it
too). Headers are read with core.data.shortcuts.read_facts (no pixels decoded) and hashes come
from core.data.duplicates.hash_photos (cached per file version), so grouping a folder a
second time costs only its new photos.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from core.data.sequences import LOOK_ALIKE_BITS, MAX_GAP_S, group_frames

BURST_PREFIX = "burst-"

ShouldStop = Callable[[], bool] | None


@dataclass(frozen=True)
class Burst:
    """Photos one camera took in quick succession, in the order they were taken."""
    id: str
    paths: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.paths)


def find_bursts(paths: Iterable[str], max_gap_s: float = MAX_GAP_S, max_bits: int = LOOK_ALIKE_BITS,
                workers: int = 2, should_stop: ShouldStop = None) -> list[Burst] | None:
    """The bursts among these photos (every photo in one); None when should_stop() turned true.

    Burst ids are numbered in the order the bursts were taken (then by camera and path), so
    the same photos always get the same ids."""
    from core.data.duplicates import hash_photos
    from core.data.shortcuts import read_all_facts

    paths = list(dict.fromkeys(paths))
    facts = read_all_facts(paths, workers, should_stop)
    if facts is None:
        return None
    hashes = hash_photos(paths, workers, should_stop=should_stop)
    if hashes is None:
        return None
    frames = [(p, f.camera or "", f.taken.timestamp() if f.taken is not None else None, h.phash)
              for p, f, h in zip(paths, facts, hashes)]
    groups = group_frames(frames, max_gap_s, max_bits)
    width = max(4, len(str(len(groups))))
    return [Burst(f"{BURST_PREFIX}{n:0{width}d}", tuple(paths[i] for i in g)) for n, g in enumerate(groups, 1)]


def burst_of(bursts: Iterable[Burst]) -> dict[str, str]:
    """path -> burst id."""
    return {p: b.id for b in bursts for p in b.paths}


def with_bursts(results: list, should_stop: ShouldStop = None, **options) -> list:
    """The ClassifiedImages with .burst filled in (photos the model could not read get none).

    Stopped early, the results are returned as they were."""
    readable = [r.path for r in results if not r.error]
    bursts = find_bursts(readable, should_stop=should_stop, **options) if readable else []
    if bursts is None:
        return list(results)
    ids = burst_of(bursts)
    return [dataclasses.replace(r, burst=ids.get(r.path)) if not r.error else r for r in results]


def mean_answers(tops: Sequence[Sequence[tuple[str, float]]]) -> tuple[tuple[str, float], ...]:
    """The mean of several photos' answers (a class a photo did not list counts 0 for it), best
    first, as many classes as the longest answer lists."""
    tops = [t for t in tops if t]
    if not tops:
        return ()
    total: dict[str, float] = {}
    for top in tops:
        for c, p in top:
            total[c] = total.get(c, 0.0) + float(p)
    ranked = sorted(((c, s / len(tops)) for c, s in total.items()), key=lambda cp: (-cp[1], cp[0]))
    return tuple(ranked[:max(len(t) for t in tops)])


def per_burst(results: list) -> list:
    """The ClassifiedImages with each photo's answers replaced by its burst's mean answers, so
    that sorting them gives every frame of a burst the same class (and the same trip to review
    when the mean is below the threshold). Photos without a burst keep their own answers."""
    members: dict[str, list] = {}
    for r in results:
        if r.burst and not r.error and r.top:
            members.setdefault(r.burst, []).append(r.top)
    means = {b: mean_answers(tops) for b, tops in members.items()}
    return [dataclasses.replace(r, top=means[r.burst]) if r.burst in means and not r.error and r.top else r
            for r in results]


def burst_sizes(results: Iterable) -> list[int]:
    """The number of photos in each burst named by the results (for summaries)."""
    counts: dict[str, int] = {}
    for r in results:
        if r.burst:
            counts[r.burst] = counts.get(r.burst, 0) + 1
    return list(counts.values())


__all__ = ["MAX_GAP_S", "LOOK_ALIKE_BITS", "Burst", "group_frames", "find_bursts", "burst_of", "with_bursts",
           "mean_answers", "per_burst", "burst_sizes"]

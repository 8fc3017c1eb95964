"""Bursts (camera-trap "sequences"): the frames a camera takes seconds apart, as one group.

    group_frames([(path, camera, seconds, phash), ...])   # the rule core.photos.bursts sorts by
    split_sequences(paths)                                 # the groups the automatic split keeps whole

Two photos belong to one burst when the same camera (EXIF Make and Model) took them at most
MAX_GAP_S apart and, where hashes are given, they look alike (perceptual hashes at most
LOOK_ALIKE_BITS apart). A longer gap ends a burst; a frame that does not look like the one
before it starts a new one. Every photo is in exactly one burst, a lone photo in one of its own.

The split goes by capture time alone (split_sequences): a burst kept together too eagerly only
makes the split coarser, while one cut in two puts the same moment in training and validation.
It trusts only the camera's own record of the time (EXIF DateTimeOriginal), never a file's
modification time: copying a folder can give every file nearly the same one. A chain longer
than any burst (SPLIT_PIECE frames) is kept in pieces, so that no class becomes one piece.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

from core.data.shortcuts import read_all_facts

MAX_GAP_S = 3.0          # seconds between two frames of one burst, at most (EXIF times have 1 s steps)
LOOK_ALIKE_BITS = 10     # of 64: burst frames of one scene measure 0-8, different scenes mostly more
SPLIT_PIECE = 10         # frames: a camera's burst is 1-10; a longer chain (an animal that stays and
                         # triggers again, a time-lapse, photos that all record one time) is split in pieces

Frame = tuple[str, str, "float | None", "int | None"]      # (path, camera, seconds taken, perceptual hash)


def _alike(a: int | None, b: int | None, max_bits: int | None) -> bool:
    if max_bits is None:
        return True
    return a is not None and b is not None and bin(a ^ b).count("1") <= max_bits


def group_frames(frames: Sequence[Frame], max_gap_s: float = MAX_GAP_S,
                 max_bits: int | None = LOOK_ALIKE_BITS) -> list[list[int]]:
    """Indices of frames (path, camera, seconds taken or None, perceptual hash or None) that
    form each burst, each in time order; bursts in the order of their first frame.
    max_bits None: the look is not compared (time and camera alone)."""
    by_camera: dict[str, list[int]] = {}
    for i, (_path, camera, _t, _h) in enumerate(frames):
        by_camera.setdefault(camera, []).append(i)
    groups: list[list[int]] = []
    for members in by_camera.values():
        timed = sorted((i for i in members if frames[i][2] is not None), key=lambda i: (frames[i][2], frames[i][0]))
        groups += [[i] for i in members if frames[i][2] is None]       # no time: nothing to go by
        current: list[int] = []
        for i in timed:
            prev = current[-1] if current else None
            if prev is not None and frames[i][2] - frames[prev][2] <= max_gap_s \
                    and _alike(frames[prev][3], frames[i][3], max_bits):
                current.append(i)
            else:
                if current:
                    groups.append(current)
                current = [i]
        if current:
            groups.append(current)

    def first(g: list[int]) -> tuple:
        t = frames[g[0]][2]
        return (t is None, t or 0.0, frames[g[0]][1], frames[g[0]][0])
    return sorted(groups, key=first)


def camera_times(facts) -> list[tuple[str, float | None]]:
    """(camera, seconds taken) of each core.data.shortcuts.PhotoFacts: the time only where the
    camera recorded it (EXIF), None where only the file's time stood in."""
    return [(f.camera or "", f.taken.timestamp() if f.taken is not None and f.taken_from_exif else None)
            for f in facts]


def split_sequences(paths: Sequence[str], workers: int = 2,
                    should_stop: Callable[[], bool] | None = None) -> list[list[int]] | None:
    """Indices of paths that form each burst by camera and EXIF capture time alone (the look is
    not compared, so a burst is never cut; a chain longer than SPLIT_PIECE frames comes in
    pieces of that many, in time order); None when should_stop() turned true. Only headers are
    read."""
    facts = read_all_facts(list(paths), workers, should_stop)
    if facts is None:
        return None
    frames = [(p, camera, t, None) for p, (camera, t) in zip(paths, camera_times(facts))]
    return [g[k:k + SPLIT_PIECE] for g in group_frames(frames, max_bits=None) for k in range(0, len(g), SPLIT_PIECE)]

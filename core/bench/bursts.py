"""`fledge bench --bursts`: how many key presses bursts save, and how well they are found.

A generated camera folder (core.bench.burst_camera: two cameras with EXIF on one timeline,
one without, bursts of 3-10 near-identical frames, single photos, and scenes that change
within a second) is grouped by core.photos.bursts twice: with no photo hashed yet, and
again (hashes cached). Printed: key presses to label the folder photo by photo (one a
photo) and burst by burst (one a burst found, plus one for each photo whose burst found
mixes classes, which the person must label again), the pairwise precision and recall of
the grouping against the planted bursts, the bursts found exactly, and the time.
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections import Counter
from itertools import combinations

from core.bench.burst_camera import write_camera_folder

VISITS = 300


def _pairs(groups) -> set[frozenset]:
    return {frozenset(p) for g in groups for p in combinations(g, 2)}


def score_grouping(found: list[tuple[str, ...]], planted) -> dict:
    """Pairwise precision/recall (two photos together in both), exact bursts and key presses."""
    label = {p: b.label for b in planted for p in b.paths}
    got, want = _pairs(found), _pairs([b.paths for b in planted])
    both = len(got & want)
    fixes = sum(len(g) - Counter(label[p] for p in g).most_common(1)[0][1] for g in found)
    planted_sets = {frozenset(b.paths) for b in planted}
    return dict(photos=len(label), planted_bursts=len(planted), found_bursts=len(found),
                exact=sum(1 for g in found if frozenset(g) in planted_sets),
                precision=both / len(got) if got else 1.0, recall=both / len(want) if want else 1.0,
                keys_photo_by_photo=len(label), keys_burst_by_burst=len(found) + fixes, relabels=fixes)


def run_bursts_bench(visits: int = VISITS, seed: int = 0) -> dict:
    from core.photos.bursts import find_bursts

    with tempfile.TemporaryDirectory(prefix="fledge-bench-bursts-") as tmp:
        t0 = time.perf_counter()
        planted = write_camera_folder(os.path.join(tmp, "camera"), visits=visits, seed=seed)
        paths = sorted(p for b in planted for p in b.paths)
        print(f"Wrote {len(paths)} photos in {len(planted)} planted bursts in {time.perf_counter() - t0:.1f}s",
              file=sys.stderr)
        seconds = {}
        for name in ("first", "cached"):
            t = time.perf_counter()
            bursts = find_bursts(paths)
            seconds[name] = time.perf_counter() - t
        out = score_grouping([b.paths for b in bursts], planted)
        out.update(seconds_first=seconds["first"], seconds_cached=seconds["cached"],
                   sizes=dict(sorted(Counter(len(b) for b in bursts).items())))
        return out


def format_bursts(s: dict) -> str:
    saved = 1 - s["keys_burst_by_burst"] / max(1, s["keys_photo_by_photo"])
    return "\n".join([
        f"bursts in {s['photos']} generated camera photos ({s['planted_bursts']} planted bursts, single photos "
        f"included): {s['found_bursts']} found, {s['exact']} exactly as planted",
        f"grouping: pairwise precision {s['precision']:.1%} recall {s['recall']:.1%}",
        f"key presses to label it: {s['keys_photo_by_photo']} photo by photo, {s['keys_burst_by_burst']} burst by "
        f"burst ({s['relabels']} photos relabelled in mixed bursts) -- {saved:.0%} fewer",
        f"time: {s['seconds_first']:.2f} s with no photo hashed, {s['seconds_cached']:.2f} s hashes cached "
        f"({1000 * s['seconds_first'] / max(1, s['photos']):.1f} ms a photo)",
        f"keys_photo_by_photo={s['keys_photo_by_photo']} keys_burst_by_burst={s['keys_burst_by_burst']} "
        f"precision={s['precision']:.3f} recall={s['recall']:.3f}",
    ])


def cmd_bursts_bench(args) -> int:
    summary = run_bursts_bench(visits=args.images or VISITS)
    print(json.dumps(summary, indent=2) if args.json else format_bursts(summary))
    return 0

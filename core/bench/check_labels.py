"""`fledge bench --check-labels`: how well the label check finds planted wrong labels and
duplicates, and how long it takes.

A generated folder (core.bench.data: four shapes on textured backgrounds, train/ and val/)
gets a known number of photos moved into another class's folder and of copies planted
(exact copies and resized, recompressed ones, most of them from training into validation).
Then core.photos.check_labels runs twice: with an empty feature cache (what a first check
costs) and again (every photo's features cached).
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time

import numpy as np

from core.bench.data import write_bench_data

CLASSES = 4


def _plant(root: str, wrong: int, copies: int, seed: int = 1) -> tuple[dict, list]:
    """Move `wrong` photos to another class's folder, add `copies` copies; what was planted."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    photos = sorted(os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs if f.endswith(".jpg"))
    picked = rng.permutation(len(photos))
    planted_wrong = {}
    for i in picked[:wrong]:
        src = photos[i]
        cls = os.path.basename(os.path.dirname(src))
        other = f"class_{(int(cls.split('_')[1]) + 1 + int(rng.integers(CLASSES - 1))) % CLASSES}"
        dst = os.path.join(os.path.dirname(os.path.dirname(src)), other, os.path.basename(src))
        os.replace(src, dst)
        planted_wrong[dst] = cls                                     # the photo's true class
    planted_copies = []
    train = [p for p in (photos[i] for i in picked[wrong:]) if f"{os.sep}train{os.sep}" in p]
    for n, src in enumerate(train[:copies]):
        into = "train" if n % 4 == 3 else "val"                      # a quarter stay inside training
        dst = src.replace(f"{os.sep}train{os.sep}", f"{os.sep}{into}{os.sep}")
        dst = os.path.join(os.path.dirname(dst), f"COPY_{n:03d}.jpg")
        if n % 2 == 0:
            shutil.copy2(src, dst)
        else:
            with Image.open(src) as im:
                im.resize((im.width * 3 // 4, im.height * 3 // 4)).save(dst, quality=70)
        planted_copies.append((src, dst))
    return planted_wrong, planted_copies


def _label_figures(check, planted: dict) -> dict:
    k = len(planted)
    ranked = [s.path for s in check.suggestions]
    top = set(ranked[:k])
    hits = top & set(planted)
    right_class = sum(1 for s in check.suggestions[:k] if s.path in planted and s.suggested == planted[s.path])
    return dict(planted=k, suggestions=len(ranked), precision_at_k=len(hits) / max(1, len(top)),
                recall_at_k=len(hits) / max(1, k), recall_all=len(set(ranked) & set(planted)) / max(1, k),
                right_class_at_k=right_class)


def _duplicate_figures(report, planted: list) -> dict:
    pairs = {frozenset(p) for p in planted}
    found = set()
    unplanted = 0
    for g in report.groups:
        paths = [c.path for c in g.copies]
        mine = [p for p in pairs if p <= set(paths)]
        found.update(mine)
        unplanted += (len(paths) - 1) - len(mine)
    true_leaks = sum(1 for _, dst in planted if f"{os.sep}val{os.sep}" in dst)
    return dict(planted=len(pairs), found=len(found), recall=len(found) / max(1, len(pairs)),
                precision=len(found) / max(1, len(found) + unplanted), unplanted_found=unplanted,
                val_twins_reported=report.twins_in_train.get("val", 0), val_twins_planted=true_leaks,
                leak_share=report.leak_share("val"))


def run_check_labels_bench(images: int = 1000, wrong: int = 50, copies: int = 40) -> dict:
    from core.data.dataset import scan_dataset
    from core.photos.check_labels import check_labels
    from core.training.feature_store import FeatureStore
    from core.training.features import default_backbone

    with tempfile.TemporaryDirectory(prefix="fledge-bench-labels-") as tmp:
        data = os.path.join(tmp, "data")
        t0 = time.perf_counter()
        write_bench_data(data, images - copies, width=320, height=240, classes=CLASSES)
        planted_wrong, planted_copies = _plant(data, wrong, copies)
        print(f"Wrote {images} JPEGs ({wrong} wrong labels, {copies} copies planted) in "
              f"{time.perf_counter() - t0:.1f}s", file=sys.stderr)
        ds = scan_dataset(data)
        store = FeatureStore(os.path.join(tmp, "features", "f"), root=os.path.join(tmp, "features"))
        backbone = default_backbone()
        runs = {}
        for name in ("first", "cached"):
            print(f"Checking labels ({name})...", file=sys.stderr)
            t = time.perf_counter()
            check = check_labels(ds, backbone=backbone, store=store)
            runs[name] = dict(seconds=time.perf_counter() - t, check=check)
        check = runs["cached"]["check"]
        margin = check_labels(ds, backbone=backbone, store=store, ranked_by="normalized_margin",
                              with_duplicates=False)
        return dict(images=len(ds.train) + len(ds.val), accuracy=check.accuracy,
                    seconds_first=runs["first"]["seconds"], seconds_cached=runs["cached"]["seconds"],
                    labels=_label_figures(check, planted_wrong),
                    labels_by_margin=_label_figures(margin, planted_wrong),
                    duplicates=_duplicate_figures(check.duplicates, planted_copies))


def format_check_labels(s: dict) -> str:
    lines = [f"check-labels on {s['images']} generated photos: {s['seconds_first']:.1f} s with an empty "
             f"feature cache, {s['seconds_cached']:.1f} s cached; out-of-sample accuracy {s['accuracy']:.1%}"]
    for key, title in (("labels", "ranked by self-confidence"), ("labels_by_margin", "ranked by margin")):
        v = s[key]
        lines.append(f"wrong labels ({title}): {v['planted']} planted, {v['suggestions']} suggested; "
                     f"top {v['planted']}: precision {v['precision_at_k']:.1%} recall {v['recall_at_k']:.1%} "
                     f"(right class {v['right_class_at_k']}); recall of all suggestions {v['recall_all']:.1%}")
    d = s["duplicates"]
    lines.append(f"duplicates: {d['found']} of {d['planted']} planted copies found (recall {d['recall']:.1%}), "
                 f"{d['unplanted_found']} unplanted (precision {d['precision']:.1%}); validation photos with a "
                 f"twin in training: {d['val_twins_reported']} reported, {d['val_twins_planted']} planted "
                 f"(leak share {d['leak_share']:.1%})")
    return "\n".join(lines)


def cmd_check_labels_bench(args) -> int:
    import json

    summary = run_check_labels_bench(images=args.images or 1000)
    print(json.dumps(summary, indent=2) if args.json else format_check_labels(summary))
    return 0

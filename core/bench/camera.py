"""`fledge bench --camera`: one fixed camera's dump, from unsorted photos to a sorted week.

A generated dump (core.bench.burst_camera.write_trap_folder: one view, noise, day light and
infrared nights, grass in the wind, bursts of 3 frames, mostly empty, a common nocturnal animal,
two rare ones seen 3 and 2 times, a few true copies, EXIF times) is taken through the loop as a
person would, with the core functions the app and the CLI call:

1. labelled in the order taken (core.photos.labelling), asking core.photos.new_dataset.readiness
   after each label: the labels needed before the first model;
2. scanned (core.data.dataset): the bursts kept on one side of the split, against a split made
   photo by photo;
3. checked for copies (core.data.duplicates): the photos flagged against the planted copies,
   and what the hash alone would have flagged;
4. trained (the quick recipe), its review thresholds chosen on the validation photos for the
   precision asked and saved in the model (what `fledge thresholds --save` does);
5. a later dump of the same camera sorted with the model's own thresholds (core.photos.sorting,
   as `fledge classify --sort-into` does): per class, the precision of what was sorted into it
   against the precision asked, and what went to review.
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections import Counter
from datetime import timedelta

from core.bench.burst_camera import TRAP_START, write_trap_folder

TRIGGERS = 100                 # about 300 photos, as the real camera's dump that this imitates
CLASSES = ("empty", "vole", "shrew", "stoat")     # in the order a person types them
LATER = (("shrew", 2, 2), ("stoat", 1, 1))        # the rare animals the next dump shows


def _label_in_order(planted, dump: str) -> tuple[str, int | None, str]:
    """Label every photo of the dump (copying, in the order taken) into a new dataset: its root,
    the labels given when readiness first said "you can train" (None: never), and its last words."""
    from core.photos.labelling import Labeller
    from core.photos.new_dataset import readiness, start_dataset

    root = start_dataset(dump, CLASSES)
    labeller = Labeller(root, move=False)
    needed = None
    for n, photo in enumerate(planted, 1):
        labeller.assign(photo.path, photo.label)
        if needed is None and readiness(root).ready:
            needed = n
    return root, needed, readiness(root).text


def _bursts_across(dataset, planted) -> tuple[int, int]:
    """(planted bursts of 2 or more labelled frames, those with frames in more than one split); the
    planted copies are left out (they are the copy check's)."""
    split_of = {os.path.basename(s.path): name for name in ("train", "val", "test") for s in dataset.split(name)}
    planted = [p for p in planted if not p.copy_of]
    sides: dict[int, set[str]] = {}
    for p in planted:
        if os.path.basename(p.path) in split_of:
            sides.setdefault(p.burst, set()).add(split_of[os.path.basename(p.path)])
    sizes = Counter(p.burst for p in planted if os.path.basename(p.path) in split_of)
    multi = [b for b, n in sizes.items() if n > 1]
    return len(multi), sum(1 for b in multi if len(sides[b]) > 1)


def _copies(dataset, planted) -> dict:
    """Photos flagged as copies (now, and by the hash alone) against the planted copies."""
    from core.data.duplicates import duplicate_groups, find_duplicates, hash_photos

    report = find_duplicates(dataset)
    group_of = {os.path.basename(c.path): k for k, g in enumerate(report.groups) for c in g.copies}
    pairs = [(os.path.basename(p.path), os.path.basename(p.copy_of)) for p in planted if p.copy_of]
    found = sum(1 for a, b in pairs if a in group_of and group_of.get(a) == group_of.get(b))
    flagged = sum(len(g.copies) - 1 for g in report.groups)          # every copy but one per group
    paths = [s.path for name in ("train", "val", "test") for s in dataset.split(name)]
    hash_alone = duplicate_groups(hash_photos(paths), strict=False)
    return dict(planted=len(pairs), flagged=flagged, found=found, wrongly_flagged=flagged - found,
                hash_alone_flagged=sum(len(g) - 1 for g in hash_alone),
                leak_warning=report.leak_warning(hint=False))


def _train(dataset, run_dir: str, device: str) -> str:
    from core.errors import FledgeError
    from core.training.config import TrainConfig
    from core.training.trainer import Trainer

    ended = Trainer(TrainConfig(recipe="quick", device=device), dataset, run_dir=run_dir).fit()
    if ended.reason != "completed" or not ended.best_model:
        raise FledgeError(f"The quick training did not finish in the benchmark: {ended.message}")
    return ended.best_model


def _thresholds(model_path: str, root: str, target: float, device: str) -> dict:
    """Choose the review thresholds on the validation photos and save them in the model."""
    from core.model.checkpoints import save_thresholds
    from core.model.export.loading import load_predictor
    from core.photos.evaluation import evaluate_folder
    from core.photos.thresholds import choose_thresholds

    result = evaluate_folder(load_predictor(model_path, device), root, "val", model_path=model_path)
    choice = choose_thresholds(result, target)
    save_thresholds(model_path, choice.to_record())
    return {c.name: dict(threshold=c.threshold, source=c.source, val_photos=c.support) for c in choice.classes}


def _sort_later(model_path: str, later: str, dest: str, planted, device: str) -> dict:
    """Sort a later dump with the model's own thresholds; per class what went into its folder."""
    from core.model.export.loading import load_predictor
    from core.photos.sorting import REVIEW, sort_folder
    from core.photos.thresholds import review_thresholds

    predictor = load_predictor(model_path, device)
    sort_folder(predictor, later, dest, threshold=review_thresholds(None, predictor))
    truth = {os.path.basename(p.path): p.label for p in planted}
    out = {}
    for cls in (*CLASSES, REVIEW):
        folder = os.path.join(dest, cls)
        names = os.listdir(folder) if os.path.isdir(folder) else []
        out[cls] = dict(sorted=len(names), right=sum(1 for n in names if truth.get(n) == cls),
                        truly=dict(Counter(truth.get(n, "?") for n in names)))
    out["photos"] = dict(Counter(truth.values()))
    return out


def run_camera_bench(triggers: int = TRIGGERS, seed: int = 0, target: float | None = None,
                     device: str = "auto") -> dict:
    from core.data.dataset import scan_dataset
    from core.photos.thresholds import DEFAULT_TARGET

    target = DEFAULT_TARGET if target is None else target
    seconds: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="fledge-bench-camera-") as tmp:
        t = time.perf_counter()
        dump = os.path.join(tmp, "camera")
        planted = write_trap_folder(dump, triggers=triggers, seed=seed)
        later_dump = os.path.join(tmp, "camera next week")
        later = write_trap_folder(later_dump, triggers=max(12, triggers // 3), seed=seed + 1, copies=0, rare=LATER,
                                  start=TRAP_START + timedelta(days=7), first_number=len(planted) + 1)
        seconds["generate"] = time.perf_counter() - t
        print(f"Wrote {len(planted)} photos of one camera ({len(later)} more for the week after) in "
              f"{seconds['generate']:.1f}s", file=sys.stderr)

        t = time.perf_counter()
        root, needed, ready_text = _label_in_order(planted, dump)
        seconds["label"] = time.perf_counter() - t
        t = time.perf_counter()
        dataset = scan_dataset(root)
        seconds["scan"] = time.perf_counter() - t
        bursts, across = _bursts_across(dataset, planted)
        _, across_by_photo = _bursts_across(scan_dataset(root, bursts=False), planted)
        t = time.perf_counter()
        copies = _copies(dataset, planted)
        seconds["copies"] = time.perf_counter() - t

        print("Training (quick)...", file=sys.stderr)
        t = time.perf_counter()
        model = _train(dataset, os.path.join(tmp, "run"), device)
        seconds["train"] = time.perf_counter() - t
        t = time.perf_counter()
        thresholds = _thresholds(model, root, target, device)
        sorted_ = _sort_later(model, later_dump, os.path.join(tmp, "sorted"), later, device)
        seconds["thresholds_and_sort"] = time.perf_counter() - t
        counts = dataset.counts()
        return dict(photos=len(planted), labelled=dict(Counter(p.label for p in planted)),
                    labels_needed=needed, readiness=ready_text, bursts=bursts, bursts_across=across,
                    bursts_across_photo_by_photo=across_by_photo, kept_together=list(dataset.kept_together),
                    split={s: sum(counts[s].values()) for s in counts}, warnings=list(dataset.warnings),
                    copies=copies, target=target, thresholds=thresholds, sorted=sorted_, seconds=seconds)


def format_camera(s: dict) -> str:
    c = s["copies"]
    lines = [
        f"one fixed camera, {s['photos']} photos: " + ", ".join(f"{n} {k}" for k, n in s["labelled"].items()),
        f"copies: {c['flagged']} photos flagged as extra copies, {c['planted']} planted ({c['found']} found, "
        f"{c['wrongly_flagged']} flagged wrongly); the perceptual hash alone would flag {c['hash_alone_flagged']}",
        f"bursts: {s['bursts'] - s['bursts_across']} of {s['bursts']} bursts kept on one side of the split "
        f"({s['bursts_across']} across; split photo by photo: {s['bursts_across_photo_by_photo']} across)",
        "labels before the first model: " + (f"{s['labels_needed']} (labelling in the order taken)"
                                               if s["labels_needed"] else f"not reached after all "
                                               f"{s['photos']}: {s['readiness']}"),
        f"sorted a later week ({sum(s['sorted']['photos'].values())} photos: "
        + ", ".join(f"{n} {k}" for k, n in s["sorted"]["photos"].items())
        + f") with the model's own thresholds, precision asked {s['target']:.0%}:",
    ]
    for cls, figures in s["sorted"].items():
        if cls == "photos":
            continue
        t = s["thresholds"].get(cls)
        level = "all to review" if t and t["threshold"] is None else f"threshold {t['threshold']:.2f}" if t else ""
        used = f"{level} ({t['source']}, {t['val_photos']} validation photos)" if t else ""
        if cls.startswith("_"):
            lines.append(f"  {cls:<8} {figures['sorted']:>3} photos to review: "
                         + ", ".join(f"{n} {k}" for k, n in sorted(figures["truly"].items())))
        else:
            precision = f"{figures['right'] / figures['sorted']:.0%}" if figures["sorted"] else "-"
            wrong = ", ".join(f"{n} {k}" for k, n in sorted(figures["truly"].items()) if k != cls)
            lines.append(f"  {cls:<8} {figures['sorted']:>3} sorted, {figures['right']:>3} right: precision "
                         f"{precision:>4}  {used}" + (f"; wrong: {wrong}" if wrong else ""))
    secs = s["seconds"]
    lines.append("time: " + ", ".join(f"{k} {v:.1f}s" for k, v in secs.items()) + f" (total {sum(secs.values()):.0f}s)")
    return "\n".join(lines)


def cmd_camera_bench(args) -> int:
    summary = run_camera_bench(triggers=args.images or TRIGGERS, target=args.target, device=args.device)
    print(json.dumps(summary, indent=2) if args.json else format_camera(summary))
    return 0

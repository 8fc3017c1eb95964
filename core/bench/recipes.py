"""`fledge bench --recipes`: the ways to train a model on one folder, side by side.

For each recipe: the best validation accuracy and the wall time to reach it (the model
built, the photos read, the learning rate found: all of it), on the same train/val split
(the folder's scan, made once here and handed to every phase). The recipes:

- default: the app's default before recipes existed (a small CNN from scratch at 64 px);
- quick: the frozen EfficientNet-Lite0's features (computed, then cached) and a trained head;
- quick again: the same run once more, its features from the cache of the first;
- thorough: quick, then every layer fine-tuned;
- tutorial: the loop every tutorial teaches (torchvision ImageFolder + DataLoader), the
  same pretrained network, every layer trained.

Each runs in a process of its own (core.bench.phases.run_phase) with a feature cache of its
own, so no recipe finds another's work; only "quick again" shares quick's.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from core.bench.data import write_bench_data
from core.bench.phases import run_phase
from core.errors import FledgeError

GENERATED_IMAGES = 400               # "a real folder of ~400 photos", as the targets are set
FINE_TUNE_EPOCHS = 3                 # thorough's and the tutorial's epochs of every layer

# name, phase, its feature cache, what it is (for the table)
RECIPES = (
    ("default", "recipe", "default", "small CNN from scratch, 64 px (the old app default)"),
    ("quick", "recipe", "quick", "pretrained EfficientNet-Lite0 frozen: features + head"),
    ("quick again", "recipe", "quick", "the same, features from the first run's cache"),
    ("thorough", "recipe", "thorough", "quick, then every layer fine-tuned"),
    ("tutorial", "tutorial", "tutorial", "ImageFolder + DataLoader, same network, every layer, SGD"),
)


# ---------------------------------------------------------------- the folder

def _link(src: str, dst: Path) -> None:
    """A symbolic link to src at dst, or a copy where links cannot be made."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.symlink(os.path.abspath(src), dst)
    except OSError:
        shutil.copy2(src, dst)


def bench_folder(args, tmp: Path, generated: int) -> str:
    """The folder a bench run reads: --data (only --per-class N photos of each class, linked under
    tmp), else `generated` photos (--images) written under tmp."""
    data = args.data
    if not data:
        images = args.images or generated
        t0 = time.perf_counter()
        data = write_bench_data(str(tmp / "data"), images)
        print(f"Wrote {images} JPEGs of 640x480 in {time.perf_counter() - t0:.1f}s to {data}", file=sys.stderr)
    elif not os.path.isdir(data):
        raise FledgeError(f"The folder {data} does not exist. Give a folder of class folders with --data.")
    if args.per_class:
        data = subset_folder(data, str(tmp / "subset"), args.per_class)
    return data


def subset_folder(src: str, dest: str, per_class: int) -> str:
    """DEST holding links to the first per_class pictures (in sorted order) of each class
    folder of SRC (and of each split folder's classes); SRC is only read."""
    from core.data.dataset import SPLIT_FOLDER_NAMES
    from core.data.folder_scan import subfolders
    from core.data.imageio import iter_image_files

    if per_class < 1:
        raise FledgeError("--per-class needs at least 1 photo per class.")
    root = Path(dest)

    def classes(folder: str, out: Path) -> None:
        for name in subfolders(folder):
            for i, path in enumerate(sorted(iter_image_files(os.path.join(folder, name)))[:per_class]):
                _link(path, out / name / f"{i:05d}_{os.path.basename(path)}")

    top = subfolders(src)
    if any(name.lower() in SPLIT_FOLDER_NAMES for name in top):
        for name in top:
            if name.lower() in SPLIT_FOLDER_NAMES:
                classes(os.path.join(src, name), root / name)
    else:
        classes(src, root)
    if not root.is_dir():
        raise FledgeError(f"{src} has no class folders with pictures, so no subset could be made.")
    return str(root)


def split_folders(dataset, dest: str) -> str:
    """The scan's split as DEST/train|val/<class>/ links (every class in both), for ImageFolder."""
    root = Path(dest)
    for split in ("train", "val"):
        for name in dataset.classes:
            (root / split / name).mkdir(parents=True, exist_ok=True)
        for i, s in enumerate(dataset.split(split)):
            _link(s.path, root / split / dataset.classes[s.label] / f"{i:06d}_{os.path.basename(s.path)}")
    return str(root)


def _cache_env(home: Path) -> dict:
    """Variables that put Fledge's user data folder (its feature cache) under home."""
    env = {"XDG_DATA_HOME": str(home), "LOCALAPPDATA": str(home)}
    if sys.platform == "darwin":
        env["HOME"] = str(home)
    return env


# ---------------------------------------------------------------- running

def run_recipes(args) -> dict:
    import torch

    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    with tempfile.TemporaryDirectory(prefix="fledge-bench-recipes-") as tmp_name:
        tmp = Path(tmp_name)
        data = bench_folder(args, tmp, GENERATED_IMAGES)
        return _run_all(args, device, data, tmp)


def _run_all(args, device: str, data: str, tmp: Path) -> dict:
    from core.data.dataset import scan_dataset

    dataset = scan_dataset(data)               # the one split every recipe trains and scores on
    dataset_file = tmp / "dataset.json"
    dataset_file.write_text(json.dumps(dataset.to_dict()), encoding="utf-8")
    split_dir = split_folders(dataset, str(tmp / "split"))
    fine_tune = args.epochs or FINE_TUNE_EPOCHS
    results = {}
    for name, phase, cache, _ in chosen_recipes(getattr(args, "only", None)):
        print(f"Running {name}...", file=sys.stderr)
        params = {"phase": phase, "recipe": name.split()[0], "device": device, "dataset": str(dataset_file),
                  "split_dir": split_dir, "run_dir": str(tmp / "runs" / name.replace(" ", "-")),
                  "epochs": fine_tune if name in ("thorough", "tutorial") else args.epochs}
        results[name] = _summarise(run_phase(params, env=_cache_env(tmp / "home" / cache)))
    tutorial = results.get("tutorial")
    if tutorial and (tutorial["train_photos"], tutorial["val_photos"]) != (len(dataset.train), len(dataset.val)):
        raise FledgeError(f"The tutorial loop saw {tutorial['train_photos']} training and {tutorial['val_photos']} "
                          f"validation photos, not the scan's {len(dataset.train)} and {len(dataset.val)}.")
    return {"device": device, "data": data, "per_class": args.per_class, "classes": len(dataset.classes),
            "train_photos": len(dataset.train), "val_photos": len(dataset.val),
            "threads": torch_threads(), "results": results, "figures": figures(results)}


def chosen_recipes(only: str | None) -> tuple:
    """RECIPES, or those named in only ("default,quick"; "quick again" needs quick before it)."""
    if not only:
        return RECIPES
    names = [n.strip().lower() for n in only.split(",") if n.strip()]
    known = [name for name, *_ in RECIPES]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise FledgeError(f"--only: unknown recipe {', '.join(unknown)}. Choose from: {', '.join(known)}.")
    if "quick again" in names and "quick" not in names:
        raise FledgeError("--only: 'quick again' reads the features 'quick' cached, so name quick too.")
    return tuple(r for r in RECIPES if r[0] in names)


def torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def _summarise(r: dict) -> dict:
    """The phase's result with its best accuracy, the epoch and the seconds that reached it."""
    scored = [c for c in r["curve"] if not math.isnan(c[1])]
    if scored:
        best = max(c[1] for c in scored)
        epoch, _, seconds = next(c for c in scored if c[1] == best)
    else:
        best, epoch, seconds = math.nan, 0, r["total_s"]
    return dict(r, best_val_acc=best, best_epoch=epoch, to_best_s=seconds, epochs_run=len(r["curve"]))


def figures(results: dict) -> dict:
    """The figures the targets are stated in (accuracies 0..1, points, seconds)."""
    nan = math.nan
    acc = {name: results[name]["best_val_acc"] if name in results else nan for name, *_ in RECIPES}
    to_best = {name: results[name]["to_best_s"] if name in results else nan for name, *_ in RECIPES}
    fine_tune = max(acc["thorough"], acc["tutorial"]) if not math.isnan(acc["thorough"] + acc["tutorial"]) \
        else acc["thorough"] if math.isnan(acc["tutorial"]) else acc["tutorial"]
    return {
        "default_acc": acc["default"], "quick_acc": acc["quick"], "thorough_acc": acc["thorough"],
        "tutorial_acc": acc["tutorial"],
        "quick_s": to_best["quick"],
        "quick_cached_s": results["quick again"]["total_s"] if "quick again" in results else nan,
        "thorough_s": to_best["thorough"], "tutorial_s": to_best["tutorial"],
        "quick_vs_default_pts": 100 * (acc["quick"] - acc["default"]),
        "quick_vs_fine_tune_pts": 100 * (acc["quick"] - fine_tune),
        "thorough_vs_tutorial_pts": 100 * (acc["thorough"] - acc["tutorial"]),
        "thorough_time_vs_tutorial": to_best["thorough"] / max(1e-9, to_best["tutorial"]),
    }


# ---------------------------------------------------------------- the table

MARK_LABELS = {"extract": "reading photos", "features": "head", "head done": "saving, preparing",
               "lr sweep": "learning-rate sweep", "cached": "epochs of every layer",
               "stream": "epochs of every layer"}


def _where_time_goes(r: dict) -> str:
    """'setting up 0.1 s, reading photos 12.1 s, ...' from the phase's marks (what started when)."""
    marks = r.get("marks") or []
    if not marks:
        return ""
    parts = [f"setting up {marks[0][0]:.1f} s"]
    for (t, what), (t_next, _) in zip(marks, marks[1:] + [[r["total_s"], ""]]):
        parts.append(f"{MARK_LABELS.get(what, what)} {t_next - t:.1f} s")
    return ", ".join(parts)


def format_recipes(s: dict) -> str:
    def pct(v):
        return "-" if v is None or math.isnan(v) else f"{v:.1%}"

    lines = [f"data={s['data']} classes={s['classes']} train={s['train_photos']} val={s['val_photos']} "
             f"device={s['device']} threads={s['threads']}",
             f"{'recipe':<13}{'best val acc':>13}{'to best s':>11}{'total s':>9}{'best epoch':>12}"
             f"{'photos read':>13}{'peak RAM MB':>13}  what"]
    descriptions = {name: what for name, _, _, what in RECIPES}
    for name, r in s["results"].items():
        read = "-" if r.get("photos_read") is None else str(r["photos_read"])
        epoch = f"{r['best_epoch']}/{r['epochs_run']}"
        lines.append(f"{name:<13}{pct(r['best_val_acc']):>13}{r['to_best_s']:>11.1f}{r['total_s']:>9.1f}"
                     f"{epoch:>12}{read:>13}{r['peak_rss_mb']:>13,.0f}  {descriptions[name]}")
    for name, r in s["results"].items():
        rates = ", ".join(f"{k} {v:.2g}" for k, v in (r.get("lr") or {}).items())
        split = _where_time_goes(r)
        lines.append(f"{name}: " + "; ".join(x for x in (split, f"learning rates: {rates}" if rates else "") if x))
    lines.append(summary_line(s["figures"]))
    return "\n".join(lines)


def summary_line(f: dict) -> str:
    return (f"default_acc={f['default_acc']:.3f} quick_acc={f['quick_acc']:.3f} "
            f"thorough_acc={f['thorough_acc']:.3f} tutorial_acc={f['tutorial_acc']:.3f} "
            f"quick_s={f['quick_s']:.1f} quick_cached_s={f['quick_cached_s']:.1f} "
            f"thorough_s={f['thorough_s']:.1f} tutorial_s={f['tutorial_s']:.1f} "
            f"quick_vs_default_pts={f['quick_vs_default_pts']:+.1f} "
            f"quick_vs_fine_tune_pts={f['quick_vs_fine_tune_pts']:+.1f} "
            f"thorough_vs_tutorial_pts={f['thorough_vs_tutorial_pts']:+.1f} "
            f"thorough_time_vs_tutorial={f['thorough_time_vs_tutorial']:.2f}")


def print_summary(summary: dict, as_json: bool, table, line) -> int:
    """A bench run's result: the JSON and its summary line, or the table (ending in that line)."""
    if as_json:
        print(json.dumps(summary, indent=2))
        print(line(summary["figures"]))
    else:
        print(table(summary))
    return 0


def cmd_recipes(args) -> int:
    return print_summary(run_recipes(args), args.json, format_recipes, summary_line)

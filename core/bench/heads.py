"""`fledge bench --heads`: the quick recipe's last layer against other heads on one folder's
features, and the feature forward against the in-process ceiling.

One folder, scanned once; for each variant (installed network x precision x views; --arch
keeps one network) its features are read twice into a feature cache of their own, empty (cold:
every photo decoded and put through the network) and then full (warm: every photo from the
cache), and a plain batched forward of the same network on random input of the same size,
precision, batch and thread count (the one rule's, core.model.threads) gives the ceiling
photos per second. On each variant's features, every head trains on the training
photos (all views) and is scored on the validation photos (the photo view, as the Predictor
sees it):

- quick: core.training.quick, as the quick recipe, thorough's first phase and the label check fit it;
- AdamW (before): the head quick trained until it converged instead (core.bench.adamw_head); it
  chooses its step on the validation photos, so its figure flatters it;
- scikit-learn: LogisticRegression with its defaults on the same standardized rows, where
  scikit-learn is installed (it is not one of Fledge's dependencies).

Everything runs in this process, one variant after the other.
"""
from __future__ import annotations

import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from core.bench.adamw_head import train_adamw_head
from core.errors import FledgeError

GENERATED_IMAGES = 300               # the generated folder: a 300-photo run takes a minute or two
CEILING_PHOTOS = 64                  # photos' worth of random batches timed for the ceiling


def backbones() -> tuple[str, ...]:
    """Every installed network, by arch: core.model.offline_backbone.BACKBONES is the one list."""
    from core.model import offline_backbone

    return tuple(offline_backbone.BACKBONES)


def precisions() -> tuple[str, ...]:
    """fp32, and bf16 where the processor computes it in hardware (core.model.devices)."""
    from core.model.devices import cpu_has_fast_bf16

    return ("fp32", "bf16") if cpu_has_fast_bf16() else ("fp32",)


VIEWS = (("photo",), ("photo", "mirror"))


def variants(archs=None) -> list[tuple[str, str, tuple[str, ...]]]:
    """(backbone, precision, views) for every combination measured: archs, or every installed network."""
    return [(b, p, v) for b in (archs or backbones()) for p in precisions() for v in VIEWS]


# ---------------------------------------------------------------- one variant's features

def _ceiling(backbone, views: int, repeats: int = 3) -> tuple[float, int]:
    """(photos per second of the network alone, the threads it ran on): random batches of the
    extractor's batch size, on the threads the one rule (core.model.threads) gives reading
    photos, the best of a few timings (a ceiling: what the network does when nothing else gets
    in its way)."""
    import torch

    from core.model.threads import paced
    from core.training.features import BATCH_SIZE

    x = torch.randn(BATCH_SIZE * views, 3, backbone.image_size, backbone.image_size)
    x = x.contiguous(memory_format=torch.channels_last)
    bf16 = backbone.precision == "bf16"
    reps = max(2, CEILING_PHOTOS // BATCH_SIZE)
    best, threads = math.inf, torch.get_num_threads()
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        for repeat in paced(range(repeats + 1), "cpu"):
            threads = torch.get_num_threads()
            t0 = time.perf_counter()
            for _ in range(reps if repeat else 1):         # the first: warm, the first call sets up kernels
                backbone.network(x)
            if repeat:
                best = min(best, time.perf_counter() - t0)
    return reps * BATCH_SIZE / best, threads


def _features(paths: list[str], backbone, views: tuple[str, ...], cache: Path) -> dict:
    """Cold and warm extraction into a cache of this variant's own: (timings, the features)."""
    from core.training.feature_store import FeatureStore
    from core.training.features import extract_features

    store = FeatureStore(cache, root=cache.parent)
    ceiling, threads = _ceiling(backbone, len(views))     # also warms the network for the cold pass
    t0 = time.perf_counter()
    cold = extract_features(paths, backbone, views=views, store=store)
    cold_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    warm = extract_features(paths, backbone, views=views, store=store)
    warm_s = time.perf_counter() - t0
    if warm.computed:
        raise FledgeError(f"The feature cache in {cache} kept nothing: {warm.computed} photos were read again.")
    photos_per_s = cold.computed / cold_s if cold_s > 0 else math.nan
    return dict(cold_s=cold_s, warm_s=warm_s, computed=cold.computed, photos_per_s=photos_per_s,
                ceiling_photos_per_s=ceiling, ceiling_threads=threads, fraction_of_ceiling=photos_per_s / ceiling,
                vectors=warm.vectors, usable=warm.usable)


# ---------------------------------------------------------------- the heads

def _accuracy(logits, y) -> float:
    return float((np.asarray(logits).argmax(1) == np.asarray(y)).mean()) if len(y) else math.nan


def _quick(x, y, vx, vy, k, weights) -> dict:
    from core.training.quick import HeadSettings, train_head

    t0 = time.perf_counter()
    head = train_head(x, y, vx[:0], vy[:0], k, HeadSettings(), class_weights=weights)
    seconds = time.perf_counter() - t0
    return dict(val_acc=_accuracy(head.logits(vx).numpy(), vy), fit_s=seconds,
                note=f"L2 {head.l2.l2:.2g} ({head.l2.how})")


def _adamw(x, y, vx, vy, k, weights) -> dict:
    t0 = time.perf_counter()
    w, b = train_adamw_head(x, y, vx, vy, k, weights)
    seconds = time.perf_counter() - t0
    return dict(val_acc=_accuracy((vx @ w.numpy().T) + b.numpy(), vy), fit_s=seconds,
                note="its step chosen on the validation photos")


def _sklearn(x, y, vx, vy, k, weights) -> dict:
    try:
        from sklearn.linear_model import LogisticRegression
        from sklearn.preprocessing import StandardScaler
    except ImportError:
        return dict(val_acc=math.nan, fit_s=math.nan, note="skipped: scikit-learn is not installed")
    views = x.shape[1]
    rows, labels = x.reshape(-1, x.shape[-1]), np.repeat(y, views)
    t0 = time.perf_counter()
    scaler = StandardScaler().fit(rows)
    lr = LogisticRegression(max_iter=1000, class_weight=None if weights is None else dict(enumerate(weights)))
    lr.fit(scaler.transform(rows), labels)
    seconds = time.perf_counter() - t0
    predicted = lr.predict(scaler.transform(vx)) if len(vx) else np.zeros(0)
    return dict(val_acc=float((predicted == vy).mean()) if len(vy) else math.nan, fit_s=seconds,
                note="LogisticRegression() on standardized rows (C=1, lbfgs)")


HEADS = (("quick", _quick), ("AdamW (before)", _adamw), ("scikit-learn", _sklearn))


# ---------------------------------------------------------------- running

def run_heads(args) -> dict:
    from core.bench.recipes import bench_folder

    archs = None
    if args.arch:
        if args.arch not in backbones():
            raise FledgeError(f"--arch {args.arch}: --heads reads photos with an installed network; choose "
                              f"one of {', '.join(backbones())}, or leave --arch out for all of them.")
        archs = (args.arch,)
    with tempfile.TemporaryDirectory(prefix="fledge-bench-heads-") as tmp_name:
        tmp = Path(tmp_name)
        return _run_all(bench_folder(args, tmp, GENERATED_IMAGES), tmp, archs)


def _run_all(data: str, tmp: Path, archs=None) -> dict:
    import torch

    from core.data.dataset import scan_dataset
    from core.training.class_balance import class_balance, class_counts

    dataset = scan_dataset(data)
    if not dataset.train or not dataset.val:
        raise FledgeError(f"{data} needs photos for training and for validation to compare heads.")
    k = len(dataset.classes)
    samples = list(dataset.train) + list(dataset.val)
    paths = [s.path for s in samples]
    labels = np.array([s.label for s in samples], dtype=np.int64)
    is_train = np.arange(len(samples)) < len(dataset.train)
    balance = class_balance(dataset.classes, class_counts(labels[is_train], k))
    weights = list(balance.weights) if balance.uneven else None     # as the quick recipe's "auto"
    for path in paths:                  # every file read once: no variant's cold pass pays for the disk
        Path(path).read_bytes()
    features, heads = [], []
    from core.training.features import default_backbone

    for n, (name, precision, views) in enumerate(variants(archs)):
        print(f"Reading photos: {name}, {precision}, {'+'.join(views)}...", file=sys.stderr)
        backbone = default_backbone(name, precision)
        f = _features(paths, backbone, views, tmp / "features" / str(n))
        vectors, ok = f.pop("vectors"), f.pop("usable")
        features.append(dict(backbone=name, precision=precision, views=len(views), photos=len(paths), **f))
        tr, va = ok & is_train, ok & ~is_train
        x, y, vx, vy = vectors[tr], labels[tr], vectors[va][:, 0], labels[va]
        for head, fit in HEADS:
            heads.append(dict(backbone=name, precision=precision, views=len(views), head=head,
                              **fit(x, y, vx, vy, k, weights)))
    return {"data": data, "classes": k, "train_photos": len(dataset.train), "val_photos": len(dataset.val),
            "threads": torch.get_num_threads(), "class_weights": weights is not None,
            "features": features, "heads": heads, "figures": figures(heads)}


def figures(heads: list[dict]) -> dict:
    """quick against the other heads on the features a quick run reads (the first backbone
    measured, EfficientNet-Lite0 unless --arch chose another; the default precision; both
    views); accuracies 0..1, differences in points."""
    from core.model.devices import cpu_has_fast_bf16

    precision = "bf16" if cpu_has_fast_bf16() else "fp32"
    first = heads[0]["backbone"] if heads else None
    mine = {h["head"]: h for h in heads if h["precision"] == precision and h["views"] == len(VIEWS[-1])
            and h["backbone"] == first}
    acc = {name: mine[name]["val_acc"] if name in mine else math.nan for name, _ in HEADS}
    return {"quick_acc": acc["quick"], "adamw_acc": acc["AdamW (before)"], "sklearn_acc": acc["scikit-learn"],
            "quick_vs_adamw_pts": 100 * (acc["quick"] - acc["AdamW (before)"]),
            "quick_vs_sklearn_pts": 100 * (acc["quick"] - acc["scikit-learn"]),
            "quick_fit_s": mine["quick"]["fit_s"] if "quick" in mine else math.nan}


# ---------------------------------------------------------------- the tables

def format_heads(s: dict) -> str:
    def pct(v):
        return "-" if v is None or math.isnan(v) else f"{v:.1%}"

    def secs(v):
        return "-" if v is None or math.isnan(v) else f"{v:.2f}"

    lines = [f"data={s['data']} classes={s['classes']} train={s['train_photos']} val={s['val_photos']} "
             f"threads={s['threads']} class_weights={'on' if s['class_weights'] else 'off'}",
             f"{'backbone':<20}{'precision':<11}{'views':>5}{'cold s':>9}{'warm s':>9}{'photos/s':>10}"
             f"{'ceiling photos/s':>18}{'of ceiling':>12}{'threads':>9}"]
    for f in s["features"]:
        lines.append(f"{f['backbone']:<20}{f['precision']:<11}{f['views']:>5}{f['cold_s']:>9.1f}{f['warm_s']:>9.2f}"
                     f"{f['photos_per_s']:>10.1f}{f['ceiling_photos_per_s']:>18.1f}{f['fraction_of_ceiling']:>12.2f}"
                     f"{f['ceiling_threads']:>9}")
    lines.append(f"{'backbone':<20}{'precision':<11}{'views':>5}  {'head':<16}{'val acc':>8}{'fit s':>8}  note")
    for h in s["heads"]:
        lines.append(f"{h['backbone']:<20}{h['precision']:<11}{h['views']:>5}  {h['head']:<16}{pct(h['val_acc']):>8}"
                     f"{secs(h['fit_s']):>8}  {h['note']}")
    lines.append(summary_line(s["figures"]))
    return "\n".join(lines)


def summary_line(f: dict) -> str:
    return (f"quick_acc={f['quick_acc']:.3f} adamw_acc={f['adamw_acc']:.3f} sklearn_acc={f['sklearn_acc']:.3f} "
            f"quick_vs_adamw_pts={f['quick_vs_adamw_pts']:+.1f} quick_vs_sklearn_pts={f['quick_vs_sklearn_pts']:+.1f} "
            f"quick_fit_s={f['quick_fit_s']:.2f}")


def cmd_heads(args) -> int:
    from core.bench.recipes import print_summary

    return print_summary(run_heads(args), args.json, format_heads, summary_line)

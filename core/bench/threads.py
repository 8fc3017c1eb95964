"""Photos per second on the CPU with 1 thread, 2 threads and the thread rule (core.model.threads),
on an idle machine and with one competing busy process.

    python -m core.bench.threads FOLDER [--photos 200] [--repeats 2]

Two pieces of work, as Fledge runs them: "classify" is Predictor.probabilities with a
quick-recipe model (EfficientNet-Lite0 and a random head over FOLDER's classes; decoding in
threads, batches of 64: `fledge classify`, evaluate); "features" is extract_features with the
quick recipe's backbone into an empty cache each pass (batches of 4, 2 decoding threads: the
quick recipe, `fledge check-labels`). A fixed count is set through FLEDGE_THREADS; one row of
the rule also tries 1 decoding thread for classify (its default: as many as the cores, at most 8).
The busy process is `python -c "while True: pass"`, ended before the bench ends. Each figure is
the median of --repeats passes; the load average is printed, since other programs may share
the machine.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

from core.data.folder_scan import loose_files

LOADS = ("idle", "1 busy process")
CONFIGS = [("classify", "1 thread", "1", None), ("classify", "2 threads", "2", None),
           ("classify", "rule", None, None), ("classify", "rule, 1 decoder", None, 1),
           ("features", "1 thread", "1", None), ("features", "2 threads", "2", None),
           ("features", "rule", None, None)]


def _photos(folder: str, n: int) -> tuple[list[str], list[str]]:
    """The first photos of each class in turn (name order), n in all; the class names."""
    classes = sorted(d for d in os.listdir(folder) if os.path.isdir(os.path.join(folder, d)))
    per = [sorted(loose_files(os.path.join(folder, c))) for c in classes]
    out = [p for row in zip(*per) for p in row][:n]
    if not out:
        raise SystemExit(f"No photos in class folders under {folder}.")
    return out, classes


def _predictor(classes: list[str]):
    import torch

    from core.model import offline_backbone as ob
    from core.model.predictor import Predictor
    from core.training.quick import TrainedHead, quick_model

    g = torch.Generator().manual_seed(0)
    head = TrainedHead(torch.randn(len(classes), ob.FEATURES, generator=g) * 0.01, torch.zeros(len(classes)))
    return Predictor.from_model(quick_model(head), classes, 224, ob.MEAN, ob.STD, "cpu",
                                arch="efficientnet_lite0")


def _works(photos: list[str], classes: list[str], tmp: str) -> dict:
    """work name -> (run(workers), the network whose forwards show the thread count)."""
    from core.training.feature_store import FeatureStore
    from core.training.features import default_backbone, extract_features

    predictor, backbone = _predictor(classes), default_backbone()
    passes = iter(range(1_000_000))

    def features(workers):
        root = os.path.join(tmp, f"features-{next(passes)}")
        extract_features(photos, backbone, store=FeatureStore(os.path.join(root, "b", "v"), root=root))

    return {"classify": (lambda workers: predictor.probabilities(photos, workers=workers), predictor.model),
            "features": (features, backbone.network)}


def _pass(run, network, count: int, threads: str | None, workers: int | None) -> tuple[float, list]:
    """Photos per second of one pass, and the thread counts in force at its forwards."""
    import torch

    from core.model import threads as rule

    if threads is None:
        os.environ.pop(rule.ENV, None)
    else:
        os.environ[rule.ENV] = threads
    rule.use_policy(rule.ThreadPolicy())      # measures afresh: nothing carried from the last pass
    chosen = []
    hook = network.register_forward_pre_hook(lambda m, a: chosen.append(torch.get_num_threads()))
    try:
        t0 = time.perf_counter()
        run(workers)
        return count / (time.perf_counter() - t0), chosen
    finally:
        hook.remove()


def _load() -> str:
    return "/".join(f"{v:.2f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "?"


def _counts(used: list[int]) -> str:
    """Thread counts at the forwards, e.g. "1x20 2x3"."""
    return " ".join(f"{n}x{used.count(n)}" for n in sorted(set(used))) or "-"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.bench.threads", description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", help="a folder with one sub-folder of photos per class")
    parser.add_argument("--photos", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)
    from core.model import threads as rule

    saved = os.environ.get(rule.ENV)
    photos, classes = _photos(args.folder, args.photos)
    rows: dict[tuple, list[float]] = {}
    chosen: dict[tuple, list[int]] = {}
    busy = None
    with tempfile.TemporaryDirectory(prefix="fledge-bench-threads-") as tmp:
        works = _works(photos, classes, tmp)
        print(f"{len(photos)} photos, {rule.usable_cores()} usable cores, load average {_load()} (1/5/15 min)")
        for run, _ in works.values():
            run(None)                         # warm-up: files in the page cache, the models ready
        try:
            for load in LOADS:
                if load != "idle":
                    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
                    time.sleep(1.0)
                print(f"-- {load}: load average {_load()}", flush=True)
                for _ in range(max(1, args.repeats)):
                    for work, name, threads, workers in CONFIGS:   # interleaved: drift hits all rows
                        rate, used = _pass(*works[work], len(photos), threads, workers)
                        rows.setdefault((load, work, name), []).append(rate)
                        chosen.setdefault((load, work, name), []).extend(used)
        finally:
            if busy is not None:
                busy.kill()
                busy.wait()
            if saved is None:
                os.environ.pop(rule.ENV, None)
            else:
                os.environ[rule.ENV] = saved
    print(f"{'':<28}{'idle photos/s':>14}{'busy photos/s':>14}   threads at the forwards: idle | busy")
    for work, name, _, _ in CONFIGS:
        idle, loaded = (statistics.median(rows[(load, work, name)]) for load in LOADS)
        used = " | ".join(_counts(chosen[(load, work, name)]) for load in LOADS)
        print(f"{work + ', ' + name:<28}{idle:>14.1f}{loaded:>14.1f}   {used}")
    print(f"load average at the end {_load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

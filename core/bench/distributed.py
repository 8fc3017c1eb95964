"""`fledge bench --gpus N`: data-parallel training speed with 1 and with N processes.

Both runs go through the same path (torchrun, DistributedDataParallel, each process with its
own shard and the same batch per process), so the ratio shows what the gradient all-reduce and
the extra processes cost: efficiency = images/s with N / (N x images/s with 1). On a CPU the
processes share the cores, so the figure there only proves the path works.
"""
from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time

from core.bench.data import write_bench_data
from core.data.dataset import scan_dataset
from core.errors import FledgeError
from core.training import runs
from core.training.config import TrainConfig
from core.training.distributed_fit import run_training
from core.training.trainer import Trainer


def _train(dataset, out: str, config: TrainConfig, nproc: int, threads: int) -> dict:
    """One training run as a torchrun job of nproc processes (core.training.launcher); its epoch
    times from metrics.csv."""
    t0 = time.perf_counter()
    ended = run_training(Trainer(config.replace(gpus=str(nproc)), dataset, run_dir=out), nproc,
                         env={"OMP_NUM_THREADS": str(threads)})
    wall = time.perf_counter() - t0
    rows = runs.read_csv_rows(os.path.join(out, runs.METRICS_FILE))
    if ended.reason != "completed" or not rows:
        raise FledgeError(f"The {nproc}-process training run failed: {ended.message}")
    train = len(dataset.train)
    seconds = [float(r["seconds"]) for r in rows]
    steady = statistics.mean(seconds[1:] or seconds)
    return {"processes": nproc, "train_images": train, "epoch_seconds": seconds, "wall_s": round(wall, 2),
            "first_epoch_images_per_s": train / max(1e-9, seconds[0]),
            "images_per_s": train / max(1e-9, steady)}


def run_distributed_bench(args) -> dict:
    import torch

    from core.training.distributed import process_count

    n = process_count(args.gpus)
    if n < 2:
        raise FledgeError("--gpus N compares 1 process with N: give N of 2 or more.")
    on_gpu = torch.cuda.is_available() and args.device != "cpu"
    arch = args.arch or ("resnet18" if on_gpu else "small_cnn")
    image_size = args.image_size or (224 if on_gpu else 64)
    batch = args.batch_size or (128 if on_gpu else 32)
    epochs = args.epochs or 3
    images = args.images or (6000 if on_gpu else 600)
    cores = os.cpu_count() or 1
    config = TrainConfig(recipe="custom", arch=arch, image_size=image_size, batch_size=batch, epochs=epochs, lr=0.001,
                         auto_lr=False, pipeline="cached", device="cuda" if on_gpu else "cpu")
    with tempfile.TemporaryDirectory(prefix="fledge-bench-ddp-") as tmp:
        data = args.data
        if not data:
            data = os.path.join(tmp, "data")
            write_bench_data(data, images)
        dataset = scan_dataset(data)
        results = []
        for k in (1, n):
            print(f"Training with {k} process{'es' if k > 1 else ''}...", file=sys.stderr)
            # Each process gets the same share of the cores in both runs (as each gets one GPU):
            # the ratio then measures scaling, not a thread count (two OpenMP threads on two busy
            # cores ran 3x slower than one here).
            threads = max(1, min(8, cores // n))
            results.append(_train(dataset, os.path.join(tmp, f"run{k}"), config, k, threads))
    one, many = results
    return {"device": "cuda" if on_gpu else "cpu", "backend": "nccl" if on_gpu else "gloo", "arch": arch,
            "image_size": image_size, "batch_per_process": batch, "epochs": epochs, "processes": n,
            "results": results, "scaling_efficiency": many["images_per_s"] / max(1e-9, n * one["images_per_s"])}


def format_distributed(s: dict) -> str:
    lines = [f"device={s['device']} backend={s['backend']} arch={s['arch']} image_size={s['image_size']} "
             f"batch_per_process={s['batch_per_process']} epochs={s['epochs']}",
             f"{'processes':<11}{'first epoch img/s':>18}{'steady img/s':>14}{'wall s':>9}"]
    for r in s["results"]:
        lines.append(f"{r['processes']:<11}{r['first_epoch_images_per_s']:>18,.0f}{r['images_per_s']:>14,.0f}"
                     f"{r['wall_s']:>9.1f}")
    if s["device"] == "cpu":
        lines.append("(on a CPU the processes share its cores: this shows the path works, not GPU scaling)")
    lines.append(f"images_per_s_1={s['results'][0]['images_per_s']:.0f} "
                 f"images_per_s_{s['processes']}={s['results'][1]['images_per_s']:.0f} "
                 f"scaling_efficiency={s['scaling_efficiency']:.2f}")
    return "\n".join(lines)


def cmd_distributed_bench(args) -> int:
    summary = run_distributed_bench(args)
    print(json.dumps(summary, indent=2) if args.json else format_distributed(summary))
    return 0

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
import subprocess
import sys
import tempfile
import time

from core.bench.data import write_bench_data
from core.errors import FledgeError


def _train(data: str, out: str, nproc: int, settings: list[str], threads: int) -> dict:
    """One `fledge train` under torchrun with nproc processes; its epoch times from metrics.csv."""
    from core.training import runs

    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(nproc),
           "-m", "core.cli", "train", data, *settings, "--out", out]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    rows = runs.read_csv_rows(os.path.join(out, runs.METRICS_FILE))
    if done.returncode != 0 or not rows:
        with open(out + ".log", "w", encoding="utf-8") as f:
            f.write(done.stdout + done.stderr)
        sys.stderr.write(done.stdout + done.stderr)
        tail = (done.stdout + done.stderr).strip().splitlines()[-5:]
        raise FledgeError(f"The {nproc}-process training run failed: " + " | ".join(tail))
    counts = runs.read_json(os.path.join(out, runs.RUN_FILE)).get("counts", {})
    train = sum((counts.get("train") or {}).values())
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
    settings = ["--arch", arch, "--image-size", str(image_size), "--batch-size", str(batch), "--epochs",
                str(epochs), "--lr", "0.001", "--pipeline", "cached", "--device", "cuda" if on_gpu else "cpu"]
    with tempfile.TemporaryDirectory(prefix="fledge-bench-ddp-") as tmp:
        data = args.data
        if not data:
            data = os.path.join(tmp, "data")
            write_bench_data(data, images)
        results = []
        for k in (1, n):
            print(f"Training with {k} process{'es' if k > 1 else ''}...", file=sys.stderr)
            # Each process gets the same share of the cores in both runs (as each gets one GPU):
            # the ratio then measures scaling, not a thread count (two OpenMP threads on two busy
            # cores ran 3x slower than one here).
            threads = max(1, min(8, cores // n))
            results.append(_train(data, os.path.join(tmp, f"run{k}"), k, settings, threads))
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

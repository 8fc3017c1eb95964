"""The `fledge bench` command: runs the phases, sums them up, prints the table."""
from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time

from core.bench.data import write_bench_data
from core.bench.phases import run_phase
from core.errors import UsageError


def _steady(rates: list[float]) -> float:
    later = rates[1:] or rates
    return statistics.mean(later)


def run_bench(args) -> dict:
    import torch

    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    on_gpu = device.startswith("cuda")
    arch = args.arch or ("resnet18" if on_gpu and not args.quick else "small_cnn")
    image_size = args.image_size or (224 if arch != "small_cnn" and on_gpu else (64 if arch == "small_cnn" else 128))
    batch = args.batch_size or (256 if on_gpu else 64)
    epochs = args.epochs or 3
    images = args.images or (6000 if on_gpu and not args.quick else 600)
    data = args.data
    # Generated images and the benchmark's run folder are removed afterwards.
    with tempfile.TemporaryDirectory(prefix="fledge-bench-") as tmp:
        if not data:
            data = os.path.join(tmp, "data")
            t0 = time.perf_counter()
            write_bench_data(data, images)
            print(f"Wrote {images} JPEGs of 640x480 in {time.perf_counter() - t0:.1f}s to {data}", file=sys.stderr)
        common = dict(device=device, arch=arch, image_size=image_size, batch_size=batch,
                      epochs=epochs, data=data, lr=1e-3, memory_budget_mb=args.memory_budget_mb)
        results = {}
        for phase in ("reference", "fledge", "ceiling"):
            print(f"Running {phase}...", file=sys.stderr)
            extra = {"run_dir": os.path.join(tmp, "run")} if phase == "fledge" else {}
            extra["ceiling_steps"] = 20 if on_gpu else 8
            results[phase] = run_phase(dict(common, phase=phase, **extra))
        if not args.no_predict:
            print("Running predict...", file=sys.stderr)
            results["predict"] = run_phase(dict(common, phase="predict", model=results["fledge"]["model"],
                                                latency_repeats=30))
        ref, fl, ce = (results[k] for k in ("reference", "fledge", "ceiling"))
        summary = {
            "device": device, "arch": arch, "image_size": image_size, "batch_size": batch,
            "epochs": epochs, "images": images, "pipeline": fl.get("pipeline"),
            "pipeline_reason": fl.get("reason"), "precision": fl.get("precision"),
            "speedup_vs_reference": _steady(fl["epoch_images_per_s"]) / _steady(ref["epoch_images_per_s"]),
            "fraction_of_ceiling": _steady(fl["epoch_images_per_s"]) / ce["epoch_images_per_s"][0],
            "first_epoch_vs_reference": fl["epoch_images_per_s"][0] / ref["epoch_images_per_s"][0],
            "results": results,
        }
        return summary


def format_table(s: dict) -> str:
    r = s["results"]

    def mb(v):
        return "-" if v is None else f"{v:,.0f}"

    def acc(v):
        return "-" if v is None else f"{v:.1%}"

    lines = [f"device={s['device']} arch={s['arch']} image_size={s['image_size']} batch_size={s['batch_size']} "
             f"epochs={s['epochs']} images={s['images']} precision={s['precision']} pipeline={s['pipeline']}",
             f"{'':<11}{'first epoch img/s':>18}{'steady img/s':>14}{'peak RAM MB':>13}{'peak GPU MB':>13}{'val acc':>9}"]
    for name in ("reference", "fledge", "ceiling"):
        v = r[name]
        first = "-" if name == "ceiling" else f"{v['epoch_images_per_s'][0]:,.0f}"
        lines.append(f"{name:<11}{first:>18}{_steady(v['epoch_images_per_s']):>14,.0f}{mb(v['peak_rss_mb']):>13}"
                     f"{mb(v['peak_gpu_mb']):>13}{acc(v['val_acc']):>9}")
    if "predict" in r:
        pr = r["predict"]
        lines.append(f"predict one image: fledge median {pr['fledge_ms_median']:.1f} ms p95 {pr['fledge_ms_p95']:.1f} ms | "
                     f"plain torchvision median {pr['plain_ms_median']:.1f} ms p95 {pr['plain_ms_p95']:.1f} ms | "
                     f"latency_ratio={pr['fledge_ms_median'] / pr['plain_ms_median']:.2f}")
        lines.append(f"predict folder: {pr['folder_images_per_s']:,.0f} img/s over {pr['folder_images']} images | "
                     f"model-only ceiling {pr['folder_ceiling_images_per_s']:,.0f} img/s | "
                     f"folder_fraction_of_ceiling={pr['folder_images_per_s'] / pr['folder_ceiling_images_per_s']:.2f}")
    lines.append(f"pipeline: {s['pipeline_reason']}")
    lines.append(f"first_epoch_vs_reference={s['first_epoch_vs_reference']:.2f}")
    lines.append(f"speedup_vs_reference={s['speedup_vs_reference']:.2f} fraction_of_ceiling={s['fraction_of_ceiling']:.2f}")
    return "\n".join(lines)


def cmd_bench(args) -> int:
    if args.camera:
        from core.bench.camera import cmd_camera_bench

        return cmd_camera_bench(args)
    if args.bursts:
        from core.bench.bursts import cmd_bursts_bench

        return cmd_bursts_bench(args)
    if args.watch:
        from core.bench.watch import cmd_watch_bench

        return cmd_watch_bench(args)
    if args.export:
        from core.bench.export import cmd_export_bench

        return cmd_export_bench(args)
    if args.check_labels:
        from core.bench.check_labels import cmd_check_labels_bench

        return cmd_check_labels_bench(args)
    if args.gpus:
        from core.bench.distributed import cmd_distributed_bench

        return cmd_distributed_bench(args)
    if args.recipes:
        from core.bench.recipes import cmd_recipes

        return cmd_recipes(args)
    if args.heads:
        from core.bench.heads import cmd_heads

        return cmd_heads(args)
    if args.per_class:
        raise UsageError("--per-class chooses photos for --recipes or --heads; add one of them, or leave it out.")
    summary = run_bench(args)
    if args.json:
        print(json.dumps(summary, indent=2))
        print(f"speedup_vs_reference={summary['speedup_vs_reference']:.2f} "
              f"fraction_of_ceiling={summary['fraction_of_ceiling']:.2f}")
    else:
        print(format_table(summary))
    return 0


def register(sub) -> None:
    b = sub.add_parser("bench", help="measure training and prediction speed against the tutorial loop; "
                                     "--recipes: compare the ways to train on one folder")
    b.add_argument("--data", default=None, metavar="DIR",
                   help="a folder of JPEGs: train/ and val/ folders, or (with --recipes) class folders "
                        "(default: generate)")
    b.add_argument("--check-labels", action="store_true",
                   help="the label check on generated photos (--images, default 1000) with planted wrong labels "
                        "and copies: precision and recall of the planted ones, and the time it takes")
    b.add_argument("--recipes", action="store_true",
                   help="compare the recipes on one split: the old default (small CNN), quick, quick again "
                        "with cached features, thorough, and the tutorial fine-tuning loop")
    b.add_argument("--heads", action="store_true",
                   help="the quick recipe's last layer against the AdamW head it replaced and scikit-learn's "
                        "LogisticRegression on one folder's features (--data, or --images generated, default "
                        "300), for each backbone, precision and view: validation accuracy, fit time, and the "
                        "features' cold and cached time and photos per second against the network alone")
    b.add_argument("--bursts", action="store_true",
                   help="bursts found in a generated camera folder (--images visits, default 300): key presses "
                        "to label it photo by photo and burst by burst, grouping precision and recall, time")
    b.add_argument("--camera", action="store_true",
                   help="one fixed camera's generated dump (--images triggers, default 100: about 300 photos, "
                        "mostly empty, two rare animals, a few true copies) taken from labelling to sorting a "
                        "later week: copies flagged against the planted ones, bursts kept on one side of the "
                        "split, labels needed before the first model, sorted precision per class")
    b.add_argument("--target", type=float, default=None, metavar="P",
                   help="--camera: the precision asked of the model's own thresholds (default 0.98)")
    b.add_argument("--watch", action="store_true",
                   help="watch latency: photos written at 5 a second for 20 s into a watched folder, "
                        "the time from each photo written to it sorted (median and max)")
    b.add_argument("--export", action="store_true",
                   help="an exported model (predict.py, onnxruntime) against PyTorch on this CPU: one-photo "
                        "latency, folder throughput and time to the first answer, for a small CNN and the "
                        "quick model trained here (--images photos, default 200)")
    b.add_argument("--only", default=None, metavar="NAMES",
                   help="with --recipes: only these, comma-separated (default, quick, quick again, thorough, "
                        "tutorial), e.g. --only \"default,quick,quick again\" on a large folder")
    b.add_argument("--per-class", type=int, default=None, metavar="N",
                   help="with --recipes or --heads: only the first N photos of each class (in name order), linked "
                        "into a temporary folder; the folder itself is left as it is")
    b.add_argument("--gpus", default=None, metavar="all|N",
                   help="data-parallel training: images per second with 1 and with N processes (torchrun) and "
                        "the scaling efficiency; on a computer without a GPU the processes share the CPU")
    b.add_argument("--device", default="auto")
    b.add_argument("--arch", default=None, help="default resnet18 on a GPU, small_cnn on a CPU; with --heads: "
                                                "one installed network (default: every one)")
    b.add_argument("--image-size", type=int, default=None)
    b.add_argument("--batch-size", type=int, default=None)
    b.add_argument("--epochs", type=int, default=None, help="default 3; with --recipes: every recipe's epochs (default: the recipe's own, "
                        "and 3 of every layer for thorough and the tutorial loop)")
    b.add_argument("--images", type=int, default=None, help="images to generate (default 6000 on a GPU, 600 with --quick, 400 with --recipes, 300 with --heads)")
    b.add_argument("--quick", action="store_true", help="a small CPU-sized run: small_cnn at 64 px")
    b.add_argument("--memory-budget-mb", type=int, default=None,
                   help="Fledge's memory budget for decoded images (smaller than the data: it streams)")
    b.add_argument("--no-predict", action="store_true", help="skip the prediction measurements")
    b.add_argument("--json", action="store_true", help="print the figures as JSON")
    b.set_defaults(func=cmd_bench)

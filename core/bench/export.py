"""`fledge bench --export`: an exported model (predict.py, onnxruntime) against PyTorch.

For two real models trained here (a small CNN, one epoch at 64 px, and the quick recipe's
EfficientNet-Lite0 from its installed weights, 224 px), each exported to ONNX, on the same
CPU in the same run:

- one photo: the median time of N answers to one photo, model loaded (predict.py's own
  classify; Fledge's Predictor, as `fledge predict` runs it; Fledge with the export);
- a folder: photos per second over the generated photos, model loaded, and the whole
  command's wall time (`python predict.py FOLDER --csv`, `fledge classify MODEL FOLDER --csv`);
- first answer: the wall time of a fresh `python predict.py photo.jpg` against
  `fledge predict MODEL photo.jpg` (median of 3), imports and model loading included.

Every measurement runs in a Python process of its own; predict.py's never imports torch.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from core.errors import FledgeError

PHOTOS = 200                       # generated 640x480 JPEGs: train on them, classify them
LATENCY_REPEATS = 30
START_REPEATS = 3
ROOT = str(Path(__file__).resolve().parents[2])
# runner name, what it is (for the table)
RUNNERS = (("predict.py", "predict.py, onnxruntime (no PyTorch)"),
           ("fledge", "fledge, PyTorch (.pt)"),
           ("fledge-export", "fledge, the export (onnxruntime)"))
MODELS = (("small_cnn", ["--arch", "small_cnn", "--epochs", "1", "--image-size", "64"]),
          ("quick", ["--recipe", "quick"]))


def _env() -> dict:
    return dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))


def _run(argv: list[str], what: str) -> tuple[float, str]:
    """(wall seconds, stdout) of a fresh process; FledgeError with its last words if it fails."""
    t0 = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, env=_env(), cwd=ROOT)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        tail = " | ".join((proc.stderr or proc.stdout).strip().splitlines()[-4:])
        raise FledgeError(f"The export benchmark could not {what}: {tail}")
    return wall, proc.stdout


def _fledge(*args) -> list[str]:
    return [sys.executable, "-m", "core.cli", *map(str, args)]


# -- the measurements, each in its own process (python -m core.bench.export RUNNER ...) --------

def _predict_py_runner(export: str):
    """(answer one photo, answer a folder's photos) with the export's own predict.py."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("fledge_export_predict", os.path.join(export, "predict.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.Model(export)

    def folder(path: str) -> int:
        return len(module.classify(model, module.image_files(path, recursive=True)))
    return (lambda photo: module.classify(model, [photo])), folder


def _fledge_runner(model: str):
    """The same with Fledge's own loading, predict and classify_folder."""
    from core.model.export.loading import load_predictor
    from core.photos.classify import classify_folder

    predictor = load_predictor(model, device="cpu")
    return (lambda photo: predictor.predict(photo)), \
        (lambda path: len(classify_folder(predictor, path, recursive=True, bursts=False)))   # as predict.py


def _measure(runner: str, model: str, photo: str, folder: str, repeats: int) -> dict:
    one, many = _predict_py_runner(model) if runner == "predict.py" else _fledge_runner(model)
    for _ in range(3):                              # warm caches, uncounted
        one(photo)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        one(photo)
        times.append(1000 * (time.perf_counter() - t0))
    t0 = time.perf_counter()
    n = many(folder)
    seconds = time.perf_counter() - t0
    return {"photo_ms_median": statistics.median(times), "folder_photos": n,
            "folder_photos_per_s": n / seconds, "torch_loaded": "torch" in sys.modules}


def _measure_in_process(runner: str, model: str, photo: str, folder: str, repeats: int) -> dict:
    _, out = _run([sys.executable, "-m", "core.bench.export", runner, model, photo, folder, str(repeats)],
                  f"time {runner} on {model}")
    return json.loads(out.strip().splitlines()[-1])


# -- one model ------------------------------------------------------------------------------

def _train_and_export(name: str, options: list[str], data: str, tmp: str) -> tuple[str, str, dict]:
    """(the .pt, its export folder, the parity figures) of a model trained here."""
    from core.model.export import export_model

    run_dir = os.path.join(tmp, f"run-{name}")
    print(f"Training {name}...", file=sys.stderr)
    _run(_fledge("train", data, "--out", run_dir, "--device", "cpu", *options), f"train {name}")
    model = os.path.join(run_dir, "best.pt")
    print(f"Exporting {name}...", file=sys.stderr)
    result = export_model(model, "onnx", os.path.join(tmp, f"export-{name}"))
    if not result.ok:
        raise FledgeError(f"The export benchmark's {name} model could not be exported: {result.reason}")
    return model, result.folder, result.parity.to_dict()


def _commands(runner: str, model: str, export: str, target: str, csv: str | None) -> list[str]:
    extra = ["--recursive", "--csv", csv] if csv else []
    if runner == "predict.py":
        return [sys.executable, os.path.join(export, "predict.py"), target, *extra]
    return _fledge("classify" if csv else "predict", model if runner == "fledge" else export, target,
                   *extra, "--device", "cpu")


def _bench_model(name: str, model: str, export: str, photo: str, folder: str, tmp: str,
                 repeats: int) -> dict:
    out = {}
    for runner, _ in RUNNERS:
        print(f"Timing {name} with {runner}...", file=sys.stderr)
        used = export if runner != "fledge" else model
        figures = _measure_in_process(runner, used, photo, folder, repeats)
        csv = os.path.join(tmp, f"{name}-{runner}.csv")
        figures["folder_command_s"], _ = _run(_commands(runner, model, export, folder, csv),
                                              f"classify the folder with {runner}")
        starts = [_run(_commands(runner, model, export, photo, None), f"answer one photo with {runner}")[0]
                  for _ in range(START_REPEATS)]
        figures["first_answer_s_median"] = statistics.median(starts)
        out[runner] = figures
    return out


def run_export_bench(args) -> dict:
    images = args.images or PHOTOS
    repeats = LATENCY_REPEATS
    from core.bench.data import write_bench_data

    with tempfile.TemporaryDirectory(prefix="fledge-bench-export-") as tmp:
        data = write_bench_data(os.path.join(tmp, "data"), images)
        photo = str(next(Path(data, "val").rglob("*.jpg")))
        summary = {"photos": images, "photo_size": "640x480", "latency_repeats": repeats,
                   "start_repeats": START_REPEATS, "cpu_threads": os.cpu_count(), "models": {}}
        for name, options in MODELS:
            model, export, parity = _train_and_export(name, options, data, tmp)
            with open(os.path.join(export, "export.json"), encoding="utf-8") as f:
                meta = json.load(f)
            summary["models"][name] = {
                "architecture": meta["provenance"]["architecture"], "image_size": meta["preprocessing"]["crop"],
                "parity_max_abs_diff": parity["max_abs_diff"],
                "runners": _bench_model(name, model, export, photo, data, tmp, repeats)}
        return summary


def format_table(s: dict) -> str:
    lines = [f"export bench: {s['photos']} generated photos of {s['photo_size']}, CPU with {s['cpu_threads']} "
             f"threads; one photo: median of {s['latency_repeats']}; first answer: median of "
             f"{s['start_repeats']} fresh processes",
             f"{'model':<36}{'runner':<38}{'one photo ms':>13}{'folder photos/s':>16}"
             f"{'folder cmd s':>13}{'first answer s':>15}"]
    for name, m in s["models"].items():
        label = f"{name} ({m['architecture']}, {m['image_size']} px)"
        for runner, words in RUNNERS:
            r = m["runners"][runner]
            lines.append(f"{label:<36}{words:<38}{r['photo_ms_median']:>13.1f}{r['folder_photos_per_s']:>16.1f}"
                         f"{r['folder_command_s']:>13.2f}{r['first_answer_s_median']:>15.2f}")
            label = ""
        py, pt = m["runners"]["predict.py"], m["runners"]["fledge"]
        lines.append(f"{'':<36}predict.py against fledge .pt: one photo in "
                     f"{py['photo_ms_median'] / pt['photo_ms_median']:.2f}x the time, "
                     f"{py['folder_photos_per_s'] / pt['folder_photos_per_s']:.2f}x the photos/s over the "
                     f"folder, first answer in {py['first_answer_s_median'] / pt['first_answer_s_median']:.2f}x "
                     f"the time; parity max diff {m['parity_max_abs_diff']:.1e}; torch in predict.py's "
                     f"process: {'yes' if py['torch_loaded'] else 'no'}")
    return "\n".join(lines)


def cmd_export_bench(args) -> int:
    summary = run_export_bench(args)
    print(json.dumps(summary, indent=2) if args.json else format_table(summary))
    return 0


if __name__ == "__main__":
    runner_name, model_arg, photo_arg, folder_arg, repeats_arg = sys.argv[1:6]
    print(json.dumps(_measure(runner_name, model_arg, photo_arg, folder_arg, int(repeats_arg))))

"""`fledge bench`: Fledge's trainer side by side with the tutorial loop and with the
hardware ceiling, on the same device, model, image size, batch size and epochs.

Each phase runs in its own Python process so that peak memory figures belong to it
alone and no phase warms a cache for the next.
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

PHASES = ("reference", "fledge", "ceiling", "predict")


# -- data ------------------------------------------------------------------------------------
def write_bench_data(dest: str, images: int, width: int = 640, height: int = 480,
                     classes: int = 4, val_share: float = 0.2, seed: int = 0) -> str:
    """Photo-sized JPEGs in DEST/train|val/<class>/: textured backgrounds with a class-
    specific shape, so decoding costs what a camera's photos cost and accuracy means
    something."""
    import numpy as np
    from PIL import Image, ImageDraw

    root = Path(dest)
    marker = root / ".fledge-bench"
    if marker.is_file() and marker.read_text().strip() == f"{images} {width} {height} {classes}":
        return str(root)
    if root.exists() and any(root.iterdir()) and not marker.is_file():
        raise FledgeError(f"{root} is not empty; give an empty or new folder for the benchmark data.")
    rng = np.random.default_rng(seed)
    names = [f"class_{i}" for i in range(classes)]
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    for i in range(images):
        label = i % classes
        split = "val" if (i // classes) % int(round(1 / val_share)) == 0 else "train"
        folder = root / split / names[label]
        folder.mkdir(parents=True, exist_ok=True)
        c0, c1 = rng.uniform(40, 215, 3), rng.uniform(40, 215, 3)
        t = (xx / width * rng.uniform(-1, 1) + yy / height * rng.uniform(-1, 1)) % 1.0
        img = c0 * t[..., None] + c1 * (1 - t[..., None])
        img += rng.normal(0, 18, (height, width, 1))           # sensor noise: real JPEG cost
        pil = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
        draw = ImageDraw.Draw(pil)
        cx, cy = rng.uniform(0.3, 0.7) * width, rng.uniform(0.3, 0.7) * height
        r = rng.uniform(0.12, 0.3) * height
        colour = tuple(int(v) for v in rng.uniform(0, 255, 3))
        box = [cx - r, cy - r, cx + r, cy + r]
        if label == 0:
            draw.ellipse(box, fill=colour)
        elif label == 1:
            draw.rectangle(box, fill=colour)
        elif label == 2:
            draw.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=colour)
        else:
            draw.line([(cx - r, cy - r), (cx + r, cy + r)], fill=colour, width=int(r / 3))
            draw.line([(cx - r, cy + r), (cx + r, cy - r)], fill=colour, width=int(r / 3))
        pil.save(folder / f"IMG_{i:05d}.jpg", quality=90)
    marker.write_text(f"{images} {width} {height} {classes}")
    return str(root)


# -- phases (each in its own process) ---------------------------------------------------------
def _peak_rss_mb() -> float:
    import resource

    self_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    child_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return (self_kb + child_kb) / 1024


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _gpu_peak_mb(device) -> float | None:
    import torch

    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return None


def phase_reference(p: dict) -> dict:
    """The loop every PyTorch tutorial teaches."""
    import torch
    from torch.utils.data import DataLoader
    from torchvision import datasets
    from torchvision import transforms as T

    from core.model.architectures import ARCH_INFO
    from core.model.devices import resolve_device
    from core.model.networks import build_model, main_logits

    device = resolve_device(p["device"])
    info = ARCH_INFO[p["arch"]]
    s = p["image_size"]
    norm = T.Normalize(info.mean, info.std)
    train_ds = datasets.ImageFolder(os.path.join(p["data"], "train"), T.Compose(
        [T.RandomResizedCrop(s), T.RandomHorizontalFlip(), T.ToTensor(), norm]))
    val_ds = datasets.ImageFolder(os.path.join(p["data"], "val"), T.Compose(
        [T.Resize(round(s * 8 / 7)), T.CenterCrop(s), T.ToTensor(), norm]))
    workers = os.cpu_count() or 1
    pin = device.type == "cuda"
    loader = DataLoader(train_ds, batch_size=p["batch_size"], shuffle=True, num_workers=workers, pin_memory=pin)
    val_loader = DataLoader(val_ds, batch_size=p["batch_size"], num_workers=workers, pin_memory=pin)
    torch.manual_seed(0)
    model, _ = build_model(p["arch"], len(train_ds.classes), image_size=s)
    model = model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=p["lr"])
    loss_fn = torch.nn.CrossEntropyLoss()
    epochs = []
    for _ in range(p["epochs"]):
        model.train()
        t0 = time.perf_counter()
        n = 0
        for x, y in loader:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            loss = loss_fn(main_logits(model(x)), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            n += y.numel()
        _sync(device)
        epochs.append(n / (time.perf_counter() - t0))
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for x, y in val_loader:
            x, y = x.to(device), y.to(device)
            correct += (main_logits(model(x)).argmax(1) == y).sum().item()
            total += y.numel()
    return {"epoch_images_per_s": epochs, "val_acc": correct / max(1, total),
            "peak_rss_mb": _peak_rss_mb(), "peak_gpu_mb": _gpu_peak_mb(device)}


def phase_fledge(p: dict) -> dict:
    """Fledge's trainer exactly as the app and `fledge train` run it."""
    from core.training.config import TrainConfig
    from core.data.dataset import scan_dataset
    from core.model.devices import resolve_device
    from core.training.events import EpochEnd, FitStarted
    from core.training.trainer import Trainer

    device = resolve_device(p["device"])
    t0 = time.perf_counter()
    dataset = scan_dataset(p["data"])
    scan_s = time.perf_counter() - t0
    cfg = TrainConfig(arch=p["arch"], image_size=p["image_size"], batch_size=p["batch_size"],
                      epochs=p["epochs"], optimizer="adam", lr=p["lr"], schedule="none",
                      weight_decay=0.0, device=p["device"], pipeline=p.get("pipeline", "auto"),
                      memory_budget_mb=p.get("memory_budget_mb"))
    epochs, started = [], {}

    def on_event(ev):
        if isinstance(ev, EpochEnd):
            epochs.append(ev.images_per_s)
            last_val.append(ev.val_acc)
        elif isinstance(ev, FitStarted):
            started.update(pipeline=ev.pipeline, reason=ev.pipeline_reason, precision=ev.precision)

    last_val: list[float] = []
    ended = Trainer(cfg, dataset, run_dir=p["run_dir"], callbacks=[on_event]).fit()
    if ended.reason != "completed":
        raise FledgeError(f"Fledge's training run failed in the benchmark: {ended.message}")
    return {"epoch_images_per_s": epochs, "val_acc": last_val[-1] if last_val else None,
            "peak_rss_mb": _peak_rss_mb(), "peak_gpu_mb": _gpu_peak_mb(device),
            "scan_s": scan_s, "model": ended.last_model, **started}


def _autocast(device, precision: str = "auto"):
    import torch

    from core.model.devices import autocast_dtype

    dtype = autocast_dtype(device, precision)
    return torch.autocast(device.type, dtype=dtype) if dtype else torch.autocast(device.type, enabled=False)


def _steady_rate(step, batch: int, steps: int, device, windows: int = 3) -> float:
    """Images/s of `step`: the median of a few timed windows after a warm-up, so that
    one window slowed (or sped up) by the rest of the machine does not set the ceiling."""
    for _ in range(3):
        step()
    _sync(device)
    rates = []
    for _ in range(windows):
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        _sync(device)
        rates.append(steps * batch / (time.perf_counter() - t0))
    return statistics.median(rates)


def phase_ceiling(p: dict) -> dict:
    """The same model and optimizer on random tensors already on the device."""
    import torch

    from core.model.devices import resolve_device
    from core.model.networks import build_model, main_logits

    device = resolve_device(p["device"])
    s, b = p["image_size"], p["batch_size"]
    torch.manual_seed(0)
    model, _ = build_model(p["arch"], 4, image_size=s)
    model = model.to(device)
    fmt = torch.channels_last    # as Fledge trains, on every device
    model = model.to(memory_format=fmt)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    opt = torch.optim.Adam(model.parameters(), lr=p["lr"], **({"fused": True} if device.type == "cuda" else {}))
    x = torch.randn(b, 3, s, s, device=device).contiguous(memory_format=fmt)
    y = torch.randint(0, 4, (b,), device=device)
    loss_fn = torch.nn.CrossEntropyLoss()
    model.train()

    def step():
        with _autocast(device):
            loss = loss_fn(main_logits(model(x)).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    rate = _steady_rate(step, b, max(5, p.get("ceiling_steps", 20)), device)
    return {"epoch_images_per_s": [rate], "val_acc": None, "peak_rss_mb": _peak_rss_mb(),
            "peak_gpu_mb": _gpu_peak_mb(device)}


def phase_predict(p: dict) -> dict:
    """Single-image latency and folder throughput, against plain eager torchvision."""
    import torch
    from PIL import Image
    from torchvision import transforms as T

    from core.model.checkpoints import load_checkpoint, model_from_checkpoint
    from core.model.devices import resolve_device
    from core.data.imageio import iter_image_files
    from core.model.predictor import Predictor
    from core.model.networks import main_logits

    device = resolve_device(p["device"])
    files = list(iter_image_files(p["data"]))
    one = files[0]
    repeats = p.get("latency_repeats", 30)

    predictor = Predictor.from_checkpoint(p["model"], device=p["device"])

    ckpt = load_checkpoint(p["model"])
    plain = model_from_checkpoint(ckpt).to(device).eval()
    s = ckpt["image_size"]
    tf = T.Compose([T.Resize(round(s * 8 / 7)), T.CenterCrop(s), T.ToTensor(), T.Normalize(ckpt["mean"], ckpt["std"])])

    def plain_predict():
        with torch.no_grad():
            x = tf(Image.open(one).convert("RGB")).unsqueeze(0).to(device)
            return torch.softmax(main_logits(plain(x)), 1).cpu()

    # Interleaved, so that a slow moment of the machine costs both the same.
    fledge_ms, plain_ms = [], []
    for i in range(repeats + 3):
        for fn, out in ((lambda: predictor.predict(one), fledge_ms), (plain_predict, plain_ms)):
            t0 = time.perf_counter()
            fn()
            if i >= 3:                      # the first calls warm caches up
                out.append((time.perf_counter() - t0) * 1000)

    batch = p["batch_size"]
    t0 = time.perf_counter()
    preds = predictor.predict_many(files, batch_size=batch)
    folder_rate = len(preds) / (time.perf_counter() - t0)

    model = predictor.model if hasattr(predictor, "model") else plain
    x = torch.randn(batch, 3, s, s, device=device)
    if device.type == "cuda":
        x = x.contiguous(memory_format=torch.channels_last)
    def forward():
        with torch.inference_mode(), _autocast(device):
            model(x)

    ceiling_rate = _steady_rate(forward, batch, max(3, min(20, len(files) // batch + 1)), device)

    def pct(v, q):
        v = sorted(v)
        return v[min(len(v) - 1, int(round(q * (len(v) - 1))))]

    return {"fledge_ms_median": statistics.median(fledge_ms), "fledge_ms_p95": pct(fledge_ms, 0.95),
            "plain_ms_median": statistics.median(plain_ms), "plain_ms_p95": pct(plain_ms, 0.95),
            "folder_images_per_s": folder_rate, "folder_ceiling_images_per_s": ceiling_rate,
            "folder_images": len(preds)}


def _phase_main() -> None:
    """Entry of a phase's child process: JSON parameters in argv[1], JSON result on the last stdout line."""
    p = json.loads(sys.argv[1])
    fn = {"reference": phase_reference, "fledge": phase_fledge,
          "ceiling": phase_ceiling, "predict": phase_predict}[p["phase"]]
    result = fn(p)
    print("RESULT " + json.dumps(result))


def run_phase(params: dict) -> dict:
    code = "from core.bench import _phase_main; _phase_main()"
    root = str(Path(__file__).resolve().parent.parent)
    env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-c", code, json.dumps(params)], capture_output=True,
                          text=True, env=env)
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
    raise FledgeError(f"The benchmark's {params['phase']} phase failed: " + " | ".join(tail))


# -- the command -----------------------------------------------------------------------------
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
    summary = run_bench(args)
    if args.json:
        print(json.dumps(summary, indent=2))
        print(f"speedup_vs_reference={summary['speedup_vs_reference']:.2f} "
              f"fraction_of_ceiling={summary['fraction_of_ceiling']:.2f}")
    else:
        print(format_table(summary))
    return 0


def register(sub) -> None:
    b = sub.add_parser("bench", help="measure training and prediction speed against the tutorial loop")
    b.add_argument("--data", default=None, metavar="DIR", help="a train/val folder of JPEGs (default: generate)")
    b.add_argument("--device", default="auto")
    b.add_argument("--arch", default=None, help="default resnet18 on a GPU, small_cnn on a CPU")
    b.add_argument("--image-size", type=int, default=None)
    b.add_argument("--batch-size", type=int, default=None)
    b.add_argument("--epochs", type=int, default=None, help="default 3")
    b.add_argument("--images", type=int, default=None, help="images to generate (default 6000 on a GPU, 600 with --quick)")
    b.add_argument("--quick", action="store_true", help="a small CPU-sized run: small_cnn at 64 px")
    b.add_argument("--memory-budget-mb", type=int, default=None,
                   help="Fledge's memory budget for decoded images (smaller than the data: it streams)")
    b.add_argument("--no-predict", action="store_true", help="skip the prediction measurements")
    b.add_argument("--json", action="store_true", help="print the figures as JSON")
    b.set_defaults(func=cmd_bench)

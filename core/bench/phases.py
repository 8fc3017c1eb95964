"""The benchmark's phases. Each runs in its own Python process (run_phase) so that
peak memory figures belong to it alone and no phase warms a cache for the next."""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from core.errors import FledgeError


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


def tutorial_epoch(model, loader, opt, loss_fn, device) -> int:
    """One epoch of the tutorial loop; the number of images it trained on."""
    from core.model.networks import main_logits

    model.train()
    n = 0
    for x, y in loader:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        loss = loss_fn(main_logits(model(x)), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        n += y.numel()
    return n


def tutorial_accuracy(model, loader, device) -> float:
    """The tutorial loop's validation accuracy (0 for no images)."""
    import torch

    from core.model.networks import main_logits

    model.eval()
    correct = total = 0
    with torch.no_grad():
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            correct += (main_logits(model(x)).argmax(1) == y).sum().item()
            total += y.numel()
    return correct / max(1, total)


def phase_reference(p: dict) -> dict:
    """The loop every PyTorch tutorial teaches."""
    import torch
    from torch.utils.data import DataLoader
    from torchvision import datasets
    from torchvision import transforms as T

    from core.model.architectures import ARCH_INFO
    from core.model.devices import resolve_device
    from core.model.networks import build_model

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
        t0 = time.perf_counter()
        n = tutorial_epoch(model, loader, opt, loss_fn, device)
        _sync(device)
        epochs.append(n / (time.perf_counter() - t0))
    return {"epoch_images_per_s": epochs, "val_acc": tutorial_accuracy(model, val_loader, device),
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
    cfg = TrainConfig(recipe="custom", arch=p["arch"], image_size=p["image_size"], batch_size=p["batch_size"],
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


def _plain_predictor(ckpt: dict, device):
    """(model, predict(path)) as plain eager torchvision does it: the yardstick for Predictor."""
    import torch
    from PIL import Image
    from torchvision import transforms as T

    from core.model.checkpoints import model_from_checkpoint
    from core.model.networks import main_logits

    plain = model_from_checkpoint(ckpt).to(device).eval()
    s = ckpt["image_size"]
    tf = T.Compose([T.Resize(round(s * 8 / 7)), T.CenterCrop(s), T.ToTensor(), T.Normalize(ckpt["mean"], ckpt["std"])])

    def predict(path):
        with torch.no_grad():
            x = tf(Image.open(path).convert("RGB")).unsqueeze(0).to(device)
            return torch.softmax(main_logits(plain(x)), 1).cpu()

    return plain, predict


def _interleaved_ms(fns, repeats: int, warmup: int = 3) -> list[list[float]]:
    """Milliseconds per call of each fn, called in turn so that a slow moment of the
    machine costs each the same; the first `warmup` rounds warm caches up, uncounted."""
    times: list[list[float]] = [[] for _ in fns]
    for i in range(repeats + warmup):
        for fn, out in zip(fns, times):
            t0 = time.perf_counter()
            fn()
            if i >= warmup:
                out.append((time.perf_counter() - t0) * 1000)
    return times


def _percentile(v: list[float], q: float) -> float:
    v = sorted(v)
    return v[min(len(v) - 1, int(round(q * (len(v) - 1))))]


def _model_only_rate(model, batch: int, image_size: int, device, n_files: int) -> float:
    """Images/s of the model alone on random tensors already on the device."""
    import torch

    x = torch.randn(batch, 3, image_size, image_size, device=device)
    if device.type == "cuda":
        x = x.contiguous(memory_format=torch.channels_last)

    def forward():
        with torch.inference_mode(), _autocast(device):
            model(x)

    return _steady_rate(forward, batch, max(3, min(20, n_files // batch + 1)), device)


def phase_predict(p: dict) -> dict:
    """Single-image latency and folder throughput, against plain eager torchvision."""
    from core.data.imageio import iter_image_files
    from core.model.checkpoints import load_checkpoint
    from core.model.devices import resolve_device
    from core.model.predictor import Predictor

    device = resolve_device(p["device"])
    files = list(iter_image_files(p["data"]))
    one = files[0]
    predictor = Predictor.from_checkpoint(p["model"], device=p["device"])
    ckpt = load_checkpoint(p["model"])
    _, plain_predict = _plain_predictor(ckpt, device)
    fledge_ms, plain_ms = _interleaved_ms([lambda: predictor.predict(one), lambda: plain_predict(one)],
                                          p.get("latency_repeats", 30))

    batch = p["batch_size"]
    t0 = time.perf_counter()
    preds = predictor.predict_many(files, batch_size=batch)
    folder_rate = len(preds) / (time.perf_counter() - t0)
    ceiling_rate = _model_only_rate(predictor.model, batch, ckpt["image_size"], device, len(files))
    return {"fledge_ms_median": statistics.median(fledge_ms), "fledge_ms_p95": _percentile(fledge_ms, 0.95),
            "plain_ms_median": statistics.median(plain_ms), "plain_ms_p95": _percentile(plain_ms, 0.95),
            "folder_images_per_s": folder_rate, "folder_ceiling_images_per_s": ceiling_rate,
            "folder_images": len(preds)}


def _phase_main() -> None:
    """Entry of a phase's child process: JSON parameters in argv[1], JSON result on the last stdout line."""
    from core.bench.recipe_phases import PHASES as RECIPE_PHASES

    p = json.loads(sys.argv[1])
    fn = {"reference": phase_reference, "fledge": phase_fledge,
          "ceiling": phase_ceiling, "predict": phase_predict, **RECIPE_PHASES}[p["phase"]]
    result = fn(p)
    print("RESULT " + json.dumps(result))


def run_phase(params: dict, env: dict | None = None) -> dict:
    """The phase's result, run in a fresh Python process; env: variables to set there."""
    code = "from core.bench.phases import _phase_main; _phase_main()"
    root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ, **(env or {}), PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-c", code, json.dumps(params)], capture_output=True,
                          text=True, env=env)
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
    raise FledgeError(f"The benchmark's {params['phase']} phase failed: " + " | ".join(tail))

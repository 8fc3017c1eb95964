"""`fledge bench --watch`: how long a photo waits in a watched folder before it is sorted.

A camera is played at a steady rate (5 photos a second for 20 s: photo-sized 640x480
JPEGs, each written in one go) into a folder that core.photos.watch.FolderWatcher
watches with a real model (the app's newcomer network, EfficientNet-Lite0 at 224 px,
unless --arch says otherwise; its weights do not matter for the time), moving each photo
into class folders. Latency is from the moment a photo's file is closed to the moment
it is in its class folder; the median and the maximum are printed. Most of it is the
settle time, the wait that makes sure a file has stopped growing.
"""
from __future__ import annotations

import io
import json
import os
import statistics
import sys
import tempfile
import threading
import time

from core.errors import FledgeError

RATE = 5.0               # photos a second
SECONDS = 20.0
SETTLE = 1.0             # core.photos.watch's default


def _camera_frames(n: int = 8, seed: int = 0) -> list[bytes]:
    """A few photo-sized JPEGs (noisy gradients: what decoding a real photo costs)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:480, 0:640].astype(np.float32)
    frames = []
    for _ in range(n):
        img = rng.uniform(40, 215, 3) * ((xx / 640 + yy / 480) / 2)[..., None] + rng.normal(0, 18, (480, 640, 1))
        buf = io.BytesIO()
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(buf, "JPEG", quality=90)
        frames.append(buf.getvalue())
    return frames


def _model_file(path: str, arch: str, image_size: int | None) -> str:
    from core.model.checkpoints import save_checkpoint
    from core.model.networks import build_model, get_spec

    spec = get_spec(arch)
    size = image_size or spec.input_size
    model, _ = build_model(arch, 4, image_size=size)
    save_checkpoint(path, model.eval(), arch=arch, classes=[f"class_{i}" for i in range(4)], image_size=size,
                    mean=spec.mean, std=spec.std, config={}, metrics={})
    return path


def _play_camera(folder: str, frames: list[bytes], rate: float, seconds: float, written: dict,
                 stop: threading.Event) -> None:
    """Write photos at a steady rate; written[name] = time.time() once each file is closed."""
    start = time.monotonic()
    for i in range(int(rate * seconds)):
        if stop.wait(max(0.0, start + i / rate - time.monotonic())):
            return
        name = f"IMG_{i:05d}.jpg"
        with open(os.path.join(folder, name), "wb") as f:
            f.write(frames[i % len(frames)])
        written[name] = time.time()


def run_watch_bench(device: str = "auto", arch: str | None = None, image_size: int | None = None,
                    rate: float = RATE, seconds: float = SECONDS, poll: bool = False) -> dict:
    from core.model.predictor import Predictor
    from core.photos.watch import FolderWatcher

    arch = arch or "efficientnet_lite0"
    with tempfile.TemporaryDirectory(prefix="fledge-bench-watch-") as tmp:
        cam, dest = os.path.join(tmp, "camera"), os.path.join(tmp, "sorted")
        os.makedirs(cam)
        predictor = Predictor.from_checkpoint(_model_file(os.path.join(tmp, "model.pt"), arch, image_size),
                                              device=device)
        frames = _camera_frames()
        written: dict[str, float] = {}
        watcher = FolderWatcher(predictor, cam, dest, move=True, poll=poll, settle=SETTLE)
        watcher.start()
        stop = threading.Event()
        camera = threading.Thread(target=_play_camera, args=(cam, frames, rate, seconds, written, stop))
        camera.start()
        try:
            camera.join()
            total = int(rate * seconds)
            if not watcher.wait_until(lambda s: len(s.sorted) >= total, timeout=60 + 10 * SETTLE):
                raise FledgeError(f"Only {len(watcher.summary().sorted)} of {total} photos were sorted within "
                                  "a minute of the last one arriving.")
        finally:
            stop.set()
            camera.join()
            summary = watcher.stop()
    latencies = sorted(p.sorted_at - written[os.path.basename(p.src)] for p in summary.sorted)
    return {"device": str(predictor.device), "arch": arch, "image_size": predictor.image_size, "rate": rate,
            "seconds": seconds, "photos": len(latencies), "settle_s": SETTLE, "polling": summary.polling,
            "latency_median_s": statistics.median(latencies), "latency_max_s": latencies[-1],
            "latency_min_s": latencies[0]}


def format_watch(r: dict) -> str:
    events = "polling" if r["polling"] else "file-system events"
    return (f"watch: {r['photos']} photos at {r['rate']:g}/s for {r['seconds']:g} s, {r['arch']} at "
            f"{r['image_size']} px on {r['device']}, {events}, settle {r['settle_s']:g} s\n"
            f"watch latency (photo written -> photo sorted): median {r['latency_median_s']:.2f} s, "
            f"max {r['latency_max_s']:.2f} s (min {r['latency_min_s']:.2f} s)")


def cmd_watch_bench(args) -> int:
    print(f"Playing a camera into a watched folder for {SECONDS:g} s...", file=sys.stderr)
    result = run_watch_bench(device=args.device, arch=args.arch, image_size=args.image_size)
    print(json.dumps(result, indent=2) if args.json else format_watch(result))
    return 0

"""Helpers for the export tests: running predict.py with PyTorch made unimportable, photos
that take the awkward reading paths, and comparing answer CSVs."""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from core.cli.main import main as fledge_main
from core.model.architectures import IMAGENET_MEAN, IMAGENET_STD
from core.model.checkpoints import save_checkpoint
from core.model.networks import build_model
from tests.core.conftest import draw_class_image, save_image

ROOT = Path(__file__).resolve().parents[3]
CLASSES = ["bird", "cat", "plane"]
# A sitecustomize that makes torch (and Fledge itself) unimportable, as on a camera's computer.
BLOCKER = """
import sys
class _Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "torchvision", "core"):
            raise ImportError(name + " is not installed on this computer")
sys.meta_path.insert(0, _Block())
"""


def write_dataset(root: Path, per_class: int = 4) -> Path:
    """Real photos to decode: JPEGs and PNGs of each class's shape, none of them square."""
    for index, cls in enumerate(CLASSES):
        for i in range(per_class):
            ext = ".jpg" if i % 2 else ".png"
            save_image(draw_class_image(index, (96 + 8 * i, 72), seed=i), root / cls / f"{cls}_{i}{ext}")
    return root


def decisive(net: torch.nn.Module, head: torch.nn.Linear, image_size: int) -> torch.nn.Module:
    """net in eval mode with BatchNorm statistics off their defaults and a head scaled up, so
    that its top classes mean something (an untrained network answers about 1/3 each)."""
    net.train()
    with torch.no_grad():
        net(torch.randn(32, 3, image_size, image_size))
        head.weight.mul_(40.0)
    return net.eval()


def small_cnn(image_size: int) -> torch.nn.Module:
    torch.manual_seed(5)
    net, _ = build_model("small_cnn", len(CLASSES), image_size=image_size)
    return decisive(net, net.fc, image_size)


def run_model(base: Path, net, arch: str, image_size: int, mean=IMAGENET_MEAN, std=IMAGENET_STD,
              config: dict | None = None) -> Path:
    """best.pt in a run folder under base whose run.json names the dataset base/data (written)."""
    data = write_dataset(base / "data")
    run = base / "runs" / f"20250101-120000-{arch}"
    run.mkdir(parents=True)
    (run / "run.json").write_text(json.dumps({"data_root": str(data)}), encoding="utf-8")
    path = run / "best.pt"
    save_checkpoint(path, net, arch=arch, classes=CLASSES, image_size=image_size, mean=mean, std=std,
                    config=config or {"epochs": 1}, metrics={"val_acc": 0.75, "epoch": 1})
    return path


def standalone(tmp_path: Path, *args) -> subprocess.CompletedProcess:
    """Run a command with the venv's python, PYTHONPATH holding only the torch blocker."""
    block = tmp_path / "blocker"
    block.mkdir(exist_ok=True)
    (block / "sitecustomize.py").write_text(BLOCKER)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONPATH"] = str(block)
    return subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True,
                          timeout=300, env=env, cwd=tmp_path)


def tricky_photos(folder: Path) -> list[Path]:
    """A rotated JPEG with a capture time, a half-transparent PNG, a grayscale one, a plain JPEG."""
    folder.mkdir(exist_ok=True, parents=True)
    exif = Image.Exif()
    exif[0x0112] = 6                                                 # shown turned 90° clockwise
    exif[0x0132] = "2024:05:06 07:08:09"                             # DateTime
    rotated = folder / "rotated.jpg"
    draw_class_image(1, (120, 60), seed=11).save(rotated, quality=90, exif=exif)
    alpha = draw_class_image(0, 80, seed=12).convert("RGBA")
    a = np.full((80, 80), 255, np.uint8)
    a[:, :40] = 0
    alpha.putalpha(Image.fromarray(a))
    alpha.save(folder / "alpha.png")
    draw_class_image(2, (70, 90), seed=13).convert("L").save(folder / "gray.png")
    save_image(draw_class_image(2, 64, seed=14), folder / "plain.jpg")
    return sorted(folder.iterdir())


def fledge(capsys, *argv) -> tuple[int, str, str]:
    """`fledge ARGV...` run in this process: (exit status, stdout, stderr)."""
    capsys.readouterr()
    code = fledge_main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def fledge_predict_top(capsys, model, photo, top_k: int = 3) -> list[tuple[str, float]]:
    """`fledge predict MODEL PHOTO --json`'s top classes of one photo."""
    code, out, err = fledge(capsys, "predict", model, photo, "--top-k", top_k, "--json", "--device", "cpu")
    assert code == 0, err
    (answer,) = json.loads(out)
    assert answer["error"] is None, answer["error"]
    return [(t["class"], t["probability"]) for t in answer["top"]]


def csv_rows(path) -> tuple[list[str], list[dict]]:
    with open(path, encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or []), list(reader)


def assert_same_answers(csv_a, csv_b, tolerance: float = 1e-4) -> list[dict]:
    """Two answer CSVs have the same columns and rows, probabilities within tolerance; the rows."""
    (cols_a, a), (cols_b, b) = csv_rows(csv_a), csv_rows(csv_b)
    # fledge classify adds the burst column last (predict.py, made for a small computer, finds no bursts);
    # predict.py adds where a sort would put each photo (decision), which a sort shows by doing it.
    cols_a, cols_b = ([c for c in cols if c not in ("burst", "decision")] for cols in (cols_a, cols_b))
    assert cols_a == cols_b
    assert [r["path"] for r in a] == [r["path"] for r in b] and a
    for ra, rb in zip(a, b):
        for col in cols_a:
            if col.startswith("probability") and ra[col]:
                assert float(ra[col]) == pytest.approx(float(rb[col]), abs=tolerance), (ra["path"], col)
            else:
                assert ra[col] == rb[col], (ra["path"], col)
    return a

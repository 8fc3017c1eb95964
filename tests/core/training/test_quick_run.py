"""The quick recipe through the Trainer: an ordinary model file, features from the cache the
second time, and the CLI's newcomer default."""
from __future__ import annotations

import os
import subprocess
import sys

from core.data.dataset import scan_dataset
from core.model.predictor import Predictor
from core.training.config import TrainConfig
from core.training.events import EpochEnd, Message
from core.training.trainer import Trainer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def test_quick_run_learns_and_its_model_predicts_and_the_second_run_reuses_features(
        make_image_folder, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    root = make_image_folder(classes={"bird": 10, "plane": 10}, size=48)
    ds = scan_dataset(root, val_fraction=0.3)
    events = []
    ended = Trainer(TrainConfig(recipe="quick", arch="small_cnn"), ds, run_dir=str(tmp_path / "r1"),
                    callbacks=[events.append]).fit()
    assert ended.reason == "completed", ended.message
    assert ended.best_val_acc > 0.7
    assert len([e for e in events if isinstance(e, EpochEnd)]) == 50
    predictor = Predictor.from_checkpoint(ended.best_model, device="cpu")
    assert predictor.info["arch"] == "efficientnet_lite0"        # the recipe's network, not small_cnn
    right = sum(predictor.predict(s.path).label == ds.classes[s.label] for s in ds.val)
    assert right / len(ds.val) > 0.7
    again = []
    Trainer(TrainConfig(recipe="quick"), ds, run_dir=str(tmp_path / "r2"), callbacks=[again.append]).fit()
    notes = " ".join(e.text for e in again if isinstance(e, Message))
    assert "0 computed" in notes and f"{len(ds.train)} from the cache" in notes


def test_fledge_train_without_an_arch_runs_the_quick_recipe(make_image_folder, tmp_path):
    root = make_image_folder(classes={"bird": 6, "plane": 6}, size=40)
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data")}
    out = subprocess.run([sys.executable, "-m", "core.cli", "train", str(root), "--out", str(tmp_path / "run")],
                         capture_output=True, text=True, cwd=ROOT, env=env, timeout=280)
    assert out.returncode == 0, out.stderr
    assert "Recipe: quick" in out.stdout
    assert "efficientnet_lite0" in (tmp_path / "run" / "config.json").read_text()

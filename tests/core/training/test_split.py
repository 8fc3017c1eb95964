"""The dataset split has one owner: the Dataset the model was trained on, recorded with the model.

Evaluate and resume rebuild the split from that record, never from the training seed.
"""
from __future__ import annotations

import json

import torch

from core.data.dataset import scan_dataset
from core.photos.evaluation import training_split_settings
from core.training.config import TrainConfig
from core.training.trainer import Trainer

FAST = dict(recipe="custom", arch="small_cnn", image_size=32, batch_size=16, lr=3e-3, workers=0, epochs=1)


def paths(samples) -> list[str]:
    return sorted(s.path for s in samples)


def test_evaluate_and_resume_split_as_the_training_run_did(make_image_folder, tmp_path):
    root = make_image_folder(classes={"bird": 20, "plane": 20}, size=40)
    data = scan_dataset(root, val_fraction=0.25)          # split seed 0, as the Data tab scans
    assert paths(scan_dataset(root, val_fraction=0.25, seed=7).val) != paths(data.val)
    run = tmp_path / "run"
    ended = Trainer(TrainConfig(seed=7, **FAST), data, run_dir=str(run)).fit()
    assert ended.reason == "completed", ended.message

    # Evaluate's way: the split settings the model file carries.
    for model in (ended.best_model, ended.last_model):
        again = scan_dataset(root, **training_split_settings(None, model))
        assert paths(again.val) == paths(data.val) and paths(again.train) == paths(data.train)
    # Resume's way: the run folder's record.
    resumed = Trainer.resume_from(str(run))
    assert paths(resumed.dataset.val) == paths(data.val)
    assert paths(resumed.dataset.train) == paths(data.train)
    assert resumed.config.seed == 7


def test_model_files_from_before_the_split_record_split_by_their_config(make_image_folder, tmp_path):
    """Older files recorded only the training config: its seed and shares still decide."""
    root = make_image_folder(classes={"bird": 20, "plane": 20}, size=40)
    run = tmp_path / "run"
    ended = Trainer(TrainConfig(seed=3, **FAST), scan_dataset(root), run_dir=str(run)).fit()
    assert ended.reason == "completed", ended.message
    ckpt = torch.load(ended.best_model, map_location="cpu", weights_only=True)
    ckpt.pop("split", None)
    ckpt["config"].update(seed=3, val_fraction=0.3, test_fraction=0.1)
    old = tmp_path / "old.pt"
    torch.save(ckpt, old)
    assert training_split_settings(None, str(old)) == {"seed": 3, "val_fraction": 0.3, "test_fraction": 0.1,
                                                       "bursts": False}     # then split photo by photo

    run_json = json.loads((run / "run.json").read_text())
    run_json.pop("split", None)
    (run / "run.json").write_text(json.dumps(run_json))
    config = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**config, "seed": 3, "val_fraction": 0.3}))
    resumed = Trainer.resume_from(str(run))
    want = scan_dataset(root, seed=3, val_fraction=0.3)
    assert paths(resumed.dataset.val) == paths(want.val)

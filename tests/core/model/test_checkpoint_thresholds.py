"""Per-class review thresholds in the model file (core.model.checkpoints.save_thresholds): plain
values that torch.load(weights_only=True) reads, written atomically, optional for older files."""
from __future__ import annotations

import os

import pytest
import torch

from core.errors import CheckpointError
from core.model.checkpoints import load_checkpoint, save_checkpoint, save_thresholds
from core.model.networks import build_model
from core.model.predictor import Predictor
from core.photos.thresholds import ReviewThresholds, model_thresholds, review_thresholds

RECORD = {"classes": {"bird": 0.62, "plane": 0.87}, "default": 0.8, "targets": {"bird": 0.98, "plane": 0.98},
          "target": 0.98, "split": "val", "photos": 40}


@pytest.fixture
def model_file(tmp_path):
    torch.manual_seed(0)
    net, _ = build_model("small_cnn", 2, image_size=32)
    path = tmp_path / "best.pt"
    save_checkpoint(path, net, arch="small_cnn", classes=["bird", "plane"], image_size=32, mean=[0.5] * 3,
                    std=[0.25] * 3, config={"seed": 0}, metrics={"val_acc": 0.9})
    return path


def test_saved_thresholds_load_with_weights_only_and_reach_the_predictor(model_file):
    before = torch.load(model_file, weights_only=True)
    save_thresholds(model_file, RECORD)
    raw = torch.load(model_file, weights_only=True)
    assert raw["thresholds"] == RECORD
    assert raw["format_version"] == before["format_version"] and raw["metrics"] == before["metrics"]
    assert all(torch.equal(raw["state_dict"][k], v) for k, v in before["state_dict"].items())
    assert load_checkpoint(model_file)["thresholds"] == RECORD
    predictor = Predictor.from_checkpoint(model_file, device="cpu")
    assert model_thresholds(predictor) == ReviewThresholds(0.8, {"bird": 0.62, "plane": 0.87})
    assert not [n for n in os.listdir(model_file.parent) if n != "best.pt"]       # no temporary file left


def test_a_model_file_without_thresholds_still_works_and_they_can_be_removed(model_file):
    predictor = Predictor.from_checkpoint(model_file, device="cpu")
    assert "thresholds" not in load_checkpoint(model_file)
    assert model_thresholds(predictor) is None and review_thresholds(None, predictor) == 0.0
    save_thresholds(model_file, RECORD)
    save_thresholds(model_file, None)
    assert "thresholds" not in torch.load(model_file, weights_only=True)


def test_unusable_thresholds_are_refused_in_plain_words(model_file):
    with pytest.raises(CheckpointError, match="cannot be saved"):
        save_thresholds(model_file, {"classes": {"bird": 2.0}})
    raw = torch.load(model_file, weights_only=True)
    raw["thresholds"] = {"classes": {"bird": "high"}}
    torch.save(raw, model_file)
    with pytest.raises(CheckpointError, match="review thresholds are unusable"):
        load_checkpoint(model_file)

"""A model's summary (fledge info, the Runs tab): network, size, classes, the settings its
optimizer and schedule took, results and thresholds."""
from __future__ import annotations

import pytest

from core.errors import FledgeError
from core.model.architectures import IMAGENET_MEAN, IMAGENET_STD
from core.model.checkpoints import load_checkpoint, save_checkpoint, save_thresholds
from core.model.networks import build_model, network_size
from core.training.config import TrainConfig
from core.training.model_summary import model_summary, summary_lines
from tests.core.cli.test_cli import assert_one_clear_line, fledge


@pytest.fixture
def model_file(tmp_path):
    model, _ = build_model("small_cnn", 3, image_size=48)
    config = TrainConfig(recipe="custom", arch="small_cnn", optimizer="rmsprop", lr=0.002, momentum=0.5,
                         alpha=0.8, schedule="multistep", milestones="3,6", gamma=0.5, epochs=8)
    run = tmp_path / "run"
    run.mkdir()
    path = run / "best.pt"
    save_checkpoint(path, model, arch="small_cnn", classes=["ant", "bee", "wasp"], image_size=48,
                    mean=IMAGENET_MEAN, std=IMAGENET_STD, config=config.to_dict(),
                    metrics={"epoch": 5, "val_acc": 0.875, "val_loss": 0.31, "train_acc": 0.95,
                             "train_loss": 0.12, "pretrained_used": False})
    return path


def test_the_summary_says_what_the_model_is_and_how_it_was_trained(model_file):
    text = model_summary(model_file)
    lines = dict(line.split(":", 1) for line in text.splitlines())
    assert "Small CNN (small_cnn), trained from scratch" in lines["Network"]
    assert lines["Size"].strip() == network_size("small_cnn", 3, 48).words
    assert lines["Classes"].strip() == "3: ant, bee, wasp"
    assert lines["Image size"].strip() == "48 px"
    # RMSprop's own settings, and not SGD's or Adam's
    assert "RMSprop, learning rate 0.002" in lines["Optimizer"]
    assert "momentum 0.5" in lines["Optimizer"] and "averaging (alpha) 0.8" in lines["Optimizer"]
    assert "nesterov" not in lines["Optimizer"].lower() and "beta" not in lines["Optimizer"].lower()
    assert "steps after epochs 3,6" in lines["Schedule"] and "step factor 0.5" in lines["Schedule"]
    assert "87.5% correct" in lines["Validation"] and "epoch 5" in lines["Validation"]
    assert "none set" in lines["Thresholds"]


def test_the_summary_shows_the_review_thresholds(model_file):
    save_thresholds(model_file, {"classes": {"ant": 0.9, "bee": 0.75}, "default": 1.0})
    assert dict(summary_lines(load_checkpoint(model_file)))["Thresholds"] == "ant 0.90, bee 0.75"


def test_a_run_folder_summarises_its_best_model(model_file):
    assert model_summary(model_file.parent).splitlines()[0].endswith("best.pt")
    with pytest.raises(FledgeError, match="does not exist"):
        model_summary(model_file.parent / "nothing.pt")


def test_fledge_info_prints_it_and_a_bad_file_is_one_line(model_file, tmp_path):
    out = fledge("info", model_file)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == model_summary(model_file)
    junk = tmp_path / "junk.pt"
    junk.write_text("not a model")
    assert "junk.pt" in assert_one_clear_line(fledge("info", junk))

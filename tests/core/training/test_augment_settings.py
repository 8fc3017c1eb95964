"""The augmentation settings: presets and strengths in TrainConfig, old files, the command
line, and a run really training with them."""
from __future__ import annotations

import json

import pytest

import core.training.trainer as trainer_module
from core.cli.main import build_parser
from core.cli.train import _train_config
from core.data.augmentation import PRESETS, Augmentation
from core.data.dataset import scan_dataset
from core.training import runs
from core.training.config import TrainConfig
from core.training.recipe_rules import chosen_settings, resolve
from core.training.trainer import Trainer


def test_files_from_when_augmentation_was_on_or_off_load_as_light_or_none():
    assert TrainConfig.from_dict({"augment": True}).augment == "light"
    assert TrainConfig.from_dict({"augment": False}).augment == "none"
    assert TrainConfig.from_dict({"augment": True}).augmentation() == PRESETS["light"]
    assert TrainConfig(augment=False).augmentation() == Augmentation()
    assert TrainConfig().augment == "light" and TrainConfig().errors() == {}


def test_an_old_run_folder_loads_with_its_augmentation(tmp_path):
    run = tmp_path / "old-run"
    run.mkdir()
    old = {k: v for k, v in TrainConfig(recipe="custom").to_dict().items()
           if k not in ("crop", "flip", "rotation", "shift", "brightness", "contrast", "saturation", "grayscale")}
    (run / runs.CONFIG_FILE).write_text(json.dumps({**old, "augment": False}))
    assert runs.read_json(run / runs.CONFIG_FILE)["augment"] is False
    assert TrainConfig.from_dict(runs.read_json(run / runs.CONFIG_FILE)).augment == "none"


def test_strengths_override_the_preset_and_are_checked():
    c = TrainConfig(augment="strong", rotation=40.0, grayscale=0.0)
    assert c.augmentation() == Augmentation(**{**PRESETS["strong"].__dict__, "rotation": 40.0, "grayscale": 0.0})
    errs = TrainConfig(augment="wild", rotation=200.0, crop=-0.1).errors()
    assert set(errs) == {"augment", "rotation", "crop"}
    assert "none, light, strong" in errs["augment"] and "from 0 to 180" in errs["rotation"]


def test_the_command_line_takes_a_preset_and_strengths():
    args = build_parser().parse_args(["train", "DATA", "--arch", "small_cnn", "--augment", "strong",
                                      "--rotation", "30", "--grayscale", "0.5"])
    config = _train_config(args)
    assert config.augmentation() == Augmentation(**{**PRESETS["strong"].__dict__, "rotation": 30.0,
                                                    "grayscale": 0.5})
    plain = _train_config(build_parser().parse_args(["train", "DATA"]))
    assert plain.augment == "light" and plain.rotation is None
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "DATA", "--augment", "wild"])


def test_augmentation_is_chosen_in_thorough_and_custom_not_in_quick():
    assert "augment" in chosen_settings("thorough") and "augment" in chosen_settings("custom")
    assert "augment" not in chosen_settings("quick")
    assert {"rotation", "grayscale"} <= chosen_settings("custom")


def test_thorough_augments_by_the_preset_alone_and_says_so():
    resolved, notes = resolve(TrainConfig(recipe="thorough", augment="strong", rotation=40.0))
    assert resolved.augment == "strong" and resolved.augmentation() == PRESETS["strong"]
    assert len(notes) == 1 and "rotation: 40.0" in notes[0]
    assert resolve(TrainConfig(recipe="custom", rotation=40.0))[0].rotation == 40.0


def test_a_run_trains_with_the_preset_and_strengths_chosen(make_image_folder, tmp_path, monkeypatch):
    dataset = scan_dataset(make_image_folder(classes={"bird": 6, "plane": 6}, size=40), val_fraction=0.25)
    given = []
    real = trainer_module.build_sources

    def spy(*args, **kwargs):
        given.append(kwargs["augment"])
        return real(*args, **kwargs)

    monkeypatch.setattr(trainer_module, "build_sources", spy)
    config = TrainConfig(recipe="custom", arch="small_cnn", image_size=32, batch_size=4, epochs=1, workers=0,
                         augment="strong", rotation=45.0)
    ended = Trainer(config, dataset, run_dir=str(tmp_path / "run")).fit()
    assert ended.reason == "completed", ended.message
    assert given == [config.augmentation()] and given[0].rotation == 45.0 and given[0].grayscale == 0.1

"""A run that starts from an earlier model (TrainConfig.init_from): bird / plane, then a third class."""
from __future__ import annotations

import pytest

from core.data.dataset import scan_dataset
from core.training.config import TrainConfig
from core.training.events import EpochEnd, Message
from core.training.recipe_rules import resolve
from core.training.runs import read_json
from core.training.trainer import Trainer

FAST = dict(recipe="custom", arch="small_cnn", image_size=32, batch_size=16, lr=3e-3, workers=0, seed=1)


@pytest.fixture
def first_run(make_image_folder, tmp_path):
    root = make_image_folder(classes={"bird": 16, "plane": 16}, size=40)
    ended = Trainer(TrainConfig(epochs=1, **FAST), scan_dataset(root, val_fraction=0.25),
                    run_dir=str(tmp_path / "first")).fit()
    assert ended.reason == "completed", ended.message
    return ended.best_model


def test_continue_with_a_third_class_carries_the_backbone_and_records_it(first_run, make_image_folder, tmp_path):
    root = make_image_folder(name="more", classes={"bird": 16, "plane": 16, "empty": 16}, size=40)
    events = []
    ended = Trainer(TrainConfig(epochs=1, init_from=first_run, **FAST), scan_dataset(root, val_fraction=0.25),
                    run_dir=str(tmp_path / "second"), callbacks=[events.append]).fit()
    assert ended.reason == "completed", ended.message
    said = [e.text for e in events if isinstance(e, Message)]
    assert any("Started from" in t and "new: empty" in t for t in said), said
    assert any(isinstance(e, EpochEnd) for e in events)
    run = read_json(tmp_path / "second" / "run.json")
    assert run["init_from"] == first_run and run["init_from_head_kept"] is False
    assert run["init_from_classes"] == ["bird", "plane"] and run["init_from_rows_kept"] == ["bird", "plane"]
    assert read_json(tmp_path / "second" / "config.json")["init_from"] == first_run


def test_another_network_fails_before_training_in_plain_words(first_run, make_image_folder, tmp_path):
    root = make_image_folder(name="same", classes={"bird": 8, "plane": 8}, size=40)
    events = []
    cfg = TrainConfig(epochs=1, init_from=first_run, **{**FAST, "arch": "simplenet"})
    ended = Trainer(cfg, scan_dataset(root, val_fraction=0.25), run_dir=str(tmp_path / "other"),
                    callbacks=[events.append]).fit()
    assert ended.reason == "failed"
    assert "same network" in ended.message and "small CNN" in ended.message.replace("Small", "small")
    assert not any(isinstance(e, EpochEnd) for e in events)


def test_quick_says_plainly_that_it_does_not_start_from_a_model():
    resolved, notes = resolve(TrainConfig(recipe="quick", init_from="/runs/a/best.pt"))
    assert resolved.init_from is None
    assert any("does not start from an earlier model" in n for n in notes)
    assert resolve(resolved) == (resolved, ())
    kept, _ = resolve(TrainConfig(recipe="thorough", init_from="/runs/a/best.pt"))
    assert kept.init_from == "/runs/a/best.pt"


def test_thorough_continues_a_quick_model_with_a_new_class(make_image_folder, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))          # a feature cache of its own
    two = make_image_folder(name="two", classes={"bird": 5, "plane": 5}, size=40)
    quick = Trainer(TrainConfig(recipe="quick", epochs=2, auto_lr=False), scan_dataset(two, val_fraction=0.4),
                    run_dir=str(tmp_path / "quick")).fit()
    assert quick.reason == "completed", quick.message
    three = make_image_folder(name="three", classes={"bird": 5, "plane": 5, "empty": 5}, size=40)
    cfg = TrainConfig(recipe="thorough", epochs=1, lr=1e-4, batch_size=8, auto_lr=False, pipeline="cached",
                      schedule="none", init_from=quick.best_model)
    events = []
    ended = Trainer(cfg, scan_dataset(three, val_fraction=0.4), run_dir=str(tmp_path / "thorough"),
                    callbacks=[events.append]).fit()
    assert ended.reason == "completed", ended.message
    run = read_json(tmp_path / "thorough" / "run.json")
    assert run["init_from"] == quick.best_model and run["init_from_head_kept"] is False
    assert run["init_from_rows_kept"] == []          # the head just trained for all three is kept whole
    assert any(isinstance(e, Message) and "new: empty" in e.text for e in events)

"""What a recipe means, at its one home (core.training.recipe_rules): resolve() for each recipe,
the settings a person chooses in each, the one default and the rules a new run starts from;
TrainConfig's validation read from its table of fields; the quick head's result; the run
folder a distributed run's other processes get."""
from __future__ import annotations

import inspect
import json
import math

import pytest

from core.data.dataset import scan_dataset
from core.model import offline_backbone
from core.model.architectures import OFFLINE_ARCH
from core.training import runs
from core.training.config import RECIPES, TrainConfig, config_options
from core.training.events import HEAD_PIPELINE, EpochEnd, FitStarted, Message, TrainControl
from core.training.loop import Stopped
from core.training.quick_run import train_quick_head
from core.training.recipe_rules import (PRESET_NETWORKS, PRESETS, backbone_of, chosen_settings, recipe_for, recipe_network,
                                        resolve)
from core.training.run_folder import NullRunFolder, RunFolder, RunWriter
from core.training.trainer import Trainer

OPTIONS = {opt.name: opt for opt in config_options()}


@pytest.fixture(autouse=True)
def own_feature_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))


# ---------------------------------------------------------------- resolve()

@pytest.mark.parametrize("recipe", PRESETS)
def test_a_preset_trains_the_installed_network_pretrained_at_its_own_size(recipe):
    chosen = TrainConfig(recipe=recipe, arch="resnet50", pretrained=False, weights_path="/w.pth",
                         freeze_backbone=True, image_size=96, epochs=4, lr=0.02, device="cpu")
    cfg, notes = resolve(chosen)
    assert cfg == chosen.replace(arch=OFFLINE_ARCH, pretrained=True, weights_path=None, freeze_backbone=False,
                                 image_size=None, patience=0)       # few short epochs: all of them run
    assert recipe_network(recipe) == OFFLINE_ARCH == offline_backbone.ARCH
    # One note names what was chosen and is not used; "pretrained: off" is the default, not a choice.
    assert len(notes) == 1
    assert f"The {recipe} recipe trains EfficientNet-Lite0" in notes[0]
    for words in ("network: ResNet-50", "weights file: /w.pth", "freeze backbone: on", "image size: 96"):
        assert words in notes[0]
    assert "pretrained" not in notes[0].split(":", 1)[1].split(";")[0]
    assert resolve(cfg) == (cfg, ())                     # resolving twice changes and notes nothing


def test_custom_is_the_configuration_as_it_is():
    chosen = TrainConfig(recipe="custom", arch="resnet50", image_size=96, freeze_backbone=True)
    assert resolve(chosen) == (chosen, ())
    assert recipe_network("custom") is None


def test_a_preset_with_settings_left_at_their_defaults_notes_nothing():
    cfg, notes = resolve(TrainConfig(recipe="quick"))
    assert notes == () and cfg.arch == OFFLINE_ARCH


def test_what_a_person_chooses_in_each_recipe():
    every = {opt.name for opt in config_options()}
    assert chosen_settings("custom") == every - {"backbone"}      # custom names its network under arch
    assert chosen_settings("quick") == {"recipe", "backbone", "epochs", "device", "class_weighting"}
    assert chosen_settings("thorough") == {"recipe", "backbone", "epochs", "lr", "augment", "init_from",
                                           "device", "class_weighting"}
    for recipe in PRESETS:                 # nothing a preset decides itself is offered
        assert not chosen_settings(recipe) & {"arch", "pretrained", "weights_path", "freeze_backbone", "image_size"}


# ---------------------------------------------------------------- the one default

def test_one_default_recipe_and_files_from_before_recipes_are_custom():
    assert TrainConfig().recipe == "quick"
    assert TrainConfig.from_dict({"arch": "resnet18", "epochs": 3}).recipe == "custom"
    assert TrainConfig.from_dict(TrainConfig(recipe="thorough").to_dict()).recipe == "thorough"


def test_a_new_runs_recipe_and_that_presets_sweep_no_learning_rate():
    assert recipe_for(None, None) == TrainConfig().recipe
    assert recipe_for(None, "resnet18") == "custom"         # naming a network means training it
    assert recipe_for("thorough", "resnet18") == "thorough"
    # Quick's last layer has no rate and thorough fine-tunes at its set one: asking for a sweep
    # there is said to do nothing, and custom keeps it.
    for recipe in PRESETS:
        resolved, notes = resolve(TrainConfig(recipe=recipe, auto_lr=True))
        assert not resolved.auto_lr and "find the learning rate: on" in notes[0]
        assert "auto_lr" not in chosen_settings(recipe)
    assert resolve(TrainConfig(recipe="custom", auto_lr=True))[0].auto_lr


def test_fledge_train_notes_an_arch_that_the_recipe_does_not_use(make_image_folder, capsys):
    from core.cli.main import main

    root = make_image_folder(classes={"bird": 2, "plane": 2}, size=32)
    # A split it refuses: the recipe is said, then nothing trains.
    assert main(["train", str(root), "--recipe", "quick", "--arch", "resnet50", "--val-fraction", "2"]) == 2
    out = capsys.readouterr().out
    assert "Recipe: quick (as chosen with --recipe)" in out
    assert "used only by the custom recipe: network: ResNet-50." in out


# ---------------------------------------------------------------- validation from the table

def _beyond(opt, side: str):
    if side == "low":
        return opt.minimum - (1 if opt.kind is int else max(opt.minimum, 1e-6))
    return opt.maximum + (1 if opt.kind is int else max(opt.maximum, 1e-3))


@pytest.mark.parametrize("name", [n for n, o in OPTIONS.items() if o.minimum is not None or o.maximum is not None])
def test_every_range_in_the_table_is_checked_with_its_own_words(name):
    opt = OPTIONS[name]
    for side in ("low", "high"):
        if (opt.minimum if side == "low" else opt.maximum) is None:
            continue
        value = _beyond(opt, side)
        errors = TrainConfig(**{name: value}).errors()
        assert errors[name] == opt.problem(value), (name, value)
        assert opt.label in errors[name]
    inside = opt.minimum if opt.maximum is None else (opt.minimum + opt.maximum) / 2
    assert name not in TrainConfig(**{name: opt.kind(inside)}).errors()


def test_a_range_message_says_the_range_and_a_good_value():
    assert TrainConfig(lr=0.0).errors()["lr"] == ("Learning rate must be a number from 1e-06 to 10 "
                                                  "(0.001 is a good start).")
    assert TrainConfig(seed=1.5).errors()["seed"] == "Random seed must be a whole number from 0 to 2147483647."
    assert TrainConfig(workers=-1).errors()["workers"] == "Decoding processes must be a whole number of at least 0."
    assert TrainConfig(lr=float("nan")).errors()["lr"].startswith("Learning rate must be a number")


@pytest.mark.parametrize("name", [n for n, o in OPTIONS.items() if o.choices])
def test_every_choice_in_the_table_is_checked(name):
    errors = TrainConfig(**{name: "nonsense"}).errors()
    assert errors[name] == OPTIONS[name].problem("nonsense")
    assert "nonsense" in errors[name] and str(OPTIONS[name].choices[0]) in errors[name]


def test_rules_the_table_cannot_say_are_still_checked():
    assert "at most 64 pixels" in TrainConfig(recipe="custom", arch="simplenet", image_size=128).errors()["image_size"]
    assert "GPUs must be all" in TrainConfig(gpus="0").errors()["gpus"]
    assert "Unknown device" in TrainConfig(device="gpu").errors()["device"]
    assert TrainConfig().errors() == {}


# ---------------------------------------------------------------- the quick head's result

def test_the_quick_head_hands_its_figures_back_in_its_result(make_image_folder, tmp_path):
    root = make_image_folder(classes={"bird": 6, "plane": 6}, size=40)
    ds = scan_dataset(root, val_fraction=0.3, test_fraction=0.2)
    events, skipped = [], []
    result = train_quick_head(resolve(TrainConfig(epochs=4, auto_lr=True))[0], ds, NullRunFolder(tmp_path / "nowhere"),
                              TrainControl(), events.append, lambda p, r: skipped.append(p), total_epochs=4)
    epochs = [e for e in events if isinstance(e, EpochEnd)]
    assert result.epochs_done == len(epochs) == 4 and not result.stopped
    assert result.best_epoch == 4 and result.best_val_acc == epochs[-1].val_acc   # the converged head
    assert result.l2 == result.head.l2.l2 and result.l2 > 0
    assert result.test_acc is not None and 0 <= result.test_acc <= 1
    assert result.extracted == len(ds.train) + len(ds.val) + len(ds.test) and not skipped
    assert not (tmp_path / "nowhere").exists()


def test_stop_after_the_heads_first_epoch_keeps_what_it_learnt(make_image_folder, tmp_path):
    root = make_image_folder(classes={"bird": 6, "plane": 6}, size=40)
    ds = scan_dataset(root, val_fraction=0.3)
    control = TrainControl()

    def stop_after_first_epoch(ev):
        if isinstance(ev, EpochEnd):
            control.stop()

    run = tmp_path / "run"
    ended = Trainer(TrainConfig(epochs=5), ds, run_dir=str(run), callbacks=[stop_after_first_epoch],
                    control=control).fit()
    assert ended.reason == "stopped"
    assert (ended.epochs_done, ended.best_epoch) == (1, 1) and not math.isnan(ended.best_val_acc)
    assert ended.best_model and ended.test_acc is None
    status = json.loads((run / runs.STATUS_FILE).read_text())
    assert (status["status"], status["epochs_done"]) == ("stopped", 1)


def test_the_trainer_reads_the_heads_figures_from_its_result(make_image_folder, tmp_path):
    root = make_image_folder(classes={"bird": 6, "plane": 6}, size=40)
    ds = scan_dataset(root, val_fraction=0.3, test_fraction=0.2)
    events = []
    trainer = Trainer(TrainConfig(recipe="quick", arch="resnet50", epochs=3), ds, run_dir=str(tmp_path / "run"),
                      callbacks=[events.append])
    ended = trainer.fit()
    assert ended.reason == "completed", ended.message
    epochs = [e for e in events if isinstance(e, EpochEnd)]
    assert ended.epochs_done == 3 and ended.best_val_acc == max(e.val_acc for e in epochs)
    assert ended.test_acc is not None and trainer.extracted == len(ds.train) + len(ds.val) + len(ds.test)
    # The recipe's note comes before anything is read.
    first_start = next(i for i, e in enumerate(events) if isinstance(e, FitStarted))
    assert any("network: ResNet-50" in e.text for e in events[:first_start] if isinstance(e, Message))


def test_a_head_stopped_before_its_first_epoch_raises_stopped(make_image_folder, tmp_path):
    root = make_image_folder(classes={"bird": 4, "plane": 4}, size=40)
    ds = scan_dataset(root, val_fraction=0.25)
    control = TrainControl()

    def stop_once_read(ev):
        if isinstance(ev, FitStarted) and ev.pipeline == HEAD_PIPELINE:
            control.stop()

    with pytest.raises(Stopped):
        train_quick_head(resolve(TrainConfig(epochs=3))[0], ds, NullRunFolder(tmp_path / "r"), control, stop_once_read,
                         lambda p, r: None, total_epochs=3)


# ---------------------------------------------------------------- run folders

def test_both_run_folders_are_what_the_trainer_needs_and_the_null_one_writes_nothing(tmp_path):
    wanted = {name: inspect.signature(getattr(RunWriter, name)) for name in dir(RunWriter)
              if not name.startswith("_") and callable(getattr(RunWriter, name))}
    assert {"describe", "record", "save_model", "save_resume", "close"} <= set(wanted)
    for cls in (RunFolder, NullRunFolder):
        for name, signature in wanted.items():
            assert inspect.signature(getattr(cls, name)) == signature, (cls.__name__, name)

    folder = NullRunFolder(tmp_path / "rank0" / "run")
    assert isinstance(folder, RunWriter) and isinstance(RunFolder(tmp_path / "real"), RunWriter)
    assert folder.load_resume_state() is None
    folder.describe(TrainConfig(), None, 32, (0.5,), (0.5,))
    folder.record(model_notes=True, recipe="custom")
    folder.start_logs(0)
    folder.add_epoch({"epoch": 1})
    folder.flush_batches()
    assert folder.save_model(runs.BEST_MODEL, None, {}) == str(tmp_path / "rank0" / "run" / runs.BEST_MODEL)
    folder.save_resume(1, None, 0.5, 1)
    folder.close()
    assert not (tmp_path / "rank0").exists()


def test_the_network_choice_picks_the_installed_network_and_custom_ignores_it():
    assert recipe_network("quick") == recipe_network("thorough", "fast") == OFFLINE_ARCH
    assert recipe_network("quick", "accurate") == "efficientnet_lite2" == recipe_network("thorough", "accurate")
    assert recipe_network("custom", "accurate") is None
    assert resolve(TrainConfig(backbone="accurate"))[0].arch == "efficientnet_lite2"
    custom = TrainConfig(recipe="custom", arch="resnet18", backbone="accurate")
    assert resolve(custom) == (custom, ())
    assert backbone_of("efficientnet_lite2") == "accurate" and backbone_of("resnet18") is None
    for name in PRESET_NETWORKS.values():        # each choice has its weights installed
        assert offline_backbone.weights_available(name)

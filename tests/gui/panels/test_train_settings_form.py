"""The training settings form (as the Train tab shows it): tooltips, defaults, validation, persistence."""
from __future__ import annotations

import dataclasses
import math
import os

from PySide6.QtCore import Qt

from core.training.config import TrainConfig
from gui.panels.train.train_panel import TrainingPanel
from gui.panels.train.learning_rate_box import LearningRateBox
from gui.panels.train.settings_store import default_config
from gui.settings import Settings


def test_every_hyperparameter_has_a_tooltip(qtbot):
    tp = TrainingPanel(Settings())
    qtbot.addWidget(tp)
    form = tp.form
    names = ("arch", "pretrained", "freeze_backbone", "optimizer", "lr", "batch_size", "epochs", "image_size",
             "schedule", "augment", "device", "weight_decay", "momentum", "label_smoothing", "seed",
             "recipe", "auto_lr", "class_weighting")
    assert set(form.fields) == set(names)
    for name in names:
        assert form.fields[name].toolTip().strip(), name
    # Each optimizer and schedule entry explains itself.
    for combo in (form.fields["optimizer"], form.fields["schedule"]):
        for i in range(combo.count()):
            assert combo.itemData(i, Qt.ItemDataRole.ToolTipRole)


def test_defaults_small_cnn_on_cpu_and_resnet18_with_gpu():
    assert default_config([("cpu", "CPU")]).arch == "small_cnn"
    assert default_config([("cpu", "CPU")]).device == "cpu"
    gpu = default_config([("cuda:0", "GPU 0"), ("cpu", "CPU")])
    assert (gpu.arch, gpu.pretrained, gpu.device) == ("resnet18", True, "cuda:0")


def test_settings_persist_across_windows(qtbot, isolated_fledge, make_window):
    w1 = make_window()
    w1.training_panel.form.apply_config(TrainConfig(
        recipe="custom", arch="simplenet", optimizer="sgd", lr=0.02, batch_size=12, epochs=7, image_size=48,
        schedule="onecycle", augment=False, device="cpu", weight_decay=0.001, seed=5))
    w1.close()
    assert list(isolated_fledge.rglob("*.ini")), "settings went to the temporary folder"
    w2 = make_window()
    c = w2.training_panel.form.config()
    assert (c.arch, c.optimizer, c.lr, c.batch_size, c.epochs, c.image_size, c.schedule, c.augment,
            c.device, c.seed) == ("simplenet", "sgd", 0.02, 12, 7, 48, "onecycle", False, "cpu", 5)
    assert math.isclose(c.weight_decay, 0.001)


def test_invalid_values_are_explained_next_to_the_field(qtbot, tmp_path, monkeypatch, make_window):
    import core.model.pretrained_weights

    monkeypatch.setattr(core.model.pretrained_weights, "weights_status", lambda arch: "cached")   # no network here
    w = make_window()
    form = w.training_panel.form
    form.apply_config(TrainConfig(recipe="custom", arch="inception_v3", image_size=32, device="cpu"))
    assert form.errors["image_size"].isVisibleTo(form)
    assert "75" in form.errors["image_size"].text()
    assert "image_size" in form.field_errors()
    form.apply_config(TrainConfig(recipe="custom", arch="resnet18", pretrained=True,
                                  weights_path=str(tmp_path / "gone.pth"), device="cpu"))
    assert "weights file" in form.errors["weights_path"].text()
    form.weights.set_file("")
    form.apply_config(TrainConfig(recipe="custom", arch="small_cnn", device="cpu"))
    assert not form.field_errors()
    # Ranges keep impossible numbers out.
    assert form.fields["batch_size"].minimum() == 1 and form.fields["epochs"].minimum() == 1
    box = LearningRateBox()
    box.lineEdit().setText("-3")
    box.interpretText()
    assert box.value() > 0
    box.setValue(1e-3)
    box.stepBy(1)
    assert math.isclose(box.value(), 2e-3)
    box.stepBy(-2)
    assert math.isclose(box.value(), 5e-4)


def test_pretrained_shows_weights_status(qtbot, monkeypatch, make_window):
    import core.model.pretrained_weights

    monkeypatch.setattr(core.model.pretrained_weights, "weights_status", lambda arch: "unavailable")
    w = make_window()
    form = w.training_panel.form
    form.apply_config(TrainConfig(recipe="custom", arch="resnet18", pretrained=True, device="cpu"))
    qtbot.waitUntil(lambda: "no internet" in form.weights.state.text(), timeout=10000)
    assert form.fields["freeze_backbone"].isEnabled()
    form.apply_config(TrainConfig(recipe="custom", arch="small_cnn", device="cpu"))
    assert not form.pretrained.isEnabled()
    assert "no pretrained" in form.weights.state.text()
    assert not form.fields["freeze_backbone"].isEnabled()


def test_fields_the_form_does_not_show_survive_apply_and_edit(qtbot):
    """Retrain and "use these settings" hand the form a whole config: what it has no widget
    for (precision, pipeline, workers, Nesterov, ...) must come back out unchanged."""
    tp = TrainingPanel(Settings())
    qtbot.addWidget(tp)
    form = tp.form
    previous = TrainConfig(recipe="custom", arch="small_cnn", optimizer="sgd", lr=0.05, precision="fp32",
                           pipeline="stream", workers=2, memory_budget_mb=300, nesterov=False, seed=7)
    form.apply_config(previous)
    assert form.config() == previous
    form.fields["epochs"].setValue(3)                        # an edit in the form
    form.fields["augment"].setChecked(False)
    assert form.config() == previous.replace(epochs=3, augment=False)
    form.reset_defaults()
    assert form.config().precision == "auto" and form.config().nesterov is True


# ---------------------------------------------------------------- recipes

def visible_rows(form) -> set[str]:
    return {name for name, (label, row) in form.rows.items() if row.isVisibleTo(form)}


def dataset_with(counts: dict[str, int]):
    """A Dataset (no files needed) with these training photos per class and two validation photos each."""
    from core.data.dataset import Dataset, Sample

    classes = list(counts)
    train = [Sample(f"/d/{c}/{i}.png", k) for k, c in enumerate(classes) for i in range(counts[c])]
    val = [Sample(f"/d/{c}/v{i}.png", k) for k, c in enumerate(classes) for i in range(2)]
    return Dataset("/d", classes, train, val, [], [], "class-folders", [])


def test_the_recipe_comes_first_and_a_newcomer_gets_quick(qtbot):
    from core.model.offline_backbone import ARCH

    tp = TrainingPanel(Settings())
    qtbot.addWidget(tp)
    form = tp.form
    layout = form.widget().layout()
    label, choice = form.rows["recipe"]
    assert layout.itemAt(0).widget() is label and layout.itemAt(1).widget() is choice
    assert [b.text().split(" —")[0] for b in form.fields["recipe"].buttons.values()] == ["Quick", "Thorough",
                                                                                         "Custom"]
    c = form.config()
    assert (c.recipe, c.arch, c.pretrained, c.image_size, c.auto_lr) == ("quick", ARCH, True, None, True)
    assert not c.errors()
    # Only what matters for quick training, and which network it is.
    assert visible_rows(form) == {"recipe", "epochs", "device"}
    assert not form.advanced_toggle.isVisibleTo(form)
    note = form.fields["recipe"].network.text()
    assert "EfficientNet-Lite0" in note and "offline" in note and "pretrained" in note
    assert "seconds" in form.fields["recipe"].help.text()

    form.fields["recipe"].buttons["thorough"].click()
    assert form.config().recipe == "thorough"
    assert {"lr", "auto_lr"} <= visible_rows(form) <= {"recipe", "epochs", "device", "lr", "auto_lr", "init_from"}
    assert "fine-tuned" in form.fields["recipe"].network.text()


def test_the_form_shows_the_settings_core_says_each_recipe_takes(qtbot):
    from core.training.config import RECIPES
    from core.training.recipe_rules import chosen_settings

    tp = TrainingPanel(Settings())
    qtbot.addWidget(tp)
    form = tp.form
    form.advanced_toggle.setChecked(True)
    tp.set_dataset(dataset_with({"ant": 30, "bee": 6}))            # uneven: class weighting is offered too
    for recipe in RECIPES:
        form.fields["recipe"].buttons[recipe].click()
        assert visible_rows(form) == set(form.rows) & chosen_settings(recipe), recipe


def test_a_value_out_of_the_tables_range_is_refused_in_cores_words(qtbot):
    """The form shows core's own check: the same message as TrainConfig.errors(), for a field
    with no row (kept from a past run's settings) as for one with a row."""
    tp = TrainingPanel(Settings())
    qtbot.addWidget(tp)
    form = tp.form
    past = TrainConfig(recipe="custom", arch="small_cnn", device="cpu", workers=-1)
    form.apply_config(past)
    message = "Decoding processes must be a whole number of at least 0."
    assert form.field_errors()["workers"] == past.errors()["workers"] == message
    assert form.problem() == past.errors()["workers"]               # no row shows it, so Start says it


def test_the_form_checks_its_values_before_the_training_engine_loads(qtbot, monkeypatch):
    import sys

    monkeypatch.delitem(sys.modules, "core.model.networks", raising=False)
    tp = TrainingPanel(Settings())
    qtbot.addWidget(tp)
    form = tp.form
    assert not form.ready
    form.apply_config(TrainConfig(recipe="custom", arch="simplenet", image_size=128, device="cpu"))
    assert "at most 64 pixels" in form.field_errors()["image_size"]
    assert form.errors["image_size"].isVisibleTo(form)


def test_custom_shows_every_setting_and_a_config_round_trips(qtbot):
    tp = TrainingPanel(Settings())
    qtbot.addWidget(tp)
    form = tp.form
    form.fields["recipe"].buttons["custom"].click()
    assert visible_rows(form) == set(form.rows) - {"weight_decay", "momentum", "label_smoothing", "seed"}
    assert form.advanced_toggle.isVisibleTo(form)
    form.advanced_toggle.setChecked(True)
    assert visible_rows(form) == set(form.rows)

    custom = TrainConfig(recipe="custom", arch="resnet18", pretrained=True, freeze_backbone=True, optimizer="sgd",
                         lr=0.03, epochs=4, image_size=96, auto_lr=True, class_weighting="off", precision="fp32",
                         workers=3, seed=9)
    form.apply_config(custom)
    assert form.config() == custom
    # Choosing Quick trains its own network; back to Custom, the custom choices are all still there.
    form.fields["recipe"].buttons["quick"].click()
    quick = form.config()
    assert quick == custom.replace(recipe="quick", arch="efficientnet_lite0", freeze_backbone=False,
                                   image_size=None)
    form.fields["recipe"].buttons["custom"].click()
    assert form.config() == custom
    # A quick or thorough configuration (a past run's) comes back out as it went in, recipe and all.
    for recipe in ("quick", "thorough"):
        preset = TrainConfig(recipe=recipe, arch="efficientnet_lite0", pretrained=True, epochs=3, lr=3e-4,
                             auto_lr=False, class_weighting="on", pipeline="stream")
        form.apply_config(preset)
        assert form.config() == preset
        form.fields["epochs"].setValue(6)
        assert form.config() == dataclasses.replace(preset, epochs=6)


def test_a_person_who_chose_settings_before_recipes_keeps_them(qtbot, isolated_fledge):
    # The settings file as a Fledge from before recipes left it: text, booleans as "true".
    ini = Settings().file_name()
    os.makedirs(os.path.dirname(ini), exist_ok=True)
    with open(ini, "w", encoding="utf-8") as f:
        f.write("[train]\narch=resnet18\npretrained=true\nepochs=7\ndevice=cpu\n")
    tp = TrainingPanel(Settings())
    qtbot.addWidget(tp)
    c = tp.form.config()
    assert (c.recipe, c.arch, c.pretrained, c.epochs) == ("custom", "resnet18", True, 7)
    assert "arch" in visible_rows(tp.form)
    # Once the choice is kept, it is what the next window shows.
    tp.form.fields["recipe"].buttons["thorough"].click()
    again = TrainingPanel(Settings())
    qtbot.addWidget(again)
    assert again.form.config().recipe == "thorough"


def test_uneven_classes_are_noted_next_to_the_class_weighting(qtbot):
    tp = TrainingPanel(Settings())
    qtbot.addWidget(tp)
    form = tp.form
    note = form.balance_label
    tp.set_dataset(dataset_with({"ant": 30, "bee": 6}))
    assert note.isVisibleTo(form)
    assert "uneven" in note.text() and "weighted by class" in note.text() and "5.0 times" in note.text()
    assert visible_rows(form) == {"recipe", "epochs", "device", "class_weighting"}   # quick shows it too
    label, row = form.rows["class_weighting"]
    assert note.parentWidget() is row
    form.fields["class_weighting"].setCurrentIndex(form.fields["class_weighting"].findData("off"))
    assert "not weighted" in note.text()
    assert form.config().class_weighting == "off"
    tp.set_dataset(dataset_with({"ant": 10, "bee": 8}))
    assert not note.isVisibleTo(form)
    assert "class_weighting" not in visible_rows(form)


def test_start_from_an_earlier_model_is_shown_checked_and_cleared(qtbot, tmp_path):
    import json

    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"arch": "small_cnn"}))
    model = run / "best.pt"
    model.write_bytes(b"PK")
    tp = TrainingPanel(Settings())
    qtbot.addWidget(tp)
    form = tp.form
    form.apply_config(TrainConfig(recipe="custom", arch="small_cnn", device="cpu", init_from=str(model)))
    assert form.config().init_from == str(model)
    assert "best.pt of run run" in form.start_from.label.text()
    assert form.rows["init_from"][1].isVisibleTo(form) and "init_from" not in form.field_errors()
    form.apply_config(TrainConfig(recipe="custom", arch="simplenet", device="cpu", init_from=str(model)))
    assert "same network" in form.field_errors()["init_from"]
    assert form.errors["init_from"].isVisibleTo(form)
    form.start_from.clear_button.click()
    assert form.config().init_from is None and "init_from" not in form.field_errors()
    form.apply_config(TrainConfig(recipe="quick", init_from=str(model)))
    assert not form.rows["init_from"][1].isVisibleTo(form)    # quick does not start from a model
    assert form.config().init_from is None

"""The training settings form (as the Train tab shows it): tooltips, defaults, validation, persistence."""
from __future__ import annotations

import dataclasses
import math
import os

from PySide6.QtCore import Qt

from core.data.augmentation import STRENGTHS
from core.training.config import TrainConfig
from core.training.optimizer_rules import unused_settings
from core.training.recipe_rules import resolve
from gui.panels.train.settings_store import OPTIONS
from gui.panels.train.train_panel import TrainingPanel
from gui.panels.train.learning_rate_box import LearningRateBox
from gui.panels.train.setting_editors import select
from gui.panels.train.settings_store import default_config
from gui.settings import Settings


def test_every_hyperparameter_has_a_tooltip(qtbot):
    tp = TrainingPanel(Settings())
    qtbot.addWidget(tp)
    form = tp.form
    names = ("arch", "pretrained", "freeze_backbone", "optimizer", "lr", "batch_size", "epochs", "image_size",
             "schedule", "augment", "device", "weight_decay", "momentum", "label_smoothing", "seed",
             "recipe", "auto_lr", "class_weighting", "patience", *STRENGTHS, "dampening", "beta1", "beta2",
             "amsgrad", "alpha", "centered", "rho", "step_size", "milestones", "gamma", "backbone")
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
            c.device, c.seed) == ("simplenet", "sgd", 0.02, 12, 7, 48, "onecycle", "none", "cpu", 5)
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
    select(form.fields["augment"], "none")
    assert form.config() == previous.replace(epochs=3, augment="none")
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
    assert (c.recipe, c.arch, c.pretrained, c.image_size, c.auto_lr) == ("quick", ARCH, True, None, False)
    assert not c.errors()
    # Only what matters for quick training, and which network it is.
    assert visible_rows(form) == {"recipe", "backbone", "epochs", "device"}
    assert not form.advanced_toggle.isVisibleTo(form)
    note = form.fields["recipe"].network.text()
    assert "offline" in note and "pretrained" in note
    # The network row: fast (Lite0) by default, or more accurate (Lite2).
    network = form.fields["backbone"]
    assert "EfficientNet-Lite0" in network.currentText() and "EfficientNet-Lite2" in network.itemText(1)
    network.setCurrentIndex(1)
    assert resolve(form.config())[0].arch == "efficientnet_lite2"
    network.setCurrentIndex(0)
    assert "seconds" in form.fields["recipe"].help.text()

    form.fields["recipe"].buttons["thorough"].click()
    assert form.config().recipe == "thorough"
    assert {"lr", "augment"} <= visible_rows(form) <= {"recipe", "backbone", "epochs", "device", "lr",
                                                       "augment", "init_from"}
    assert "fine-tuned" in form.fields["recipe"].network.text()


def test_each_recipe_keeps_its_own_epochs(qtbot, make_window):
    form = make_window().training_panel.form
    recipe, epochs = form.fields["recipe"], form.fields["epochs"]
    recipe.buttons["quick"].click()
    epochs.setValue(4)
    recipe.buttons["thorough"].click()
    assert epochs.value() == 10                  # nothing chosen under thorough yet: the default
    epochs.setValue(3)
    recipe.buttons["quick"].click()
    assert epochs.value() == 4 and form.config().epochs == 4
    recipe.buttons["custom"].click()
    epochs.setValue(30)
    recipe.buttons["thorough"].click()
    assert form.config().epochs == 3

    # And in the next session: the recipe last shown with its epochs, the others' kept.
    form = make_window().training_panel.form
    assert (form.config().recipe, form.config().epochs) == ("thorough", 3)
    form.fields["recipe"].buttons["custom"].click()
    assert form.config().epochs == 30


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
        takes = unused_settings(form.config().optimizer, form.config().schedule)
        assert visible_rows(form) == (set(form.rows) & chosen_settings(recipe)) - takes, recipe


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
    takes = unused_settings(form.config().optimizer, form.config().schedule)
    advanced = {name for name in form.rows if OPTIONS[name].advanced}
    presets_only = {"backbone"}                  # custom names its network under arch
    assert visible_rows(form) == set(form.rows) - advanced - takes - presets_only
    assert form.advanced_toggle.isVisibleTo(form)
    form.advanced_toggle.setChecked(True)
    assert visible_rows(form) == set(form.rows) - takes - presets_only

    custom = TrainConfig(recipe="custom", arch="resnet18", pretrained=True, freeze_backbone=True, optimizer="sgd",
                         lr=0.03, epochs=4, image_size=96, auto_lr=True, class_weighting="off", precision="fp32",
                         workers=3, seed=9)
    form.apply_config(custom)
    assert form.config() == custom
    # Choosing Quick trains its own network; back to Custom, the custom choices are all still there.
    form.fields["recipe"].buttons["quick"].click()
    quick = form.config()
    assert quick == custom.replace(recipe="quick", arch="efficientnet_lite0", freeze_backbone=False,
                                   image_size=None, patience=0, epochs=10,     # quick's own epochs
                                   auto_lr=False)                              # no rate to find
    form.fields["recipe"].buttons["custom"].click()
    assert form.config() == custom
    # A quick or thorough configuration (a past run's) comes back out as it went in, recipe and all.
    for recipe in ("quick", "thorough"):
        preset = TrainConfig(recipe=recipe, arch="efficientnet_lite0", pretrained=True, epochs=3, lr=3e-4,
                             auto_lr=False, class_weighting="on", pipeline="stream", patience=0)
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
    assert visible_rows(form) == {"recipe", "backbone", "epochs", "device", "class_weighting"}   # quick too
    label, row = form.rows["class_weighting"]
    assert note.parentWidget() is row
    form.fields["class_weighting"].setCurrentIndex(form.fields["class_weighting"].findData("off"))
    assert "not weighted" in note.text()
    assert form.config().class_weighting == "off"
    tp.set_dataset(dataset_with({"ant": 10, "bee": 8}))
    assert not note.isVisibleTo(form)
    assert "class_weighting" not in visible_rows(form)


# ---------------------------------------------------------------- the learning-rate test's plot

def sweep(n: int = 40, start: float = 1e-7, end: float = 10.0):
    from core.training.lr_finder import LrCurve

    lrs = tuple(start * (end / start) ** (i / n) for i in range(n))
    losses = tuple(1.0 - 0.5 * math.sin(math.pi * i / n) for i in range(n))
    return LrCurve(lrs, losses, suggestion=lrs[n // 2], suggestion_index=n // 2, diverged=False)


def test_a_sweep_of_one_recipe_is_not_shown_under_another(qtbot):
    tp = TrainingPanel(Settings())
    qtbot.addWidget(tp)
    form, row = tp.form, tp.form.lr_row
    form.fields["recipe"].buttons["custom"].click()
    row._on_curve(sweep())
    assert row.plot.isVisibleTo(row) and row.curve is not None
    form.fields["recipe"].buttons["thorough"].click()          # thorough shows the rate too
    assert not row.plot.isVisibleTo(row) and not row.plot.legend.isVisibleTo(row)
    assert row.curve is None and not row.status.isVisibleTo(row)


def test_a_stopped_sweep_leaves_no_plot(qtbot):
    tp = TrainingPanel(Settings())
    qtbot.addWidget(tp)
    row = tp.form.lr_row
    row.runner.control.stop()
    row._on_curve(sweep(n=3, end=2e-7))           # a few steps of the sweep: a sliver of a decade
    assert not row.plot.isVisibleTo(row) and row.curve is None
    assert "stopped" in row.status.text()


def test_the_learning_rate_axis_labels_only_the_decades_that_fit(qtbot):
    from gui.panels.train.lr_plot import DecadeAxis, LrPlot

    plot = LrPlot()
    qtbot.addWidget(plot)
    axis = plot.getPlotItem().getAxis("bottom")
    assert axis.logMode
    for width in (220, 400, 1000):                # the sweep's eight decades, 1e-07 to 10
        (_, values), = axis.tickValues(-7.0, 1.0, width)
        assert 1 <= len(values) <= width // DecadeAxis.LABEL_PX
        assert all(v.is_integer() for v in values)
    (_, values), = axis.tickValues(-7.0, 1.0, 1000)
    assert values == [float(v) for v in range(-7, 2)]


def _custom_form(qtbot, config: TrainConfig):
    tp = TrainingPanel(Settings())
    qtbot.addWidget(tp)
    form = tp.form
    form.apply_config(config)
    form.advanced_toggle.setChecked(True)
    return tp, form


def test_only_the_settings_the_optimizer_and_schedule_take_are_shown(qtbot):
    _tp, form = _custom_form(qtbot, TrainConfig(recipe="custom", arch="small_cnn", device="cpu", optimizer="sgd",
                                           schedule="cosine"))
    rows = visible_rows(form)
    assert {"momentum", "nesterov", "dampening", "weight_decay"} & set(form.rows) <= rows
    assert not {"beta1", "alpha", "rho", "step_size", "milestones", "gamma"} & rows
    select_data(form.fields["optimizer"], "rprop")
    assert not {"momentum", "weight_decay", "dampening"} & visible_rows(form)
    select_data(form.fields["optimizer"], "rmsprop")
    assert {"momentum", "alpha", "centered"} <= visible_rows(form)
    select_data(form.fields["schedule"], "multistep")
    assert {"milestones", "gamma"} <= visible_rows(form) and "step_size" not in visible_rows(form)
    select_data(form.fields["schedule"], "step")
    assert {"step_size", "gamma"} <= visible_rows(form) and "milestones" not in visible_rows(form)


def test_the_forms_knobs_reach_the_config(qtbot):
    _tp, form = _custom_form(qtbot, TrainConfig(recipe="custom", arch="small_cnn", device="cpu", optimizer="adam",
                                           schedule="multistep", epochs=12))
    form.fields["beta2"].setValue(0.99)
    form.fields["amsgrad"].setChecked(True)
    form.fields["milestones"].setText("4,9")
    form.fields["milestones"].editingFinished.emit()
    form.fields["gamma"].setValue(0.5)
    c = form.config()
    assert (c.beta2, c.amsgrad, c.milestones, c.gamma) == (0.99, True, "4,9", 0.5)
    form.fields["milestones"].setText("4,20")
    form.fields["milestones"].editingFinished.emit()
    assert "between 1 and 11" in form.errors["milestones"].text()


def test_choosing_an_optimizer_sets_its_usual_rate_unless_one_was_chosen(qtbot):
    _tp, form = _custom_form(qtbot, TrainConfig(recipe="custom", arch="small_cnn", device="cpu", optimizer="adamw"))
    select_data(form.fields["optimizer"], "adadelta")
    assert form.config().lr == 1.0                        # its tooltip: 1.0 is normal for it
    select_data(form.fields["optimizer"], "sgd")
    assert form.config().lr == 0.01
    form.fields["lr"].setValue(0.05)                      # the person's own rate stays
    select_data(form.fields["optimizer"], "adam")
    assert form.config().lr == 0.05
    form.apply_config(TrainConfig(recipe="custom", arch="small_cnn", device="cpu", optimizer="sgd", lr=0.2))
    assert form.config().lr == 0.2                        # showing a past run's settings keeps its rate


def select_data(combo, data) -> None:
    combo.setCurrentIndex(combo.findData(data))


def test_every_network_choice_says_its_size(qtbot):
    from core.model.networks import ARCHITECTURES, network_size
    from gui.engine import EngineInfo

    tp = TrainingPanel(Settings())
    qtbot.addWidget(tp)
    form = tp.form
    form.set_engine(EngineInfo(devices=[("cpu", "CPU")], architectures={}, seconds=0.0,
                               sizes={name: network_size(name) for name in ARCHITECTURES}))
    combo = form.fields["arch"]
    texts = {combo.itemData(i): combo.itemText(i) for i in range(combo.count())}
    assert texts["resnet50"] == "ResNet-50 — 25.6 M parameters, 98 MB"
    assert all("parameters" in text for text in texts.values())
    form.apply_config(TrainConfig(recipe="custom", arch="vgg19", device="cpu"))
    assert "143.7 M parameters" in form.arch_desc.text()


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

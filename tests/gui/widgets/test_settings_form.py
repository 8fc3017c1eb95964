"""The training settings form (as the Train tab shows it): tooltips, defaults, validation, persistence."""
from __future__ import annotations

import math

from PySide6.QtCore import QSettings, Qt

from core.training.config import TrainConfig
from gui.panels.train import TrainingPanel
from gui.widgets.learning_rate_box import LearningRateBox
from gui.widgets.settings_form import default_config


def test_every_hyperparameter_has_a_tooltip(qtbot):
    tp = TrainingPanel(QSettings())
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
        arch="simplenet", optimizer="sgd", lr=0.02, batch_size=12, epochs=7, image_size=48,
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
    form.apply_config(TrainConfig(arch="inception_v3", image_size=32, device="cpu"))
    assert form.errors["image_size"].isVisibleTo(form)
    assert "75" in form.errors["image_size"].text()
    assert "image_size" in form.field_errors()
    form.apply_config(TrainConfig(arch="resnet18", pretrained=True, weights_path=str(tmp_path / "gone.pth"),
                                  device="cpu"))
    assert "weights file" in form.errors["weights_path"].text()
    form.weights.set_file("")
    form.apply_config(TrainConfig(arch="small_cnn", device="cpu"))
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
    form.apply_config(TrainConfig(arch="resnet18", pretrained=True, device="cpu"))
    qtbot.waitUntil(lambda: "no internet" in form.weights.state.text(), timeout=10000)
    assert form.fields["freeze_backbone"].isEnabled()
    form.apply_config(TrainConfig(arch="small_cnn", device="cpu"))
    assert not form.pretrained.isEnabled()
    assert "no pretrained" in form.weights.state.text()
    assert not form.fields["freeze_backbone"].isEnabled()


def test_fields_the_form_does_not_show_survive_apply_and_edit(qtbot):
    """Retrain and "use these settings" hand the form a whole config: what it has no widget
    for (precision, pipeline, workers, Nesterov, ...) must come back out unchanged."""
    tp = TrainingPanel(QSettings())
    qtbot.addWidget(tp)
    form = tp.form
    previous = TrainConfig(arch="small_cnn", optimizer="sgd", lr=0.05, precision="fp32",
                           pipeline="stream", workers=2, memory_budget_mb=300, nesterov=False, seed=7)
    form.apply_config(previous)
    assert form.config() == previous
    form.fields["epochs"].setValue(3)                        # an edit in the form
    form.fields["augment"].setChecked(False)
    assert form.config() == previous.replace(epochs=3, augment=False)
    form.reset_defaults()
    assert form.config().precision == "auto" and form.config().nesterov is True

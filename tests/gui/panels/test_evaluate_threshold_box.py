"""The Evaluate tab's review thresholds: curves per class, the precision wanted, the plain
consequence, and "Save thresholds in the model" (written on a background thread)."""
from __future__ import annotations

import pytest

from gui.panels.evaluate.threshold_box import ThresholdBox
from tests.core.photos.test_thresholds import known, plenty


@pytest.fixture
def box(qtbot):
    w = ThresholdBox()
    qtbot.addWidget(w)
    w.resize(700, 600)
    w.show()
    yield w
    w.shutdown()


def small_model(folder, classes: list[str]) -> str:
    """A small_cnn model file (untrained, seeded) with these classes: folder/best.pt."""
    torch = pytest.importorskip("torch")
    from core.model.checkpoints import save_checkpoint
    from core.model.networks import build_model

    torch.manual_seed(0)
    net, _ = build_model("small_cnn", len(classes), image_size=32)
    path = folder / "best.pt"
    save_checkpoint(path, net, arch="small_cnn", classes=classes, image_size=32,
                    mean=[0.5] * 3, std=[0.25] * 3, config={}, metrics={})
    return str(path)


@pytest.fixture
def model_file(tmp_path):
    return small_model(tmp_path, ["bird", "plane", "lemming", "vole"])


def test_curves_follow_the_class_and_the_target_changes_the_thresholds(box):
    assert not box.save_button.isEnabled() and "Evaluate a model" in box.consequences.text()
    box.set_target(0.9)
    box.show_result(known())
    assert [box.class_combo.itemText(i) for i in range(box.class_combo.count())] == ["bird", "plane", "owl"]
    box.class_combo.setCurrentText("plane")
    xs, ys = box.curves.plotted()["precision"]
    assert xs[:3] == [0.0, 0.5, 0.55] and ys[:2] == [10 / 14, 10 / 13] and ys[-1] == 1.0 and len(xs) == len(ys) + 1
    # 10 of 11 right from .81 is 91 %, but so few photos promise only 68 %: no threshold, no line.
    assert not box.curves.chosen_line.isVisible() and box.curves.target_line.value() == 0.9
    assert "'plane': 10 of the 14 validation photos the model named 'plane' were right, too little evidence" in \
        box.consequences.text()


def test_the_promised_precision_is_drawn_and_decides_the_threshold(box):
    box.set_target(0.88)
    box.show_result(plenty())
    box.class_combo.setCurrentText("plane")
    xs, ys = box.curves.plotted()["promised"]
    assert xs[:3] == [0.0, 0.6, 0.61] and ys[0] == pytest.approx(0.8659, abs=1e-4) and len(xs) == len(ys) + 1
    assert box.curves.chosen_line.value() == 0.63 and box.curves.target_line.value() == 0.88
    assert "At 88 % precision for 'plane' (sorted when the model is at least 63 % sure)" in box.consequences.text()
    box.set_target(0.9)
    assert "plane" not in box.choice.thresholds() and not box.curves.chosen_line.isVisible()
    assert "With about 1 more validation photo of 'plane' that the model gets right" in box.consequences.text()
    assert not box.save_button.isEnabled()          # no model file to save in


def test_save_writes_the_thresholds_into_the_model_file(qtbot, box, model_file):
    import torch

    box.set_target(0.85)
    box.show_result(plenty())
    box.set_model_path(model_file)
    assert box.save_button.isEnabled()
    with qtbot.waitSignal(box.saved, timeout=20000) as saved:
        box.save_button.click()
    assert saved.args == [model_file]
    stored = torch.load(model_file, weights_only=True)["thresholds"]
    assert stored["classes"] == {"bird": 0.95, "plane": 0.0, "lemming": 1.0, "vole": 1.0}
    assert stored["review"] == {"lemming": "evidence", "vole": "evidence"}
    assert "Saved in" in box.message_bar.text()
    qtbot.waitUntil(box.save_button.isEnabled)


def test_a_failed_save_is_said_in_the_box(qtbot, box, tmp_path):
    bad = tmp_path / "not-a-model.pt"
    bad.write_bytes(b"hello, not a model")
    box.show_result(known())
    box.set_model_path(str(bad))
    with qtbot.waitSignal(box._pool.failed, timeout=20000):
        assert box.save()
    qtbot.waitUntil(lambda: box.message_bar.level == "error")
    assert "is not a PyTorch model file" in box.message_bar.text()


def test_a_stopped_evaluation_cannot_be_saved(box, model_file):
    from dataclasses import replace

    box.show_result(replace(known(), stopped=True))
    box.set_model_path(model_file)
    assert not box.save_button.isEnabled() and "stopped early" in box.save_button.toolTip()
    assert not box.save()

"""The Evaluate tab's "Review thresholds": shown after an evaluation, saved in the model file evaluated."""
from __future__ import annotations

import pytest

from tests.fakes import FakePredictor
from tests.gui.panels.test_evaluate import TABLE, _evaluate, dataset, panel  # noqa: F401 (fixtures)


def test_a_model_in_memory_shows_curves_but_has_no_file_to_save_in(qtbot, panel):
    panel.set_predictor(FakePredictor(["dog", "cat"], {n: (p, c) for n, (_t, p, c) in TABLE.items()}))
    _evaluate(qtbot, panel)
    box = panel.thresholds
    assert box.class_combo.count() == 2 and box.choice is not None
    assert "too little evidence to promise 98 % precision" in box.consequences.text()     # 4 cats and 3 dogs
    assert box.choice.thresholds() == {}
    xs, _ys = box.curves.plotted()["recall"]
    assert xs and xs[-1] == 1.0
    assert not box.save_button.isEnabled() and "model file" in box.save_button.toolTip()


def test_the_thresholds_are_saved_in_the_model_file_evaluated(qtbot, panel, dataset):  # noqa: F811
    torch = pytest.importorskip("torch")
    from core.model.checkpoints import save_checkpoint
    from core.model.networks import ARCHITECTURES, build_model

    torch.manual_seed(0)
    model, _ = build_model("small_cnn", 2, image_size=32)
    spec = ARCHITECTURES["small_cnn"]
    path = dataset.parent / "pets.pt"
    save_checkpoint(path, model, arch="small_cnn", classes=["cat", "dog"], image_size=32,
                    mean=spec.mean, std=spec.std, config={}, metrics={})
    panel.set_model(str(path))
    _evaluate(qtbot, panel)
    box = panel.thresholds
    box.set_target(0.6)
    assert box.save_button.isEnabled()
    with qtbot.waitSignal(box.saved, timeout=20000):
        box.save_button.click()
    assert torch.load(path, weights_only=True)["thresholds"] == box.choice.to_record()
    assert not panel.stale()           # the same model: its answers are unchanged

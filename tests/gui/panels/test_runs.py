"""The Runs tab: what a run really did (recipe, pretrained or not), and Export… of its best model."""
from __future__ import annotations

import json
import os

import pytest

from gui.panels.runs.runs_panel import RunsPanel
from tests.gui.qt_show import shown

# torch 2.14 deprecates TorchScript on every call; the export chose it knowingly.
pytestmark = pytest.mark.filterwarnings(r"ignore:`torch\.jit\.\w+` is deprecated:FutureWarning")


def settings_rows(panel) -> dict[str, str]:
    form = panel.settings_form
    rows = {}
    for i in range(form.rowCount()):
        label = form.itemAt(i, form.ItemRole.LabelRole).widget().text()
        rows[label] = form.itemAt(i, form.ItemRole.FieldRole).widget().text()
    return rows


def fake_run(root, name: str, config: dict, run: dict):
    """A run folder as the Trainer writes it (config.json, run.json, status.json), no model."""
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    (folder / "run.json").write_text(json.dumps({"started": "2026-01-01T12:00:00", **run}),
                                     encoding="utf-8")
    (folder / "status.json").write_text(json.dumps({"status": "completed", "best_val_acc": 0.61,
                                                    "epochs_done": 3}), encoding="utf-8")
    return folder


@pytest.mark.parametrize("recipe, config, used, pretrained, recipe_text", [
    ("quick", {"arch": "efficientnet_lite0", "pretrained": True}, False,
     "no — the ImageNet weights were not found, so it trained from scratch", "Quick"),
    ("custom", {"arch": "resnet18", "pretrained": True}, False,
     "no — the ImageNet weights were not found, so it trained from scratch", "Custom"),
    ("thorough", {"arch": "efficientnet_lite0", "pretrained": True}, True,
     "yes — it started from ImageNet weights", "Thorough"),
    ("custom", {"arch": "small_cnn", "pretrained": False}, False, "no — it trained from scratch", "Custom"),
    ("custom", {"arch": "resnet18", "pretrained": True}, None,
     "asked for (this older run did not record whether the weights were found)", "Custom"),
])
def test_runs_tab_tells_what_the_run_really_started_from(qtbot, tmp_path, recipe, config, used,
                                                        pretrained, recipe_text):
    run = {"arch": config["arch"], "classes": ["ant", "bee"], "data_root": str(tmp_path / "data")}
    if used is not None:
        run["pretrained_used"] = used
    folder = fake_run(tmp_path / "runs", "20260101-120000-run", {**config, "recipe": recipe, "epochs": 3}, run)
    panel = shown(qtbot, RunsPanel(str(tmp_path / "runs")))
    panel.refresh()
    assert panel.select_run(str(folder), reload=True)
    rows = settings_rows(panel)
    assert rows["Pretrained"] == pretrained
    assert rows["Recipe"].startswith(recipe_text)
    assert not panel.export_button.isEnabled()          # no best.pt: nothing to export


@pytest.mark.parametrize("recipe, recorded, shown_text", [
    ("custom", {"lr_found": 0.0044}, "AdamW, learning rate 0.0044"),
    ("quick", {"lr_head": 0.023}, "AdamW, learning rate 0.023 (only the last layer learnt)"),
    ("thorough", {"lr_head": 0.023, "lr_fine_tune": 0.0003},
     "AdamW, learning rate 0.023 for the last layer, then 0.0003 for every layer"),
    ("custom", {}, "AdamW, learning rate 0.001"),       # as configured: no sweep
    ("quick", {"head_l2": 0.316}, "L-BFGS, the last layer fit to convergence (regularization 0.32)"),
    ("thorough", {"head_l2": 0.1, "lr_fine_tune": 0.0003},
     "L-BFGS, then AdamW, the last layer fit to convergence (regularization 0.1), then learning rate 0.0003 "
     "for every layer"),
])
def test_runs_tab_shows_the_learning_rate_the_run_used(qtbot, tmp_path, recipe, recorded, shown_text):
    run = {"arch": "small_cnn", "classes": ["ant", "bee"], "data_root": str(tmp_path / "data"), **recorded}
    folder = fake_run(tmp_path / "runs", "20260101-120000-run",
                      {"recipe": recipe, "lr": 0.001, "auto_lr": bool(recorded), "epochs": 3}, run)
    panel = shown(qtbot, RunsPanel(str(tmp_path / "runs")))
    panel.refresh()
    assert panel.select_run(str(folder), reload=True)
    assert settings_rows(panel)["Optimizer"].split(";")[0] == shown_text


def test_export_from_the_runs_tab_of_a_real_run(qtbot, tmp_path, two_class_folder):
    from core.data.dataset import scan_dataset
    from core.training.config import TrainConfig
    from core.training.trainer import Trainer

    cfg = TrainConfig(recipe="custom", arch="small_cnn", image_size=32, batch_size=8, epochs=1,
                      device="cpu", augment=False, schedule="none", workers=0)
    run_dir = tmp_path / "runs" / "20260101-120000-small_cnn"
    ended = Trainer(cfg, scan_dataset(two_class_folder, val_fraction=0.25), run_dir=str(run_dir)).fit()
    assert ended.reason == "completed", ended.message

    panel = shown(qtbot, RunsPanel(str(tmp_path / "runs")))
    panel.refresh()
    assert panel.select_run(str(run_dir))
    assert panel.export_button.isEnabled()
    panel.export_button.click()
    dialog = panel.export_dialog
    assert dialog is not None and dialog.isVisible()
    assert dialog.chosen_format() == "onnx"                       # the default
    assert dialog.folder.path() == str(run_dir)                   # next to the run's model
    assert "best-onnx" in dialog.place.text()
    assert not dialog.open_button.isVisible()

    with qtbot.waitSignal(dialog.exported, timeout=120000) as blocker:
        dialog.export_button.click()
        assert dialog.is_running() and dialog.progress.isVisible()
    qtbot.waitUntil(lambda: not dialog.is_running(), timeout=10000)
    result = blocker.args[0]
    assert result.ok, result.reason
    folder = run_dir / "best-onnx"
    assert result.folder == str(folder)
    assert {"model.onnx", "parity.json"} <= set(os.listdir(folder))
    parity = json.loads((folder / "parity.json").read_text())
    assert parity["ok"] is True and parity["top_class_agreement"] == 1.0
    text = dialog.result_message()
    assert str(folder) in text and "the same top class as Fledge on every photo" in text
    assert f"Checked on {parity['photos']} photos ({parity['from_dataset']} from the model's dataset" in text
    assert dialog.succeeded() and dialog.open_button.isVisible()
    assert not dialog.progress.isVisible()


def test_the_runs_tab_shows_the_models_summary_and_the_settings_its_optimizer_took(qtbot, tmp_path):
    from core.model.architectures import IMAGENET_MEAN, IMAGENET_STD
    from core.model.checkpoints import save_checkpoint
    from core.model.networks import build_model
    from core.training.config import TrainConfig
    from core.training.model_summary import model_summary

    config = TrainConfig(recipe="custom", arch="small_cnn", optimizer="rmsprop", momentum=0.5, alpha=0.8,
                         schedule="step", step_size=2, gamma=0.5, epochs=6)
    folder = fake_run(tmp_path / "runs", "20260101-120000-run", config.to_dict(),
                      {"arch": "small_cnn", "classes": ["ant", "bee"], "data_root": str(tmp_path / "data")})
    model, _ = build_model("small_cnn", 2, image_size=32)
    save_checkpoint(folder / "best.pt", model, arch="small_cnn", classes=["ant", "bee"], image_size=32,
                    mean=IMAGENET_MEAN, std=IMAGENET_STD, config=config.to_dict(), metrics={"val_acc": 0.61})
    panel = shown(qtbot, RunsPanel(str(tmp_path / "runs")))
    panel.refresh()
    assert panel.select_run(str(folder), reload=True)
    rows = settings_rows(panel)
    assert rows["Optimizer"] == "RMSprop, learning rate 0.001; momentum 0.5; weight decay 0.0001; averaging (alpha) 0.8; centered off"
    assert rows["Schedule"] == "Step (every few epochs); a step every 2 epochs; step factor 0.5"
    qtbot.waitUntil(panel.summary_ready, timeout=30000)
    assert panel.summary.text() == model_summary(folder / "best.pt")
    assert "Small CNN (small_cnn)" in panel.summary.text() and panel.summary.isVisibleTo(panel)

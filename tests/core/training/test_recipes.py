"""The quick and thorough recipes through the Trainer: ordinary model files, cached features,
Stop in every phase, metrics across phases, the learning-rate finder, class weighting, the
score against guessing, and `fledge train DATA` with no --arch."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
from PIL import Image

from core.data.dataset import scan_dataset
from core.model.predictor import Predictor
from core.photos.classify import classify_folder
from core.photos.evaluation import evaluate
from core.training import runs
from core.training.config import TrainConfig
from core.training.events import BatchEnd, EpochEnd, FitStarted, Message
from core.training.loop import Learner
from core.training.quick import L2_PATH
from core.training.trainer import Trainer


@pytest.fixture(autouse=True)
def own_feature_cache(tmp_path, monkeypatch):
    """Every test starts with an empty feature cache of its own."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))


def run_json(run_dir) -> dict:
    return json.loads((run_dir / runs.RUN_FILE).read_text())


def notes(events) -> str:
    return " ".join(e.text for e in events if isinstance(e, Message))


def fit(config, dataset, run_dir, **kw):
    events = []
    trainer = Trainer(config, dataset, run_dir=str(run_dir), callbacks=[events.append], **kw)
    return trainer, trainer.fit(), events


def test_quick_run_learns_and_writes_an_ordinary_model_file(make_image_folder, tmp_path):
    root = make_image_folder(classes={"bird": 10, "plane": 10}, size=40)
    ds = scan_dataset(root, val_fraction=0.3)
    _, ended, events = fit(TrainConfig(recipe="quick", arch="small_cnn", epochs=8, auto_lr=True), ds,
                           tmp_path / "r1")
    assert ended.reason == "completed", ended.message
    assert ended.best_val_acc > 0.75
    epochs = [e for e in events if isinstance(e, EpochEnd)]
    assert [e.epoch for e in epochs] == list(range(1, 9)) and all(e.epochs == 8 for e in epochs)
    # Reading the photos is a phase with a moving bar: one step per photo.
    started = [e for e in events if isinstance(e, FitStarted)]
    assert started[0].pipeline == "extract" and started[0].total_steps == len(ds.train) + len(ds.val)
    reads = [e for e in events if isinstance(e, BatchEnd) and e.steps_per_epoch == started[0].total_steps]
    assert reads and reads[-1].epoch_step == started[0].total_steps
    assert len(runs.read_csv_rows(tmp_path / "r1" / runs.METRICS_FILE)) == 8
    assert json.loads((tmp_path / "r1" / runs.STATUS_FILE).read_text())["status"] == "completed"
    record = run_json(tmp_path / "r1")
    assert record["recipe"] == "quick" and record["pretrained_used"] is True

    predictor = Predictor.from_checkpoint(ended.best_model, device="cpu")
    assert predictor.info["arch"] == "efficientnet_lite0"        # the recipe's network, not small_cnn
    result = evaluate(predictor, ds, "val")
    assert result.correct / result.evaluated > 0.75
    answers = classify_folder(predictor, root / "bird")
    assert sum(a.label == "bird" for a in answers) / len(answers) > 0.75


def test_a_second_run_reads_only_the_changed_photos_and_resume_runs_quick_again(make_image_folder, tmp_path):
    root = make_image_folder(classes={"bird": 6, "plane": 6}, size=40)
    ds = scan_dataset(root, val_fraction=0.3)
    first, ended, _ = fit(TrainConfig(recipe="quick", epochs=3), ds, tmp_path / "r1")
    assert ended.reason == "completed", ended.message
    assert first.extracted == len(ds.train) + len(ds.val)
    for path in sorted((root / "bird").iterdir())[:2]:          # two corrected photos
        Image.new("RGB", (40, 40), (250, 10, 10)).save(path)
    again, ended, events = fit(TrainConfig(recipe="quick", epochs=3), scan_dataset(root, val_fraction=0.3),
                               tmp_path / "r2")
    assert ended.reason == "completed", ended.message
    assert again.extracted == 2
    assert "2 now" in notes(events)

    events = []
    resumed = Trainer.resume_from(str(tmp_path / "r2"), callbacks=[events.append]).fit()
    assert resumed.reason == "completed", resumed.message
    assert "run again from the start" in notes(events)
    assert len(runs.read_csv_rows(tmp_path / "r2" / runs.METRICS_FILE)) == 3


def test_stop_while_the_photos_are_read_ends_stopped(make_image_folder, tmp_path):
    root = make_image_folder(classes={"bird": 8, "plane": 8}, size=40)
    ds = scan_dataset(root, val_fraction=0.25)
    trainer = None

    def stop_on_first_read(ev):
        if isinstance(ev, BatchEnd):
            trainer.control.stop()

    trainer = Trainer(TrainConfig(recipe="quick", epochs=3), ds, run_dir=str(tmp_path / "r"),
                      callbacks=[stop_on_first_read])
    ended = trainer.fit()
    assert ended.reason == "stopped"
    assert trainer.extracted < len(ds.train) + len(ds.val)
    assert ended.epochs_done == 0
    assert json.loads((tmp_path / "r" / runs.STATUS_FILE).read_text())["status"] == "stopped"


def test_thorough_fine_tunes_after_the_head_and_its_metrics_continue(make_image_folder, tmp_path):
    root = make_image_folder(classes={"bird": 5, "plane": 5}, size=40)
    ds = scan_dataset(root, val_fraction=0.4)
    cfg = TrainConfig(recipe="thorough", epochs=1, lr=1e-4, batch_size=8, auto_lr=False, pipeline="cached",
                      schedule="none")
    _, ended, events = fit(cfg, ds, tmp_path / "r")
    assert ended.reason == "completed", ended.message
    epochs = [e for e in events if isinstance(e, EpochEnd)]
    assert [(e.epoch, e.epochs) for e in epochs] == [(1, 2), (2, 2)]
    fine_tune = [e for e in events if isinstance(e, FitStarted)][-1]
    assert fine_tune.start_epoch == 1 and fine_tune.epochs == 2       # the plots keep the head's epoch
    rows = runs.read_csv_rows(tmp_path / "r" / runs.METRICS_FILE)
    assert [r["epoch"] for r in rows] == [1, 2]
    assert rows[1]["lr"] == pytest.approx(1e-4)                       # the head's rate is its own
    assert Predictor.from_checkpoint(ended.last_model, device="cpu").info["arch"] == "efficientnet_lite0"


def test_thorough_keeps_batchnorm_statistics_and_its_configured_rate(make_image_folder, tmp_path, monkeypatch):
    """Fine-tuning on a few photos must not overwrite the ImageNet BatchNorm statistics
    (one epoch of that took a trained head from 69% to 48% on real photos), and the second
    phase runs at the configured rate, not a whole-network sweep's."""
    import torch

    from core.training import loop

    root = make_image_folder(classes={"bird": 5, "plane": 5}, size=40)
    ds = scan_dataset(root, val_fraction=0.4)
    seen = []
    real_step = loop.Learner.step

    def spy(learner, *a, **kw):
        seen.append([m.training for m in learner.model.modules() if isinstance(m, torch.nn.BatchNorm2d)])
        return real_step(learner, *a, **kw)

    monkeypatch.setattr(loop.Learner, "step", spy)
    cfg = TrainConfig(recipe="thorough", epochs=1, lr=2e-4, batch_size=8, auto_lr=True, pipeline="cached",
                      schedule="none")
    _, ended, events = fit(cfg, ds, tmp_path / "r")
    assert ended.reason == "completed", ended.message
    assert seen and all(not any(modes) for modes in seen)           # every BatchNorm in eval mode
    assert run_json(tmp_path / "r")["lr_fine_tune"] == pytest.approx(2e-4)
    assert "Finding a learning rate for every layer" not in notes(events)


def test_set_train_mode_keeps_batchnorm_statistics_only_when_asked():
    import torch

    from core.model.networks import set_train_mode

    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.ReLU())
    set_train_mode(model, keep_bn_statistics=True)
    assert model.training and not model[1].training
    before = model[1].running_mean.clone()
    model(torch.randn(4, 3, 8, 8) + 5)
    assert torch.equal(model[1].running_mean, before)
    set_train_mode(model)
    assert model[1].training


def test_fine_tuning_moves_the_pretrained_layers_at_a_tenth_of_the_rate():
    from core.model.networks import build_model
    from core.training.recipes import fine_tune_groups

    model, _ = build_model("efficientnet_lite0", 2, pretrained=False)
    body, head = fine_tune_groups(model, "efficientnet_lite0", 1e-3)
    assert head["lr"] == pytest.approx(1e-3) and body["lr"] == pytest.approx(1e-4)
    assert len(body["params"]) + len(head["params"]) == len(list(model.parameters()))


def test_the_learning_rate_finder_picks_and_records_a_rate(make_image_folder, tmp_path):
    root = make_image_folder(classes={"bird": 8, "plane": 8}, size=32)
    ds = scan_dataset(root, val_fraction=0.25)
    _, ended, events = fit(TrainConfig(recipe="quick", epochs=2, auto_lr=True), ds, tmp_path / "q")
    assert ended.reason == "completed", ended.message
    record = run_json(tmp_path / "q")                    # the quick head has no rate: its regularization
    assert "lr_head" not in record and record["head_l2"] in L2_PATH
    assert f"Regularization of the last layer: {record['head_l2']:.2g}" in notes(events)
    _, ended, events = fit(TrainConfig(recipe="custom", arch="small_cnn", image_size=32, epochs=1, batch_size=4,
                                       auto_lr=True, schedule="none"), ds, tmp_path / "c")
    assert ended.reason == "completed", ended.message
    found = run_json(tmp_path / "c")["lr_found"]
    assert 1e-5 <= found <= 1.0
    assert f"{found:.2g}" in notes(events)
    assert runs.read_csv_rows(tmp_path / "c" / runs.METRICS_FILE)[0]["lr"] == pytest.approx(found)


def test_uneven_classes_weigh_the_loss_and_say_so(make_image_folder, tmp_path):
    root = make_image_folder(classes={"bird": 20, "plane": 4}, size=32)
    ds = scan_dataset(root, val_fraction=0.25)
    cfg = TrainConfig(recipe="custom", arch="small_cnn", image_size=32, epochs=1, batch_size=8)
    _, ended, events = fit(cfg, ds, tmp_path / "auto")
    assert ended.reason == "completed", ended.message
    assert "uneven" in notes(events)
    weights = run_json(tmp_path / "auto")["class_weights"]
    assert weights[ds.classes.index("plane")] > weights[ds.classes.index("bird")]
    _, _, events = fit(cfg.replace(class_weighting="off"), ds, tmp_path / "off")
    assert run_json(tmp_path / "off")["class_weights"] is None
    assert "class weighting is off" in notes(events)
    _, _, events = fit(TrainConfig(recipe="quick", epochs=2), ds, tmp_path / "quick")
    assert run_json(tmp_path / "quick")["class_weights"] is not None and "uneven" in notes(events)


def test_the_loop_loss_carries_the_class_weights():
    import torch

    model = torch.nn.Linear(3, 2)
    learner = Learner.build(TrainConfig(), model, torch.device("cpu"), None, 1, class_weights=[0.5, 2.0])
    assert learner.criterion.weight.tolist() == [0.5, 2.0]


def test_a_model_at_chance_is_called_barely_better_than_guessing(tmp_path):
    rng = np.random.default_rng(0)
    for cls in ("cat", "dog"):                 # the same kind of noise in both: nothing to learn
        (tmp_path / "noise" / cls).mkdir(parents=True)
        for i in range(12):
            Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(
                tmp_path / "noise" / cls / f"{i}.png")
    ds = scan_dataset(tmp_path / "noise", val_fraction=0.5)
    cfg = TrainConfig(recipe="custom", arch="small_cnn", image_size=32, epochs=1, lr=1e-6, batch_size=8)
    _, ended, _ = fit(cfg, ds, tmp_path / "r")
    assert ended.reason == "completed", ended.message
    assert "better than guessing" in ended.message and "always answering" in ended.message
    assert "Use Quick training" in ended.message              # what to try, for a network from scratch
    record = run_json(tmp_path / "r")
    assert record["verdict"] == "guessing" and record["pretrained_used"] is False
    val = [sum(s.label == i for s in ds.val) for i in range(2)]
    assert math.isclose(record["guessing_accuracy"], max(val) / sum(val))


def test_a_network_that_fell_back_to_scratch_says_so_in_its_records(make_image_folder, tmp_path, monkeypatch):
    from core.model import pretrained_weights

    monkeypatch.setattr(pretrained_weights, "cached_weights_path", lambda arch: str(tmp_path / "none.pth"))
    monkeypatch.setattr(pretrained_weights, "_host_reachable", lambda url, timeout=1.5: False)
    root = make_image_folder(classes={"bird": 4, "plane": 4}, size=32)
    ds = scan_dataset(root, val_fraction=0.25)
    cfg = TrainConfig(recipe="custom", arch="resnet18", pretrained=True, image_size=32, epochs=1, batch_size=8)
    _, ended, events = fit(cfg, ds, tmp_path / "r")
    assert ended.reason == "completed", ended.message
    warning = " ".join(e.text for e in events if isinstance(e, Message) and e.level == "warning")
    assert "resnet18-" in warning and "download.pytorch.org" in warning and str(tmp_path) in warning
    assert run_json(tmp_path / "r")["pretrained_used"] is False
    import torch

    ckpt = torch.load(ended.best_model, map_location="cpu", weights_only=True)
    assert ckpt["metrics"]["pretrained_used"] is False


def test_fledge_train_without_an_arch_runs_the_quick_recipe(make_image_folder, tmp_path, capsys):
    from core.cli.main import main

    root = make_image_folder(classes={"bird": 6, "plane": 6}, size=40)
    assert main(["train", str(root), "--epochs", "2", "--out", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    assert "Recipe: quick (no --arch given" in out
    assert "Regularization of the last layer" in out             # quick chooses its regularization unasked
    assert json.loads((tmp_path / "run" / runs.CONFIG_FILE).read_text())["arch"] == "efficientnet_lite0"
    assert run_json(tmp_path / "run")["recipe"] == "quick"


def test_fledge_train_with_an_arch_runs_custom_and_takes_lr_auto(make_image_folder, tmp_path, capsys):
    from core.cli.main import main

    root = make_image_folder(classes={"bird": 6, "plane": 6}, size=32)
    assert main(["train", str(root), "--arch", "small_cnn", "--image-size", "32", "--epochs", "1",
                 "--batch-size", "4", "--lr", "auto", "--out", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    assert "Recipe: custom" in out and "Learning rate for the network" in out
    assert run_json(tmp_path / "run")["auto_lr"] is True

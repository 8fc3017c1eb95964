"""How a run is judged while it runs: a loss that explodes, epochs that stop helping, training and
validation parting ways, and which epoch's model is the best."""
from __future__ import annotations

import dataclasses
import itertools
import json

import pytest

import core.training.trainer
from core.data.dataset import scan_dataset
from core.model.checkpoints import load_checkpoint
from core.training.config import TrainConfig
from core.training.divergence import Diverged, LossGuard
from core.training.early_stopping import EarlyStopping
from core.training.events import CheckpointSaved, EpochEnd, Message
from core.training.overfitting import overfitting_note
from core.training.runs import load_run
from core.training.trainer import Trainer

FAST = dict(recipe="custom", arch="small_cnn", image_size=32, batch_size=16, lr=3e-3, workers=0, seed=1,
            schedule="none")


@pytest.fixture
def dataset(make_image_folder):
    root = make_image_folder(classes={"bird": 24, "plane": 24}, size=40)
    return scan_dataset(root, val_fraction=0.25)


def fit(cfg, dataset, run_dir):
    seen = []
    ended = Trainer(cfg, dataset, run_dir=str(run_dir), callbacks=[seen.append]).fit()
    return ended, seen


def scripted_validation(monkeypatch, figures):
    """evaluate() on the validation photos answers these (loss, accuracy) pairs, one per epoch."""
    answers = iter(figures)
    monkeypatch.setattr(core.training.trainer, "evaluate", lambda learner, source, control: next(answers))


# ---------------------------------------------------------------- divergence

def test_a_learning_rate_far_too_high_stops_the_run_with_advice(dataset, tmp_path):
    # SGD at 10 sends the loss to 1e17 and beyond while it stays finite: before, a "completed" run.
    ended, seen = fit(TrainConfig(epochs=3, **{**FAST, "optimizer": "sgd", "lr": 10.0}), dataset, tmp_path / "run")
    assert ended.reason == "failed"
    assert "diverged" in ended.message and "learning rate (10)" in ended.message
    assert "try a lower one, e.g. 1," in ended.message and "--lr auto" in ended.message
    assert not (tmp_path / "run" / "best.pt").exists() and ended.best_model == ""
    assert not [e for e in seen if isinstance(e, CheckpointSaved)]
    assert load_run(tmp_path / "run").info.status == "failed"


def test_an_epoch_whose_validation_loss_exploded_is_never_the_best_model(dataset, tmp_path, monkeypatch):
    scripted_validation(monkeypatch, [(0.6, 0.6), (5.7e17, 0.75), (0.5, 0.9)])
    ended, _ = fit(TrainConfig(epochs=3, **FAST), dataset, tmp_path / "run")
    assert ended.reason == "failed" and "validation loss grew" in ended.message
    assert ended.best_epoch == 1 and ended.best_val_acc == pytest.approx(0.6)
    assert load_checkpoint(str(tmp_path / "run" / "best.pt"))["metrics"]["epoch"] == 1
    assert str(tmp_path / "run" / "best.pt") in ended.message          # the model that is still good


def test_the_guard_measures_from_the_loss_of_guessing_at_least():
    guard = LossGuard(num_classes=2, lr=0.01)
    guard.check_training(0.01, 1, 1)            # a trained head: its loss starts tiny
    guard.check_training(0.9, 1, 2)             # a wobble above ln 2 is not divergence
    guard.check_validation(float("nan"), float("nan"), 1)      # no validation photos
    with pytest.raises(Diverged, match="grew from 0.01 to 7"):
        guard.check_training(7.0, 1, 3)
    with pytest.raises(Diverged, match="NaN"):
        LossGuard(3, 0.1).check_training(float("nan"), 2, 9)


# ---------------------------------------------------------------- early stopping

def test_early_stopping_ends_the_run_as_completed_and_says_why(dataset, tmp_path, monkeypatch):
    scripted_validation(monkeypatch, [(0.6, 0.7), (0.4, 0.7), (0.5, 0.7), (0.45, 0.65)] + [(0.3, 0.9)] * 6)
    ended, seen = fit(TrainConfig(epochs=10, patience=2, **FAST), dataset, tmp_path / "run")
    assert ended.reason == "completed", ended.message
    assert [e.epoch for e in seen if isinstance(e, EpochEnd)] == [1, 2, 3, 4]
    why = ended.remarks[0]
    assert why.startswith("Stopped early after epoch 4") and "2 epochs (since epoch 2)" in why
    assert why in ended.message and ended.best_epoch == 2
    assert any(isinstance(e, Message) and e.text == why for e in seen)
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["stopped_early"] == why and run["stopped_early_epoch"] == 4


def test_patience_0_trains_every_epoch_and_custom_runs_have_it_on(dataset, tmp_path, monkeypatch):
    assert TrainConfig(recipe="custom").patience > 0
    scripted_validation(monkeypatch, [(0.6, 0.7)] * 5)
    ended, seen = fit(TrainConfig(epochs=5, patience=0, **FAST), dataset, tmp_path / "run")
    assert ended.reason == "completed" and ended.epochs_done == 5 and ended.remarks == ()


def test_early_stopping_counts_an_improving_loss_as_progress():
    stop = EarlyStopping(patience=2)
    assert stop.update(1, 0.5, 0.9) is None
    assert stop.update(2, 0.4, 0.9) is None      # the same accuracy, surer answers
    assert stop.update(3, 0.4, 0.9) is None
    assert stop.update(4, 0.41, 0.85) is not None
    no_validation = EarlyStopping(patience=1)
    assert all(no_validation.update(e, float("nan"), float("nan")) is None for e in range(1, 5))


# ---------------------------------------------------------------- overfitting

def _rows(train_acc, train_loss, val_loss):
    return [dict(epoch=i + 1, train_acc=a, train_loss=t, val_loss=v, val_acc=0.9)
            for i, (a, t, v) in enumerate(zip(train_acc, train_loss, val_loss))]


def test_overfitting_is_noticed_when_training_and_validation_part_ways():
    parting = _rows([0.9, 0.95, 0.98, 1.0], [0.3, 0.2, 0.1, 0.05], [0.2, 0.25, 0.3, 0.4])
    note = overfitting_note(parting)
    assert note.startswith("Overfitting: from epoch 1 to 4") and "90.0% to 100.0%" in note
    assert overfitting_note(parting[:3]) is None                                     # too soon to say
    assert overfitting_note(_rows([0.9] * 4, [0.3, 0.2, 0.1, 0.05], [0.2, 0.25, 0.22, 0.4])) is None  # a dip
    assert overfitting_note(_rows([0.9, 0.8, 0.7, 0.6], [0.3, 0.4, 0.5, 0.6], [0.2, 0.25, 0.3, 0.4])) is None


def test_overfitting_is_said_in_the_log_the_result_and_run_json(dataset, tmp_path, monkeypatch):
    scripted_validation(monkeypatch, [(0.3, 0.8), (0.35, 0.8), (0.4, 0.8), (0.5, 0.8), (0.6, 0.8)])
    real = core.training.trainer.train_one_epoch
    train_figures = itertools.count()

    def learning_by_heart(*args, **kwargs):     # the training figures keep improving
        n = next(train_figures)
        return dataclasses.replace(real(*args, **kwargs), loss=0.5 / (n + 1), accuracy=0.8 + 0.04 * n)

    monkeypatch.setattr(core.training.trainer, "train_one_epoch", learning_by_heart)
    ended, seen = fit(TrainConfig(epochs=5, patience=0, **FAST), dataset, tmp_path / "run")
    assert ended.reason == "completed", ended.message
    notes = [e.text for e in seen if isinstance(e, Message) and e.text.startswith("Overfitting")]
    assert len(notes) == 1 and "from epoch 1 to 4" in notes[0]           # said once, when first seen
    assert ended.remarks == (notes[0],) and notes[0] in ended.message
    assert json.loads((tmp_path / "run" / "run.json").read_text())["overfitting"] == notes[0]


# ---------------------------------------------------------------- the best epoch

def test_at_equal_accuracy_the_lower_validation_loss_is_the_best_model(dataset, tmp_path, monkeypatch):
    # The quick head already chose so; the loop kept the first epoch of a tie.
    scripted_validation(monkeypatch, [(0.5, 0.9), (0.3, 0.9), (0.4, 0.9)])
    ended, seen = fit(TrainConfig(epochs=3, patience=0, **FAST), dataset, tmp_path / "run")
    best = [e.epoch for e in seen if isinstance(e, CheckpointSaved) and e.kind == "best"]
    assert best == [1, 2] and ended.best_epoch == 2
    assert "(epoch 2)" in ended.message


def test_a_resumed_run_remembers_how_long_it_has_waited(dataset, tmp_path, monkeypatch):
    from core.training.events import TrainControl

    scripted_validation(monkeypatch, [(0.5, 0.7), (0.6, 0.7)])
    control = TrainControl()

    def stop_after_2(ev):
        if isinstance(ev, EpochEnd) and ev.epoch == 2:
            control.stop()

    run = tmp_path / "run"
    ended = Trainer(TrainConfig(epochs=8, patience=2, **FAST), dataset, run_dir=str(run),
                    callbacks=[stop_after_2], control=control).fit()
    assert ended.reason == "stopped" and ended.epochs_done == 2

    scripted_validation(monkeypatch, [(0.6, 0.7)] * 6)
    seen = []
    ended = Trainer.resume_from(str(run), callbacks=[seen.append], dataset=dataset).fit()
    assert ended.reason == "completed", ended.message
    assert [e.epoch for e in seen if isinstance(e, EpochEnd)] == [3]      # epoch 2 had not improved either
    assert ended.remarks[0].startswith("Stopped early after epoch 3") and "(since epoch 1)" in ended.remarks[0]

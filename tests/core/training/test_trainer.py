"""The training loop: learning, stop/pause from another thread, divergence, resume."""
from __future__ import annotations

import csv
import threading

import pytest
import torch

from core.training.config import TrainConfig
from core.data.dataset import scan_dataset
from core.training.events import BatchEnd, EpochEnd, FitStarted, TrainControl
from core.training.runs import list_runs, load_run
from core.training.trainer import Trainer

FAST = dict(recipe="custom", arch="small_cnn", image_size=32, batch_size=16, lr=3e-3, workers=0, seed=1)


@pytest.fixture
def dataset(make_image_folder):
    root = make_image_folder(classes={"bird": 24, "plane": 24}, size=40)
    return scan_dataset(root, val_fraction=0.25)


class Recorder:
    def __init__(self):
        self.events = []
        self.first_batch = threading.Event()

    def __call__(self, ev):
        self.events.append(ev)
        if isinstance(ev, BatchEnd):
            self.first_batch.set()

    def of(self, kind):
        return [e for e in self.events if isinstance(e, kind)]


def run_in_thread(trainer):
    box = {}
    t = threading.Thread(target=lambda: box.setdefault("ended", trainer.fit()))
    t.start()
    return t, box


def test_short_run_learns_and_writes_its_run_folder(dataset, tmp_path):
    rec = Recorder()
    cfg = TrainConfig(epochs=4, **FAST)
    ended = Trainer(cfg, dataset, run_dir=str(tmp_path / "run"), callbacks=[rec]).fit()
    assert ended.reason == "completed", ended.message
    epochs = rec.of(EpochEnd)
    assert [e.epoch for e in epochs] == [1, 2, 3, 4]
    batches = rec.of(BatchEnd)
    assert batches and all(b.images_per_s > 0 for b in batches)
    assert epochs[-1].train_loss < batches[0].loss            # the loss falls
    assert ended.best_val_acc > 0.75                         # two classes: chance is 0.5
    run = tmp_path / "run"
    for name in ("config.json", "run.json", "metrics.csv", "batches.csv", "best.pt", "last.pt", "resume.pt", "status.json"):
        assert (run / name).is_file(), name
    with open(run / "metrics.csv") as f:
        assert [int(r["epoch"]) for r in csv.DictReader(f)] == [1, 2, 3, 4]
    record = load_run(run)
    assert record.info.status == "completed" and record.classes == ["bird", "plane"]
    assert record.info.best_val_acc == pytest.approx(ended.best_val_acc)
    assert len(record.batches) == len(batches)
    assert [r.run_dir for r in list_runs(str(tmp_path))] == [str(run)]


def test_stop_from_another_thread_saves_a_model(dataset, tmp_path):
    rec, control = Recorder(), TrainControl()
    trainer = Trainer(TrainConfig(epochs=200, **FAST), dataset, run_dir=str(tmp_path / "run"),
                      callbacks=[rec], control=control)
    t, box = run_in_thread(trainer)
    assert rec.first_batch.wait(120)
    control.stop()
    t.join(120)
    assert not t.is_alive()
    ended = box["ended"]
    assert ended.reason == "stopped"
    assert ended.epochs_done < 200
    assert (tmp_path / "run" / "last.pt").is_file()
    assert load_run(tmp_path / "run").info.status == "stopped"


def test_pause_waits_then_resumes(dataset, tmp_path):
    rec, control = Recorder(), TrainControl()
    trainer = Trainer(TrainConfig(epochs=200, **FAST), dataset, run_dir=str(tmp_path / "run"),
                      callbacks=[rec], control=control)
    t, box = run_in_thread(trainer)
    assert rec.first_batch.wait(120)
    control.pause()
    assert control.waiting.wait(60), "the loop never entered its pause"
    seen = len(rec.of(BatchEnd))
    assert t.is_alive() and control.paused
    assert len(rec.of(BatchEnd)) == seen                    # nothing moves while paused
    more = threading.Event()
    trainer.callbacks.append(lambda ev: isinstance(ev, BatchEnd) and more.set())
    control.resume()
    assert more.wait(120), "training did not go on after resume"
    control.stop()
    t.join(120)
    assert box["ended"].reason == "stopped"
    assert len(rec.of(BatchEnd)) > seen


def test_nan_loss_stops_with_advice(dataset, tmp_path, monkeypatch):
    class NanLoss(torch.nn.CrossEntropyLoss):
        def forward(self, logits, target):
            return super().forward(logits, target) * float("nan")

    monkeypatch.setattr(torch.nn, "CrossEntropyLoss", NanLoss)
    ended = Trainer(TrainConfig(epochs=3, **FAST), dataset, run_dir=str(tmp_path / "run")).fit()
    assert ended.reason == "failed"
    assert "NaN" in ended.message and "learning rate" in ended.message
    assert load_run(tmp_path / "run").info.status == "failed"


def test_out_of_memory_names_the_batch_size(dataset, tmp_path, monkeypatch):
    import core.model.networks

    real_build = core.model.networks.build_model

    def build(*a, **k):
        model, warnings = real_build(*a, **k)

        def boom(*_a, **_k):
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

        model.forward = boom
        return model, warnings

    monkeypatch.setattr(core.model.networks, "build_model", build)
    ended = Trainer(TrainConfig(epochs=1, **FAST), dataset, run_dir=str(tmp_path / "run")).fit()
    assert ended.reason == "failed"
    assert "batch size of 16" in ended.message and "try 8" in ended.message


def test_invalid_config_is_a_readable_failure(dataset, tmp_path):
    ended = Trainer(TrainConfig(epochs=1, **{**FAST, "lr": -1.0}), dataset, run_dir=str(tmp_path / "run")).fit()
    assert ended.reason == "failed"
    assert ended.message == "Learning rate must be a number from 1e-06 to 10 (0.001 is a good start)."


def test_resume_continues_at_the_next_epoch(dataset, tmp_path):
    run = str(tmp_path / "run")
    control = TrainControl()

    def stop_after_two(ev):
        if isinstance(ev, EpochEnd) and ev.epoch == 2:
            control.stop()

    first = Trainer(TrainConfig(epochs=3, **FAST), dataset, run_dir=run, callbacks=[stop_after_two],
                    control=control).fit()
    assert first.reason == "stopped" and first.epochs_done == 2
    assert load_run(run).info.status == "stopped"

    rec = Recorder()
    ended = Trainer.resume_from(run, callbacks=[rec], dataset=dataset).fit()
    assert ended.reason == "completed", ended.message
    assert rec.of(FitStarted)[0].start_epoch == 2
    assert [e.epoch for e in rec.of(EpochEnd)] == [3]
    assert [r["epoch"] for r in load_run(run).epochs] == [1, 2, 3]
    assert min(b.step for b in rec.of(BatchEnd)) > 2 * rec.of(FitStarted)[0].steps_per_epoch


def test_resume_reads_the_dataset_from_the_run_folder(dataset, tmp_path):
    run = str(tmp_path / "run")
    Trainer(TrainConfig(epochs=1, **FAST), dataset, run_dir=run).fit()
    trainer = Trainer.resume_from(run)
    assert trainer.dataset.classes == dataset.classes
    assert trainer.config.epochs == 1


def test_small_cnn_learns_the_sample_data(tmp_path):
    """The built-in birds and planes: what a newcomer trains first must visibly learn."""
    from core.data.sample_data import write_sample_data

    data = scan_dataset(write_sample_data(str(tmp_path / "sample"), per_class=100))
    cfg = TrainConfig(recipe="custom", arch="small_cnn", epochs=10, lr=3e-3, batch_size=32, workers=0)
    ended = Trainer(cfg, data, run_dir=str(tmp_path / "run")).fit()
    assert ended.reason == "completed", ended.message
    assert ended.best_val_acc >= 0.7           # chance is 0.5


def test_fast_and_streaming_paths_give_the_same_results(dataset, tmp_path):
    """The decoded-once cache is the default; streaming through workers must learn the same."""
    results = {}
    for kind in ("cached", "stream"):
        rec = Recorder()
        cfg = TrainConfig(epochs=3, pipeline=kind, **FAST)
        ended = Trainer(cfg, dataset, run_dir=str(tmp_path / kind), callbacks=[rec]).fit()
        assert ended.reason == "completed", ended.message
        assert rec.of(FitStarted)[0].pipeline == kind
        results[kind] = [(e.train_loss, e.val_acc) for e in rec.of(EpochEnd)]
    for (loss_c, acc_c), (loss_s, acc_s) in zip(results["cached"], results["stream"]):
        assert acc_c == pytest.approx(acc_s, abs=0.05)
        assert loss_c == pytest.approx(loss_s, rel=0.05)


def test_a_small_memory_budget_streams_and_says_why(dataset, tmp_path):
    rec = Recorder()
    cfg = TrainConfig(epochs=1, memory_budget_mb=0, **FAST)
    ended = Trainer(cfg, dataset, run_dir=str(tmp_path / "run"), callbacks=[rec]).fit()
    assert ended.reason == "completed", ended.message
    started = rec.of(FitStarted)[0]
    assert started.pipeline == "stream"
    assert "budget" in started.pipeline_reason


def test_test_split_is_evaluated_at_the_end(make_image_folder, tmp_path):
    root = make_image_folder(classes={"bird": 24, "plane": 24}, size=40)
    data = scan_dataset(root, val_fraction=0.2, test_fraction=0.2)
    assert data.test
    ended = Trainer(TrainConfig(epochs=2, **FAST), data, run_dir=str(tmp_path / "run")).fit()
    assert ended.reason == "completed", ended.message
    assert ended.test_acc is not None and 0.0 <= ended.test_acc <= 1.0
    assert load_run(tmp_path / "run").info.test_acc == pytest.approx(ended.test_acc)


def test_a_killed_run_is_listed_as_interrupted(dataset, tmp_path):
    """A process killed mid-run leaves status 'running' with a dead pid behind."""
    import json
    import subprocess
    import sys

    run = tmp_path / "run"
    Trainer(TrainConfig(epochs=2, **FAST), dataset, run_dir=str(run)).fit()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (run / "status.json").write_text(json.dumps({"status": "running", "pid": dead.pid}))
    info = list_runs(str(tmp_path))[0]
    assert info.status == "interrupted" and "resumed" in info.message


def test_resume_after_a_class_was_added_says_what_changed(make_image_folder, tmp_path):
    root = make_image_folder(classes={"bird": 12, "plane": 12}, size=40)
    run = str(tmp_path / "run")
    first = Trainer(TrainConfig(epochs=1, **FAST), scan_dataset(root, val_fraction=0.25), run_dir=run).fit()
    assert first.reason == "completed"
    grown = make_image_folder(name="data", classes={"bird": 12, "plane": 12, "owl": 12}, size=40)
    assert grown == root
    ended = Trainer(TrainConfig(epochs=2, **FAST), scan_dataset(root, val_fraction=0.25), run_dir=run,
                    resume=True).fit()
    assert ended.reason == "failed"
    assert "classes changed" in ended.message and "added: owl" in ended.message


@pytest.mark.parametrize("seed", [-1, 2**31, 10**30, 1.5])
def test_a_seed_out_of_range_is_a_readable_failure(dataset, tmp_path, seed):
    ended = Trainer(TrainConfig(epochs=1, **{**FAST, "seed": seed}), dataset, run_dir=str(tmp_path / "run")).fit()
    assert ended.reason == "failed"
    assert "Random seed must be a whole number" in ended.message


def test_a_pretrained_run_that_fell_back_to_scratch_is_recorded_as_such(dataset, tmp_path, monkeypatch):
    import json

    import core.model.networks as networks

    real = networks.build_model

    def no_weights(*a, **k):
        model, warnings = real(*a, **{**k, "pretrained": False})
        return model, [*warnings, "The ImageNet weights are not on this computer: training from scratch."]

    monkeypatch.setattr(networks, "build_model", no_weights)
    run = tmp_path / "run"
    ended = Trainer(TrainConfig(epochs=1, **{**FAST, "arch": "mobilenet_v3_small", "pretrained": True}),
                    dataset, run_dir=str(run)).fit()
    assert ended.reason == "completed", ended.message
    assert json.loads((run / "run.json").read_text())["pretrained_used"] is False


def test_a_full_disk_names_the_disk_it_happened_on(tmp_path, monkeypatch):
    """A full disk while writing a cache is not 'the model could not be saved': the folder is named."""
    import errno

    def full(self):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "cache" / "chunk-1.npz"))

    monkeypatch.setattr(Trainer, "_fit", full)
    ended = Trainer(TrainConfig(recipe="custom", arch="small_cnn"), dataset=None, run_dir=str(tmp_path / "run")).fit()
    assert ended.reason == "failed"
    assert ended.message.startswith(f"The disk holding {tmp_path / 'cache'} is full")
    assert "model could not be saved" not in ended.message

"""Data-parallel training with two Gloo processes on the CPU (core.training.distributed).

Each test starts real processes (torchrun through `fledge train --gpus 2`, or the ranks by hand
with torchrun's variables) on a few tiny photos, and is bounded by a timeout.
"""
from __future__ import annotations

import json
import time

import numpy as np
import pytest
import torch

from core.training.distributed import shard_positions
from tests.core.training.distributed_support import (epochs_done, finish, fledge, interrupt, start_ranks,
                                                     wait_for)

pytestmark = pytest.mark.timeout(240)

TINY = ["--image-size", "32", "--workers", "0", "--pipeline", "cached", "--augment", "none",
        "--patience", "0"]   # long runs that a test stops: no early stop on a plateau


def _state(path):
    return torch.load(path, map_location="cpu", weights_only=True)["state_dict"]


def _status(run_dir):
    return json.loads((run_dir / "status.json").read_text())


def test_shards_are_equal_disjoint_and_cover_every_photo():
    shards = [shard_positions(10, r, 3, seed=5) for r in range(3)]
    assert {len(s) for s in shards} == {4}                    # padded: every rank takes as many steps
    assert set(np.concatenate(shards)) == set(range(10))
    even = [shard_positions(8, r, 2, seed=5) for r in range(2)]
    assert not set(even[0]) & set(even[1])
    assert np.array_equal(shard_positions(8, 1, 2, seed=5), even[1])     # the same on every call


def test_two_processes_end_with_the_weights_of_one_process_on_the_same_global_batch(make_image_folder, tmp_path):
    """16 training photos: one process with batches of 16 at lr 0.02, two with 8 each at lr 0.01
    (scaled to 0.02 by the linear rule) see the same global batch at each step: same weights."""
    data = make_image_folder(layout="split", classes={c: {"train": 8, "val": 2} for c in ("bird", "plane")}, size=40)
    common = ["train", data, "--arch", "simplenet", "--optimizer", "sgd", "--schedule", "none", "--epochs", "3",
              "--seed", "3", *TINY]
    single = fledge(common + ["--batch-size", "16", "--lr", "0.02", "--out", tmp_path / "one"], tmp_path,
                    no_dropout=True)
    assert single.returncode == 0, single.stdout + single.stderr
    procs = start_ranks(common + ["--batch-size", "8", "--lr", "0.01", "--out", tmp_path / "two"], tmp_path,
                        no_dropout=True)
    results = finish(procs)
    assert [rc for rc, _ in results] == [0, 0], results
    assert "learning rate is scaled from 0.01 to 0.02" in results[0][1]
    one, two = _state(tmp_path / "one" / "last.pt"), _state(tmp_path / "two" / "last.pt")
    assert one.keys() == two.keys()
    for k in one:
        assert torch.allclose(one[k], two[k], atol=1e-5, rtol=0), k
    assert not any(k.startswith("module.") for k in two)          # saved unwrapped, as a one-device run


def test_torchrun_run_stops_on_every_rank_resumes_at_the_next_epoch_and_its_model_predicts(
        make_image_folder, tmp_path):
    """`fledge train --gpus 2` of a BatchNorm network (one launch of torchrun for each part)."""
    import subprocess

    from core.model.predictor import Predictor
    from tests.core.training.distributed_support import PY, ROOT, env_for

    data = make_image_folder(classes={"bird": 8, "plane": 8}, size=40)
    run = tmp_path / "run"
    launcher = subprocess.Popen(
        [PY, "-m", "core.cli", "train", data, "--gpus", "2", "--arch", "small_cnn", "--batch-size", "4",
         "--epochs", "2000", "--lr", "0.003", "--sync-bn", *TINY, "--out", run], cwd=ROOT,
        env=env_for(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert wait_for(lambda: epochs_done(run) >= 2, procs=[launcher]), finish([launcher], 5)
    interrupt(launcher)                       # Ctrl+C: the launcher asks rank 0, rank 0 tells rank 1
    t0 = time.monotonic()
    [(rc, text)] = finish([launcher], timeout=60)
    assert time.monotonic() - t0 < 60
    assert rc == 3, text                      # 3: stopped, and torchrun saw both processes end cleanly
    assert _status(run)["status"] == "stopped" and (run / "last.pt").is_file()
    assert "Starting 2 training processes" in text and "2 processes (gloo)" in text
    done = epochs_done(run)
    assert 2 <= done < 2000
    config = json.loads((run / "config.json").read_text())
    assert (config["gpus"], config["lr"], config["batch_size"]) == ("2", 0.003, 4)   # as given: resume scales again

    # Resume with two more epochs to go (the settings say how many in all).
    (run / "config.json").write_text(json.dumps(dict(config, epochs=done + 2)))
    again = fledge(["train", "--resume", run], tmp_path)       # --gpus 2 comes from the run's settings
    assert again.returncode == 0, again.stdout + again.stderr
    assert "Starting 2 training processes" in again.stdout
    assert f"Resuming from the end of epoch {done}." in again.stdout
    lines = (run / "metrics.csv").read_text().strip().splitlines()[1:]
    assert [int(r.split(",")[0]) for r in lines] == list(range(1, done + 3))
    assert _status(run)["status"] == "completed"
    pred = Predictor.from_checkpoint(str(run / "best.pt"), device="cpu").predict(
        str(next((data / "plane").iterdir())), top_k=2)
    assert pred.error is None and {c for c, _ in pred.top} == {"bird", "plane"}


@pytest.mark.parametrize("fate", ["killed", "hung"])
def test_a_killed_or_hung_process_ends_the_other_with_a_clear_message(make_image_folder, tmp_path, fate):
    """Killed: its connections close at once. Hung (SIGSTOP): the collective timeout (5 s here)."""
    import os
    import signal

    data = make_image_folder(classes={"bird": 8, "plane": 8}, size=40)
    run = tmp_path / "run"
    procs = start_ranks(["train", data, "--arch", "simplenet", "--batch-size", "4", "--epochs", "2000",
                         "--lr", "0.003", *TINY, "--out", run], tmp_path, FLEDGE_COLLECTIVE_TIMEOUT_S=5)
    assert wait_for(lambda: epochs_done(run) >= 1, procs=procs), finish(procs, 5)
    os.kill(procs[1].pid, signal.SIGKILL if fate == "killed" else signal.SIGSTOP)
    t0 = time.monotonic()
    try:
        [(rc, text)] = finish(procs[:1], timeout=60)
    finally:
        procs[1].kill()
        finish(procs[1:], timeout=10)
    assert time.monotonic() - t0 < 30, text
    assert rc == 1 and "Another training process ended or stopped answering" in text, text
    assert _status(run)["status"] == "failed" and (run / "best.pt").is_file()


def test_sigterm_from_torchrun_stops_every_process_at_the_next_batch_and_keeps_the_model(make_image_folder,
                                                                                          tmp_path):
    """How torchrun ends a job (another process failed, or the job was cancelled): a clean stop."""
    import os
    import signal

    data = make_image_folder(classes={"bird": 8, "plane": 8}, size=40)
    run = tmp_path / "run"
    procs = start_ranks(["train", data, "--arch", "simplenet", "--batch-size", "4", "--epochs", "2000",
                         "--lr", "0.003", *TINY, "--out", run], tmp_path)
    assert wait_for(lambda: epochs_done(run) >= 1, procs=procs), finish(procs, 5)
    for p in procs:
        os.kill(p.pid, signal.SIGTERM)
    (rc0, text0), (rc1, text1) = finish(procs, timeout=60)
    assert (rc0, rc1) == (3, 0), text0 + text1
    assert "Training was stopped. The model so far was saved." in text0 and "Traceback" not in text0 + text1
    assert _status(run)["status"] == "stopped" and (run / "last.pt").is_file()


def test_a_killed_process_ends_fledge_train_gpus_in_one_line_that_names_the_log(make_image_folder, tmp_path):
    """torchrun's own ~40-line report of a killed process goes to the log; Fledge says one line."""
    import os
    import re
    import signal
    import subprocess
    from pathlib import Path

    from tests.core.training.distributed_support import PY, ROOT, can_see_children, env_for, logs_dir, ranks_of

    if not can_see_children():
        pytest.skip("finding the processes needs /proc/PID/task/TID/children")
    data = make_image_folder(classes={"bird": 8, "plane": 8}, size=40)
    run = tmp_path / "run"
    launcher = subprocess.Popen(
        [PY, "-m", "core.cli", "train", data, "--gpus", "2", "--arch", "simplenet", "--batch-size", "4",
         "--epochs", "2000", "--lr", "0.003", *TINY, "--out", run], cwd=ROOT, env=env_for(tmp_path),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for(lambda: epochs_done(run) >= 1, procs=[launcher]), launcher.poll()
        os.kill(ranks_of(launcher.pid)[1], signal.SIGKILL)
        out, err = launcher.communicate(timeout=120)
    finally:
        launcher.kill()
    assert launcher.returncode == 1, out + err
    assert "Traceback" not in out + err and "ChildFailedError" not in out + err
    [line] = err.strip().splitlines()
    assert line.startswith("fledge: ") and "was killed with SIGKILL" in line, line
    assert f"fledge train --resume {run}" in line
    log = Path(re.search(r"The processes' own report is in (\S+\.log)\.", line).group(1))
    assert log.parent == logs_dir(tmp_path) and "SIGKILL" in log.read_text()      # the full report, kept
    assert _status(run)["status"] == "failed"


def test_events_and_the_job_travel_as_json(make_image_folder, tmp_path):
    """Rank 0's events come back as the same objects; the processes get the trainer's config,
    scanned dataset, run folder and resume flag as JSON, not as command-line arguments."""
    from core.data.dataset import scan_dataset
    from core.training.config import TrainConfig
    from core.training.events import EpochEnd, FitEnded, FitStarted, from_json, to_json
    from core.training.trainer import Trainer
    from core.training.worker import train_job, trainer_from_job

    for ev in (FitStarted("r", ("a", "b"), 3, 0, 5, 15, "cpu", "fp32", "cached", "why"),
               EpochEnd(1, 3, 0.5, 0.9, float("nan"), 0.8, 1e-3, 2.0, 100.0), FitEnded("stopped", "ok")):
        back = from_json(json.loads(json.dumps(to_json(ev))))
        assert type(back) is type(ev) and to_json(back) == to_json(ev)
    config = TrainConfig(recipe="custom", arch="simplenet", lr=0.02, gpus="2", sync_bn=True, augment=False, image_size=32)
    dataset = scan_dataset(make_image_folder(classes={"bird": 5, "plane": 5}), val_fraction=0.4, seed=3)
    job = json.loads(json.dumps(train_job(Trainer(config, dataset, run_dir=str(tmp_path / "run"), resume=True))))
    again = trainer_from_job(job, control=None, cls=Trainer)
    assert again.config == config and again.dataset.to_dict() == dataset.to_dict()
    assert (again.run_dir, again.resume) == (str(tmp_path / "run"), True)


def test_a_supervised_job_streams_rank_0s_events_and_stops_through_the_control(make_image_folder, tmp_path,
                                                                                monkeypatch):
    """What the window's worker does: the same events as a local run; Pause and Stop reach the job;
    a job that ends cleanly leaves no log behind."""
    import threading

    from core.data.dataset import scan_dataset
    from core.training.config import TrainConfig
    from core.training.distributed_fit import fit
    from core.training.events import BatchEnd, EpochEnd, FitEnded, FitStarted, TrainControl
    from core.training.trainer import Trainer

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "user-data"))
    data = make_image_folder(classes={"bird": 8, "plane": 8}, size=40)
    control, seen, marks = TrainControl(), [], {}

    def go_on():
        marks["resumed"] = time.monotonic()
        control.resume()

    def listen(ev):
        seen.append((time.monotonic(), ev))
        if isinstance(ev, EpochEnd) and ev.epoch == 2 and "paused" not in marks:
            marks["paused"] = time.monotonic()
            control.pause()
            threading.Timer(2.5, go_on).start()
        if isinstance(ev, EpochEnd) and "resumed" in marks and ev.epoch >= 4:
            control.stop()

    config = TrainConfig(recipe="custom", arch="simplenet", image_size=32, batch_size=4, epochs=2000, lr=0.003,
                         auto_lr=False, workers=0, augment=False, gpus="2", patience=0)
    trainer = Trainer(config, scan_dataset(data), run_dir=str(tmp_path / "run"), callbacks=[listen], control=control)
    ended = fit(trainer)
    assert ended.reason == "stopped", ended.message
    held = [e for t, e in seen if marks["paused"] + 1.0 < t < marks["resumed"]]
    assert not held, held                               # paused: no rank went on
    kinds = [type(e) for _, e in seen]
    assert kinds[0] is not FitEnded and FitStarted in kinds and BatchEnd in kinds and kinds[-1] is FitEnded
    assert kinds.count(FitEnded) == 1 and seen[-1][1] is ended
    assert ended.last_model and 4 <= ended.epochs_done < 2000
    assert "2 processes (gloo)" in next(e.device for _, e in seen if isinstance(e, FitStarted))
    assert not list((tmp_path / "user-data" / "fledge" / "logs").glob("*.log"))

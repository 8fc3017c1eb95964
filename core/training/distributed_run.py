"""Supervising a torchrun job from another program (the window's training worker).

fit_distributed() starts `fledge train` under torchrun with N processes and behaves like
Trainer.fit(): rank 0's events come back through a file of JSON lines and are handed to the
callbacks as the same event objects; the TrainControl's stop and pause reach the job through
the stop and pause files rank 0 watches (and rank 0 passes them on to every rank); a job that
ends without saying how becomes FitEnded("failed") with the last lines it printed.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterable

from core.training import events as ev_module
from core.training.distributed import EVENTS_FILE_ENV, PAUSE_FILE_ENV, STOP_FILE_ENV
from core.training.events import FitEnded, TrainControl

_EVENT_TYPES = {c.__name__: c for c in (ev_module.FitStarted, ev_module.Message, ev_module.BatchEnd,
                                        ev_module.EpochEnd, ev_module.CheckpointSaved, FitEnded)}


def encode(event) -> str | None:
    """One JSON line for an event (None for what is not an event); NaN travels as null."""
    if type(event).__name__ not in _EVENT_TYPES:
        return None
    data = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in dataclasses.asdict(event).items()}
    return json.dumps({"event": type(event).__name__, **data})


def decode(line: str):
    data = json.loads(line)
    cls = _EVENT_TYPES[data.pop("event")]
    fields = {f.name: f for f in dataclasses.fields(cls)}
    values = {}
    for k, v in data.items():
        if k not in fields:
            continue
        if v is None and fields[k].type in ("float", float):
            v = float("nan")
        values[k] = tuple(v) if isinstance(v, list) else v
    return cls(**values)


class EventWriter:
    """A callback for rank 0: every event as a JSON line, flushed at once."""

    def __init__(self, path: str) -> None:
        self._file = open(path, "a", encoding="utf-8")

    def __call__(self, event) -> None:
        line = encode(event)
        if line is not None:
            self._file.write(line + "\n")
            self._file.flush()


def train_args(config, data_root: str, split=None, run_dir: str | None = None) -> list[str]:
    """`fledge train` arguments that give back this config (and split) when parsed."""
    from core.training.config import config_options

    args = ["train", str(data_root)]
    for opt in config_options():
        value = getattr(config, opt.name)
        if opt.kind is bool:
            args.append(opt.cli_flag if value else "--no-" + opt.cli_flag[2:])
        elif value is not None:
            args += [opt.cli_flag, str(value)]
    if split is not None:
        args += ["--val-fraction", str(split.val_fraction), "--test-fraction", str(split.test_fraction),
                 "--split-seed", str(split.seed)]
    if run_dir:
        args += ["--out", str(run_dir)]
    return args


def fit_distributed(args: list[str], nproc: int, callbacks: Iterable[Callable] = (),
                    control: TrainControl | None = None, poll_s: float = 0.05) -> FitEnded:
    """Run `fledge ARGS` as nproc processes under torchrun; how it ended."""
    control = control or TrainControl()
    callbacks = list(callbacks)
    with tempfile.TemporaryDirectory(prefix="fledge-job-") as tmp:
        files = {k: os.path.join(tmp, n) for k, n in ((STOP_FILE_ENV, "stop"), (PAUSE_FILE_ENV, "pause"),
                                                      (EVENTS_FILE_ENV, "events.jsonl"))}
        Path(files[EVENTS_FILE_ENV]).touch()
        log_path = os.path.join(tmp, "output.txt")
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(nproc),
               "-m", "core.cli", *args]
        with open(log_path, "w", encoding="utf-8") as log, open(files[EVENTS_FILE_ENV], encoding="utf-8") as stream:
            threads = os.environ.get("OMP_NUM_THREADS") or str(max(1, (os.cpu_count() or 1) // nproc))
            proc = subprocess.Popen(cmd, env={**os.environ, "OMP_NUM_THREADS": threads, **files}, stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
            ended = None
            pending = ""
            while True:
                running = proc.poll() is None
                _mirror(control, files)
                pending += stream.read()
                *lines, pending = pending.split("\n")
                for line in lines:
                    if line.strip():
                        event = decode(line)
                        ended = event if isinstance(event, FitEnded) else ended
                        for cb in callbacks:
                            cb(event)
                if not running:
                    break
                time.sleep(poll_s)
        if ended is None:
            tail = " ".join(Path(log_path).read_text(encoding="utf-8", errors="replace").strip().splitlines()[-3:])
            ended = FitEnded("failed", f"The training processes ended without finishing the run (exit status "
                                       f"{proc.returncode}). They said: {tail[-400:]}")
            for cb in callbacks:
                cb(ended)
        return ended


def _mirror(control: TrainControl, files: dict) -> None:
    if control.stop_requested:
        Path(files[STOP_FILE_ENV]).touch()
    pause = Path(files[PAUSE_FILE_ENV])
    if control.paused and not pause.exists():
        pause.touch()
    elif not control.paused and pause.exists():
        pause.unlink()


# -- what the window's training jobs call (the "All N GPUs" device: core.training.config) ---------
def wants_processes(config) -> int:
    """How many processes this config trains with: 1 unless gpus asks for more and the recipe
    can use them (quick and thorough, and the learning-rate finder, run on one device)."""
    from core.training.distributed import process_count

    if str(config.gpus) == "1" or config.recipe != "custom" or config.auto_lr:
        return 1
    return process_count(config.gpus)


def fit_job(config, dataset, callbacks, control, run_dir: str | None = None) -> FitEnded:
    """Trainer(config, dataset).fit(), on as many processes as config.gpus asks for."""
    from core.training.trainer import Trainer

    n = wants_processes(config)
    if n <= 1:
        if str(config.gpus) != "1":
            config = config.replace(gpus="1")
            for cb in callbacks:
                cb(ev_module.Message("info", "The quick and thorough recipes (and finding the learning rate) "
                                             "train on one GPU."))
        return Trainer(config, dataset, run_dir=run_dir, callbacks=callbacks, control=control).fit()
    args = train_args(config, dataset.root, dataset.split_settings, run_dir)
    return fit_distributed(args, n, callbacks, control)


def fit_resumed(trainer) -> FitEnded:
    """trainer.fit() for a trainer made by Trainer.resume_from, on as many processes as the run used."""
    n = wants_processes(trainer.config)
    if n <= 1:
        return trainer.fit()
    return fit_distributed(["train", "--resume", str(trainer.run_dir)], n, trainer.callbacks, trainer.control)

"""The processes of a training job: `python -m core.training.worker JOB.json`.

core.training.launcher starts them under torchrun. Each reads the job from JOB.json (the
TrainConfig, the scanned dataset, the run folder: train_job() writes it), joins the process
group and runs a DistributedTrainer on its share of the photos. Rank 0 reports every event as a
JSON line, follows the stop and pause files, and writes how the run ended (a FitEnded) to the
result file.

The rank-side pieces serve two more callers: `fledge train` started by hand under torchrun on
each of several machines (train_rank without files: rank 0 prints its own progress), and the
processes of `fledge classify --gpus` (core.cli.classify_worker).
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
import traceback

from core.data.dataset import Dataset
from core.errors import FledgeError
from core.files.fileio import atomic_write_text
from core.process_exit import leave
from core.training import distributed
from core.training.config import TrainConfig
from core.training.distributed_trainer import DistributedTrainer
from core.training.events import FitEnded, TrainControl, to_json

STEER_POLL_S = 0.2          # how often rank 0 looks at the stop and pause files


# -- the job description (written by the program that starts the job) ------------------------
def train_job(trainer) -> dict:
    """What the processes need to run `trainer` (not yet fitted) as a job of their own."""
    return {"kind": "train", "config": trainer.config.to_dict(),
            "dataset": trainer.dataset.to_dict() if trainer.dataset is not None else None,
            "run_dir": str(trainer.run_dir) if trainer.run_dir else None, "resume": bool(trainer.resume),
            "runs_root": trainer.runs_root}


def trainer_from_job(job: dict, control: TrainControl, cls=DistributedTrainer):
    """The trainer train_job described, steered by control."""
    dataset = Dataset.from_dict(job["dataset"]) if job.get("dataset") else None
    return cls(TrainConfig.from_dict(job["config"]), dataset, run_dir=job.get("run_dir"), control=control,
               resume=bool(job.get("resume")), runs_root=job.get("runs_root"))


def read_job(path: str) -> dict:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


# -- what every process of a job does ----------------------------------------------------------
@contextlib.contextmanager
def joined(device_setting: str = "auto"):
    """In the process group torchrun set up for the whole block; this process's RankInfo."""
    info = distributed.setup(device_setting or "auto")
    try:
        yield info
    finally:
        distributed.teardown()


def speak_for_all(info, files: dict | None = None) -> None:
    """Rank 0 speaks for every process: the others' printing is dropped; a supervised rank 0
    prints into the stdout and stderr files its supervisor passes on (their errors stay in the log)."""
    if not info.is_main:
        sys.stdout = open(os.devnull, "w", encoding="utf-8")
    elif files and files.get("stdout"):
        sys.stdout = open(files["stdout"], "a", encoding="utf-8", errors="surrogateescape", buffering=1)
        sys.stderr = open(files["stderr"], "a", encoding="utf-8", errors="surrogateescape", buffering=1)


def follow_files(control: TrainControl, files: dict, done: threading.Event) -> None:
    """Rank 0: the supervisor's stop and pause files steer the control until done is set."""
    while not done.wait(STEER_POLL_S):
        if os.path.exists(files["stop"]):
            control.stop()
            return
        control.pause() if os.path.exists(files["pause"]) else control.resume()


def write_result(files: dict | None, data: dict) -> None:
    if files:
        atomic_write_text(files["result"], json.dumps(data))


class JsonLines:
    """A trainer callback for rank 0: every event as a JSON line, flushed at once."""

    def __init__(self, path: str) -> None:
        self._file = open(path, "a", encoding="utf-8")

    def __call__(self, event) -> None:
        data = to_json(event)
        if data is not None:
            self._file.write(json.dumps(data) + "\n")
            self._file.flush()


def train_rank(make_trainer, device_setting: str = "auto", files: dict | None = None):
    """One process of a training job: join, train, leave; (its RankInfo, how the run ended).

    make_trainer(control) builds the trainer (a DistributedTrainer; or returns an exit status,
    handed back in place of the FitEnded). Ctrl+C, which torchrun passes on to every process, and
    SIGTERM, with which torchrun ends a job (another process failed, or it was cancelled), stop
    the run at the next batch, where the processes agree or find one of them gone; an exception
    from the handler could land anywhere, in a checkpoint being written too. With files (a
    supervised job), rank 0 follows the stop and pause files and writes the events and result."""
    with joined(device_setting) as info:
        speak_for_all(info)
        control = TrainControl()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda signum, frame: control.stop())
        done = threading.Event()
        if info.is_main and files:
            threading.Thread(target=follow_files, args=(control, files, done), daemon=True,
                             name="fledge-steer").start()
        try:
            trainer = make_trainer(control)
            if isinstance(trainer, int):
                return info, trainer
            if info.is_main and files:
                trainer.callbacks.append(JsonLines(files["events"]))
            ended = trainer.fit()
        finally:
            done.set()
    if info.is_main:
        write_result(files, to_json(ended))
    return info, ended


def main(argv: list[str] | None = None) -> int:
    """A process of a supervised training job. Exit status 0 when it ended as the result says
    (so that torchrun reports nothing); 1 after an error nobody foresaw, whose traceback is then
    in the log."""
    job = read_job((sys.argv[1:] if argv is None else argv)[0])
    files = job["files"]
    main_rank = os.environ.get("RANK", "0") == "0"
    try:
        train_rank(lambda control: trainer_from_job(job, control), job["config"].get("device", "auto"), files)
        return 0
    except FledgeError as exc:          # e.g. fewer GPUs than processes on this machine
        if main_rank:
            write_result(files, to_json(FitEnded("failed", str(exc))))
        return 0
    except Exception as exc:
        traceback.print_exc()
        if main_rank:
            write_result(files, to_json(FitEnded(
                "failed", f"The training processes failed unexpectedly ({type(exc).__name__}: {exc}).")))
        return 1


if __name__ == "__main__":
    # Without the interpreter's teardown, where PyTorch's C++ threads at times abort a finished
    # process, which torchrun would report as a failure (core.process_exit).
    leave(main())

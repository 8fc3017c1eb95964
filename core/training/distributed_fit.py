"""Training on as many processes as the settings ask for: in this process, or as a torchrun job
that behaves like Trainer.fit() (the window's way, `fledge train --gpus N` and the bench).

    ended = fit(trainer)                    # trainer.fit() on config.gpus processes
    ended = run_training(trainer, 2)        # always a torchrun job (the bench's 1 and N)

A job's rank 0 sends its events back as JSON lines (core.training.launcher); they reach the
trainer's callbacks as the same event objects as in a one-process run; the trainer's control
steers the job through the stop and pause files; and the job ends with one FitEnded, whose
message names the log of the processes' own output when they did not end cleanly.
"""
from __future__ import annotations

import dataclasses
import traceback

from core.errors import FledgeError
from core.training.distributed import process_count
from core.training.events import FitEnded, FitStarted, Message, from_json
from core.training.launcher import JobEnd, TorchrunJob
from core.training.recipes import can_run_on
from core.training.worker import train_job

WORKER = "core.training.worker"


def fit(trainer) -> FitEnded:
    """trainer.fit() on as many processes as its config's gpus asks for. Where the recipe
    cannot use several (can_run_on), on one, with an info message saying why."""
    try:
        n = process_count(trainer.config.gpus)
    except FledgeError as exc:
        return _tell(trainer.callbacks, FitEnded("failed", str(exc)))
    if problem := can_run_on(trainer.config, n):
        _tell(trainer.callbacks, Message("info", f"{problem} This run trains on one GPU."))
        trainer.config = trainer.config.replace(gpus="1")
        n = 1
    return trainer.fit() if n <= 1 else run_training(trainer, n)


def run_training(trainer, processes: int, *, ctrl_c: str | None = None, notice=None,
                 env: dict | None = None) -> FitEnded:
    """trainer (not yet fitted) as a torchrun job of `processes` processes, to its end.
    ctrl_c, notice and env: as core.training.launcher.TorchrunJob takes them."""
    run_dir = {"path": str(trainer.run_dir or "")}

    def on_event(data: dict) -> None:
        event = from_json(data)
        if isinstance(event, FitEnded):         # the outcome comes once, at the end
            return
        if isinstance(event, FitStarted):
            run_dir["path"] = event.run_dir
        _tell(trainer.callbacks, event)

    end = TorchrunJob(WORKER, train_job(trainer), processes, kind="train", on_event=on_event,
                      control=trainer.control, ctrl_c=ctrl_c, notice=notice, env=env).run()
    return _tell(trainer.callbacks, outcome(end, run_dir["path"]))


def outcome(end: JobEnd, run_dir: str = "") -> FitEnded:
    """How the run ended, as rank 0 said, with what else happened to the processes."""
    said = end.result or {}
    if said.get("event") != FitEnded.__name__:
        resume = f" Continue it with fledge train --resume {run_dir}." if run_dir else ""
        return FitEnded("failed", _joined(f"The training processes ended without finishing the run ({end.cause}).",
                                          resume.strip(), end.report()), run_dir=run_dir)
    ended = from_json(said)
    if end.returncode == 0 or end.interrupted:
        return ended
    if ended.reason == "failed":
        return dataclasses.replace(ended, message=_joined(ended.message, _sentence(end.cause), end.report()))
    return dataclasses.replace(ended, message=_joined(ended.message, f"Then {end.cause}.", end.report()))


def _joined(*sentences: str) -> str:
    return " ".join(s for s in sentences if s)


def _sentence(words: str) -> str:
    return words[:1].upper() + words[1:] + "." if words else ""


def _tell(callbacks, event):
    for cb in callbacks:
        try:
            cb(event)
        except Exception:       # a broken listener must not end the job (as in Trainer._emit)
            traceback.print_exc()
    return event

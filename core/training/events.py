"""Messages the trainer sends, and the control object that steers it.

Events hold plain Python values only (numbers, strings, paths as str), never
tensors, so any client -- the CLI, the Qt window, a script -- can consume them
from any thread.
"""
from __future__ import annotations

import dataclasses
import math
import threading
from dataclasses import dataclass

EXTRACT_PIPELINE = "extract"      # FitStarted.pipeline while the pretrained network reads the photos
HEAD_PIPELINE = "features"        # ... while the quick head trains on their features


@dataclass(frozen=True)
class FitStarted:
    run_dir: str
    classes: tuple[str, ...]
    epochs: int
    start_epoch: int          # 0 for a new run, >0 when resuming
    steps_per_epoch: int
    total_steps: int
    device: str               # e.g. "cpu", "cuda:0 (NVIDIA H200)"
    precision: str            # "fp32" or "bf16"
    pipeline: str             # "cached" or "stream"; quick: EXTRACT_PIPELINE, then HEAD_PIPELINE
    pipeline_reason: str      # why that pipeline was chosen, in plain words


@dataclass(frozen=True)
class Message:
    """A warning or note the user should see (pretrained weights missing, ...)."""
    level: str                # "info" | "warning"
    text: str


@dataclass(frozen=True)
class BatchEnd:
    step: int                 # global step, counted from 1
    epoch: int                # counted from 1
    epoch_step: int           # step within the epoch, from 1
    steps_per_epoch: int
    loss: float               # mean over the batches since the last report
    accuracy: float           # 0..1, over the images since the last report
    images_per_s: float
    eta_s: float              # seconds left for the whole run, estimated


@dataclass(frozen=True)
class EpochEnd:
    epoch: int                # counted from 1
    epochs: int
    train_loss: float
    train_acc: float
    val_loss: float
    val_acc: float
    lr: float
    seconds: float
    images_per_s: float


@dataclass(frozen=True)
class CheckpointSaved:
    path: str
    epoch: int
    score: float              # validation accuracy of the saved model
    kind: str                 # "best" | "last"


@dataclass(frozen=True)
class FitEnded:
    reason: str               # "completed" | "stopped" | "failed"
    message: str              # readable; for "failed", says what to do
    run_dir: str = ""
    best_model: str = ""      # path of the best checkpoint, "" if none
    last_model: str = ""
    best_val_acc: float = float("nan")
    best_epoch: int = 0
    test_acc: float | None = None
    epochs_done: int = 0
    remarks: tuple[str, ...] = ()   # how the run went, in sentences: stopped early, overfitting


class TrainControl:
    """Steers a running fit from another thread; polled at batch boundaries."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._running = threading.Event()   # set = not paused
        self._running.set()
        self.waiting = threading.Event()    # set while the loop sits in a pause

    def stop(self) -> None:
        self._stop.set()
        self._running.set()                 # wake a paused loop so it can stop

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def wait_while_paused(self) -> None:
        """Block without burning CPU while paused; returns at once otherwise."""
        if self._running.is_set():
            return
        self.waiting.set()
        try:
            while not self._running.wait(timeout=0.5):
                if self._stop.is_set():
                    return
        finally:
            self.waiting.clear()


# -- events as JSON lines (rank 0 of a torchrun job to the program that started it) ---------------
_LINE_EVENTS = {c.__name__: c for c in (FitStarted, Message, BatchEnd, EpochEnd, CheckpointSaved, FitEnded)}


def to_json(event) -> dict | None:
    """An event as a JSON-able dict (None for what is not an event); NaN travels as null."""
    if type(event).__name__ not in _LINE_EVENTS:
        return None
    data = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in dataclasses.asdict(event).items()}
    return {"event": type(event).__name__, **data}


def from_json(data: dict):
    """The event to_json described (fields it does not know are left out)."""
    data = dict(data)
    cls = _LINE_EVENTS[data.pop("event")]
    fields = {f.name: f for f in dataclasses.fields(cls)}
    values = {}
    for k, v in data.items():
        if k not in fields:
            continue
        if v is None and fields[k].type in ("float", float):
            v = float("nan")
        values[k] = tuple(v) if isinstance(v, list) else v
    return cls(**values)

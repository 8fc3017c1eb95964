"""What a training run writes into its folder while it runs: its description, the metrics
of each epoch and batch, the models and the state to resume from.

RunWriter is what the Trainer needs of a run folder: RunFolder writes it; NullRunFolder (the
other processes of a distributed run: rank 0 writes for them) writes nothing.
core.training.runs reads these files back (and names them); this module writes them.
"""
from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Protocol, runtime_checkable

import torch

from core.errors import FledgeError
from core.model.checkpoints import atomic_save, save_checkpoint
from core.training import runs
from core.training.events import BatchEnd, FitEnded
from core.training.optimizers import plain_state

RESUME_FORMAT = "fledge-resume"


@runtime_checkable
class RunWriter(Protocol):
    """What the Trainer (and the quick head) need of a run's folder."""

    path: Path

    def file(self, name: str) -> Path: ...
    def load_resume_state(self) -> dict | None: ...
    def describe(self, config, dataset, image_size: int, mean, std) -> None: ...
    def record(self, model_notes: bool = False, **fields) -> None: ...
    def start_logs(self, start_epoch: int) -> None: ...
    def log_batch(self, ev: BatchEnd) -> None: ...
    def flush_batches(self) -> None: ...
    def add_epoch(self, row: dict) -> None: ...
    def save_model(self, name: str, model, metrics: dict) -> str: ...
    def save_resume(self, epoch: int, learner, best_val_acc: float, best_epoch: int) -> None: ...
    def close(self) -> None: ...


class RunFolder:
    """One run's folder, opened for writing by the Trainer (a RunWriter)."""

    def __init__(self, path) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.epoch_rows: list[dict] = []
        self._batch_log = None
        self._model_meta: dict = {}
        self._model_notes: dict = {}          # what every model file's metrics also say

    def file(self, name: str) -> Path:
        return self.path / name

    # -- before training --------------------------------------------------------------------
    def load_resume_state(self) -> dict | None:
        """The state saved at the end of the last completed epoch; None when there is none."""
        path = self.file(runs.RESUME_FILE)
        if not path.is_file():
            return None
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except Exception:
            raise FledgeError(f"The resume file {path} is damaged, so this run cannot be continued. "
                              f"Start a new run (its best model is still usable).") from None

    def describe(self, config, dataset, image_size: int, mean, std) -> None:
        """config.json, run.json (with the dataset's split settings) and a 'running' status.

        What goes into every model file is fixed here too: the same config and split."""
        split = dataset.split_settings.to_dict()
        self._model_meta = dict(arch=config.arch, classes=list(dataset.classes), image_size=image_size,
                                mean=list(mean), std=list(std), config=config.to_dict(), split=split)
        started = runs.read_json(self.file(runs.RUN_FILE)).get("started") or time.strftime("%Y-%m-%dT%H:%M:%S")
        runs.write_json(self.file(runs.CONFIG_FILE), config.to_dict())
        runs.write_json(self.file(runs.RUN_FILE), {
            "started": started, "arch": config.arch, "classes": list(dataset.classes),
            "image_size": image_size, "data_root": str(dataset.root), "layout": dataset.layout,
            "split": split, "counts": dataset.counts(),
        })
        runs.write_json(self.file(runs.STATUS_FILE), {"status": "running", "pid": os.getpid()})

    def record(self, model_notes: bool = False, **fields) -> None:
        """Add fields to run.json (what the run really did: recipe, rates, class weights...);
        model_notes: also into the metrics of every model file saved from now on."""
        run = runs.read_json(self.file(runs.RUN_FILE))
        run.update(fields)
        runs.write_json(self.file(runs.RUN_FILE), run)
        if model_notes:
            self._model_notes.update(fields)

    def start_logs(self, start_epoch: int) -> None:
        """Keep the metrics of the epochs already done (a resumed run) and open the batch log."""
        self.epoch_rows = [r for r in runs.read_csv_rows(self.file(runs.METRICS_FILE))
                           if r.get("epoch", 0) <= start_epoch] if start_epoch else []
        batches = [r for r in runs.read_csv_rows(self.file(runs.BATCHES_FILE))
                   if r.get("epoch", 0) <= start_epoch] if start_epoch else []
        runs.write_csv_rows(self.file(runs.METRICS_FILE), runs.EPOCH_FIELDS, self.epoch_rows)
        runs.write_csv_rows(self.file(runs.BATCHES_FILE), runs.BATCH_FIELDS, batches)
        self._batch_log = open(self.file(runs.BATCHES_FILE), "a", encoding="utf-8", newline="")

    # -- while training ---------------------------------------------------------------------
    def log_batch(self, ev: BatchEnd) -> None:
        self._batch_log.write(f"{ev.step},{ev.epoch},{ev.loss:.6g},{ev.accuracy:.6g},{ev.images_per_s:.4g}\n")

    def flush_batches(self) -> None:
        self._batch_log.flush()

    def add_epoch(self, row: dict) -> None:
        self.epoch_rows.append(row)
        runs.write_csv_rows(self.file(runs.METRICS_FILE), runs.EPOCH_FIELDS, self.epoch_rows)

    def save_model(self, name: str, model, metrics: dict) -> str:
        path = str(self.file(name))
        save_checkpoint(path, model, metrics={**self._model_notes, **metrics}, **self._model_meta)
        return path

    def save_resume(self, epoch: int, learner, best_val_acc: float, best_epoch: int) -> None:
        """What resuming after this epoch needs: weights, optimizer, schedule and random state."""
        scheduler = learner.scheduler
        atomic_save({
            "format": RESUME_FORMAT, "epoch": epoch,
            "model_state": {k: v.detach().cpu() for k, v in learner.model.state_dict().items()},
            "optimizer_state": learner.optimizer.state_dict(),
            "scheduler_state": plain_state(scheduler.state_dict()) if scheduler is not None else {},
            "torch_rng": torch.get_rng_state(),
            "best_val_acc": best_val_acc, "best_epoch": best_epoch,
        }, str(self.file(runs.RESUME_FILE)))

    def close(self) -> None:
        if self._batch_log is not None:
            self._batch_log.close()
            self._batch_log = None


class NullRunFolder:
    """A RunWriter that writes nothing, for a distributed run's other processes: rank 0's path
    (no mkdir: on another machine it need not exist), nothing to resume from."""

    def __init__(self, path) -> None:
        self.path = Path(path)

    def file(self, name: str) -> Path:
        return self.path / name

    def load_resume_state(self) -> dict | None:
        return None

    def describe(self, config, dataset, image_size: int, mean, std) -> None:
        pass

    def record(self, model_notes: bool = False, **fields) -> None:
        pass

    def start_logs(self, start_epoch: int) -> None:
        pass

    def log_batch(self, ev: BatchEnd) -> None:
        pass

    def flush_batches(self) -> None:
        pass

    def add_epoch(self, row: dict) -> None:
        pass

    def save_model(self, name: str, model, metrics: dict) -> str:
        return str(self.file(name))

    def save_resume(self, epoch: int, learner, best_val_acc: float, best_epoch: int) -> None:
        pass

    def close(self) -> None:
        pass


def write_status(run_dir: str | None, ended: FitEnded, skipped: list[tuple[str, str]]) -> None:
    """status.json: how the run ended (written even when training failed early)."""
    if not run_dir or not Path(run_dir).is_dir():
        return
    try:
        runs.write_json(Path(run_dir) / runs.STATUS_FILE, {
            "status": ended.reason, "message": ended.message,
            "best_val_acc": None if math.isnan(ended.best_val_acc) else ended.best_val_acc,
            "best_epoch": ended.best_epoch, "test_acc": ended.test_acc,
            "epochs_done": ended.epochs_done, "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "skipped": [{"path": p, "reason": r} for p, r in skipped],
        })
    except OSError:
        pass

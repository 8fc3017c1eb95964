"""The training loop. Knows nothing about Qt: it reports through callbacks
(core.training.events) and is steered through a TrainControl polled at batch boundaries."""
from __future__ import annotations

import collections
import math
import os
import random
import time
import traceback
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import torch
import torch.nn.functional as F

from core.training import runs
from core.training.config import TrainConfig
from core.errors import FledgeError
from core.training.events import (BatchEnd, CheckpointSaved, EpochEnd, FitEnded, FitStarted,
                     Message, TrainControl)

REPORT_INTERVAL_S = 0.05   # at most ~20 BatchEnd events a second; each costs a device sync
AUX_LOSS_WEIGHT = 0.4      # inception_v3's auxiliary classifier, as in the paper


class _Stop(Exception):
    """Raised inside the loop when the user asked to stop."""


class _Diverged(Exception):
    pass


def _is_oom(exc: BaseException) -> bool:
    if isinstance(exc, (torch.cuda.OutOfMemoryError, MemoryError)):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("out of memory" in text or "not enough memory" in text)


def _plain(obj):
    """Scheduler state as types torch.load(weights_only=True) accepts."""
    if isinstance(obj, collections.Counter):
        return {k: int(v) for k, v in obj.items()}
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items() if not callable(v)}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_plain(v) for v in obj)
    return obj


def make_optimizer(name: str, params, cfg: TrainConfig, device: torch.device) -> torch.optim.Optimizer:
    fused = {"fused": True} if device.type == "cuda" else {}
    lr, wd = cfg.lr, cfg.weight_decay
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=cfg.momentum, weight_decay=wd,
                               nesterov=cfg.nesterov and cfg.momentum > 0, **fused)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd, **fused)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=wd, **fused)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, weight_decay=wd)
    if name == "adagrad":
        return torch.optim.Adagrad(params, lr=lr, weight_decay=wd, **fused)
    if name == "adadelta":
        return torch.optim.Adadelta(params, lr=lr, weight_decay=wd)
    if name == "rprop":
        return torch.optim.Rprop(params, lr=lr)
    raise FledgeError(f"Unknown optimizer '{name}'.")


def make_scheduler(name: str, optimizer, epochs: int, steps_per_epoch: int, lr: float):
    """Returns (scheduler or None, steps per batch?)."""
    total = max(1, epochs * steps_per_epoch)
    if name == "none":
        return None, False
    if name == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=max(1, epochs // 3), gamma=0.1), False
    if name == "multistep":
        ms = sorted({max(1, int(epochs * 0.5)), max(1, int(epochs * 0.75))})
        return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=ms, gamma=0.1), False
    if name == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total), True
    if name == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=total), True
    raise FledgeError(f"Unknown learning-rate schedule '{name}'.")


class Trainer:
    def __init__(self, config: TrainConfig, dataset=None, run_dir: str | None = None,
                 callbacks: Iterable[Callable] = (), control: TrainControl | None = None,
                 resume: bool = False, runs_root: str | None = None) -> None:
        self.config = config
        self.dataset = dataset
        self.run_dir = run_dir
        self.callbacks = list(callbacks)
        self.control = control or TrainControl()
        self.resume = resume
        self.runs_root = runs_root
        self.skipped: list[tuple[str, str]] = []

    # -- construction from an interrupted run -------------------------------------------
    @classmethod
    def resume_from(cls, run_dir: str, callbacks: Iterable[Callable] = (),
                    control: TrainControl | None = None, dataset=None) -> "Trainer":
        """A trainer that continues `run_dir` from its last completed epoch."""
        if not runs.is_run_dir(run_dir):
            raise FledgeError(f"{run_dir} is not a Fledge run folder, so it cannot be resumed.")
        cfg = TrainConfig.from_dict(runs.read_json(Path(run_dir) / runs.CONFIG_FILE))
        if dataset is None:
            from core.data.dataset import scan_dataset

            root = runs.read_json(Path(run_dir) / runs.RUN_FILE).get("data_root", "")
            dataset = scan_dataset(root, val_fraction=cfg.val_fraction,
                                   test_fraction=cfg.test_fraction, seed=cfg.seed)
        return cls(cfg, dataset, run_dir=run_dir, callbacks=callbacks, control=control, resume=True)

    # -- reporting -------------------------------------------------------------------------
    def _emit(self, event) -> None:
        for cb in self.callbacks:
            try:
                cb(event)
            except Exception:       # a broken listener must not kill the run
                traceback.print_exc()

    def _warn(self, text: str) -> None:
        self._emit(Message("warning", text))

    # -- the public entry point ------------------------------------------------------------
    def fit(self) -> FitEnded:
        """Run to the end; never raises for problems a user can fix."""
        self._best_val_acc = float("nan")
        self._best_epoch = 0
        self._epochs_done = 0
        self._sources = []
        try:
            ended = self._fit()
        except _Stop:
            ended = self._ended("stopped", "Training was stopped. The model so far was saved.")
        except _Diverged as exc:
            ended = self._ended("failed", str(exc))
        except FledgeError as exc:
            ended = self._ended("failed", str(exc))
        except Exception as exc:
            ended = self._ended("failed", self._explain(exc))
        finally:
            for src in self._sources:
                try:
                    src.close()
                except Exception:
                    pass
        self._write_status(ended)
        self._emit(ended)
        return ended

    def _explain(self, exc: BaseException) -> str:
        self._log_error(exc)
        if _is_oom(exc):
            bs = self.config.batch_size
            where = "the GPU" if "cuda" in str(exc).lower() or isinstance(exc, torch.cuda.OutOfMemoryError) else "the computer"
            return (f"{where.capitalize()} ran out of memory with a batch size of {bs}. "
                    f"Choose a smaller batch size (try {max(1, bs // 2)}) or a smaller image size.")
        if isinstance(exc, OSError) and getattr(exc, "errno", None) == 28:
            return ("The disk is full, so the model could not be saved. Free some space, "
                    "then resume the run.")
        if isinstance(exc, OSError):
            return f"A file could not be read or written: {exc}. Check the folder and try again."
        where = f" Details are in {Path(self.run_dir) / runs.ERROR_LOG}." if self.run_dir else ""
        return f"Training failed unexpectedly ({type(exc).__name__}: {exc}).{where}"

    def _log_error(self, exc: BaseException) -> None:
        if not self.run_dir:
            return
        try:
            with open(Path(self.run_dir) / runs.ERROR_LOG, "a", encoding="utf-8") as f:
                f.write("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
        except OSError:
            pass

    def _ended(self, reason: str, message: str) -> FitEnded:
        rd = Path(self.run_dir) if self.run_dir else None
        best = rd / runs.BEST_MODEL if rd else None
        last = rd / runs.LAST_MODEL if rd else None
        if best is not None and best.is_file() and reason != "completed" and "saved" not in message.lower():
            message += f" The best model so far is {best}."
        return FitEnded(
            reason=reason, message=message, run_dir=str(rd or ""),
            best_model=str(best) if best is not None and best.is_file() else "",
            last_model=str(last) if last is not None and last.is_file() else "",
            best_val_acc=self._best_val_acc, best_epoch=self._best_epoch,
            test_acc=getattr(self, "_test_acc", None), epochs_done=self._epochs_done)

    def _write_status(self, ended: FitEnded) -> None:
        if not self.run_dir or not Path(self.run_dir).is_dir():
            return
        try:
            runs.write_json(Path(self.run_dir) / runs.STATUS_FILE, {
                "status": ended.reason, "message": ended.message,
                "best_val_acc": None if math.isnan(ended.best_val_acc) else ended.best_val_acc,
                "best_epoch": ended.best_epoch, "test_acc": ended.test_acc,
                "epochs_done": ended.epochs_done, "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
                "skipped": [{"path": p, "reason": r} for p, r in self.skipped],
            })
        except OSError:
            pass

    # -- the loop --------------------------------------------------------------------------
    def _fit(self) -> FitEnded:
        from core.model.checkpoints import atomic_save, save_checkpoint
        from core.model.devices import autocast_dtype, device_label, resolve_device
        from core.model.networks import (ARCHITECTURES, aux_logits, build_model, check_image_size,
                             main_logits, set_train_mode, weights_status)
        from core.data.pipeline import build_sources

        cfg = self.config
        cfg.validate()
        if self.dataset is None:
            raise FledgeError("No dataset was given. Choose a folder with one subfolder per class.")
        ds = self.dataset
        classes = list(ds.classes)
        spec = ARCHITECTURES[cfg.arch]
        image_size = cfg.image_size or spec.input_size
        if problem := check_image_size(cfg.arch, image_size):
            raise FledgeError(problem)
        device = resolve_device(cfg.device)
        amp_dtype = autocast_dtype(device, cfg.precision)

        # Run folder and its description, written before any long work starts.
        if self.run_dir is None:
            self.run_dir = runs.new_run_dir(cfg.arch, self.runs_root)
        rd = Path(self.run_dir)
        rd.mkdir(parents=True, exist_ok=True)
        resume_state = None
        if self.resume and (rd / runs.RESUME_FILE).is_file():
            try:
                resume_state = torch.load(rd / runs.RESUME_FILE, map_location="cpu", weights_only=True)
            except Exception:
                raise FledgeError(f"The resume file {rd / runs.RESUME_FILE} is damaged, so this run cannot "
                                  f"be continued. Start a new run (its best model is still usable).") from None
        started = runs.read_json(rd / runs.RUN_FILE).get("started") or time.strftime("%Y-%m-%dT%H:%M:%S")
        runs.write_json(rd / runs.CONFIG_FILE, cfg.to_dict())
        runs.write_json(rd / runs.RUN_FILE, {
            "started": started, "arch": cfg.arch, "classes": classes, "image_size": image_size,
            "data_root": str(ds.root), "layout": getattr(ds, "layout", ""),
            "counts": ds.counts() if hasattr(ds, "counts") else {},
        })
        runs.write_json(rd / runs.STATUS_FILE, {"status": "running", "pid": os.getpid()})

        # Seeds: same config, same data -> same run (on the CPU).
        random.seed(cfg.seed)
        np.random.seed(cfg.seed % 2**32)
        torch.manual_seed(cfg.seed)
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = True

        if cfg.pretrained and not cfg.weights_path and weights_status(cfg.arch) == "downloadable":
            self._emit(Message("info", f"Downloading the ImageNet weights for {cfg.arch} (once; they are kept for next time)..."))
        model, warnings = build_model(cfg.arch, len(classes), image_size=image_size,
                                      pretrained=cfg.pretrained, weights_path=cfg.weights_path,
                                      freeze_backbone=cfg.freeze_backbone)
        for w in warnings:
            self._warn(w)
        model = model.to(device)
        if device.type in ("cuda", "cpu"):    # the pipeline's batches are channels_last too
            model = model.to(memory_format=torch.channels_last)

        def on_skip(path: str, reason: str) -> None:
            self.skipped.append((path, reason))
            self._warn(f"Skipped {path}: {reason}")

        train_src, val_src, test_src, plan = build_sources(
            ds, image_size=image_size, mean=spec.mean, std=spec.std, batch_size=cfg.batch_size,
            augment=cfg.augment, seed=cfg.seed, device=device, kind=cfg.pipeline,
            memory_budget_mb=cfg.memory_budget_mb, workers=cfg.workers,
            should_stop=lambda: self.control.stop_requested, on_skip=on_skip)
        self._sources = [s for s in (train_src, val_src, test_src) if s is not None]

        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = make_optimizer(cfg.optimizer, params, cfg, device)
        steps_per_epoch = train_src.steps_per_epoch
        scheduler, per_step = make_scheduler(cfg.schedule, optimizer, cfg.epochs, steps_per_epoch, cfg.lr)

        start_epoch = 0
        prior_epochs: list[dict] = []
        prior_batches: list[dict] = []
        if resume_state is not None:
            model.load_state_dict(resume_state["model_state"])
            optimizer.load_state_dict(resume_state["optimizer_state"])
            if scheduler is not None and resume_state.get("scheduler_state"):
                scheduler.load_state_dict(resume_state["scheduler_state"])
                if hasattr(scheduler, "milestones"):
                    scheduler.milestones = collections.Counter(scheduler.milestones)
            torch.set_rng_state(resume_state["torch_rng"])
            start_epoch = int(resume_state["epoch"])
            self._best_val_acc = float(resume_state.get("best_val_acc", float("nan")))
            self._best_epoch = int(resume_state.get("best_epoch", 0))
            prior_epochs = [r for r in runs.read_csv_rows(rd / runs.METRICS_FILE) if r.get("epoch", 0) <= start_epoch]
            prior_batches = [r for r in runs.read_csv_rows(rd / runs.BATCHES_FILE) if r.get("epoch", 0) <= start_epoch]
            self._emit(Message("info", f"Resuming from the end of epoch {start_epoch}."))
        elif self.resume:
            self._emit(Message("info", "No completed epoch to resume from: starting from the beginning."))
        self._epochs_done = start_epoch
        epoch_rows = list(prior_epochs)
        runs.write_csv_rows(rd / runs.METRICS_FILE, runs.EPOCH_FIELDS, epoch_rows)
        runs.write_csv_rows(rd / runs.BATCHES_FILE, runs.BATCH_FIELDS, prior_batches)
        batch_log = open(rd / runs.BATCHES_FILE, "a", encoding="utf-8", newline="")

        self._emit(FitStarted(
            run_dir=str(rd), classes=tuple(classes), epochs=cfg.epochs, start_epoch=start_epoch,
            steps_per_epoch=steps_per_epoch, total_steps=cfg.epochs * steps_per_epoch,
            device=device_label(device), precision="bf16" if amp_dtype else "fp32",
            pipeline=plan.kind, pipeline_reason=plan.reason))
        self._emit(Message("info", plan.reason))

        ckpt_meta = dict(arch=cfg.arch, classes=classes, image_size=image_size,
                         mean=list(spec.mean), std=list(spec.std), config=cfg.to_dict())

        def save_model(name: str, metrics: dict) -> str:
            path = str(rd / name)
            save_checkpoint(path, model, metrics=metrics, **ckpt_meta)
            return path

        criterion = torch.nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
        autocast = (lambda: torch.autocast(device.type, dtype=amp_dtype)) if amp_dtype else \
            (lambda: torch.autocast(device.type, enabled=False))
        is_inception = cfg.arch == "inception_v3"

        def evaluate(src) -> tuple[float, float]:
            model.eval()
            loss_sum = torch.zeros((), device=device)
            correct = torch.zeros((), device=device, dtype=torch.long)
            n = 0
            with torch.inference_mode():
                for x, y in src.batches(0):
                    if self.control.stop_requested:
                        raise _Stop
                    with autocast():
                        logits = main_logits(model(x))
                    loss_sum += F.cross_entropy(logits.float(), y, reduction="sum")
                    correct += (logits.argmax(1) == y).sum()
                    n += y.numel()
            if self.control.stop_requested:
                raise _Stop
            if n == 0:
                return float("nan"), float("nan")
            return loss_sum.item() / n, correct.item() / n

        total_steps = cfg.epochs * steps_per_epoch
        global_step = start_epoch * steps_per_epoch
        run_t0 = time.perf_counter()
        steps_this_session = 0
        paused_s = 0.0

        try:
            for epoch in range(start_epoch, cfg.epochs):
                set_train_mode(model, cfg.arch, cfg.freeze_backbone)
                epoch_t0 = time.perf_counter()
                epoch_paused = 0.0
                ep_loss = torch.zeros((), device=device)
                ep_correct = torch.zeros((), device=device, dtype=torch.long)
                ep_n = 0
                rep_loss = torch.zeros((), device=device)
                rep_correct = torch.zeros((), device=device, dtype=torch.long)
                rep_n, rep_batches = 0, 0
                rep_t0 = time.perf_counter()
                epoch_step = 0
                for x, y in train_src.batches(epoch):
                    if self.control.paused:
                        p0 = time.perf_counter()
                        self.control.wait_while_paused()
                        dt = time.perf_counter() - p0
                        paused_s += dt
                        epoch_paused += dt
                        rep_t0 += dt
                    if self.control.stop_requested:
                        raise _Stop
                    with autocast():
                        out = model(x)
                        logits = main_logits(out)
                        loss = criterion(logits.float(), y)
                        if is_inception:
                            aux = aux_logits(out)
                            if aux is not None:
                                loss = loss + AUX_LOSS_WEIGHT * criterion(aux.float(), y)
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
                    if scheduler is not None and per_step:
                        scheduler.step()
                    global_step += 1
                    epoch_step += 1
                    steps_this_session += 1
                    d_loss = loss.detach() * y.numel()
                    d_correct = (logits.detach().argmax(1) == y).sum()
                    rep_loss += d_loss
                    rep_correct += d_correct
                    ep_loss += d_loss
                    ep_correct += d_correct
                    rep_n += y.numel()
                    ep_n += y.numel()
                    rep_batches += 1
                    now = time.perf_counter()
                    if now - rep_t0 >= REPORT_INTERVAL_S or epoch_step == steps_per_epoch:
                        mean_loss = rep_loss.item() / max(1, rep_n)   # the one sync per report
                        if not math.isfinite(mean_loss):
                            raise _Diverged(
                                f"The loss became {'NaN' if math.isnan(mean_loss) else 'infinite'} in epoch "
                                f"{epoch + 1} (step {global_step}): training diverged. The learning rate "
                                f"({cfg.lr:g}) is probably too high; try a lower one, e.g. {cfg.lr / 10:g}.")
                        elapsed = now - run_t0 - paused_s
                        per_step_s = elapsed / max(1, steps_this_session)
                        ev = BatchEnd(step=global_step, epoch=epoch + 1, epoch_step=epoch_step,
                                      steps_per_epoch=steps_per_epoch, loss=mean_loss,
                                      accuracy=rep_correct.item() / max(1, rep_n),
                                      images_per_s=rep_n / max(1e-9, now - rep_t0),
                                      eta_s=per_step_s * max(0, total_steps - global_step))
                        batch_log.write(f"{ev.step},{ev.epoch},{ev.loss:.6g},{ev.accuracy:.6g},{ev.images_per_s:.4g}\n")
                        self._emit(ev)
                        rep_loss.zero_()
                        rep_correct.zero_()
                        rep_n, rep_batches, rep_t0 = 0, 0, time.perf_counter()
                batch_log.flush()
                if self.control.stop_requested:       # a stop can end a wait for decoding
                    raise _Stop
                if ep_n == 0:
                    raise FledgeError("No training image could be read. Check the dataset folder.")
                train_loss = ep_loss.item() / ep_n
                train_acc = ep_correct.item() / ep_n
                if not math.isfinite(train_loss):
                    raise _Diverged(f"The loss became NaN in epoch {epoch + 1}: training diverged. "
                                    f"Try a lower learning rate, e.g. {cfg.lr / 10:g}.")
                lr_now = optimizer.param_groups[0]["lr"]
                if scheduler is not None and not per_step:
                    scheduler.step()
                # Training time only (validation excluded): images/s means the same in
                # every client and in the benchmark.
                seconds = time.perf_counter() - epoch_t0 - epoch_paused
                val_loss, val_acc = evaluate(val_src)
                self._epochs_done = epoch + 1
                row = dict(epoch=epoch + 1, train_loss=train_loss, train_acc=train_acc,
                           val_loss=val_loss, val_acc=val_acc, lr=lr_now, seconds=round(seconds, 3))
                epoch_rows.append(row)
                runs.write_csv_rows(rd / runs.METRICS_FILE, runs.EPOCH_FIELDS, epoch_rows)
                metrics = dict(epoch=epoch + 1, train_loss=train_loss, train_acc=train_acc,
                               val_loss=val_loss, val_acc=val_acc)
                improved = math.isnan(self._best_val_acc) or val_acc > self._best_val_acc
                if improved:
                    self._best_val_acc, self._best_epoch = val_acc, epoch + 1
                    path = save_model(runs.BEST_MODEL, metrics)
                    self._emit(CheckpointSaved(path, epoch + 1, val_acc, "best"))
                path = save_model(runs.LAST_MODEL, metrics)
                self._emit(CheckpointSaved(path, epoch + 1, val_acc, "last"))
                atomic_save({
                    "format": "fledge-resume", "epoch": epoch + 1,
                    "model_state": {k: v.detach().cpu() for k, v in model.state_dict().items()},
                    "optimizer_state": optimizer.state_dict(),
                    "scheduler_state": _plain(scheduler.state_dict()) if scheduler is not None else {},
                    "torch_rng": torch.get_rng_state(),
                    "best_val_acc": self._best_val_acc, "best_epoch": self._best_epoch,
                }, str(rd / runs.RESUME_FILE))
                self._emit(EpochEnd(epoch=epoch + 1, epochs=cfg.epochs, train_loss=train_loss,
                                    train_acc=train_acc, val_loss=val_loss, val_acc=val_acc,
                                    lr=lr_now, seconds=seconds,
                                    images_per_s=ep_n / max(1e-9, seconds)))
        except _Stop:
            # Keep what was learnt: the current weights become last.pt (resume.pt stays
            # at the last completed epoch, so a resumed run replays the partial epoch).
            save_model(runs.LAST_MODEL, dict(epoch=self._epochs_done, stopped=1))
            raise
        finally:
            batch_log.close()

        if test_src is not None and (rd / runs.BEST_MODEL).is_file():
            from core.model.checkpoints import load_checkpoint

            best = load_checkpoint(str(rd / runs.BEST_MODEL))
            model.load_state_dict(best["state_dict"])
            _, self._test_acc = evaluate(test_src)
            self._emit(Message("info", f"Accuracy on the test images (never seen in training): {self._test_acc:.1%}."))

        best_path = rd / runs.BEST_MODEL
        msg = (f"Training finished. Best validation accuracy {self._best_val_acc:.1%} "
               f"(epoch {self._best_epoch}). The best model is {best_path}.")
        return self._ended("completed", msg)

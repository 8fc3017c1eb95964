"""The Trainer: sets a run up (folder, seeds, model, data, resume) and runs its epochs.

Knows nothing about Qt: it reports through callbacks (core.training.events) and is steered
through a TrainControl polled at batch boundaries. The epoch itself is core.training.loop;
what lands in the run folder is core.training.run_folder.
"""
from __future__ import annotations

import errno
import math
import os
import random
import traceback
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import torch

from core.data.dataset import scan_dataset
from core.data.duplicates import find_duplicates
from core.data.pipeline import build_sources
from core.data.shortcuts import shortcut_warnings
from core.data.split import SplitSettings
from core.errors import FledgeError
from core.model import networks, pretrained_weights        # as modules: tests replace their functions
from core.model.architectures import ARCH_INFO
from core.model.checkpoints import load_checkpoint
from core.model.init_from import carry_weights, start_model
from core.model.devices import autocast_dtype, device_label, resolve_device
from core.training import runs
from core.training.best_model import is_better
from core.training.config import ConfigError, TrainConfig
from core.training.divergence import Diverged, LossGuard
from core.training.early_stopping import EarlyStopping
from core.training.events import CheckpointSaved, EpochEnd, FitEnded, FitStarted, Message, TrainControl
from core.training.loop import EpochFigures, Learner, RunClock, Stopped, evaluate, train_one_epoch
from core.training.optimizers import restore_scheduler
from core.training.overfitting import overfitting_note
from core.training.quick_run import HeadResult, polling, train_quick_head
from core.training.recipe_rules import PRESETS, resolve
from core.training.recipes import choose_network_lr, class_weights_for, fine_tune_groups, score_in_context
from core.training.run_folder import RunFolder, RunWriter, write_status


def _is_oom(exc: BaseException) -> bool:
    if isinstance(exc, (torch.cuda.OutOfMemoryError, MemoryError)):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("out of memory" in text or "not enough memory" in text)


def _seed_everything(seed: int, device: torch.device) -> None:
    """Same config, same data -> same run (on the CPU)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True


class Trainer:
    # A distributed run's other processes write nothing (core.training.distributed_trainer).
    writes_run_folder = True
    run_folder_class = RunFolder

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
        """A trainer that continues `run_dir` from its last completed epoch, on the split the
        run recorded (runs from before that record: the split their config implied)."""
        if not runs.is_run_dir(run_dir):
            raise FledgeError(f"{run_dir} is not a Fledge run folder, so it cannot be resumed.")
        raw_config = runs.read_json(Path(run_dir) / runs.CONFIG_FILE)
        if dataset is None:
            run = runs.read_json(Path(run_dir) / runs.RUN_FILE)
            split = SplitSettings.from_record(run.get("split"), raw_config)
            dataset = scan_dataset(run.get("data_root", ""), **split.to_dict())
        return cls(TrainConfig.from_dict(raw_config), dataset, run_dir=run_dir, callbacks=callbacks,
                   control=control, resume=True)

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
        self._best_val_loss = float("nan")
        self._best_epoch = 0
        self._epochs_done = 0
        self._test_acc = None
        self._sources = []
        self._remarks: list[str] = []     # how the run went, in sentences: stopped early, overfitting
        self._overfitting_said = False
        self.extracted = 0                # photos read by the pretrained network in this run (quick)
        try:
            ended = self._fit()
        except Stopped:
            ended = self._ended("stopped", "Training was stopped. The model so far was saved.")
        except (Diverged, FledgeError, ConfigError) as exc:
            ended = self._ended("failed", str(exc))
        except Exception as exc:
            ended = self._ended("failed", self._explain(exc))
        finally:
            for src in self._sources:
                try:
                    src.close()
                except Exception:
                    pass
        if self.writes_run_folder:
            write_status(self.run_dir, ended, self.skipped)
        self._emit(ended)
        return ended

    def _explain(self, exc: BaseException) -> str:
        self._log_error(exc)
        if _is_oom(exc):
            bs = self.config.batch_size
            where = "the GPU" if "cuda" in str(exc).lower() or isinstance(exc, torch.cuda.OutOfMemoryError) else "the computer"
            return (f"{where.capitalize()} ran out of memory with a batch size of {bs}. "
                    f"Choose a smaller batch size (try {max(1, bs // 2)}) or a smaller image size.")
        if isinstance(exc, OSError) and getattr(exc, "errno", None) == errno.ENOSPC:
            # Say which disk: the run folder's, or another one the run was writing to (a cache...).
            where = os.path.dirname(exc.filename) if getattr(exc, "filename", None) else self.run_dir
            return (f"The disk holding {where} is full, so the run could not go on. Free some space there, "
                    "then resume the run.")
        if isinstance(exc, OSError):
            return f"A file could not be read or written: {exc}. Check the folder and try again."
        where = f" Details are in {Path(self.run_dir) / runs.ERROR_LOG}." if self.run_dir else ""
        return f"Training failed unexpectedly ({type(exc).__name__}: {exc}).{where}"

    def _log_error(self, exc: BaseException) -> None:
        if not self.run_dir or not self.writes_run_folder:
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
            test_acc=self._test_acc, epochs_done=self._epochs_done, remarks=tuple(self._remarks))

    # -- setting the run up ----------------------------------------------------------------
    def _fit(self) -> FitEnded:
        cfg, notes = resolve(self.config)
        self.config = cfg
        cfg.validate()
        for note in notes:              # settings chosen that this recipe does not use
            self._emit(Message("info", note))
        if self.dataset is None:
            raise FledgeError("No dataset was given. Choose a folder with one subfolder per class.")
        spec = networks.ARCHITECTURES[cfg.arch]
        image_size = cfg.image_size or spec.input_size
        if problem := networks.check_image_size(cfg.arch, image_size):
            raise FledgeError(problem)
        device = resolve_device(cfg.device)
        amp_dtype = autocast_dtype(device, cfg.precision)

        # The run folder and its description, written before any long work starts.
        if self.run_dir is None:
            self.run_dir = runs.new_run_dir(cfg.arch, self.runs_root)
        folder = self.run_folder_class(self.run_dir)
        resume_state = self._resume_state(folder)
        folder.describe(cfg, self.dataset, image_size, spec.mean, spec.std)
        folder.record(recipe=cfg.recipe, auto_lr=cfg.auto_lr)
        if cfg.init_from and resume_state is None:
            start_model(cfg.init_from, cfg.arch)      # refused now, not after the long work
        self._warn_duplicates()
        for text in shortcut_warnings(self.dataset, should_stop=lambda: self.control.stop_requested):
            self._warn(text)            # a size, camera... that tells the classes apart (core.data.shortcuts)
        _seed_everything(cfg.seed, device)

        # Thorough: the head's epochs first, then as many of every layer; one run, one count.
        offset = cfg.epochs if cfg.recipe == "thorough" else 0
        head = None
        if cfg.recipe in PRESETS and resume_state is None:
            head = self._fit_head(folder, offset + cfg.epochs)
            if cfg.recipe == "quick":
                return self._ended("completed", self._finished_message(folder))
        self._fit_network(folder, spec, image_size, device, amp_dtype, head, resume_state, offset)
        return self._ended("completed", self._finished_message(folder))

    def _fit_network(self, folder: RunWriter, spec, image_size: int, device, amp_dtype, head: HeadResult | None,
                     resume_state: dict | None, offset: int) -> None:
        """Every trainable layer through the loop: a custom run, or thorough's second phase
        (epochs offset+1 .. offset+config.epochs, from the trained head)."""
        cfg = self.config
        model = self._build_model(image_size, device, folder)
        if head is not None:       # thorough: every layer fine-tuned, starting from the trained head
            model.load_state_dict(head.model.state_dict())
        if cfg.init_from and resume_state is None:   # a resumed run has its own weights
            # thorough: a head for these classes was just trained; it is kept whole for new classes
            carried = carry_weights(model, cfg.arch, self.dataset.classes, cfg.init_from, keep_rows=head is None)
            self._emit(Message("info", carried.message))
            folder.record(**carried.to_record())
        train_src, val_src, test_src, plan = self._build_sources(image_size, spec, device)
        weights = head.class_weights if head is not None else self._class_weights(folder)
        groups = None
        if cfg.recipe == "thorough":
            # The configured rate, not a sweep: on a CPU a sweep of every layer took longer than
            # the fine-tuning itself (126 s against 66 s on 400 photos) and its suggestion
            # (0.027) undid what the head had learnt.
            groups = fine_tune_groups(model, cfg.arch, cfg.lr)
            folder.record(model_notes=True, lr_fine_tune=cfg.lr)
        elif cfg.auto_lr and resume_state is None:
            groups = self._choose_lr(folder, model, train_src, device, weights, groups)
        cfg = self.config
        learner = Learner.build(cfg, model, device, amp_dtype, train_src.steps_per_epoch, weights, groups,
                                keep_bn_statistics=cfg.recipe == "thorough")
        start_epoch = max(offset, self._restore(learner, resume_state))
        folder.start_logs(start_epoch)

        steps = train_src.steps_per_epoch
        self._emit(FitStarted(
            run_dir=str(folder.path), classes=tuple(self.dataset.classes), epochs=offset + cfg.epochs,
            start_epoch=start_epoch, steps_per_epoch=steps, total_steps=(offset + cfg.epochs) * steps,
            device=device_label(device), precision="bf16" if amp_dtype else "fp32",
            pipeline=plan.kind, pipeline_reason=plan.reason))
        self._emit(Message("info", plan.reason))

        self._train_epochs(learner, train_src, val_src, folder, start_epoch, offset + cfg.epochs)
        self._test(learner, test_src, folder)

    def _warn_duplicates(self) -> None:
        """Warn when a photo is in training and in validation/test: the score would flatter the model."""
        if note := self.dataset.burst_note():
            self._emit(Message("info", f"Split by burst: {note}"))
        report = find_duplicates(self.dataset, should_stop=lambda: self.control.stop_requested)
        if report is not None and (text := report.leak_warning()):
            self._warn(text)

    def _resume_state(self, folder: RunWriter) -> dict | None:
        """The state to continue from; a quick run (or a thorough one still in its quick
        phase) is simply run again: its photos' features are cached, so that takes seconds."""
        if not self.resume:
            return None
        state = folder.load_resume_state()
        if state is not None:
            _check_same_classes(folder.path, self.dataset.classes)
        elif self.config.recipe in PRESETS:
            self.resume = False
            self._emit(Message("info", "A quick training is not continued but run again from the start: "
                                       "the photos already read are reused, so it takes seconds."))
        return state

    def _fit_head(self, folder: RunWriter, total_epochs: int) -> HeadResult:
        """Quick, or the first phase of thorough: the head on cached features."""
        folder.start_logs(0)
        folder.record(model_notes=True, pretrained_used=True)
        self._emit(Message("info", f"Quick training: the pretrained {ARCH_INFO[self.config.arch].label} stays as it is "
                                   f"and its last layer learns your classes, fit until it settles (shown as "
                                   f"{self.config.epochs} short epochs)."))
        try:
            head = train_quick_head(self.config, self.dataset, folder, self.control, self._emit, self._skip,
                                    total_epochs)
        finally:
            folder.close()
        self.extracted = head.extracted
        self._best_val_acc, self._best_epoch = head.best_val_acc, head.best_epoch
        self._best_val_loss = next((e.val_loss for e in head.head.history if e.epoch == head.best_epoch), math.nan)
        self._epochs_done, self._test_acc = head.epochs_done, head.test_acc
        if head.stopped:
            raise Stopped()
        folder.record(model_notes=True, head_l2=head.l2)
        folder.record(class_weights=head.class_weights)
        if self._test_acc is not None and self.config.recipe == "quick":
            self._emit(Message("info", f"Accuracy on the test images (never seen in training): {self._test_acc:.1%}."))
        return head

    def _class_weights(self, folder: RunWriter):
        weights, note = class_weights_for(self.config, self.dataset.classes, [s.label for s in self.dataset.train])
        if note:
            self._emit(Message("info", note))
        folder.record(class_weights=weights)
        return weights

    def _choose_lr(self, folder: RunWriter, model, train_src, device, weights, groups):
        """The finder's sweep on the network: its rate goes into self.config.lr and the record.
        Returns the parameter groups at that rate (None: one group)."""
        lr, groups = choose_network_lr(self.config, model, train_src, device, weights, groups,
                                       self._emit, polling(self.control))
        if self.control.stop_requested:
            raise Stopped()
        self.config = self.config.replace(lr=lr)
        folder.record(model_notes=True, **{"lr_fine_tune" if groups else "lr_found": lr})
        return groups

    def _finished_message(self, folder: RunWriter) -> str:
        """The score, in the context of always answering the most common class."""
        msg = (f"Training finished. Best validation accuracy {self._best_val_acc:.1%} "
               f"(epoch {self._best_epoch}). The best model is {folder.file(runs.BEST_MODEL)}.")
        if self._remarks:
            msg += " " + " ".join(self._remarks)
        pretrained = runs.read_json(folder.file(runs.RUN_FILE)).get("pretrained_used")
        verdict = score_in_context(self._best_val_acc, self.dataset, pretrained)
        if verdict is not None:
            folder.record(verdict=verdict.level, verdict_text=verdict.message,
                          guessing_accuracy=verdict.baseline)
            msg += " " + verdict.message
        return msg

    def _build_model(self, image_size: int, device: torch.device, folder: RunWriter):
        cfg = self.config
        if cfg.pretrained and not cfg.weights_path and pretrained_weights.weights_status(cfg.arch) == "downloadable":
            self._emit(Message("info", f"Downloading the ImageNet weights for {cfg.arch} (once; they are kept for next time)..."))
        model, warnings = networks.build_model(cfg.arch, len(self.dataset.classes), image_size=image_size,
                                      pretrained=cfg.pretrained, weights_path=cfg.weights_path,
                                      freeze_backbone=cfg.freeze_backbone)
        for w in warnings:
            self._warn(w)
        folder.record(model_notes=True, pretrained_used=bool(getattr(model, "pretrained_loaded", False)))
        model = model.to(device)
        if device.type in ("cuda", "cpu"):    # the pipeline's batches are channels_last too
            model = model.to(memory_format=torch.channels_last)
        return model

    def _skip(self, path: str, reason: str) -> None:
        """A photo that could not be read: reported now, listed in status.json at the end."""
        self.skipped.append((path, reason))
        self._warn(f"Skipped {path}: {reason}")

    def _build_sources(self, image_size: int, spec, device: torch.device):
        cfg = self.config
        train_src, val_src, test_src, plan = build_sources(
            self.dataset, image_size=image_size, mean=spec.mean, std=spec.std, batch_size=cfg.batch_size,
            augment=cfg.augmentation(), seed=cfg.seed, device=device, kind=cfg.pipeline,
            memory_budget_mb=cfg.memory_budget_mb, workers=cfg.workers,
            should_stop=lambda: self.control.stop_requested, on_skip=self._skip)
        self._sources = [s for s in (train_src, val_src, test_src) if s is not None]
        return train_src, val_src, test_src, plan

    def _restore(self, learner: Learner, state: dict | None) -> int:
        """Continue from a resume file's state; the epoch to start from."""
        if state is None:
            if self.resume:
                self._emit(Message("info", "No completed epoch to resume from: starting from the beginning."))
            return 0
        learner.model.load_state_dict(state["model_state"])
        learner.optimizer.load_state_dict(state["optimizer_state"])
        restore_scheduler(learner.scheduler, state.get("scheduler_state"))
        torch.set_rng_state(state["torch_rng"])
        start_epoch = int(state["epoch"])
        self._best_val_acc = float(state.get("best_val_acc", float("nan")))
        self._best_epoch = int(state.get("best_epoch", 0))
        self._epochs_done = start_epoch
        self._emit(Message("info", f"Resuming from the end of epoch {start_epoch}."))
        return start_epoch

    # -- the epochs --------------------------------------------------------------------------
    def _train_epochs(self, learner: Learner, train_src, val_src, folder: RunWriter, start_epoch: int,
                      end_epoch: int) -> None:
        """Epochs start_epoch+1 .. end_epoch (thorough's second phase counts on from the head's)."""
        steps = train_src.steps_per_epoch
        self._end_epoch_count = end_epoch
        clock = RunClock(step=start_epoch * steps, total_steps=end_epoch * steps)
        guard = LossGuard(len(self.dataset.classes), learner.config.lr)
        # This phase's epochs so far (a resumed run's from its metrics; thorough's head phase
        # is not part of them): what early stopping and the overfitting note judge by.
        first = end_epoch - self.config.epochs
        self._history = [r for r in runs.read_csv_rows(folder.file(runs.METRICS_FILE))
                         if first < r.get("epoch", 0) <= start_epoch] if start_epoch > first else []
        if math.isnan(self._best_val_loss):     # resumed: the best epoch's loss is in its metrics
            self._best_val_loss = next((r["val_loss"] for r in self._history if r["epoch"] == self._best_epoch),
                                       math.nan)
        patience = EarlyStopping(self.config.patience)
        for row in self._history:
            patience.update(row["epoch"], row["val_loss"], row["val_acc"])

        def report(ev) -> None:
            folder.log_batch(ev)
            self._emit(ev)

        try:
            for epoch in range(start_epoch, end_epoch):
                trained = train_one_epoch(learner, train_src, epoch, clock, self.control, report, guard)
                folder.flush_batches()
                val_loss, val_acc = evaluate(learner, val_src, self.control)
                guard.check_validation(val_loss, val_acc, epoch + 1)     # before anything is saved
                self._epochs_done = epoch + 1
                self._end_epoch(learner, folder, epoch + 1, trained, val_loss, val_acc)
                self._note_overfitting(folder, trained, val_loss, val_acc)
                if stop := self._agreed(patience.update(epoch + 1, val_loss, val_acc)):
                    self._stop_early(folder, stop)
                    break
        except Stopped:
            # Keep what was learnt: the current weights become last.pt (resume.pt stays
            # at the last completed epoch, so a resumed run replays the partial epoch).
            folder.save_model(runs.LAST_MODEL, learner.model, dict(epoch=self._epochs_done, stopped=1))
            raise
        finally:
            folder.close()

    def _note_overfitting(self, folder: RunWriter, trained: EpochFigures, val_loss: float, val_acc: float) -> None:
        """Say once per run when training and validation part ways (core.training.overfitting)."""
        self._history.append(dict(epoch=self._epochs_done, train_loss=trained.loss, train_acc=trained.accuracy,
                                  val_loss=val_loss, val_acc=val_acc))
        if self._overfitting_said or not (note := overfitting_note(self._history)):
            return
        self._overfitting_said = True
        self._remarks.append(note)
        self._warn(note)
        folder.record(overfitting=note)

    def _agreed(self, decision):
        """A decision every process of the run must share (here, with one process: itself)."""
        return decision

    def _stop_early(self, folder: RunWriter, why: str) -> None:
        """The run ends now, as completed: said, recorded, and first in the result's remarks."""
        self._remarks.insert(0, why)
        self._emit(Message("info", why))
        folder.record(stopped_early=why, stopped_early_epoch=self._epochs_done)

    def _end_epoch(self, learner: Learner, folder: RunWriter, epoch: int, trained: EpochFigures,
                   val_loss: float, val_acc: float) -> None:
        """Metrics, the best and last models and the resume state; then EpochEnd."""
        folder.add_epoch(dict(epoch=epoch, train_loss=trained.loss, train_acc=trained.accuracy,
                              val_loss=val_loss, val_acc=val_acc, lr=trained.lr,
                              seconds=round(trained.seconds, 3)))
        metrics = dict(epoch=epoch, train_loss=trained.loss, train_acc=trained.accuracy,
                       val_loss=val_loss, val_acc=val_acc)
        if is_better(val_acc, val_loss, self._best_val_acc, self._best_val_loss):
            self._best_val_acc, self._best_val_loss, self._best_epoch = val_acc, val_loss, epoch
            path = folder.save_model(runs.BEST_MODEL, learner.model, metrics)
            self._emit(CheckpointSaved(path, epoch, val_acc, "best"))
        path = folder.save_model(runs.LAST_MODEL, learner.model, metrics)
        self._emit(CheckpointSaved(path, epoch, val_acc, "last"))
        folder.save_resume(epoch, learner, self._best_val_acc, self._best_epoch)
        # Training time only (validation excluded): images/s means the same in every client
        # and in the benchmark.
        self._emit(EpochEnd(epoch=epoch, epochs=self._end_epoch_count, train_loss=trained.loss,
                            train_acc=trained.accuracy, val_loss=val_loss, val_acc=val_acc, lr=trained.lr,
                            seconds=trained.seconds, images_per_s=trained.images / max(1e-9, trained.seconds)))

    def _test(self, learner: Learner, test_src, folder: RunWriter) -> None:
        """The best model on the test images, once, at the end."""
        best = folder.file(runs.BEST_MODEL)
        if test_src is None or not best.is_file():
            return
        learner.model.load_state_dict(load_checkpoint(str(best))["state_dict"])
        _, self._test_acc = evaluate(learner, test_src, self.control)
        self._emit(Message("info", f"Accuracy on the test images (never seen in training): {self._test_acc:.1%}."))


def _check_same_classes(run_dir, classes) -> None:
    """A run continues only with the classes it started with: the network's last layer has one
    output per class, so a class added or removed since cannot be resumed into."""
    before = runs.read_json(Path(run_dir) / runs.RUN_FILE).get("classes")
    if not isinstance(before, list) or list(before) == list(classes):
        return
    added = [c for c in classes if c not in before]
    gone = [c for c in before if c not in classes]
    change = "; ".join(part for part in (
        f"added: {', '.join(added)}" if added else "",
        f"no longer there: {', '.join(gone)}" if gone else "") if part) or "their order changed"
    raise FledgeError(f"The dataset's classes changed since this run started ({change}). A run can only be "
                      "continued with the classes it started with: start a new run to train on the new "
                      "classes (the model of this run stays usable).")


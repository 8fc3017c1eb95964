"""The Trainer in one process of a data-parallel job (torchrun; see core.training.distributed).

Every rank runs the same Trainer on its own shard of the training photos, with the model
wrapped in DistributedDataParallel, so each step averages the gradients of every rank's batch.
Rank 0 alone writes the run folder, validates and reports events; the files are those of a
single-device run (the unwrapped model is saved), so predict, evaluate, export and resume do
not care how a model was trained.
"""
from __future__ import annotations

import dataclasses
import os

from core.errors import FledgeError
from core.training import distributed, runs
from core.training.events import BatchEnd, FitStarted, Message, TrainControl
from core.training.recipes import can_run_on
from core.training.run_folder import NullRunFolder
from core.training.trainer import Trainer


class DistributedTrainer(Trainer):
    """A Trainer for one rank of the process group that distributed.setup() joined."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.info = distributed.active()
        if not self.info.is_main:
            self.writes_run_folder = False
            self.run_folder_class = NullRunFolder
            self.callbacks = []             # rank 0 reports for everyone

    def _fit(self):
        cfg = self.config                   # Trainer._fit resolves the recipe
        if problem := can_run_on(cfg, self.info.world_size):       # the window and the CLI ask the same
            raise FledgeError(problem)
        info = self.info
        # Every rank uses this process's device (cuda:LOCAL_RANK or the CPU), whatever was set.
        self.config = cfg.replace(device=str(info.device))
        if int(os.environ.get("LOCAL_WORLD_SIZE", info.world_size)) == info.world_size:
            self.config = self.config.replace(gpus=str(info.world_size))   # one machine: resume relaunches as many
        if info.is_main and self.run_dir is None:
            self.run_dir = runs.new_run_dir(cfg.arch, self.runs_root)
        self.run_dir = distributed.broadcast(self.run_dir, info)
        return super()._fit()

    def _warn_duplicates(self) -> None:
        if self.info.is_main:
            super()._warn_duplicates()

    def _resume_state(self, folder):
        """Rank 0 reads the resume file; every rank gets its state (the others may be on
        machines without the run folder)."""
        state = super()._resume_state(folder) if self.info.is_main else None
        return distributed.broadcast(state, self.info)

    def _build_model(self, image_size, device, folder):
        import torch

        model = super()._build_model(image_size, device, folder)
        cfg, world = self.config, self.info.world_size
        if cfg.sync_bn and device.type != "cuda":
            self._warn("Synchronised BatchNorm needs GPUs; on the CPU each process keeps its own BatchNorm "
                       "statistics.")
        elif cfg.sync_bn:
            model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        # The linear scaling rule (Goyal et al. 2017): world times the batch, world times the rate.
        # config.json keeps the rate as given, so a resumed run scales it the same way.
        lr = cfg.lr * world
        if world == 1:
            return model
        self._emit(Message("info", f"{world} processes with {cfg.batch_size} photos each: a batch of "
                                   f"{cfg.batch_size * world} per step, so the learning rate is scaled from "
                                   f"{cfg.lr:g} to {lr:g} (the linear scaling rule)."))
        folder.record(model_notes=True, processes=world, global_batch_size=cfg.batch_size * world, lr_scaled=lr)
        self.config = cfg.replace(lr=lr)
        return model

    def _build_sources(self, image_size, spec, device):
        full = self.dataset
        self.dataset = distributed.shard_dataset(full, self.info, self.config.seed)
        seed = self.config.seed
        # Each rank shuffles and augments its shard with its own random stream.
        self.config = self.config.replace(seed=seed + 7919 * self.info.rank)
        try:
            return super()._build_sources(image_size, spec, device)
        finally:
            self.dataset = full
            self.config = self.config.replace(seed=seed)

    def _restore(self, learner, state) -> int:
        """Resume (the same state on every rank), then wrap the model for the training step;
        DistributedDataParallel starts every rank from rank 0's weights."""
        from torch.nn.parallel import DistributedDataParallel

        start = super()._restore(learner, state)
        dev = self.info.device
        learner.forward_module = DistributedDataParallel(
            learner.model, device_ids=[dev.index] if dev.type == "cuda" else None)
        return start

    def _train_epochs(self, learner, train_src, val_src, folder, start_epoch, end_epoch) -> None:
        # The loop polls a control that only the ranks' agreement sets (AgreedBatches).
        user, self.control = self.control, TrainControl()
        try:
            super()._train_epochs(learner, distributed.AgreedBatches(train_src, user, self.control, self.info),
                                  val_src, folder, start_epoch, end_epoch)
        finally:
            if self.control.stop_requested:
                user.stop()
            self.control = user

    def _end_epoch(self, learner, folder, epoch, trained, val_loss, val_acc) -> None:
        """The training figures of every rank's shard, summed (one all_reduce per epoch)."""
        n = trained.images
        loss, correct, images = distributed.sum_over_ranks([trained.loss * n, trained.accuracy * n, n], self.info)
        trained = dataclasses.replace(trained, loss=loss / max(1, images), accuracy=correct / max(1, images),
                                      images=int(images))
        super()._end_epoch(learner, folder, epoch, trained, val_loss, val_acc)

    def _agreed(self, decision):
        """Rank 0's decision (to stop early) on every rank, so that no rank waits for the others."""
        return distributed.broadcast(decision, self.info)

    def _emit(self, event) -> None:
        world = self.info.world_size
        if isinstance(event, FitStarted):
            event = dataclasses.replace(event, device=f"{event.device}, {world} processes ({self.info.backend})")
        elif isinstance(event, BatchEnd):   # every rank trains as many photos per step as rank 0
            event = dataclasses.replace(event, images_per_s=event.images_per_s * world)
        super()._emit(event)

    def _log_error(self, exc: BaseException) -> None:
        if self.info.is_main:
            super()._log_error(exc)
        else:                               # only rank 0 writes the run folder: the details go to stderr
            import traceback

            traceback.print_exception(type(exc), exc, exc.__traceback__)

    def _explain(self, exc: BaseException) -> str:
        if distributed.is_collective_failure(exc):
            self._log_error(exc)
            return (f"Another training process ended or stopped answering ({self.info.describe()} saw: "
                    f"{str(exc).splitlines()[0][:200]}), so the run was stopped. Continue it with fledge "
                    f"train --resume {self.run_dir}.")
        return super()._explain(exc)

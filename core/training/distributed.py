"""Data-parallel training with torch.distributed: the process group, each rank's shard of the
photos, and the flags every rank must agree on at batch boundaries.

`torchrun` (torch.distributed.run) starts the processes and sets RANK, WORLD_SIZE and
LOCAL_RANK; setup() joins them into one process group (NCCL on CUDA, Gloo on the CPU) with a
timeout on every collective, so a rank that dies or hangs ends the others with an error
instead of a hang. core.training.distributed_trainer runs the Trainer on top of this;
core.training.launcher starts the processes.
"""
from __future__ import annotations

import copy
import datetime
import os
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist

from core.errors import FledgeError

DEFAULT_TIMEOUT_S = 600         # longest a rank waits for the others (rank 0 validates and saves alone)
TIMEOUT_ENV = "FLEDGE_COLLECTIVE_TIMEOUT_S"
PAUSE_POLL_S = 0.2              # while paused, the ranks agree this often whether to go on


@dataclass(frozen=True)
class RankInfo:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    backend: str

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def describe(self) -> str:
        return f"process {self.rank + 1} of {self.world_size}"


_active: RankInfo | None = None


def launched_by_torchrun(env=None) -> bool:
    """True inside a process started by torchrun (or by hand with its variables)."""
    env = os.environ if env is None else env
    return all(k in env for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))


def process_count(gpus: str | None) -> int:
    """--gpus all|N as a number of processes; "all" needs CUDA devices."""
    from core.training.config import gpus_problem_free

    text = str(gpus or "1").strip().lower()
    if not gpus_problem_free(text):
        raise FledgeError(f"--gpus takes all or a whole number of processes from 1 to 1024, not '{gpus}'.")
    if text != "all":
        return int(text)
    n = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if n == 0:
        raise FledgeError("--gpus all: this computer has no NVIDIA GPU. Give a number (--gpus 2) to train "
                          "with that many processes on the CPU, or leave --gpus out.")
    return n


def collective_timeout_s() -> float:
    try:
        return max(1.0, float(os.environ.get(TIMEOUT_ENV, DEFAULT_TIMEOUT_S)))
    except ValueError:
        return float(DEFAULT_TIMEOUT_S)


def setup(device_setting: str = "auto") -> RankInfo:
    """Join the job torchrun started: one CUDA device per local rank with NCCL, else Gloo on the CPU."""
    global _active
    rank, world, local = (int(os.environ[k]) for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))
    use_cuda = torch.cuda.is_available() and device_setting not in ("cpu", "mps")
    if use_cuda:
        if local >= torch.cuda.device_count():
            raise FledgeError(f"This machine has {torch.cuda.device_count()} GPUs, fewer than the "
                              f"{local + 1} training processes started on it. Start as many as there are GPUs.")
        torch.cuda.set_device(local)
        device, backend = torch.device("cuda", local), "nccl"
    else:
        device, backend = torch.device("cpu"), "gloo"
    timeout = datetime.timedelta(seconds=collective_timeout_s())
    kwargs = {"device_id": device} if use_cuda else {}
    dist.init_process_group(backend, init_method="env://", rank=rank, world_size=world, timeout=timeout, **kwargs)
    _active = RankInfo(rank, world, local, device, backend)
    return _active


def teardown() -> None:
    global _active
    _active = None
    if dist.is_available() and dist.is_initialized():
        try:
            dist.destroy_process_group()
        except Exception:       # a broken group (a rank died) cannot always be closed cleanly
            pass


def active() -> RankInfo:
    if _active is None:
        raise RuntimeError("no distributed job: call core.training.distributed.setup() first")
    return _active


# -- sharding ------------------------------------------------------------------------------------
def shard_positions(n: int, rank: int, world: int, seed: int) -> np.ndarray:
    """Rank `rank`'s positions among n training photos: a seeded shuffle dealt round-robin,
    padded (as DistributedSampler does) so every rank gets the same count and so the same
    number of steps. Fixed for the whole run, so each rank's decoded store holds only its shard;
    each epoch shuffles the shard's order anew."""
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(int(seed) % 2 ** 63)).numpy()
    per_rank = -(-n // world)
    padded = np.resize(order, per_rank * world)          # repeats from the start
    return padded[rank::world]


def shard_dataset(dataset, info: RankInfo, seed: int):
    """A view of the dataset for one rank: its shard of the training photos; the validation and
    test photos only on rank 0, which alone validates (the others get none)."""
    view = copy.copy(dataset)
    view.train = [dataset.train[i] for i in shard_positions(len(dataset.train), info.rank, info.world_size, seed)]
    if not info.is_main:
        view.val, view.test = [], []
    return view


# -- agreeing across ranks -----------------------------------------------------------------------
def broadcast(obj, info: RankInfo):
    """Rank 0's object on every rank (resume state, run folder path)."""
    box = [obj if info.is_main else None]
    dist.broadcast_object_list(box, src=0, device=info.device if info.backend == "nccl" else None)
    return box[0]


def agree_max(values: list[float], info: RankInfo) -> list[float]:
    """Element-wise maximum over the ranks: one small all_reduce."""
    t = torch.tensor(values, dtype=torch.float64 if info.backend == "gloo" else torch.float32, device=info.device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return t.tolist()


def sum_over_ranks(values: list[float], info: RankInfo) -> list[float]:
    t = torch.tensor(values, dtype=torch.float64 if info.backend == "gloo" else torch.float32, device=info.device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.tolist()


class AgreedBatches:
    """A training source whose epochs end on every rank at the same step, and through which a
    Stop or Pause on any rank reaches all of them.

    Before each batch the ranks agree (one all_reduce of three flags) whether someone asked to
    stop, is paused, or has run out of batches (an unreadable photo can shorten a shard). A
    stop is passed to `loop_control`, the control the loop polls, so every rank raises
    Stopped at the same batch: a rank that stopped alone would leave the others waiting in
    their next gradient all_reduce.
    """

    def __init__(self, source, user_control, loop_control, info: RankInfo) -> None:
        self.source = source
        self.user = user_control
        self.loop = loop_control
        self.info = info

    def __getattr__(self, name):
        return getattr(self.source, name)

    def batches(self, epoch: int):
        it = iter(self.source.batches(epoch))
        try:
            while True:
                item = next(it, None)
                while True:
                    stop, paused, done = agree_max(
                        [self.user.stop_requested, self.user.paused, item is None], self.info)
                    if stop or not paused:
                        break
                    time.sleep(PAUSE_POLL_S)
                if stop:
                    self.loop.stop()
                    return
                if done:
                    return
                yield item
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                close()


def is_collective_failure(exc: BaseException) -> bool:
    """An error of the process group itself: another rank died, hung, or the network broke."""
    if isinstance(exc, getattr(dist, "DistError", ())):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and any(w in text for w in (
        "gloo", "nccl", "connection closed", "connection reset", "timed out", "timeout", "broken pipe",
        "peer"))

"""A fake machine for core.model.threads: CPU figures and a clock the test moves (no sleeping),
and a fixture that gives torch's thread count and the process's policy back after each test."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from core.model import threads
from core.model.threads import ThreadPolicy


class FakeCpu:
    """The system's and this process's CPU-seconds and a clock, moved by the test (no sleeping)."""

    def __init__(self) -> None:
        self.now, self.busy, self.own, self.samples = 100.0, 5000.0, 40.0, 0
        self.others = 0.0               # the load while the policy sleeps
        self.slept: list[float] = []

    def sample(self):
        self.samples += 1
        return self.busy, self.own

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.run(seconds, self.others)

    def run(self, seconds: float, others: float, own: float = 0.0) -> None:
        """`seconds` pass with other processes keeping `others` cores busy and this one `own`."""
        self.now += seconds
        self.busy += seconds * (others + own)
        self.own += seconds * own


def policy(cpu: FakeCpu, cores: int = 4, environ=None) -> ThreadPolicy:
    return ThreadPolicy(cpu.sample, cpu.clock, lambda: cores, {} if environ is None else environ, cpu.sleep)


@pytest.fixture
def torch_threads():
    """torch's thread count and the process's policy put back as they were after the test."""
    before, rule = torch.get_num_threads(), threads.policy()
    yield
    torch.set_num_threads(before)
    threads.use_policy(rule)


def injected(cores: int, others: float) -> FakeCpu:
    """The process's policy on a fake machine whose first measure is already due."""
    cpu = FakeCpu()
    p = policy(cpu, cores=cores)
    threads.use_policy(p)
    p.threads()
    cpu.run(threads.FIRST_WINDOW_S, others)
    return cpu


def counting(model: nn.Module) -> list[int]:
    """torch's thread count at each forward of `model`, noted by a hook."""
    seen: list[int] = []
    model.register_forward_pre_hook(lambda module, args: seen.append(torch.get_num_threads()))
    return seen

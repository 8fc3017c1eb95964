"""The thread rule: the cores this process may use, less those other processes keep busy now."""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from core.errors import FledgeError
from core.model import threads
from core.model.predictor import Predictor
from core.model.threads import ThreadPolicy, busy_seconds, decide, paced
from tests.core.thread_support import FakeCpu, counting, injected, policy, torch_threads  # noqa: F401

pytestmark = pytest.mark.usefixtures("torch_threads")


def measured(p: ThreadPolicy, cpu: FakeCpu, others: float, own: float = 0.0) -> int:
    """The count after one measuring window with this load."""
    p.threads()
    cpu.run(threads.FIRST_WINDOW_S, others, own)
    return p.threads()


def test_an_idle_machine_gives_every_core():
    cpu = FakeCpu()
    assert measured(policy(cpu, cores=4), cpu, others=0.0) == 4


@pytest.mark.parametrize("others, want", [(1.0, 3), (0.7, 3), (2.0, 2), (0.3, 4), (9.0, 1)])
def test_cores_other_processes_keep_busy_are_left_to_them(others, want):
    cpu = FakeCpu()
    assert measured(policy(cpu, cores=4), cpu, others=others) == want


def test_this_process_own_work_is_not_counted_as_others():
    cpu = FakeCpu()
    assert measured(policy(cpu, cores=4), cpu, others=0.0, own=4.0) == 4
    cpu2 = FakeCpu()
    assert measured(policy(cpu2, cores=4), cpu2, others=1.0, own=3.0) == 3


def test_never_fewer_than_one_thread():
    assert decide(2, 5.0) == 1
    cpu = FakeCpu()
    assert measured(policy(cpu, cores=2), cpu, others=2.0) == 1


def test_before_the_first_measure_every_core_is_used():
    cpu = FakeCpu()
    cpu.busy += 1e6                 # whatever happened before the policy looked does not count
    assert policy(cpu, cores=3).threads() == 3


def test_settling_waits_out_the_first_window_and_answers_the_measure():
    cpu = FakeCpu()
    p = policy(cpu, cores=4)
    p.threads()
    cpu.others = 2.0
    cpu.run(threads.FIRST_WINDOW_S / 5, others=2.0)
    assert p.threads() == 4 and not cpu.slept                 # not settling: every core meanwhile
    assert p.threads(settle=True) == 2
    assert cpu.slept == [pytest.approx(threads.FIRST_WINDOW_S * 4 / 5)]
    cpu.run(threads.RECHECK_S / 2, others=2.0)
    assert p.threads(settle=True) == 2 and len(cpu.slept) == 1   # measured: no more waiting


def test_the_override_wins():
    cpu = FakeCpu()
    p = policy(cpu, cores=4, environ={"FLEDGE_THREADS": "7", "OMP_NUM_THREADS": "2"})
    assert measured(p, cpu, others=3.0) == 7


@pytest.mark.parametrize("text", ["0", "-2", "two", "1.5"])
def test_an_override_that_is_not_a_count_is_a_clear_error(text):
    with pytest.raises(FledgeError, match="FLEDGE_THREADS is .*whole number"):
        policy(FakeCpu(), environ={"FLEDGE_THREADS": text}).threads()


def test_omp_num_threads_is_the_most_it_gives():
    cpu = FakeCpu()
    p = policy(cpu, cores=8, environ={"OMP_NUM_THREADS": "2"})
    assert p.threads() == 2
    assert measured(p, cpu, others=0.0) == 2
    cpu2 = FakeCpu()
    assert measured(policy(cpu2, cores=8, environ={"OMP_NUM_THREADS": "3"}), cpu2, others=6.0) == 2


def test_without_system_figures_every_core_is_used():
    p = ThreadPolicy(lambda: None, FakeCpu().clock, lambda: 6, {})
    assert p.threads() == 6 and p.threads() == 6


def test_the_load_is_measured_again_every_few_seconds_and_not_between():
    cpu = FakeCpu()
    p = policy(cpu, cores=4)
    assert measured(p, cpu, others=2.0) == 2
    taken = cpu.samples
    cpu.run(threads.RECHECK_S / 2, others=2.0)
    assert p.threads() == 2 and cpu.samples == taken          # too soon: no new measure
    cpu.run(threads.RECHECK_S / 2, others=0.0)
    assert p.threads() == 3 and cpu.samples == taken + 1      # the window's average: 1 core busy
    cpu.run(threads.RECHECK_S, others=0.0)
    assert p.threads() == 4                                   # the other work ended
    cpu.run(threads.RECHECK_S, others=1.0)
    assert p.threads() == 3                                   # new work came


def test_a_stale_measure_is_not_used_for_new_work():
    cpu = FakeCpu()
    p = policy(cpu, cores=4)
    assert measured(p, cpu, others=3.0) == 1
    cpu.run(threads.STALE_S + 1, others=0.0)
    assert p.threads() == 4                                   # measuring afresh: all, meanwhile
    cpu.run(threads.FIRST_WINDOW_S, others=3.0)
    assert p.threads() == 1


def test_only_the_cores_this_process_may_use_are_measured():
    stat = ("cpu  900 0 300 800 0 0 0 0 0 0\n"
            "cpu0 100 0 50 400 30 0 0 0 0 0\n"
            "cpu1 200 10 50 200 0 5 5 30 0 0\n"
            "cpu2 600 0 200 200 0 0 0 0 0 0\n"
            "intr 1 2 3\n")
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    assert busy_seconds(stat, {0, 1}) == pytest.approx((150 + 300) / tick)   # idle and iowait left out
    assert busy_seconds(stat, None) == pytest.approx((150 + 300 + 800) / tick)


def test_usable_cores_follow_the_affinity(monkeypatch):
    monkeypatch.setattr(threads.os, "sched_getaffinity", lambda pid: {2, 5}, raising=False)
    monkeypatch.setattr(threads.os, "cpu_count", lambda: 16)
    assert threads.usable_cores() == 2
    assert threads.share(2) == 1 and threads.share(5) == 1
    monkeypatch.delattr(threads.os, "sched_getaffinity", raising=False)
    assert threads.usable_cores() == 16 and threads.share(4) == 4


def test_the_live_sample_counts_this_process_work():
    sample = threads.cpu_sample()
    if sample is None:
        pytest.skip("this system does not report CPU times")
    x = torch.randn(256, 256)
    for _ in range(200):
        x = (x @ x).tanh()
    later = threads.cpu_sample()
    assert later[1] > sample[1] and later[0] >= sample[0]


# -- the rule in use ---------------------------------------------------------------------------

def test_paced_sets_the_count_for_each_batch_and_puts_it_back():
    torch.set_num_threads(2)
    cpu = injected(cores=4, others=3.0)
    seen = []
    for _ in paced(range(2), "cpu"):
        seen.append(torch.get_num_threads())
        cpu.run(threads.RECHECK_S, others=0.0)
    assert seen == [1, 4]
    assert torch.get_num_threads() == 2


def test_paced_measures_before_its_first_batch_even_when_it_is_read_at_once():
    torch.set_num_threads(2)
    cpu = FakeCpu()
    cpu.others = 3.0
    threads.use_policy(policy(cpu, cores=4))
    assert [torch.get_num_threads() for _ in paced(range(2), "cpu")] == [1, 1]
    assert len(cpu.slept) == 1


def test_a_loop_left_by_an_error_puts_the_count_back():
    torch.set_num_threads(2)
    injected(cores=4, others=3.0)

    def work():
        for _ in paced(range(3), "cpu"):
            assert torch.get_num_threads() == 1
            raise KeyError("stopped")

    with pytest.raises(KeyError):
        work()
    assert torch.get_num_threads() == 2


def test_paced_leaves_gpu_work_alone():
    torch.set_num_threads(2)
    injected(cores=4, others=3.0)
    assert [torch.get_num_threads() for _ in paced(range(2), "meta")] == [2, 2]


def test_paced_says_a_bad_override_before_any_work(monkeypatch):
    monkeypatch.setenv("FLEDGE_THREADS", "lots")
    threads.use_policy(ThreadPolicy())
    with pytest.raises(FledgeError, match="FLEDGE_THREADS"):
        next(paced(iter([1]), "cpu"))


def test_overlapping_loops_put_the_count_back_once_both_ended():
    torch.set_num_threads(2)
    injected(cores=4, others=3.0)
    outer, inner = paced(range(3), "cpu"), paced(range(1), "cpu")
    next(outer)
    list(inner)
    assert torch.get_num_threads() == 1            # the outer loop still works
    list(outer)
    assert torch.get_num_threads() == 2


@pytest.mark.parametrize("others, want", [(2.0, 1), (0.0, 3)])
def test_the_predictor_runs_its_batches_with_the_policys_count(others, want):
    torch.set_num_threads(2)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                        nn.Linear(4, 3))
    predictor = Predictor.from_model(net, ["a", "b", "c"], 16, (0.5,) * 3, (0.25,) * 3, "cpu")
    seen = counting(predictor.model)
    injected(cores=3, others=others)
    rng = np.random.default_rng(0)
    photos = [Image.fromarray(rng.integers(0, 255, (20, 20, 3), dtype=np.uint8)) for _ in range(5)]
    preds = predictor.predict_many(photos, batch_size=2)
    assert all(p.ok for p in preds) and seen == [want] * 3
    seen.clear()
    predictor.probabilities(photos, batch_size=5)
    assert seen == [want]
    assert torch.get_num_threads() == 2

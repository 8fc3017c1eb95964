"""How many threads torch uses for heavy work on the CPU: the one rule.

The cores this process may use, less the cores other processes keep busy right now. torch's
OpenMP threads wait on each other at the end of every operation, so one thread that shares its
core with another program holds all the others up: on a 2-core machine with one busy program,
2 threads ran 2.7 times slower than 1. "Busy right now" is the system's CPU time on our cores
(/proc/stat) over the last few seconds, less this process's own; it is measured again every
RECHECK_S between batches, since other work comes and goes. Where the system does not tell
(no /proc/stat), every core is used.

FLEDGE_THREADS=N sets the count outright. OMP_NUM_THREADS, where set (by you, or for each of
several processes sharing one machine: core.training.launcher asks share() here, torchrun
started by hand sets 1), is the most this rule gives.

Work on a GPU is left alone: only paced() loops on the CPU change torch's thread count. This
module loads torch only there, so a launcher may ask share() and stay light.
"""
from __future__ import annotations

import os
import threading
import time
from typing import Callable, Iterable, Iterator, Mapping, TypeVar

from core.errors import FledgeError

ENV = "FLEDGE_THREADS"
RECHECK_S = 3.0        # measured again this often (a /proc/stat read: tens of microseconds)
FIRST_WINDOW_S = 0.25  # the first measure averages over at least this long (reading a batch, mostly)
STALE_S = 30.0         # a measure older than this says nothing about now: start over

T = TypeVar("T")
Sample = Callable[[], "tuple[float, float] | None"]


def allowed_cpus() -> set[int] | None:
    """The CPUs this process may run on; None where the system does not say."""
    try:
        return set(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return None


def usable_cores() -> int:
    """Cores this process may use (its CPU affinity where the system has one)."""
    cpus = allowed_cpus()
    return max(1, len(cpus) if cpus else os.cpu_count() or 1)


def share(processes: int) -> int:
    """Each process's threads when `processes` of them share this machine's cores."""
    return max(1, usable_cores() // max(1, int(processes)))


def busy_seconds(proc_stat: str, cpus: set[int] | None) -> float:
    """CPU-seconds the system spent busy (all but idle and waiting for the disk) on `cpus`
    (None: every CPU), from the text of /proc/stat."""
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    ticks = 0
    for line in proc_stat.splitlines():
        name, _, rest = line.partition(" ")
        if not name.startswith("cpu") or not name[3:].isdigit():
            continue
        if cpus is not None and int(name[3:]) not in cpus:
            continue
        # user nice system idle iowait irq softirq steal (guest time is inside user)
        fields = [int(v) for v in rest.split()[:8]]
        ticks += sum(fields) - fields[3] - (fields[4] if len(fields) > 4 else 0)
    return ticks / tick


def cpu_sample() -> tuple[float, float] | None:
    """(CPU-seconds the system spent busy on this process's cores, CPU-seconds this process
    spent), both since boot; None where the system does not tell (no /proc/stat)."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            text = f.read()
        busy = busy_seconds(text, allowed_cpus())
    except (OSError, ValueError, IndexError):
        return None
    own = os.times()
    return busy, own.user + own.system


def override(environ: Mapping[str, str] = os.environ) -> int | None:
    """FLEDGE_THREADS as a count, None when unset; a clear error when it is not a count."""
    text = environ.get(ENV, "").strip()
    if not text:
        return None
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise FledgeError(f"{ENV} is '{text}': set it to a whole number of threads (1 or more), "
                          "or remove it to let Fledge choose.")
    return n


def ceiling(cores: int, environ: Mapping[str, str] = os.environ) -> int:
    """The most threads the rule gives: the cores, or fewer where OMP_NUM_THREADS says so."""
    first = environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    return min(cores, int(first)) if first.isdigit() and int(first) > 0 else cores


def decide(cores: int, others_busy: float, most: int | None = None) -> int:
    """The threads to use when other processes keep `others_busy` cores' worth busy: a core
    counts as taken when it is busy at least half the time. Never fewer than 1."""
    taken = int(max(0.0, others_busy) + 0.5)
    return max(1, min(cores if most is None else most, cores - taken))


class ThreadPolicy:
    """The rule, with what it measures injectable (tests give samples and a clock)."""

    def __init__(self, sample: Sample = cpu_sample, clock: Callable[[], float] = time.monotonic,
                 cores: Callable[[], int] = usable_cores, environ: Mapping[str, str] = os.environ,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self._sample, self._clock, self._cores, self._environ = sample, clock, cores, environ
        self._sleep = sleep
        self._lock = threading.Lock()
        self._base: tuple[float, float, float] | None = None   # (when, busy, own) measured from
        self._measured: int | None = None                        # the last measure's answer
        self._wait = FIRST_WINDOW_S

    def threads(self, settle: bool = False) -> int:
        """The threads for heavy CPU work now. Cheap: measures only when RECHECK_S have passed
        since the last measure (FIRST_WINDOW_S for the first). Until the first measure it answers
        every core, or with settle waits out the rest of FIRST_WINDOW_S and answers the measure."""
        forced = override(self._environ)
        if forced is not None:
            return forced
        cores = self._cores()
        most = ceiling(cores, self._environ)
        with self._lock:
            now = self._clock()
            base = self._base
            if base is not None and now - base[0] > STALE_S:
                base, self._measured = None, None
            if settle and base is not None and self._measured is None:
                if (rest := FIRST_WINDOW_S - (now - base[0])) > 0:
                    self._sleep(rest)
                    now = self._clock()
            if base is None or now - base[0] >= self._wait:
                sample = self._sample()
                self._base = None if sample is None else (now, *sample)
                if base is not None and sample is not None and now > base[0]:
                    system = sample[0] - base[1]
                    own = sample[1] - base[2]
                    self._measured = decide(cores, (system - own) / (now - base[0]), most)
                self._wait = FIRST_WINDOW_S if self._measured is None else RECHECK_S
            return most if self._measured is None else min(most, self._measured)


_policy = ThreadPolicy()
_held = {"depth": 0, "before": 0}
_held_lock = threading.Lock()


def policy() -> ThreadPolicy:
    """The process's policy (one, so a measure carries from one piece of work to the next)."""
    return _policy


def use_policy(p: ThreadPolicy) -> ThreadPolicy:
    """Make `p` the process's policy (tests inject samples); the one it replaces."""
    global _policy
    old, _policy = _policy, p
    return old


def paced(batches: Iterable[T], device) -> Iterator[T]:
    """The batches, with torch's CPU threads set by the policy before each one (so the caller's
    work on it runs with them). When the last such loop in the process ends, torch gets back the
    count it had. On a GPU (or MPS) the batches pass through untouched."""
    import torch        # here: the launcher asks share() without loading torch

    if torch.device(device).type != "cpu":
        yield from batches
        return
    rule = policy()
    rule.threads()           # starts measuring while the first batch is read; says a bad FLEDGE_THREADS
    with _held_lock:
        if _held["depth"] == 0:
            _held["before"] = torch.get_num_threads()
        _held["depth"] += 1
    try:
        for i, batch in enumerate(batches):
            n = rule.threads(settle=i == 0)    # the first batch, too, runs with a measured count
            if torch.get_num_threads() != n:
                torch.set_num_threads(n)
            yield batch
    finally:
        with _held_lock:
            _held["depth"] -= 1
            if _held["depth"] == 0:
                torch.set_num_threads(_held["before"])

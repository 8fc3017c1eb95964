"""Running `fledge train` as the processes of a distributed job, for the distributed tests.

Run as a script, it is `fledge` with dropout switched off: dropout draws different masks for
one batch of 2B photos than for two of B, so weights could not match between a single-process
and a two-process run; without it they must (see test_distributed.py).
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
PY = sys.executable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def env_for(tmp_path, **extra) -> dict:
    env = dict(os.environ, FLEDGE_RUNS=str(tmp_path / "runs"), XDG_DATA_HOME=str(tmp_path / "user-data"),
               OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    env.update({k: str(v) for k, v in extra.items()})
    return env


def fledge(args, tmp_path, timeout=180, no_dropout=False, **env):
    """`fledge ARGS` (or this script with dropout off) to the end; the CompletedProcess."""
    cmd = [PY, __file__] if no_dropout else [PY, "-m", "core.cli"]
    return subprocess.run(cmd + list(map(str, args)), cwd=ROOT, env=env_for(tmp_path, **env),
                          capture_output=True, text=True, timeout=timeout)


def start_ranks(args, tmp_path, world=2, no_dropout=False, **env):
    """The ranks of a job started by hand, as torchrun would: RANK, WORLD_SIZE, LOCAL_RANK."""
    port = free_port()
    cmd = [PY, __file__] if no_dropout else [PY, "-m", "core.cli"]
    procs = []
    for rank in range(world):
        e = env_for(tmp_path, RANK=rank, WORLD_SIZE=world, LOCAL_RANK=rank, LOCAL_WORLD_SIZE=world,
                    MASTER_ADDR="127.0.0.1", MASTER_PORT=port, **env)
        procs.append(subprocess.Popen(cmd + list(map(str, args)), cwd=ROOT, env=e, text=True,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
    return procs


def finish(procs, timeout=180):
    """Each process's (exit status, output); kills what is still running after `timeout`."""
    out = []
    deadline = time.monotonic() + timeout
    for p in procs:
        try:
            text, _ = p.communicate(timeout=max(1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            text, _ = p.communicate()
            text += "\n[killed: still running after the test's timeout]"
        out.append((p.returncode, text))
    return out


def wait_for(predicate, timeout=90, procs=()):
    """Poll until predicate() is true; False after timeout or when a process ended first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        if any(p.poll() is not None for p in procs):
            return predicate()
        time.sleep(0.1)
    return False


def epochs_done(run_dir) -> int:
    path = Path(run_dir) / "metrics.csv"
    try:
        return max(0, len(path.read_text().strip().splitlines()) - 1)
    except OSError:
        return 0


def interrupt(proc) -> None:
    proc.send_signal(signal.SIGINT)


def logs_dir(tmp_path) -> Path:
    """Where a job started with env_for(tmp_path) keeps its log (core.training.launcher)."""
    return tmp_path / "user-data" / "fledge" / "logs"


def _children(pid: int) -> list[int]:
    kids = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            kids += [int(k) for k in task.read_text().split()]
        except OSError:
            pass
    return kids


def ranks_of(pid: int) -> dict[int, int]:
    """{rank: pid} of the processes a torchrun below `pid` started (found in /proc by their RANK)."""
    found, todo = {}, _children(pid)
    while todo:
        child = todo.pop()
        todo += _children(child)
        try:
            env = Path(f"/proc/{child}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        ranks = [int(v.split(b"=", 1)[1]) for v in env if v.startswith(b"RANK=")]
        cmdline = Path(f"/proc/{child}/cmdline").read_bytes() if Path(f"/proc/{child}/cmdline").exists() else b""
        if ranks and b"torch.distributed.run" not in cmdline:
            found[ranks[0]] = child
    return found


def can_see_children() -> bool:
    return Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children").exists()


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    import torch

    torch.nn.Dropout.forward = lambda self, x: x
    from core.cli.main import main

    sys.exit(main(sys.argv[1:]))

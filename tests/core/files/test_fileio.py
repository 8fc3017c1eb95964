"""Atomic writes: a killed writer's tmp file is cleaned up by the next write; FIFOs never block."""
from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from core.files.fileio import NotARegularFile, atomic_write, atomic_write_text, open_regular


def test_a_killed_writers_leftover_is_removed_by_the_next_write(tmp_path):
    target = tmp_path / "resume.pt"
    code = ("import os, sys; from core.files.fileio import atomic_write\n"
            "def write(f):\n"
            "    f.write(b'partial'); f.flush(); print('writing', flush=True); sys.stdin.read()\n"
            f"atomic_write({str(target)!r}, write)\n")
    child = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(__file__)))))
    assert child.stdout.readline().strip() == b"writing"
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    leftovers = [e for e in os.listdir(tmp_path) if e.endswith(".tmp")]
    assert len(leftovers) == 1 and str(child.pid) in leftovers[0]
    atomic_write_text(target, "done")
    assert sorted(os.listdir(tmp_path)) == ["resume.pt"]
    assert target.read_text() == "done"


def test_a_live_writers_tmp_file_is_left_alone(tmp_path):
    target = tmp_path / "best.pt"
    live = tmp_path / f".best.pt.{os.getppid()}.abc.tmp"          # the test runner's parent is alive
    live.write_bytes(b"in progress")
    other = tmp_path / ".last.pt.999999999.abc.tmp"               # another target: not ours to judge
    other.write_bytes(b"x")
    atomic_write(target, lambda f: f.write(b"v"))
    assert live.exists() and other.exists()


def test_open_regular_refuses_a_fifo_and_a_folder(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(NotARegularFile, match="not an ordinary file"):
        open_regular(fifo)
    with pytest.raises(NotARegularFile, match="folder"):
        open_regular(tmp_path)
    (tmp_path / "f").write_bytes(b"abc")
    with open_regular(tmp_path / "f") as f:
        assert f.read() == b"abc"

"""Atomic writes: a killed writer's tmp file is cleaned up by the next write; FIFOs never block."""
from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys

import pytest

from core.errors import FledgeError
from core.files.fileio import NotARegularFile, ReadOnlyFile, atomic_write, atomic_write_text, open_regular


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


@pytest.fixture
def umask():
    """Set the process umask for one test; the old one comes back after it."""
    old = os.umask(0o022)
    yield os.umask
    os.umask(old)


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_a_new_file_follows_the_umask_like_any_programs(tmp_path, umask, mask, mode):
    umask(mask)
    atomic_write_text(tmp_path / "run.json", "{}")
    assert stat.S_IMODE(os.stat(tmp_path / "run.json").st_mode) == mode


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o600, 0o664])
def test_rewriting_a_file_keeps_its_mode_whatever_the_umask(tmp_path, umask, mode):
    umask(0o077)
    target = tmp_path / "best.pt"
    target.write_bytes(b"old")
    os.chmod(target, mode)
    atomic_write(target, lambda f: f.write(b"new"))
    assert target.read_bytes() == b"new"
    assert stat.S_IMODE(os.stat(target).st_mode) == mode


def test_a_read_only_file_is_refused_not_replaced(tmp_path):
    target = tmp_path / "best.pt"
    target.write_bytes(b"the owner's")
    os.chmod(target, 0o444)              # no write bit: refused even when running as root
    before = os.stat(target)
    with pytest.raises(ReadOnlyFile, match="read-only, so Fledge left it as it is") as err:
        atomic_write_text(target, "replaced")
    assert isinstance(err.value, FledgeError) and isinstance(err.value, PermissionError)
    after = os.stat(target)
    assert target.read_bytes() == b"the owner's" and after.st_ino == before.st_ino
    assert stat.S_IMODE(after.st_mode) == 0o444
    assert os.listdir(tmp_path) == ["best.pt"]           # no tmp file left behind

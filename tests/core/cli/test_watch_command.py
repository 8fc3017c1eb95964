"""`fledge watch` end to end: a real small model in a subprocess, photos arriving, then Ctrl+C.

The model is test_photo_commands' small_cnn whose classifier weights are zeroed and whose
bias makes it answer "bird" with probability 0.8 for every picture, so each line is predictable.
"""
from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading

import pytest
from PIL import Image

from tests.core.cli.test_photo_commands import model  # noqa: F401 - the same fixed-answer model file

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def lines_of(stream) -> queue.Queue:
    """The stream's lines, as they come, on a queue (None at its end)."""
    q: queue.Queue = queue.Queue()

    def read():
        for line in stream:
            q.put(line.rstrip("\n"))
        q.put(None)
    threading.Thread(target=read, daemon=True).start()
    return q


def next_line(q: queue.Queue, timeout: float = 60) -> str:
    line = q.get(timeout=timeout)
    assert line is not None, "fledge watch ended early"
    return line


@pytest.mark.skipif(sys.platform == "win32", reason="Ctrl+C is sent as SIGINT")
def test_watch_prints_each_photo_and_the_counts_on_ctrl_c(model, tmp_path):
    cam, dest = tmp_path / "cam", tmp_path / "sorted"
    cam.mkdir()
    Image.new("RGB", (32, 32), (200, 30, 30)).save(cam / "before.png")      # arrived while closed
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", PYTHONPATH=ROOT)
    proc = subprocess.Popen([sys.executable, "-m", "core.cli", "watch", model, str(cam), "--sort-into", str(dest),
                             "--threshold", "0.9", "--settle", "0.3"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out = lines_of(proc.stdout)
        assert next_line(out) == "before.png -> _review (maybe bird, only 80% sure)"
        Image.new("RGB", (32, 32), (30, 30, 200)).save(cam / "after.png")
        assert next_line(out) == "after.png -> _review (maybe bird, only 80% sure)"
        proc.send_signal(signal.SIGINT)
        rest = []
        while (line := out.get(timeout=30)) is not None:
            rest.append(line)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    err = proc.stderr.read()
    assert rest == [f"Stopped watching. Copied 2 photos into {dest}: 2 to _review.",
                    f"To put everything back: fledge undo {dest}"]
    assert f"Watching {cam}" in err and "1 photo already there is sorted first." in err
    assert sorted(os.listdir(dest / "_review")) == ["after.png", "before.png"]
    assert sorted(os.listdir(cam)) == ["after.png", "before.png"]


def test_watch_refuses_a_missing_folder_in_one_line(model, tmp_path):
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", PYTHONPATH=ROOT)
    done = subprocess.run([sys.executable, "-m", "core.cli", "watch", model, str(tmp_path / "nope"),
                           "--sort-into", str(tmp_path / "d")], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr.strip() == (f"fledge: The folder {tmp_path / 'nope'} does not exist. "
                                   "Give the folder the photos arrive in.")


def test_the_watch_benchmark_measures_from_written_to_sorted():
    pytest.importorskip("torch")
    from core.bench.watch import SETTLE, format_watch, run_watch_bench

    r = run_watch_bench(device="cpu", arch="small_cnn", image_size=32, rate=10, seconds=1)
    assert r["photos"] == 10 and not r["polling"]
    # Each photo waited at least the settle time (so it was known to have stopped growing).
    assert SETTLE <= r["latency_min_s"] <= r["latency_median_s"] <= r["latency_max_s"] < SETTLE + 10
    assert "watch latency (photo written -> photo sorted): median" in format_watch(r)

"""`fledge bench --gpus 2` on the CPU: both runs go through the one launcher (torchrun, Gloo)
and the summary holds their figures; the timings are the benchmark's business, not a test's."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.timeout(400)
def test_bench_gpus_trains_with_one_and_with_two_processes(tmp_path):
    env = dict(os.environ, FLEDGE_RUNS=str(tmp_path / "runs"), XDG_DATA_HOME=str(tmp_path / "user-data"),
               TMPDIR=str(tmp_path), OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-m", "core.cli", "bench", "--gpus", "2", "--device", "cpu", "--images",
                           "24", "--epochs", "2", "--image-size", "32", "--batch-size", "4", "--json"],
                          cwd=ROOT, capture_output=True, text=True, timeout=380, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout)
    assert (summary["backend"], summary["processes"]) == ("gloo", 2)
    assert [r["processes"] for r in summary["results"]] == [1, 2]
    for r in summary["results"]:
        assert len(r["epoch_seconds"]) == 2 and r["images_per_s"] > 0 and r["train_images"] > 0
    assert summary["scaling_efficiency"] > 0
    assert not list((tmp_path / "user-data" / "fledge" / "logs").glob("*.log"))    # both ended cleanly

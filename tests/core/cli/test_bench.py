"""`fledge bench --quick` end to end on a tiny setting: the output is parsed, the
timings are not judged (they are the benchmark's business, not a test's)."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_bench_quick_runs_end_to_end(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT), TMPDIR=str(tmp_path))
    proc = subprocess.run(
        [sys.executable, "-m", "core.cli", "bench", "--quick", "--images", "32", "--epochs", "2",
         "--batch-size", "8", "--json"],
        capture_output=True, text=True, timeout=900, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.strip().splitlines()
    last = re.fullmatch(r"speedup_vs_reference=([\d.]+) fraction_of_ceiling=([\d.]+)", lines[-1])
    assert last, lines[-1]
    summary = json.loads("\n".join(lines[:-1]))
    assert summary["arch"] == "small_cnn" and summary["image_size"] == 64
    assert float(last.group(1)) == round(summary["speedup_vs_reference"], 2)
    results = summary["results"]
    for phase in ("reference", "fledge", "ceiling"):
        rates = results[phase]["epoch_images_per_s"]
        assert rates and all(r > 0 for r in rates), phase
        assert results[phase]["peak_rss_mb"] > 0
    assert len(results["reference"]["epoch_images_per_s"]) == 2
    assert len(results["fledge"]["epoch_images_per_s"]) == 2
    assert 0.0 <= results["fledge"]["val_acc"] <= 1.0
    predict = results["predict"]
    assert predict["folder_images"] == 32
    assert predict["fledge_ms_median"] > 0 and predict["plain_ms_median"] > 0

"""`fledge bench --quick` end to end on a tiny setting: the output is parsed, the
timings are not judged (they are the benchmark's business, not a test's)."""
from __future__ import annotations

import json
import math
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


def test_bench_recipes_prints_every_recipe_and_the_summary(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT), TMPDIR=str(tmp_path))
    proc = subprocess.run(
        [sys.executable, "-m", "core.cli", "bench", "--recipes", "--images", "12", "--epochs", "1"],
        capture_output=True, text=True, timeout=900, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.strip().splitlines()
    header = re.search(r"classes=(\d+) train=(\d+) val=(\d+)", lines[0])
    assert header and header.groups() == ("4", "8", "4"), lines[0]
    rows = {}
    for line in lines:
        m = re.match(r"(default|quick again|quick|thorough|tutorial) +([\d.]+)% +([\d.]+) +([\d.]+) +(\d+)/(\d+) +(\S+)",
                     line)
        if m:
            rows[m.group(1)] = m.groups()[1:]
    assert list(rows) == ["default", "quick", "quick again", "thorough", "tutorial"], lines
    for name, (acc, to_best, total, best, run, read) in rows.items():
        assert 0 <= float(acc) <= 100 and 0 < float(to_best) <= float(total), name
        assert 1 <= int(best) <= int(run), name
    assert [rows[n][4] for n in rows] == ["1", "1", "1", "2", "1"]      # thorough: head, then every layer
    assert rows["quick"][5] == "12" and rows["quick again"][5] == "0"   # the second run reads no photo
    assert rows["thorough"][5] == "12"                                  # thorough starts with a cache of its own
    assert any(line.startswith("quick: ") and "reading photos" in line for line in lines)
    figures = dict(kv.split("=") for kv in lines[-1].split())
    assert float(figures["quick_acc"]) == round(float(rows["quick"][0]) / 100, 3)
    assert float(figures["quick_cached_s"]) == float(rows["quick again"][2])
    want = float(figures["quick_acc"]) - float(figures["default_acc"])
    assert abs(float(figures["quick_vs_default_pts"]) - 100 * want) < 0.2
    assert {"thorough_vs_tutorial_pts", "quick_vs_fine_tune_pts", "thorough_time_vs_tutorial"} <= set(figures)


def test_per_class_subset_links_the_first_photos_of_each_class(tmp_path):
    from core.bench.recipes import subset_folder

    src = tmp_path / "photos"
    for cls in ("cat", "dog"):
        (src / cls).mkdir(parents=True)
        for name in ("c.jpg", "a.jpg", "b.jpg"):
            (src / cls / name).write_bytes(cls.encode() + name.encode())
    before = sorted(p.relative_to(src) for p in src.rglob("*"))
    out = subset_folder(str(src), str(tmp_path / "subset"), 2)
    picked = {cls: sorted(p.name for p in (tmp_path / "subset" / cls).iterdir()) for cls in ("cat", "dog")}
    assert picked == {"cat": ["00000_a.jpg", "00001_b.jpg"], "dog": ["00000_a.jpg", "00001_b.jpg"]}
    assert (Path(out) / "dog" / "00001_b.jpg").read_bytes() == b"dogb.jpg"
    assert sorted(p.relative_to(src) for p in src.rglob("*")) == before      # the folder is left as it was


def test_only_chooses_recipes_and_the_figures_leave_the_rest_unknown():
    import math

    import pytest

    from core.bench.recipes import chosen_recipes, figures
    from core.errors import FledgeError

    assert [r[0] for r in chosen_recipes("quick, default")] == ["default", "quick"]
    assert len(chosen_recipes(None)) == 5
    with pytest.raises(FledgeError, match="unknown recipe fast"):
        chosen_recipes("fast")
    with pytest.raises(FledgeError, match="name quick too"):
        chosen_recipes("quick again")
    run = {"best_val_acc": 0.7, "to_best_s": 9.0, "total_s": 9.5}
    f = figures({"default": dict(run, best_val_acc=0.5), "quick": run, "quick again": dict(run, total_s=0.5)})
    assert f["quick_vs_default_pts"] == pytest.approx(20.0) and f["quick_cached_s"] == 0.5
    assert math.isnan(f["thorough_acc"]) and math.isnan(f["quick_vs_fine_tune_pts"])


def test_bench_heads_prints_every_variant_and_head(tmp_path, monkeypatch, capsys):
    """`fledge bench --heads` on 24 generated photos: a row per variant and per head, figures in range."""
    from core.bench import heads
    from core.cli.main import main

    monkeypatch.setattr(heads, "CEILING_PHOTOS", 8)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "userdata"))
    summary = {}
    real = heads.run_heads
    monkeypatch.setattr(heads, "run_heads", lambda args: summary.update(real(args)) or summary)
    assert main(["bench", "--heads", "--images", "24", "--arch", "efficientnet_lite0"]) == 0
    wanted = heads.variants(["efficientnet_lite0"])
    assert [(f["backbone"], f["precision"], f["views"]) for f in summary["features"]] == \
        [(b, p, len(v)) for b, p, v in wanted]
    for f in summary["features"]:
        assert f["computed"] == f["photos"] == 24                 # each variant's cache starts empty
        assert f["photos_per_s"] > 0 and f["ceiling_photos_per_s"] > 0
        assert math.isclose(f["fraction_of_ceiling"], f["photos_per_s"] / f["ceiling_photos_per_s"])
    assert [h["head"] for h in summary["heads"]] == [name for name, _ in heads.HEADS] * len(wanted)
    for h in summary["heads"]:
        assert (0 <= h["val_acc"] <= 1 and h["fit_s"] >= 0) or h["note"].startswith("skipped"), h
    assert summary["train_photos"] + summary["val_photos"] == 24
    lines = capsys.readouterr().out.strip().splitlines()
    rows = [line for line in lines if re.match(r"efficientnet_lite0 +(fp32|bf16) +[12] +(quick|AdamW|scikit)", line)]
    assert all(f["ceiling_threads"] >= 1 for f in summary["features"])
    assert len(rows) == len(summary["heads"])
    features = [line for line in lines if re.match(r"efficientnet_lite0 +(fp32|bf16) +[12] +[\d.]+ +[\d.]+ ", line)]
    assert len(features) == len(wanted)
    figures = dict(kv.split("=") for kv in lines[-1].split())
    assert float(figures["quick_acc"]) == round(summary["figures"]["quick_acc"], 3)
    assert abs(float(figures["quick_vs_adamw_pts"]) - 100 * (summary["figures"]["quick_acc"]
                                                              - summary["figures"]["adamw_acc"])) < 0.06


def test_bench_heads_measures_every_installed_network_unless_arch_keeps_one(capsys):
    from core.bench import heads
    from core.cli.main import main
    from core.model import offline_backbone

    assert {b for b, _, _ in heads.variants()} == set(offline_backbone.BACKBONES) and len(offline_backbone.BACKBONES) > 1
    assert {v for _, _, v in heads.variants()} == {("photo",), ("photo", "mirror")}
    assert main(["bench", "--heads", "--images", "8", "--arch", "resnet18"]) != 0
    assert "choose one of efficientnet_lite0" in capsys.readouterr().err


def test_per_class_is_for_recipes_or_heads(capsys):
    from core.cli.main import main

    assert main(["bench", "--per-class", "3"]) != 0
    assert "--recipes or --heads" in capsys.readouterr().err

"""`fledge classify --gpus N`: the photos shared among processes (torchrun, Gloo on the CPU)
give the same CSV and the same sort as one process; the sharing itself keeps every photo once."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.photos.classify import ClassifiedImage
from core.photos.classify_shards import merge, share, sharded
from tests.core.conftest import draw_class_image, save_image
from tests.file_trees import tree

ROOT = Path(__file__).resolve().parents[3]


def test_shares_cover_every_photo_once_and_merge_in_order():
    paths = [f"/cam/{i:03d}.jpg" for i in range(11)]
    shares = [share(paths, r, 3) for r in range(3)]
    assert sorted(p for s in shares for p in s) == paths and [len(s) for s in shares] == [4, 4, 3]
    parts = [[ClassifiedImage(p, (("bird", 0.9),)) for p in s] for s in reversed(shares)]
    assert [r.path for r in merge(parts, paths)] == paths
    # A rank stopped early: what it did not reach is left out, the rest keeps its order.
    parts[0] = parts[0][:1]
    merged = [r.path for r in merge(parts, paths)]
    assert merged == [p for p in paths if p not in shares[2][1:]]


def test_a_sharded_spread_runs_only_its_share_and_returns_everyones():
    paths = [f"/cam/{i}.jpg" for i in range(7)]
    asked = []

    def run(some):
        asked.extend(some)
        return [ClassifiedImage(p, (("plane", 0.7),)) for p in some]
    others = [ClassifiedImage(p, (("bird", 0.6),)) for p in share(paths, 0, 2)]
    spread = sharded(1, 2, lambda mine: [others, mine])
    out = spread(paths, run)
    assert asked == share(paths, 1, 2)
    assert [r.path for r in out] == paths


def _fledge(args, tmp_path, timeout=240):
    env = dict(os.environ, FLEDGE_RUNS=str(tmp_path / "runs"), XDG_DATA_HOME=str(tmp_path / "data"),
               OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "core.cli", *map(str, args)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    torch = pytest.importorskip("torch")
    from core.model.checkpoints import save_checkpoint
    from core.model.networks import build_model, get_spec

    torch.manual_seed(3)
    net, _ = build_model("small_cnn", 2, image_size=32)           # random weights: varied answers
    spec = get_spec("small_cnn")
    path = tmp_path_factory.mktemp("model") / "best.pt"
    save_checkpoint(path, net, arch="small_cnn", classes=["bird", "plane"], image_size=32,
                    mean=spec.mean, std=spec.std, config={"seed": 0, "val_fraction": 0.2}, metrics={})
    return str(path)


@pytest.mark.timeout(300)
def test_two_processes_write_the_csv_and_sort_of_one(model, tmp_path):
    cam = tmp_path / "cam"
    for i in range(13):
        save_image(draw_class_image(i % 3, 32, seed=i), cam / f"IMG {i:02d}.png")
    (cam / "broken.jpg").write_bytes(b"not a photo")
    before = tree(cam)
    one = _fledge(["classify", model, cam, "--csv", tmp_path / "one.csv", "--sort-into", tmp_path / "one",
                   "--threshold", "0.55"], tmp_path)
    assert one.returncode == 0, one.stderr
    two = _fledge(["classify", model, cam, "--csv", tmp_path / "two.csv", "--sort-into", tmp_path / "two",
                   "--threshold", "0.55", "--gpus", "2"], tmp_path)
    assert two.returncode == 0, two.stdout + two.stderr
    assert "Classifying with 2 processes" in two.stderr
    # What the first process printed reached this terminal, as a one-process run prints it.
    assert two.stdout.replace(str(tmp_path / "two"), "DEST") == one.stdout.replace(str(tmp_path / "one"), "DEST")
    assert two.stderr.split("\n", 1)[1] == one.stderr
    assert (tmp_path / "two.csv").read_bytes() == (tmp_path / "one.csv").read_bytes()
    visible = lambda t: {k: v for k, v in t.items() if not os.path.basename(k).startswith(".")}   # noqa: E731
    assert visible(tree(tmp_path / "two")) == visible(tree(tmp_path / "one")) != {}
    assert tree(cam) == before                                   # copied, once each
    undo = _fledge(["undo", tmp_path / "two"], tmp_path)
    assert undo.returncode == 0, undo.stderr
    assert visible(tree(tmp_path / "two")) == {}


@pytest.mark.timeout(300)
def test_a_killed_process_ends_classify_gpus_in_one_line_that_names_the_log(model, tmp_path):
    """torchrun's own report of the killed process goes to the log; Fledge says one line."""
    import re
    import signal

    from tests.core.training.distributed_support import can_see_children, ranks_of, wait_for

    if not can_see_children():
        pytest.skip("finding the processes needs /proc/PID/task/TID/children")
    cam = tmp_path / "cam"
    for i in range(13):
        save_image(draw_class_image(i % 3, 32, seed=i), cam / f"IMG {i:02d}.png")
    before = tree(cam)
    env = dict(os.environ, FLEDGE_RUNS=str(tmp_path / "runs"), XDG_DATA_HOME=str(tmp_path / "data"),
               OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-m", "core.cli", "classify", model, str(cam), "--sort-into",
                             str(tmp_path / "sorted"), "--gpus", "2"], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert wait_for(lambda: 1 in ranks_of(proc.pid), procs=[proc])
        os.kill(ranks_of(proc.pid)[1], signal.SIGKILL)
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 1, out + err
    assert "Traceback" not in out + err and "ChildFailedError" not in out + err
    announced, line = err.strip().splitlines()
    assert announced == "Classifying with 2 processes (torchrun)."
    assert line.startswith("fledge: ") and "was killed with SIGKILL" in line
    assert f"fledge undo {tmp_path / 'sorted'} puts them back" in line, line
    log = Path(re.search(r"The processes' own report is in (\S+\.log)\.", line).group(1))
    assert log.parent == tmp_path / "data" / "fledge" / "logs" and "SIGKILL" in log.read_text()
    assert tree(cam) == before

"""The `fledge` command line end to end, through a subprocess as a user runs it."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def fledge(*args, cwd=None, env_extra=None):
    env = dict(os.environ, PYTHONPATH=str(ROOT), **(env_extra or {}))
    return subprocess.run([sys.executable, "-m", "core.cli", *map(str, args)], capture_output=True,
                          text=True, timeout=600, cwd=cwd, env=env)


def assert_one_clear_line(proc):
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    return lines[0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """sample-data, then a one-epoch train: the path a newcomer takes."""
    base = tmp_path_factory.mktemp("cli")
    data = base / "sample"
    out = fledge("sample-data", data, "--per-class", 24)
    assert out.returncode == 0, out.stderr
    assert (data / "train" / "bird").is_dir() and (data / "val" / "plane").is_dir()
    run = base / "run"
    out = fledge("train", data, "--arch", "small_cnn", "--epochs", 1, "--image-size", 32, "--batch-size", 16,
                 "--out", run, env_extra={"FLEDGE_RUNS": str(base / "runs")})
    assert out.returncode == 0, out.stderr
    return data, run, out.stdout


def test_train_prints_summary_epochs_and_best_model(trained):
    data, run, stdout = trained
    assert "bird" in stdout and "plane" in stdout                 # the dataset summary first
    assert "epoch 1/1" in stdout
    assert stdout.strip().splitlines()[-1] == f"Best model: {run / 'best.pt'}"
    assert (run / "best.pt").is_file()


def test_predict_prints_a_line_per_image_and_json(trained):
    data, run, _ = trained
    images = sorted((data / "val" / "bird").glob("*.jpg"))[:2]
    broken = run.parent / "broken.jpg"
    broken.write_bytes(b"not really a jpeg")
    out = fledge("predict", run / "best.pt", *images, broken)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 3
    for line, path in zip(lines, images):
        p, cls, prob = line.split("\t")
        assert p == str(path) and cls in ("bird", "plane") and 0.5 <= float(prob) <= 1.0
    assert lines[2].startswith(f"{broken}\terror\t")
    out = fledge("predict", run / "best.pt", images[0], "--top-k", 2, "--json")
    result = json.loads(out.stdout)
    assert [t["class"] for t in result[0]["top"]] in (["bird", "plane"], ["plane", "bird"])
    assert sum(t["probability"] for t in result[0]["top"]) == pytest.approx(1.0, abs=1e-4)


def test_runs_lists_the_run(trained, tmp_path):
    data, run, _ = trained
    out = fledge("runs", "--root", run.parent)
    assert out.returncode == 0
    assert "completed" in out.stdout and str(run) in out.stdout


@pytest.mark.parametrize("args, words", [
    (["train", "/no/such/folder"], "folder"),
    (["train", "{data}", "--lr", "-3"], "Learning rate"),
    (["train", "{data}", "--arch", "resnet9000"], "resnet9000"),
    (["predict", "{notmodel}", "{image}"], "not"),
    (["predict", "/no/such/model.pt", "{image}"], "model.pt"),
    (["train", "{data}", "--epochs", "lots"], "lots"),
])
def test_bad_input_gives_one_clear_line(trained, tmp_path, args, words):
    data, run, _ = trained
    notmodel = tmp_path / "notes.pt"
    notmodel.write_text("hello")
    image = next((data / "val" / "bird").glob("*.jpg"))
    args = [a.format(data=data, notmodel=notmodel, image=image) for a in args]
    line = assert_one_clear_line(fledge(*args))
    assert words in line


def test_one_class_folder_says_what_to_do(tmp_path, make_image_folder):
    root = make_image_folder(classes={"bird": 6})
    line = assert_one_clear_line(fledge("train", root))
    assert "class" in line.lower()


def test_help_lists_every_subcommand():
    out = fledge("--help")
    assert out.returncode == 0
    for cmd in ("sample-data", "train", "predict", "runs"):
        assert cmd in out.stdout


def test_every_training_setting_is_an_option_of_train():
    """The options come from TrainConfig's own table: each field, its default, its type."""
    from core.cli.main import build_parser
    from core.training.config import TrainConfig, config_options
    from core.training.optimizer_rules import KNOBS

    args = build_parser().parse_args(["train", "DATA"])
    given = {o.name: getattr(args, o.name) for o in config_options()}
    # recipe and arch are left unset so that "no --arch" can mean the quick recipe; lr and
    # auto_lr so that the recipe can find the rate unless one was given; gpus so that a resumed
    # run can start as many processes as it used; the optimizer's and schedule's own settings so
    # that one given for an optimizer that does not take it can be refused
    left_unset = ("recipe", "backbone", "arch", "lr", "auto_lr", "gpus", *KNOBS)
    for name in left_unset:
        assert given.pop(name) is None, name
    expected = TrainConfig().to_dict()
    for name in left_unset:
        del expected[name]
    assert given == expected
    assert build_parser().parse_args(["train", "DATA", "--lr", "auto"]).lr == "auto"
    args = build_parser().parse_args([
        "train", "DATA", "--augment", "none", "--no-nesterov", "--pretrained", "--precision", "bf16",
        "--workers", "2", "--weights", "w.pth", "--image-size", "48", "--lr", "0.01", "--split-seed", "5"])
    assert (args.augment, args.nesterov, args.pretrained, args.precision, args.workers, args.weights_path,
            args.image_size, args.lr, args.split_seed) == ("none", False, True, "bf16", 2, "w.pth", 48, 0.01, 5)


def test_train_records_the_split_of_the_folder_not_the_training_seed(tmp_path, make_image_folder):
    from core.data.dataset import scan_dataset
    from core.photos.evaluation import training_split_settings

    root = make_image_folder(classes={"bird": 10, "plane": 10}, size=32)
    run = tmp_path / "run"
    out = fledge("train", root, "--epochs", 1, "--image-size", 32, "--batch-size", 8, "--workers", 0,
                 "--seed", 7, "--val-fraction", 0.3, "--out", run, env_extra={"FLEDGE_RUNS": str(tmp_path)})
    assert out.returncode == 0, out.stderr
    split = {"seed": 0, "val_fraction": 0.3, "test_fraction": 0.0, "bursts": True}
    assert json.loads((run / "run.json").read_text())["split"] == split
    assert json.loads((run / "config.json").read_text())["seed"] == 7
    assert training_split_settings(None, str(run / "best.pt")) == split
    assert "30% validation; seed 0" in out.stdout
    assert scan_dataset(root, **split).val != scan_dataset(root, seed=7, val_fraction=0.3).val

"""`fledge train --init-from MODEL.pt`: a third class added to a bird / plane model."""
from __future__ import annotations

import json

from tests.core.cli.test_cli import assert_one_clear_line, fledge

SMALL = ("--image-size", 32, "--batch-size", 8, "--workers", 0, "--epochs", 1)


def test_continue_from_a_model_with_a_new_class_and_refuse_another_network(tmp_path, make_image_folder):
    env = {"FLEDGE_RUNS": str(tmp_path / "runs")}
    two = make_image_folder(name="two", classes={"bird": 10, "plane": 10}, size=32)
    first = tmp_path / "first"
    out = fledge("train", two, "--arch", "small_cnn", *SMALL, "--out", first, env_extra=env)
    assert out.returncode == 0, out.stderr

    three = make_image_folder(name="three", classes={"bird": 10, "plane": 10, "empty": 10}, size=32)
    second = tmp_path / "second"
    out = fledge("train", three, "--init-from", first / "best.pt", *SMALL, "--out", second, env_extra=env)
    assert out.returncode == 0, out.stderr
    assert "Recipe: custom (the network of the model given with --init-from)" in out.stdout
    assert "Started from the model" in out.stdout and "new: empty" in out.stdout
    run = json.loads((second / "run.json").read_text())
    assert run["init_from"] == str(first / "best.pt") and run["init_from_head_kept"] is False
    assert json.loads((second / "config.json").read_text())["arch"] == "small_cnn"

    out = fledge("train", three, "--arch", "simplenet", "--init-from", first / "best.pt", *SMALL,
                 "--out", tmp_path / "third", env_extra=env)
    assert "same network" in assert_one_clear_line(out)

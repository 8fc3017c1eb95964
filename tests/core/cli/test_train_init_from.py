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


def test_a_model_of_an_installed_network_goes_on_under_thorough_with_that_network(tmp_path):
    """Lite2 is the presets' "accurate" network: continuing from a Lite2 model fine-tunes Lite2."""
    from core.cli.main import build_parser
    from core.cli.train import _train_config
    from core.training.recipe_rules import resolve

    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"arch": "efficientnet_lite2", "recipe": "quick"}))
    (run / "best.pt").write_bytes(b"a model")
    args = build_parser("train").parse_args(["train", str(tmp_path), "--init-from", str(run / "best.pt")])
    config = _train_config(args)
    assert (config.recipe, config.backbone) == ("thorough", "accurate")
    assert resolve(config)[0].arch == "efficientnet_lite2"
    args = build_parser("train").parse_args(["train", str(tmp_path), "--init-from", str(run / "best.pt"),
                                             "--backbone", "fast"])
    assert _train_config(args).backbone == "fast"          # said outright, it wins (the run then refuses)

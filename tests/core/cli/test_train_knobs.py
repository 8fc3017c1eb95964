"""`fledge train`'s optimizer and schedule settings: each given one reaches the TrainConfig,
one that the chosen optimizer or schedule does not take is refused in one line, and a custom
run without --lr starts from its optimizer's usual rate."""
from __future__ import annotations

import pytest

from core.cli.main import build_parser
from core.cli.train import _train_config, _unused_knobs
from core.training.config import TrainConfig
from tests.core.cli.test_cli import assert_one_clear_line, fledge


def _config(*argv):
    args = build_parser().parse_args(["train", "DATA", "--arch", "small_cnn", *argv])
    config = _train_config(args)
    return config, _unused_knobs(args, config)


@pytest.mark.parametrize("argv, field, value", [
    (["--optimizer", "rmsprop", "--momentum", "0.5"], "momentum", 0.5),
    (["--optimizer", "rmsprop", "--alpha", "0.8", "--centered"], "alpha", 0.8),
    (["--optimizer", "adam", "--beta1", "0.8", "--beta2", "0.99", "--amsgrad"], "beta2", 0.99),
    (["--optimizer", "adadelta", "--rho", "0.7"], "rho", 0.7),
    (["--optimizer", "sgd", "--no-nesterov", "--dampening", "0.1"], "dampening", 0.1),
    (["--schedule", "step", "--step-size", "2", "--gamma", "0.5"], "step_size", 2),
    (["--schedule", "multistep", "--milestones", "3,6"], "milestones", "3,6"),
])
def test_given_settings_reach_the_config(argv, field, value):
    config, unused = _config(*argv)
    assert getattr(config, field) == value and unused == []


@pytest.mark.parametrize("argv, words", [
    (["--optimizer", "adam", "--momentum", "0.5"], "--momentum is not used by Adam"),
    (["--optimizer", "rprop", "--weight-decay", "0.01"], "--weight-decay is not used by Rprop"),
    (["--optimizer", "sgd", "--amsgrad"], "--amsgrad is not used by SGD"),
    (["--schedule", "cosine", "--gamma", "0.5"], "--gamma is not used by the 'Cosine' schedule"),
])
def test_settings_the_optimizer_does_not_take_are_refused(argv, words):
    _, unused = _config(*argv)
    assert len(unused) == 1 and unused[0].startswith(words)


def test_settings_left_out_keep_their_defaults():
    config, unused = _config("--optimizer", "rprop")
    assert unused == [] and config.weight_decay == TrainConfig.weight_decay and config.momentum == TrainConfig.momentum


@pytest.mark.parametrize("optimizer, lr", [("adadelta", 1.0), ("sgd", 0.01), ("adamw", 0.001)])
def test_a_custom_run_without_lr_uses_its_optimizers_usual_rate(optimizer, lr):
    config, _ = _config("--optimizer", optimizer)
    assert config.lr == lr and not config.auto_lr
    assert _config("--optimizer", optimizer, "--lr", "0.05")[0].lr == 0.05


def test_the_refusal_is_one_line_before_anything_runs(tmp_path):
    line = assert_one_clear_line(fledge("train", tmp_path, "--arch", "small_cnn", "--optimizer", "rmsprop",
                                        "--nesterov"))
    assert "--nesterov is not used by RMSprop" in line


def test_thorough_fine_tunes_with_the_chosen_optimizer_so_its_settings_are_checked_too():
    args = build_parser().parse_args(["train", "DATA", "--recipe", "thorough", "--optimizer", "adam",
                                      "--momentum", "0.5"])
    assert _unused_knobs(args, _train_config(args))[0].startswith("--momentum is not used by Adam")

"""Every optimizer and schedule setting reaches PyTorch: each test builds the optimizer or
scheduler from a TrainConfig and reads what PyTorch holds."""
from __future__ import annotations

import pytest
import torch

from core.errors import FledgeError
from core.training import optimizer_rules
from core.training.config import OPTIMIZERS, SCHEDULES, ConfigError, TrainConfig
from core.training.optimizers import make_optimizer, make_scheduler

CPU = torch.device("cpu")


def _built(**settings) -> torch.optim.Optimizer:
    cfg = TrainConfig(recipe="custom", **settings)
    return make_optimizer(cfg.optimizer, [torch.nn.Parameter(torch.zeros(3))], cfg, CPU)


def _group(**settings) -> dict:
    return _built(**settings).param_groups[0]


@pytest.mark.parametrize("optimizer, key, setting, value", [
    ("sgd", "momentum", "momentum", 0.5),
    ("sgd", "dampening", "dampening", 0.3),
    ("sgd", "weight_decay", "weight_decay", 0.01),
    ("rmsprop", "momentum", "momentum", 0.5),        # was built with momentum 0
    ("rmsprop", "alpha", "alpha", 0.8),
    ("rmsprop", "centered", "centered", True),
    ("rmsprop", "weight_decay", "weight_decay", 0.02),
    ("adam", "amsgrad", "amsgrad", True),
    ("adamw", "amsgrad", "amsgrad", True),
    ("adamw", "weight_decay", "weight_decay", 0.05),
    ("adadelta", "rho", "rho", 0.7),
    ("adadelta", "weight_decay", "weight_decay", 0.03),
    ("adagrad", "weight_decay", "weight_decay", 0.04),
    ("adamax", "weight_decay", "weight_decay", 0.06),
])
def test_each_setting_reaches_the_optimizer(optimizer, key, setting, value):
    extra = {"nesterov": False} if setting == "dampening" else {}
    assert _group(optimizer=optimizer, **{setting: value}, **extra)[key] == value


@pytest.mark.parametrize("optimizer", ["adam", "adamw", "adamax"])
def test_betas_reach_the_adam_family(optimizer):
    assert _group(optimizer=optimizer, beta1=0.8, beta2=0.95)["betas"] == (0.8, 0.95)


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_each_optimizer_is_built_with_the_learning_rate(optimizer):
    opt = _built(optimizer=optimizer, lr=0.0123)
    assert type(opt).__name__.lower() == optimizer
    assert opt.param_groups[0]["lr"] == 0.0123


def test_sgd_nesterov_follows_the_setting():
    assert _group(optimizer="sgd", nesterov=True)["nesterov"] is True
    assert _group(optimizer="sgd", nesterov=False)["nesterov"] is False


def test_nesterov_with_dampening_is_refused_in_words():
    errs = TrainConfig(recipe="custom", optimizer="sgd", dampening=0.2).errors()
    assert "Nesterov" in errs["dampening"]
    TrainConfig(recipe="custom", optimizer="adam", dampening=0.2).validate()   # not SGD: not its setting


def test_the_rules_say_what_each_optimizer_takes():
    assert "momentum" in optimizer_rules.OPTIMIZER_SETTINGS["rmsprop"]
    assert "weight_decay" not in optimizer_rules.OPTIMIZER_SETTINGS["rprop"]
    assert optimizer_rules.unused_settings("rprop", "cosine") >= {"weight_decay", "momentum", "gamma"}
    assert "gamma" not in optimizer_rules.unused_settings("sgd", "multistep")
    assert set(optimizer_rules.OPTIMIZER_SETTINGS) == set(OPTIMIZERS)
    assert set(optimizer_rules.SCHEDULE_SETTINGS) == set(SCHEDULES)
    assert optimizer_rules.usual_lr("adadelta") == 1.0
    assert "Rprop" in optimizer_rules.not_used_message("weight_decay", "rprop", "cosine")


def _scheduler(**settings):
    cfg = TrainConfig(recipe="custom", **settings)
    opt = make_optimizer(cfg.optimizer, [torch.nn.Parameter(torch.zeros(3))], cfg, CPU)
    return make_scheduler(cfg, opt, steps_per_epoch=4)[0]


def test_step_size_and_gamma_reach_the_step_schedule():
    s = _scheduler(schedule="step", epochs=20, step_size=4, gamma=0.5)
    assert (s.step_size, s.gamma) == (4, 0.5)
    assert _scheduler(schedule="step", epochs=9).step_size == 3       # 0: a third of the epochs


def test_milestones_and_gamma_reach_the_multistep_schedule():
    s = _scheduler(schedule="multistep", epochs=20, milestones="3, 12", gamma=0.2)
    assert sorted(s.milestones) == [3, 12] and s.gamma == 0.2
    assert sorted(_scheduler(schedule="multistep", epochs=8).milestones) == [4, 6]


@pytest.mark.parametrize("milestones, words", [("five", "separated by commas"), ("3,10", "between 1 and 9")])
def test_bad_milestones_are_refused_in_words(milestones, words):
    cfg = TrainConfig(recipe="custom", schedule="multistep", epochs=10, milestones=milestones)
    assert words in cfg.errors()["milestones"]
    with pytest.raises(ConfigError):
        cfg.validate()
    with pytest.raises(FledgeError):
        make_scheduler(cfg.replace(milestones="x"), _built(), 4)


def test_a_step_that_never_comes_is_refused():
    assert "never steps" in TrainConfig(recipe="custom", schedule="step", epochs=5, step_size=5).errors()["step_size"]
    TrainConfig(recipe="custom", schedule="cosine", epochs=5, step_size=5).validate()   # not its schedule


def test_the_training_loop_builds_them_from_the_config():
    """What the trainer uses (core.training.loop.Learner) holds every chosen setting."""
    from core.training.loop import Learner

    cfg = TrainConfig(recipe="custom", optimizer="rmsprop", momentum=0.5, centered=True, schedule="multistep",
                      milestones="2,5", gamma=0.3, epochs=6)
    learner = Learner.build(cfg, torch.nn.Linear(2, 2), CPU, None, steps_per_epoch=3)
    group = learner.optimizer.param_groups[0]
    assert (type(learner.optimizer), group["momentum"], group["centered"]) == (torch.optim.RMSprop, 0.5, True)
    assert sorted(learner.scheduler.milestones) == [2, 5] and learner.scheduler.gamma == 0.3

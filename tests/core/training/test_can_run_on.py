"""The one rule for several processes (core.training.recipes.can_run_on) and its three callers:
the window trains on one process and says why, `fledge train --gpus` refuses, and the
distributed trainer fails with the same words."""
from __future__ import annotations

import pytest
import torch

from core.data.dataset import scan_dataset
from core.training.config import TrainConfig
from core.training.events import FitEnded, Message
from core.training.recipes import can_run_on

CUSTOM = dict(recipe="custom", arch="simplenet", lr=0.01, auto_lr=False)


def test_several_processes_are_for_custom_runs_with_a_learning_rate():
    assert can_run_on(TrainConfig(**CUSTOM), 4) is None
    for recipe in ("quick", "thorough"):
        assert f"the {recipe} recipe" in can_run_on(TrainConfig(recipe=recipe), 2)
        assert can_run_on(TrainConfig(recipe=recipe), 1) is None          # one process: anything goes
    assert "Finding the learning rate" in can_run_on(TrainConfig(**dict(CUSTOM, auto_lr=True)), 2)


def test_the_window_trains_a_quick_run_on_one_process_and_says_why(make_image_folder, monkeypatch):
    from core.training import distributed_fit
    from core.training.trainer import Trainer

    ran = []
    monkeypatch.setattr(Trainer, "fit", lambda self: ran.append(self.config) or FitEnded("completed", "done"))
    monkeypatch.setattr(distributed_fit, "run_training", lambda *a, **k: pytest.fail("no torchrun job"))
    seen = []
    config = TrainConfig(recipe="quick", gpus="2")
    ended = distributed_fit.fit(Trainer(config, scan_dataset(make_image_folder()), callbacks=[seen.append]))
    assert ended.reason == "completed" and [c.gpus for c in ran] == ["1"]
    assert seen == [Message("info", can_run_on(config, 2) + " This run trains on one GPU.")]


def test_the_window_trains_a_custom_run_with_a_learning_rate_on_every_process(make_image_folder, monkeypatch):
    from core.training import distributed_fit
    from core.training.trainer import Trainer

    jobs = []
    monkeypatch.setattr(distributed_fit, "run_training",
                        lambda trainer, n, **k: jobs.append(n) or FitEnded("completed", ""))
    distributed_fit.fit(Trainer(TrainConfig(**CUSTOM, gpus="3"), scan_dataset(make_image_folder())))
    assert jobs == [3]


@pytest.mark.parametrize("options, rule", [([], dict(recipe="quick")),
                                          (["--arch", "simplenet", "--lr", "auto"], dict(CUSTOM, auto_lr=True))])
def test_fledge_train_gpus_refuses_what_the_rule_refuses_before_any_process_starts(
        make_image_folder, monkeypatch, capsys, options, rule):
    from core.cli.main import main
    from core.training.launcher import TorchrunJob

    monkeypatch.setattr(TorchrunJob, "run", lambda self: pytest.fail("no torchrun job"))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert main(["train", str(make_image_folder()), "--gpus", "2", *options]) == 2
    err = capsys.readouterr().err
    assert err.startswith("fledge: --gpus 2: " + can_run_on(TrainConfig(**rule), 2)) and "Leave --gpus out" in err


def test_the_distributed_trainer_fails_with_the_rules_words(make_image_folder, monkeypatch):
    from core.training import distributed
    from core.training.distributed_trainer import DistributedTrainer

    monkeypatch.setattr(distributed, "active", lambda: distributed.RankInfo(0, 2, 0, torch.device("cpu"), "gloo"))
    config = TrainConfig(recipe="thorough")
    ended = DistributedTrainer(config, scan_dataset(make_image_folder())).fit()
    assert (ended.reason, ended.message) == ("failed", can_run_on(config, 2))

"""Feature extraction and the training loop run with the thread rule's count (core.model.threads)."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from core.training.config import TrainConfig
from core.training.divergence import LossGuard
from core.training.events import TrainControl
from core.training.feature_store import FeatureStore
from core.training.features import Backbone, extract_features
from core.training.loop import Learner, RunClock, evaluate, train_one_epoch
from tests.core.thread_support import counting, injected, torch_threads  # noqa: F401

pytestmark = pytest.mark.usefixtures("torch_threads")


def _net(outputs: int) -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(4, outputs))


@pytest.mark.parametrize("others, want", [(2.0, 1), (0.0, 3)])
def test_features_are_computed_with_the_policys_count(make_image_folder, tmp_path, others, want):
    torch.set_num_threads(2)
    photos = sorted(str(p) for p in make_image_folder(classes={"a": 3, "b": 2}, size=40).rglob("*.png"))
    network = _net(6).eval()
    seen = counting(network)
    injected(cores=3, others=others)
    store = FeatureStore(tmp_path / "features" / "b" / "v", root=tmp_path / "features")
    feats = extract_features(photos, Backbone("tiny-1", network, 32, (0.5,) * 3, (0.25,) * 3, 6),
                             store=store, batch_size=2)
    assert feats.usable.all() and seen == [want] * 3
    assert torch.get_num_threads() == 2


class Batches:
    """A batch source of random tensors (what the loop asks of one)."""

    steps_per_epoch = 3

    def batches(self, epoch: int):
        g = torch.Generator().manual_seed(epoch)
        for _ in range(self.steps_per_epoch):
            yield torch.randn(4, 3, 12, 12, generator=g), torch.randint(0, 2, (4,), generator=g)


@pytest.mark.parametrize("others, want", [(2.0, 1), (0.0, 3)])
def test_training_and_evaluation_on_the_cpu_use_the_policys_count(others, want):
    torch.set_num_threads(2)
    model = _net(2)
    seen = counting(model)
    config = TrainConfig(recipe="custom", arch="small_cnn", epochs=1)
    learner = Learner.build(config, model, torch.device("cpu"), None, Batches.steps_per_epoch)
    injected(cores=3, others=others)
    train_one_epoch(learner, Batches(), 0, RunClock(0, 3), TrainControl(), lambda ev: None, LossGuard(2, 0.1))
    evaluate(learner, Batches(), TrainControl())
    assert seen == [want] * 6
    assert torch.get_num_threads() == 2

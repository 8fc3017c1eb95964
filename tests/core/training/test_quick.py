"""Quick training: a head on the offline backbone's cached features, saved as an ordinary
Fledge model that the Predictor answers with exactly as the head did."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from core.data.dataset import scan_dataset
from core.model import offline_backbone as ob
from core.model.checkpoints import save_checkpoint
from core.model.predictor import Predictor
from core.training import quick
from core.training.feature_store import FeatureStore
from core.training.features import default_backbone, extract_features
from core.training.lr_finder import find_lr
from tests.core.conftest import draw_class_image, save_image

CLASSES = ("disc", "square", "triangle")


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    """12 photos of each of three shapes, split 80/20, with their offline features."""
    root = tmp_path_factory.mktemp("shapes")
    for k, cls in enumerate(CLASSES):
        for i in range(12):
            save_image(draw_class_image(k, 48, seed=100 * k + i), root / cls / f"{cls}_{i:02d}.jpg")
    ds = scan_dataset(root, val_fraction=0.25, seed=0, verify=False)
    store = FeatureStore(root.parent / "features" / "f", root=root.parent / "features")
    feats = extract_features([s.path for s in ds.train + ds.val], default_backbone(), store=store)
    assert feats.usable.all()
    n = len(ds.train)
    return dict(ds=ds, x=feats.vectors[:n], y=np.array([s.label for s in ds.train]),
                vx=feats.vectors[n:, 0], vy=np.array([s.label for s in ds.val]))


def _clusters(n_per_class: int, k: int = 3, dim: int = 16, seed: int = 0):
    centres = np.random.default_rng(0).normal(0, 3, (k, dim))
    g = np.random.default_rng(seed)
    y = np.repeat(np.arange(k), n_per_class)
    return (centres[y] + g.normal(0, 1, (len(y), dim))).astype(np.float32), y


def test_head_learns_clusters_fast_and_reports_every_epoch():
    x, y = _clusters(40)
    vx, vy = _clusters(20, seed=1)
    events = []
    head = quick.train_head(x, y, vx, vy, 3, quick.HeadSettings(epochs=8, lr=1e-2),
                            on_epoch=events.append)
    assert [e.epoch for e in events] == list(range(1, 9)) and all(e.epochs == 8 for e in events)
    assert head.best_val_acc > 0.9 and 1 <= head.best_epoch <= 8
    assert head.best_val_acc == max(e.val_acc for e in events)
    assert all(e.seconds < 1.0 and math.isfinite(e.train_loss) for e in events)
    assert events[-1].train_loss < events[0].train_loss
    # The standardization is folded in: the head answers on raw features.
    assert float((head.logits(vx).argmax(1) == torch.as_tensor(vy)).float().mean()) == head.best_val_acc
    torch.testing.assert_close(head.linear()(torch.as_tensor(vx)), head.logits(vx))


def test_stop_ends_training_between_epochs():
    x, y = _clusters(10)
    seen = []
    head = quick.train_head(x, y, x, y, 3, quick.HeadSettings(epochs=50),
                            on_epoch=seen.append, should_stop=lambda: len(seen) >= 2)
    assert head.stopped and len(head.history) == 2


def test_class_weights_help_the_small_class():
    g = np.random.default_rng(3)
    x = np.concatenate([g.normal(0, 1, (200, 8)), g.normal(0.6, 1, (20, 8))]).astype(np.float32)
    y = np.array([0] * 200 + [1] * 20)
    vx = np.concatenate([g.normal(0, 1, (200, 8)), g.normal(0.6, 1, (200, 8))]).astype(np.float32)
    vy = np.array([0] * 200 + [1] * 200)
    settings = quick.HeadSettings(epochs=40, lr=1e-2, batch_size=64)

    def small_class_recall(weights):
        head = quick.train_head(x, y, vx[:0], vy[:0], 2, settings, class_weights=weights)
        return float((head.logits(vx[200:]).argmax(1) == 1).float().mean())

    assert small_class_recall([220 / 400, 220 / 40]) > small_class_recall(None) + 0.2


def test_quick_training_beats_chance_on_photos(shapes):
    head = quick.train_head(shapes["x"], shapes["y"], shapes["vx"], shapes["vy"], len(CLASSES),
                            quick.HeadSettings(epochs=15))
    assert head.best_val_acc >= 0.8                    # chance is 1/3


def test_lr_finder_on_the_head_picks_a_sane_rate(shapes):
    curve = find_lr(quick.head_step(shapes["x"], shapes["y"], len(CLASSES)))
    assert 1e-5 <= curve.suggestion <= 0.3
    head = quick.train_head(shapes["x"], shapes["y"], shapes["vx"], shapes["vy"], len(CLASSES),
                            quick.HeadSettings(epochs=15, lr=curve.suggestion))
    assert head.best_val_acc >= 0.8


def test_quick_model_file_predicts_what_the_head_predicted(shapes, tmp_path):
    head = quick.train_head(shapes["x"], shapes["y"], shapes["vx"], shapes["vy"], len(CLASSES),
                            quick.HeadSettings(epochs=15))
    path = tmp_path / "quick.pt"
    save_checkpoint(path, quick.quick_model(head), arch="efficientnet_lite0", classes=CLASSES,
                    image_size=224, mean=ob.MEAN, std=ob.STD, config={"recipe": "quick"},
                    metrics={"best_val_acc": head.best_val_acc})
    predictor = Predictor.from_checkpoint(path, device="cpu")
    probs = predictor.probabilities([s.path for s in shapes["ds"].val])
    want = head.logits(shapes["vx"]).softmax(1).numpy()
    np.testing.assert_allclose(probs, want, atol=1e-4)
    assert (probs.argmax(1) == want.argmax(1)).all()
    assert predictor.predict(shapes["ds"].val[0].path).label == CLASSES[int(want[0].argmax())]

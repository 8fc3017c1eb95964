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


def test_head_learns_clusters_and_reports_every_epoch():
    x, y = _clusters(40)
    vx, vy = _clusters(20, seed=1)
    events = []
    head = quick.train_head(x, y, vx, vy, 3, quick.HeadSettings(epochs=8), on_epoch=events.append)
    assert [e.epoch for e in events] == list(range(1, 9)) and all(e.epochs == 8 for e in events)
    assert head.best_val_acc > 0.9 and head.best_epoch == 8          # the converged weights: the last
    assert head.best_val_acc == events[-1].val_acc
    assert all(math.isfinite(e.train_loss) for e in events) and math.isnan(events[0].lr)   # no learning rate
    assert events[-1].train_loss < 0.1 and events[-1].train_acc == 1.0
    # The standardization is folded in: the head answers on raw features.
    assert float((head.logits(vx).argmax(1) == torch.as_tensor(vy)).float().mean()) == head.best_val_acc
    torch.testing.assert_close(head.linear()(torch.as_tensor(vx)), head.logits(vx))


def test_a_separable_problem_is_fit_to_every_photo():
    x, y = _clusters(30, k=4)                     # centres far apart: a line separates every pair
    vx, vy = _clusters(30, k=4, seed=1)
    head = quick.train_head(x, y, vx, vy, 4)
    assert head.history[-1].train_acc == 1.0 and head.best_val_acc == 1.0
    assert head.l2.how == "fold" and head.l2.l2 in quick.L2_PATH


def test_the_folded_layer_gives_the_standardized_logits_exactly():
    g = np.random.default_rng(5)
    x = (g.normal(0, 1, (50, 2, 6)) * [1, 10, 100, 0.01, 1, 1000] + [0, 5, -50, 1, 0, 7]).astype(np.float32)
    y = g.integers(0, 3, 50)
    prob = quick._Problem.make(x, y, 3, [1.0, 2.0, 0.5])
    w, b = torch.as_tensor(g.normal(0, 1, (3, 6)), dtype=torch.float32), torch.tensor([0.1, -0.2, 0.3])
    raw = torch.as_tensor(x.reshape(-1, 6))
    want = (raw - prob.mean) / prob.scale @ w.T + b + torch.tensor([1.0, 2.0, 0.5]).log()
    w_raw, b_raw = prob.raw(w, b)
    torch.testing.assert_close(raw @ w_raw.T + b_raw, want, rtol=1e-5, atol=1e-4)


def test_rescaled_features_give_the_same_head():
    """Standardized inside, folded outside: a feature's units change nothing the head answers."""
    x, y = _clusters(15)
    vx, _ = _clusters(10, seed=1)
    scale, shift = np.geomspace(0.01, 100, x.shape[1]).astype(np.float32), np.float32(3.0)
    a = quick.train_head(x, y, vx[:0], y[:0], 3)
    b = quick.train_head(x * scale + shift, y, vx[:0], y[:0], 3)
    assert a.l2.l2 == b.l2.l2
    torch.testing.assert_close(b.logits(vx * scale + shift), a.logits(vx), rtol=1e-3, atol=2e-3)


def test_the_head_is_deterministic_and_never_looks_at_the_validation_photos():
    x, y = _clusters(20)
    vx, vy = _clusters(10, seed=1)
    a = quick.train_head(x, y, vx, vy, 3, quick.HeadSettings(seed=4))
    b = quick.train_head(x, y, vx[:0], vy[:0], 3, quick.HeadSettings(seed=4))
    assert torch.equal(a.weight, b.weight) and torch.equal(a.bias, b.bias) and a.l2 == b.l2


def test_rare_classes_do_not_break_the_fold():
    x, y = _clusters(12, k=4)
    keep = np.r_[0:12, 12:14, 24:36, 36]          # class 1 has two photos, class 3 one
    head = quick.train_head(x[keep], y[keep], x, y, 5)           # class 4 has none at all
    assert head.l2.how == "fold" and torch.isfinite(head.weight).all() and head.best_val_acc > 0.5
    one_each = quick.train_head(x[[0, 12, 24]], y[[0, 12, 24]], x[:36], y[:36], 3)
    assert one_each.l2 == quick.L2Choice(quick.DEFAULT_L2, "too few photos")
    assert "too few photos" in one_each.l2.sentence and torch.isfinite(one_each.weight).all()


def test_both_views_of_a_photo_are_held_out_together():
    """Labels at random and a mirror view equal to the photo: a fold that split the two would let a
    weakly held head recall the twin and score far above chance on the held-out photos."""
    g = np.random.default_rng(0)
    photo = g.normal(0, 1, (90, 1, 120)).astype(np.float32)
    y = g.integers(0, 3, 90)
    head = quick.train_head(np.concatenate([photo, photo], 1), y, photo[:0, 0], y[:0], 3)
    assert max(acc for _, acc, _ in head.l2.tried) < 0.6              # chance: 1/3


def test_stop_ends_training_between_epochs():
    x, y = _clusters(10)
    seen = []
    head = quick.train_head(x, y, x, y, 3, quick.HeadSettings(epochs=50),
                            on_epoch=seen.append, should_stop=lambda: len(seen) >= 2)
    assert head.stopped and len(head.history) == 2 and head.best_epoch == 2
    before = quick.train_head(x, y, x, y, 3, should_stop=lambda: True)
    assert before.stopped and before.best_epoch == 0 and not before.history


def test_class_weights_help_the_small_class():
    g = np.random.default_rng(3)
    x = np.concatenate([g.normal(0, 1, (200, 8)), g.normal(0.6, 1, (20, 8))]).astype(np.float32)
    y = np.array([0] * 200 + [1] * 20)
    vx = np.concatenate([g.normal(0, 1, (200, 8)), g.normal(0.6, 1, (200, 8))]).astype(np.float32)
    vy = np.array([0] * 200 + [1] * 200)

    def small_class_recall(weights):
        head = quick.train_head(x, y, vx[:0], vy[:0], 2, class_weights=weights)
        return float((head.logits(vx[200:]).argmax(1) == 1).float().mean())

    assert small_class_recall([220 / 400, 220 / 40]) > small_class_recall(None) + 0.2


def test_held_out_logits_come_from_heads_that_never_saw_the_photo():
    """Random labels: a head that had seen a photo would recall its label; the held-out ones are at chance."""
    g = np.random.default_rng(1)
    x = g.normal(0, 1, (120, 1, 200)).astype(np.float32)
    y = g.integers(0, 2, 120)
    fold = np.arange(120) % 4
    logits, choice = quick.held_out_logits(x, y, 2, fold)
    assert logits.shape == (120, 2) and choice.how == "fold" and choice.scored == 120
    assert 0.3 < float((logits.argmax(1) == y).mean()) < 0.7
    seen = quick.train_head(x, y, x[:0, 0], y[:0], 2, quick.HeadSettings(l2=1e-4))
    assert float((seen.logits(x[:, 0]).argmax(1).numpy() == y).mean()) > 0.95


def test_quick_training_beats_chance_on_photos(shapes):
    head = quick.train_head(shapes["x"], shapes["y"], shapes["vx"], shapes["vy"], len(CLASSES),
                            quick.HeadSettings(epochs=15))
    assert head.best_val_acc >= 0.8                    # chance is 1/3


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

"""Likely mislabelled photos: confident learning on out-of-sample probabilities puts planted wrong
labels at the top; the command prints and writes them; moving one to its suggested class is undoable."""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from torch import nn

from core.cli.main import main
from core.data.dataset import scan_dataset
from core.photos.check_labels import (assign_folds, check_labels, class_thresholds, confident_joint,
                                      out_of_sample_probabilities, rank_label_issues)
from core.photos.check_labels_csv import read_check_csv
from core.photos.dataset_labels import DatasetLabels
from core.training.feature_store import FeatureStore
from core.training.features import Backbone
from tests.core.conftest import draw_class_image, save_image
from tests.file_trees import tree

CLASSES = ("bird", "owl", "plane")          # make_image_folder draws class i of the sorted names


class ColourGrid(nn.Module):
    """A fixed backbone: the mean colour of each cell of a 4x4 grid (48 numbers)."""

    def forward(self, x):
        return nn.functional.adaptive_avg_pool2d(x, 4).flatten(1)


def grid_backbone() -> Backbone:
    return Backbone("colour-grid-1", ColourGrid().eval(), 32, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25), 48)


PLANTED = {"bird/bird_900.png": "owl", "owl/owl_900.png": "plane", "plane/plane_900.png": "bird",
           "plane/plane_901.png": "owl"}
# The folds' heads are fit to convergence, so each class's threshold (its photos' mean
# probability) is high, and a photo must look clearly like another class to be suggested:
# bird_900 looks like an owl at 0.74 against the owls' 0.83, so three of the four are.
FOUND = len(PLANTED) - 1


@pytest.fixture
def mislabelled(make_image_folder):
    """25 photos of each class, and four more each drawn as another class (see PLANTED)."""
    root = make_image_folder(classes={c: 25 for c in CLASSES}, size=32)
    for n, (rel, drawn_as) in enumerate(PLANTED.items()):
        save_image(draw_class_image(CLASSES.index(drawn_as), 32, seed=500 + n), root / rel)
    return root


@pytest.fixture
def store(tmp_path):
    return FeatureStore(tmp_path / "features" / "grid", root=tmp_path / "features")


def test_thresholds_joint_and_ranking_follow_confident_learning():
    probs = np.array([[0.9, 0.1], [0.7, 0.3], [0.2, 0.8],     # labelled 0
                      [0.1, 0.9], [0.3, 0.7], [0.55, 0.45]])   # labelled 1
    labels = np.array([0, 0, 0, 1, 1, 1])
    np.testing.assert_allclose(class_thresholds(probs, labels), [(0.9 + 0.7 + 0.2) / 3, (0.9 + 0.7 + 0.45) / 3])
    # t = (0.6, 0.683): photo 2 reaches only class 1's threshold; photo 5 neither (no likely class).
    np.testing.assert_array_equal(confident_joint(probs, labels), [[2, 1], [0, 2]])
    assert rank_label_issues(probs, labels) == [(2, 1)]
    probs[4] = [0.65, 0.35]                                    # now class 0 too, and less sure than photo 2
    labels_ranked = rank_label_issues(probs, labels)
    assert [i for i, _ in labels_ranked] == [2, 4] or [i for i, _ in labels_ranked] == [4, 2]
    assert rank_label_issues(probs, labels, "self_confidence")[0][0] == 2          # 0.2 < 0.35
    assert rank_label_issues(probs, labels, "normalized_margin")[0][0] == 2        # -0.6 < -0.3
    with pytest.raises(ValueError):
        rank_label_issues(probs, labels, "loudest")


def test_folds_are_stratified_and_keep_copies_together():
    labels = np.repeat([0, 1, 2], 20)
    groups = np.arange(60)
    groups[[5, 6, 45]] = 5                                     # one photo three times
    fold = assign_folds(labels, 5, groups, seed=3)
    assert len(set(fold[[5, 6, 45]])) == 1
    for c in range(3):
        counts = np.bincount(fold[labels == c], minlength=5)
        assert counts.max() - counts.min() <= 3


def test_out_of_sample_probabilities_never_see_the_photo():
    """A photo whose features are unlike any other's cannot be predicted from its own label."""
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(-2, 0.3, (20, 1, 8)), rng.normal(2, 0.3, (20, 1, 8))]).astype(np.float32)
    y = np.repeat([0, 1], 20)
    y[3] = 1                                                   # a class-0 photo labelled 1
    probs = out_of_sample_probabilities(x, y, 2)
    assert probs.shape == (40, 2) and np.allclose(probs.sum(1), 1)
    assert probs[3, 0] > 0.9
    assert (probs[np.arange(40) != 3].argmax(1) == np.delete(y, 3)).all()


def test_planted_wrong_labels_rank_at_the_top(mislabelled, store):
    check = check_labels(scan_dataset(mislabelled), backbone=grid_backbone(), store=store)
    assert check.checked == 79 and not check.stopped and check.skipped == []
    top = {os.path.relpath(s.path, mislabelled): s for s in check.suggestions[:FOUND]}
    assert len(top) == FOUND and set(top) <= set(PLANTED)
    for rel, s in top.items():
        assert s.suggested == PLANTED[rel] and s.given == rel.split("/")[0]
        assert s.confidence > s.given_probability
    assert check.accuracy > 0.85 and check.estimated_wrong >= FOUND
    assert check.duplicates is not None


def test_check_labels_command_prints_and_writes_the_csv(mislabelled, monkeypatch, tmp_path, capsys):
    import core.training.features as features

    monkeypatch.setattr(features, "default_backbone", lambda image_size=224: grid_backbone())
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "userdata"))   # the feature cache
    odd = mislabelled / "owl" / "owl,%1\u00e9 one.png"                # a name a CSV must keep intact
    save_image(draw_class_image(CLASSES.index("owl"), 32, seed=77), odd)
    out = tmp_path / "labels.csv"
    assert main(["check-labels", str(mislabelled), "--csv", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "may be filed under the wrong class" in printed
    found = [rel for rel, drawn_as in PLANTED.items()
             if f"{rel}: filed as '{rel.split('/')[0]}', looks like '{drawn_as}'" in printed]
    assert len(found) >= FOUND
    rows = read_check_csv(out)
    labels = [r for r in rows if r["kind"] == "label"]
    assert {os.path.relpath(r["path"], mislabelled) for r in labels[:len(found)]} == set(found)
    assert all(os.path.isfile(r["path"]) for r in rows)
    assert [r["rank"] for r in labels] == [str(i) for i in range(1, len(labels) + 1)]
    # A photo kept as filed (K in the app) is left out of the next check.
    from core.photos.kept_labels import KeptLabels

    first = found[0]
    KeptLabels(str(mislabelled)).keep(str(mislabelled / first), first.split("/")[0])
    assert main(["check-labels", str(mislabelled), "--csv", str(out)]) == 0
    again = capsys.readouterr().out
    assert f"{first}: filed as" not in again and "1 photo kept as filed in the app" in again
    assert first not in {os.path.relpath(r["path"], mislabelled) for r in read_check_csv(out)}


def test_moving_a_suggestion_to_its_class_is_undoable_and_loses_nothing(mislabelled, store):
    before = tree(mislabelled)
    check = check_labels(scan_dataset(mislabelled), backbone=grid_backbone(), store=store)
    labels = DatasetLabels(str(mislabelled))
    found = [s for s in check.suggestions if os.path.relpath(s.path, mislabelled) in PLANTED]
    assert len(found) >= FOUND
    done = [labels.assign(s.path, s.suggested) for s in found]
    moved = tree(mislabelled)
    assert sorted(moved.values()) == sorted(before.values())
    for s in found:
        rel = os.path.relpath(s.path, mislabelled)
        assert os.path.join(PLANTED[rel], os.path.basename(rel)) in moved
    for lab, op in reversed(done):
        lab.undo_last(expected=op)
    assert tree(mislabelled) == before


def test_a_stop_ends_the_check_early(mislabelled, store):
    check = check_labels(scan_dataset(mislabelled), backbone=grid_backbone(), store=store,
                         should_stop=lambda: True)
    assert check.stopped and check.suggestions == []


def test_grid_backbone_is_deterministic():
    x = torch.rand(2, 3, 32, 32)
    assert torch.equal(ColourGrid()(x), ColourGrid()(x))

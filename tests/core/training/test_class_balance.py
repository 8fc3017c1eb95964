"""Uneven classes get weighted; scores are compared with always answering the largest class."""
from __future__ import annotations

import pytest

from core.data.dataset import scan_dataset
from core.training.class_balance import class_balance, class_counts, compare_with_guessing


def test_uneven_folder_turns_weighting_on(make_image_folder):
    root = make_image_folder(classes={"cat": 20, "owl": 5})
    ds = scan_dataset(root, val_fraction=0.2, seed=0, verify=False)
    counts = class_counts([s.label for s in ds.train], len(ds.classes))
    balance = class_balance(ds.classes, counts)
    assert balance.uneven and balance.ratio > 3
    cat, owl = balance.weights
    assert owl > cat
    # The average training photo still weighs 1, so the loss keeps its scale.
    assert sum(w * c for w, c in zip(balance.weights, counts)) == pytest.approx(sum(counts))
    assert "'cat'" in balance.message and "'owl'" in balance.message and "Custom" in balance.message


def test_even_classes_are_left_alone():
    balance = class_balance(["a", "b", "c"], [30, 20, 12])
    assert not balance.uneven and balance.weights == (1.0, 1.0, 1.0) and balance.message == ""


def test_a_model_at_chance_is_called_guessing():
    counts = [46, 54]                                   # always "bees": 54 %
    verdict = compare_with_guessing(0.54, counts, ["ants", "bees"], pretrained=False,
                                    train_counts=[120, 130])
    assert verdict.level == "guessing" and verdict.baseline == pytest.approx(0.54)
    assert "no better than guessing" in verdict.message
    assert "'bees'" in verdict.message and "54.0 %" in verdict.message
    assert any("Quick training" in tip for tip in verdict.advice)
    slightly = compare_with_guessing(0.58, counts, ["ants", "bees"], train_counts=[20, 25])
    assert slightly.level == "guessing" and "barely better than guessing" in slightly.message
    assert "at least 50" in slightly.message            # few photos: the first thing to fix


def test_good_and_middling_scores():
    good = compare_with_guessing(0.92, [46, 54], ["ants", "bees"])
    assert good.level == "good" and "much better than guessing" in good.message and not good.advice
    fair = compare_with_guessing(0.75, [46, 54], ["ants", "bees"], pretrained=True)
    assert fair.level == "fair" and fair.advice

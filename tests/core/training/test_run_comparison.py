"""Comparing runs (core.training.runs.compare_runs): their curves and their settings side by side."""
from __future__ import annotations

import pytest

from core.errors import FledgeError
from core.training.runs import compare_runs
from tests.fakes import past_run


def test_two_runs_give_their_curves_and_the_settings_that_differ(tmp_path):
    a = past_run(tmp_path, "20250101-100000-small_cnn", {"arch": "small_cnn", "lr": 0.001, "epochs": 3},
                 [0.5, 0.7, 0.8])
    b = past_run(tmp_path, "20250101-110000-small_cnn", {"arch": "small_cnn", "lr": 0.01, "epochs": 2},
                 [0.6, 0.65])
    comparison = compare_runs([a, b])
    assert [c.name for c in comparison.runs] == ["20250101-100000-small_cnn", "20250101-110000-small_cnn"]
    first, second = comparison.runs
    assert first.epochs == (1, 2, 3) and first.val_acc == (0.5, 0.7, 0.8)
    assert second.epochs == (1, 2) and second.val_loss == pytest.approx((0.9, 0.85))
    rows = {row.label: row for row in comparison.settings}
    assert rows["Learning rate"].values == ("0.001", "0.01") and rows["Learning rate"].differs
    assert rows["Epochs"].values == ("3", "2") and rows["Epochs"].differs
    assert rows["Network"].values == ("Small CNN", "Small CNN") and not rows["Network"].differs
    assert rows["Optimizer"].values == ("AdamW", "AdamW") and not rows["Optimizer"].differs
    assert rows["Best validation accuracy"].values == ("80.0%", "65.0%")
    assert {row.label for row in comparison.differing} == {"Learning rate", "Epochs", "Best validation accuracy"}


def test_a_run_started_from_another_model_says_so(tmp_path):
    a = past_run(tmp_path, "a", {"arch": "small_cnn"}, [0.5])
    b = past_run(tmp_path, "b", {"arch": "small_cnn", "init_from": "/runs/a/best.pt"}, [0.6],
                 classes=("bird", "plane", "empty"))
    rows = {row.label: row for row in compare_runs([a, b]).settings}
    assert rows["Start from"].values == ("—", "/runs/a/best.pt") and rows["Start from"].differs
    assert rows["Classes"].values == ("bird, plane", "bird, plane, empty")


def test_a_folder_that_is_not_a_run_is_a_plain_error(tmp_path):
    a = past_run(tmp_path, "a", {"arch": "small_cnn"}, [0.5])
    with pytest.raises(FledgeError, match="not a Fledge run folder"):
        compare_runs([a, str(tmp_path)])

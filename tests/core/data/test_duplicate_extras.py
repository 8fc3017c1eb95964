"""What the Data tab's "Keep one copy" sets aside, and the warning it shows without the command-line hint."""
from __future__ import annotations

from core.data.dataset import scan_dataset
from core.data.duplicates import find_duplicates
from tests.core.data.test_duplicates import leaky  # noqa: F401 - a fixture


def test_extra_copies_are_every_copy_but_the_one_in_training(leaky):  # noqa: F811
    report = find_duplicates(scan_dataset(leaky))
    extras = report.extra_copies()
    assert sorted(c.path for c in extras) == sorted(c.path for g in report.groups for c in g.extras())
    assert len(extras) == 3
    kept = {g.keep().path for g in report.groups}
    assert all(g.keep().split == "train" for g in report.groups)
    assert kept.isdisjoint(c.path for c in extras)


def test_the_warning_without_the_hint_still_says_how_much_the_score_may_be_too_high(leaky):  # noqa: F811
    report = find_duplicates(scan_dataset(leaky))
    full, short = report.leak_warning(), report.leak_warning(hint=False)
    assert full.startswith(short) and "points too high" in short
    assert "fledge check-labels" in full and "fledge" not in short

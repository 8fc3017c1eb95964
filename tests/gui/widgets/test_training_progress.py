"""How the training progress reads: durations in words."""
from __future__ import annotations

from gui.widgets.training_progress import format_duration


def test_progress_text_formats():
    assert format_duration(42) == "42 s"
    assert format_duration(0.3) == "under a second"
    assert format_duration(200) == "3 min 20 s"
    assert format_duration(3 * 3600 + 300) == "3 h 05 min"
    assert format_duration(float("nan")) == "unknown"

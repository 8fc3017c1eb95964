"""The Train tab's result box: a failed run is explained and the tab stays usable."""
from __future__ import annotations

from PySide6.QtCore import QSettings

from core.training.events import FitEnded
from gui.panels.train import TrainingPanel


def test_result_box_shows_a_failure_and_stays_usable(qtbot):
    tp = TrainingPanel(QSettings())
    qtbot.addWidget(tp)
    tp._end(FitEnded("failed", "The GPU ran out of memory with a batch size of 64. Choose a smaller batch size."))
    assert tp.result.isVisibleTo(tp)
    assert "smaller batch size" in tp.result.message.text()
    assert "failed" in tp.result.headline.text().lower()
    assert not tp.result.predict_button.isEnabled()

"""The Evaluate tab in a window of ordinary size: the review thresholds, their words and the
"Saved in …" message never run into each other (the tab scrolls when it is short)."""
from __future__ import annotations

import pytest
from PySide6.QtWidgets import QTabWidget

from gui.panels.evaluate.evaluate_panel import EvaluatePanel
from tests.core.photos.test_thresholds import known
from tests.gui.panels.test_evaluate_threshold_box import small_model
from tests.gui.qt_show import cut_texts, shown


@pytest.fixture
def model_file(tmp_path):
    return small_model(tmp_path, ["bird", "plane", "owl", "cat"])


def test_saved_thresholds_and_their_words_are_all_readable(qtbot, model_file):
    panel = shown(qtbot, EvaluatePanel(), 1100, 650)
    box = panel.thresholds
    try:
        tabs = box.parentWidget()
        while not isinstance(tabs, QTabWidget):
            tabs = tabs.parentWidget()
        tabs.setCurrentIndex(next(i for i in range(tabs.count()) if tabs.widget(i).isAncestorOf(box)
                                  or tabs.widget(i) is box))
        box.set_target(0.9)
        box.show_result(known())
        box.set_model_path(model_file)
        with qtbot.waitSignal(box.saved, timeout=20000):
            assert box.save()
        qtbot.waitUntil(lambda: "Saved in" in box.message_bar.text())
        panel.layout().activate()
        assert cut_texts(box) == []
    finally:
        panel.shutdown()

"""The model chooser names each model's classes, read from its run folder (not its model file)."""
from __future__ import annotations

import os

from PySide6.QtCore import Qt

from gui.widgets.model_chooser import ModelChooser, classes_text
from tests.core.training.test_runs import make_run


def test_every_entry_names_the_models_classes(qtbot, tmp_path):
    runs = tmp_path / "runs"                         # $FLEDGE_RUNS in the GUI tests
    run = make_run(runs, classes=("ants", "bees"))
    many = make_run(runs, "20250102-120000-small_cnn", classes=[f"c{i}" for i in range(7)])
    other = tmp_path / "elsewhere"
    other.mkdir()
    loose = other / "mine.pt"
    loose.write_bytes(b"no run folder around it")
    chooser = ModelChooser()
    qtbot.addWidget(chooser)
    texts = [chooser.combo.itemText(i) for i in range(chooser.combo.count())]
    assert texts[0] == "Choose a model…"
    assert texts[1].endswith("· c0, c1, c2, c3 and 3 more")
    assert texts[2].endswith("· ants, bees")
    tip = chooser.combo.itemData(2, Qt.ItemDataRole.ToolTipRole)
    assert tip == f"{run / 'best.pt'}\nClasses: ants, bees"
    assert "c6" in chooser.combo.itemData(1, Qt.ItemDataRole.ToolTipRole)

    chooser.set_model(str(loose))                   # a file of its own: no classes to tell
    assert chooser.combo.currentText() == f"mine.pt — {other}"
    assert chooser.model_path() == os.path.abspath(loose)
    assert os.path.basename(str(many)) in str(chooser.combo.itemData(1))


def test_classes_text_shortens_long_lists():
    assert classes_text(["ants"]) == "ants"
    assert classes_text(["a", "b", "c", "d"]) == "a, b, c, d"
    assert classes_text(list("abcdef"), most=2) == "a, b and 4 more"

"""Review's Check labels page: the Data tab's dataset is the one checked, a key moves a photo and says
the dataset changed, Ctrl+Z puts it back, and H works on both pages without clashing."""
from __future__ import annotations

import os

import pytest
from PySide6.QtCore import Qt

from core.data.dataset import scan_dataset
from gui.panels.review.review_panel import ReviewPanel
from tests.core.photos.test_check_labels import FOUND, PLANTED
from tests.file_trees import tree
from tests.gui.panels.test_review_check_labels_view import mislabelled  # noqa: F401 - a fixture


@pytest.fixture
def panel(qtbot):
    w = ReviewPanel()
    qtbot.addWidget(w)
    w.resize(1100, 750)
    w.show()
    yield w
    w.shutdown()


def test_the_data_tabs_dataset_is_checked_and_a_key_moves_and_undoes(qtbot, panel, mislabelled):  # noqa: F811
    before = tree(mislabelled)
    panel.set_dataset(scan_dataset(mislabelled))           # what the Data tab hands every tab
    view = panel.check_view
    assert view.dataset_field.path() == str(mislabelled)
    panel.modes.setCurrentWidget(view)
    with qtbot.waitSignal(view._runner.ended, timeout=120000):
        qtbot.mouseClick(view.check_button, Qt.MouseButton.LeftButton)
    top = {os.path.relpath(s.path, mislabelled).replace(os.sep, "/") for s in view.table.suggestions()[:FOUND]}
    assert len(top) == FOUND and top <= set(PLANTED)
    first = view.table.current()
    with qtbot.waitSignal(panel.labels_changed, timeout=20000) as changed:
        qtbot.keyClick(view.table, Qt.Key.Key_M)
    assert changed.args == [str(mislabelled)]
    assert os.path.isfile(os.path.join(mislabelled, first.suggested, os.path.basename(first.path)))
    assert sorted(tree(mislabelled).values()) == sorted(before.values())
    with qtbot.waitSignal(panel.labels_changed, timeout=20000):
        qtbot.keyClick(view.table, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert tree(mislabelled) == before
    qtbot.waitUntil(lambda: not panel.is_busy(), timeout=20000)

    qtbot.keyClick(view.table, Qt.Key.Key_H)                # the page's own heat-map key, no clash
    assert view.preview.heat.box.isChecked() and not panel.preview.heat.box.isChecked()


def test_opening_photos_to_label_shows_that_page(qtbot, panel, tmp_path):
    from tests.fakes import noise_photo

    folder = tmp_path / "_review"
    folder.mkdir()
    noise_photo(folder / "a.png", 1)
    panel.modes.setCurrentWidget(panel.check_view)
    assert panel.open_folder(str(folder))
    assert panel.modes.currentWidget() is panel.splitter
    qtbot.keyClick(panel.view.grid, Qt.Key.Key_H)
    assert panel.preview.heat.box.isChecked() and not panel.check_view.preview.heat.box.isChecked()

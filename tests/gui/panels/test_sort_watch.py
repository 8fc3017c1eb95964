"""The Sort tab's "Keep watching this folder": live counts and photos, stop, undo, errors.

The predictor is tests.fakes.ColorPredictor (bird when red, plane when blue, unsure in
between), so the panel's watch sorts in a moment; waits are qtbot.waitUntil.
"""
from __future__ import annotations

import os

import pytest
from PySide6.QtCore import Qt

from gui.panels.sort.sort_panel import SortPanel
from tests.fakes import BIRD, PLANE, UNSURE, ColorPredictor
from tests.file_trees import tree

WAIT_MS = 8000


def photo(path, i: int, color) -> str:
    from PIL import Image

    r, _g, b = color
    Image.new("RGB", (8 + i, 8), (r, i, b)).save(path)      # unique content for each i
    return str(path)


@pytest.fixture
def cam(tmp_path):
    folder = tmp_path / "cam"
    folder.mkdir()
    photo(folder / "before.png", 0, PLANE)           # arrived before watching began
    return folder


@pytest.fixture
def panel(qtbot, tmp_path, cam):
    w = SortPanel()
    qtbot.addWidget(w)
    w.resize(900, 650)
    w.show()
    w.set_predictor(ColorPredictor())
    w.set_folder(str(cam))
    w.set_destination(str(tmp_path / "sorted"))
    w.set_threshold(0.8)
    yield w
    w.shutdown()


def test_watching_sorts_arrivals_live_then_stops_and_undo_puts_all_back(qtbot, panel, cam, tmp_path):
    panel.set_move(True)
    panel.set_watching(True)
    assert panel.is_watching() and panel.watch_box.isChecked() and panel.watch_box.isEnabled()
    assert not panel.sort_button.isEnabled() and not panel.undo_button.isEnabled()
    assert panel.watch_view.isVisible() and not panel.result.isVisible()
    qtbot.waitUntil(lambda: panel.watch_view.counts_shown() == {"plane": 1}, timeout=WAIT_MS)
    assert panel.progress.format() == "Watching for new photos…"

    photo(cam / "robin.png", 1, BIRD)
    qtbot.waitUntil(lambda: panel.watch_view.counts_shown() == {"bird": 1, "plane": 1}, timeout=WAIT_MS)
    photo(cam / "blur.png", 2, UNSURE)
    qtbot.waitUntil(lambda: panel.watch_view.counts_shown() == {"bird": 1, "plane": 1, "To review (unsure)": 1},
                    timeout=WAIT_MS)
    strip = panel.watch_view.strip
    assert [strip.item(r).text().split("\n")[0] for r in range(strip.count())] == ["blur.png", "robin.png",
                                                                                  "before.png"]
    assert strip.item(0).text() == "blur.png\nTo review (unsure) (55%)"
    qtbot.waitUntil(lambda: not strip.item(0).icon().isNull(), timeout=WAIT_MS)     # the photo itself
    assert "3 photos moved so far" in panel.watch_view.headline.text()

    qtbot.mouseClick(panel.watch_box, Qt.MouseButton.LeftButton)      # switch it off
    qtbot.waitUntil(lambda: not panel.is_running(), timeout=WAIT_MS)
    assert not panel.watch_box.isChecked()
    assert panel.watch_view.headline.text() == (f"Stopped watching. Moved 3 photos into {tmp_path / 'sorted'}: "
                                                "1 bird, 1 plane, 1 to review (unsure).")
    assert os.listdir(cam) == [] and panel.undo_button.isEnabled() and panel.review_button.isEnabled()

    with qtbot.waitSignal(panel.undo_finished, timeout=WAIT_MS) as undone:
        qtbot.mouseClick(panel.undo_button, Qt.MouseButton.LeftButton)
    assert len(undone.args[0].restored) == 3
    assert sorted(tree(cam)) == ["before.png", "blur.png", "robin.png"]
    assert panel.result.isVisible() and not panel.watch_view.isVisible()


def test_a_restart_of_the_watch_takes_only_what_is_new(qtbot, panel, cam):
    panel.set_watching(True)                                           # copying
    qtbot.waitUntil(lambda: panel.watch_view.counts_shown() == {"plane": 1}, timeout=WAIT_MS)
    panel.set_watching(False)
    qtbot.waitUntil(lambda: not panel.is_running(), timeout=WAIT_MS)
    photo(cam / "new.png", 3, BIRD)
    panel.set_watching(True)
    qtbot.waitUntil(lambda: panel.watch_view.counts_shown() == {"bird": 1}, timeout=WAIT_MS)
    panel.set_watching(False)
    qtbot.waitUntil(lambda: not panel.is_running(), timeout=WAIT_MS)
    assert panel.watch_view.strip.count() == 1


def test_a_watch_that_cannot_go_on_says_why_and_switches_off(qtbot, panel, cam, tmp_path):
    panel.set_watching(True)
    qtbot.waitUntil(lambda: panel.watch_view.counts_shown() == {"plane": 1}, timeout=WAIT_MS)
    cam.rename(tmp_path / "unplugged")
    qtbot.waitUntil(lambda: not panel.is_running(), timeout=WAIT_MS)
    assert not panel.watch_box.isChecked()
    assert "is not there any more" in panel.message_bar.text()
    assert panel.watch_view.headline.text().endswith("It ended early: see the message above.")


def test_the_switch_says_what_is_missing_instead_of_starting(qtbot, panel):
    panel.set_destination("")
    panel.set_watching(True)
    assert not panel.is_running() and not panel.watch_box.isChecked()
    assert not panel.watch_box.isEnabled()

"""The Data tab warns when a photo is in training and in validation, says how much the score may be
inflated, and keeps one copy (moved aside, never deleted) with an Undo that puts it back."""
from __future__ import annotations

import os
import shutil

import pytest
from PySide6.QtCore import Qt

from core.data.duplicates_keep import set_aside_folder
from gui.panels.data.data_panel import DatasetPanel
from tests.fakes import noise_photo
from tests.file_trees import tree
from tests.gui.qt_show import shown


@pytest.fixture
def leaky(tmp_path, monkeypatch):
    """train/ and val/ with 4 photos per class each, and one training photo copied into val/."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "userdata"))      # the photo-hash store
    root = tmp_path / "birds"
    seed = 0
    for split in ("train", "val"):
        for cls in ("robin", "wren"):
            (root / split / cls).mkdir(parents=True)
            for i in range(4):
                seed += 1
                noise_photo(root / split / cls / f"{cls}{i}.png", seed)
    shutil.copyfile(root / "train" / "robin" / "robin0.png", root / "val" / "robin" / "copy of robin0.png")
    return root


@pytest.fixture
def panel(qtbot):
    w = shown(qtbot, DatasetPanel())
    yield w
    w.shutdown()


def scanned(qtbot, panel, act):
    """Do act (which starts a scan), then wait for the scan and the duplicate check after it."""
    with qtbot.waitSignal(panel.dataset_changed, timeout=20000):
        act()
    qtbot.waitUntil(lambda: not panel.leaks.is_busy() and not panel.leaks.busy_label.isVisibleTo(panel),
                    timeout=20000)


def test_a_photo_in_training_and_validation_is_reported_and_keep_one_copy_undoes(qtbot, panel, leaky):
    before = tree(leaky)
    scanned(qtbot, panel, lambda: panel.open_folder(str(leaky)))
    bar = panel.leaks
    assert bar.bar.level == "warning"
    text = bar.bar.text()
    assert "1 of the 9 validation photos (11.1 %) is also in training" in text
    assert "11.1 points too high" in text
    assert bar.keep_button.isVisibleTo(panel) and not bar.undo_button.isVisibleTo(panel)

    scanned(qtbot, panel, lambda: qtbot.mouseClick(bar.keep_button, Qt.MouseButton.LeftButton))
    copy = os.path.join("val", "robin", "copy of robin0.png")
    aside = set_aside_folder(str(leaky))
    assert not os.path.exists(leaky / copy) and os.path.isfile(os.path.join(aside, copy))
    after = {**tree(leaky), **{os.path.join("aside", k): v for k, v in tree(aside).items()}}
    assert sorted(after.values()) == sorted(before.values())           # moved aside, nothing lost
    assert len(panel.dataset.val) == 8
    assert "also in training" not in bar.bar.text() and "aside" in bar.bar.text()
    assert bar.undo_button.isVisibleTo(panel) and not bar.keep_button.isVisibleTo(panel)

    scanned(qtbot, panel, lambda: qtbot.mouseClick(bar.undo_button, Qt.MouseButton.LeftButton))
    assert tree(leaky) == before
    assert len(panel.dataset.val) == 9 and "also in training" in bar.bar.text()
    assert not bar.undo_button.isVisibleTo(panel)


def test_a_dataset_without_copies_shows_no_warning(qtbot, panel, leaky):
    os.remove(leaky / "val" / "robin" / "copy of robin0.png")
    scanned(qtbot, panel, lambda: panel.open_folder(str(leaky)))
    assert not panel.leaks.isVisibleTo(panel) and panel.leaks.bar.text() == ""


def test_copies_set_aside_in_an_earlier_session_can_be_put_back(qtbot, panel, leaky):
    from core.data.duplicates_keep import SetAside

    before = tree(leaky)
    SetAside(str(leaky)).set_aside([str(leaky / "val" / "robin" / "copy of robin0.png")])   # the app's last session
    scanned(qtbot, panel, lambda: panel.open_folder(str(leaky)))
    bar = panel.leaks
    assert bar.undo_button.isVisibleTo(panel)
    scanned(qtbot, panel, lambda: qtbot.mouseClick(bar.undo_button, Qt.MouseButton.LeftButton))
    assert tree(leaky) == before and not bar.undo_button.isVisibleTo(panel)

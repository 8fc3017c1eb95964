"""Classes managed in the Review tab: rename (the key stays), merge and remove from the Classes
menu or a class's right-click menu, undo; a class folder deleted by hand loses its key; the
photos of thin classes come first."""
from __future__ import annotations

import os

import pytest
from PySide6.QtCore import Qt

from core.photos.new_dataset import start_dataset
from gui.panels.review.review_panel import ReviewPanel
from tests.fakes import FakePredictor, noise_photo
from tests.file_trees import tree


@pytest.fixture
def camera(tmp_path):
    dump = tmp_path / "cam"
    dump.mkdir()
    for i in range(14):
        noise_photo(dump / f"IMG_{i:04d}.png", i)
    root = start_dataset(str(dump), ["empty", "vole", "lemming"])
    return dump, root


@pytest.fixture
def panel(qtbot, camera):
    dump, root = camera
    w = ReviewPanel()
    qtbot.addWidget(w)
    w.resize(1000, 700)
    w.show()
    assert w.start_labelling(str(dump), root)
    w.view.grid.setFocus()
    yield w
    w.shutdown()


def _keys(panel) -> list[str]:
    return [b.text() for b in panel.view.legend.buttons]


def _label(qtbot, panel, key, times=1):
    grid = panel.view.grid
    for _ in range(times):
        grid.select_row(0)
        qtbot.keyClick(grid, key)
    qtbot.waitUntil(lambda: not panel.view.queue.busy(), timeout=20000)


def _edit_done(qtbot, panel):
    qtbot.waitUntil(lambda: not panel.view.class_editing.busy(), timeout=20000)


def test_rename_from_the_menu_keeps_the_key_and_undo_brings_the_old_name_back(qtbot, panel, camera):
    _dump, root = camera
    assert _keys(panel) == ["1  empty", "2  vole", "3  lemming"]
    _label(qtbot, panel, Qt.Key.Key_3, 2)
    before = tree(root)
    editing = panel.view.class_editing
    editing.ask_class = lambda action, classes: "lemming"
    editing.ask_new_name = lambda name: "Norway lemming"
    assert not panel.view.legend.undo_edit_action.isEnabled()
    [rename] = [a for a in panel.view.legend.edit_menu.actions() if a.text() == "Rename a class…"]
    rename.trigger()
    _edit_done(qtbot, panel)
    assert _keys(panel) == ["1  empty", "2  vole", "3  Norway lemming"]
    assert "Renamed 'lemming' to 'Norway lemming' (2 photos)" in panel.message_bar.text()
    assert len(os.listdir(os.path.join(root, "Norway lemming"))) == 2
    _label(qtbot, panel, Qt.Key.Key_3)                     # key 3 now files into the renamed class
    assert len(os.listdir(os.path.join(root, "Norway lemming"))) == 3

    panel.view.legend.undo_edit_action.trigger()
    _edit_done(qtbot, panel)
    assert _keys(panel) == ["1  empty", "2  vole", "3  lemming"]
    assert len(os.listdir(os.path.join(root, "lemming"))) == 3
    assert {k: v for k, v in tree(root).items() if k in before} == before
    assert not panel.view.legend.undo_edit_action.isEnabled()


def test_removing_a_class_puts_its_photos_back_to_label_and_undo_files_them_again(qtbot, panel, camera):
    dump, root = camera
    _label(qtbot, panel, Qt.Key.Key_3, 2)
    assert len(panel.remaining_paths()) == 12
    dump_before = tree(dump)
    asked = []
    panel.view.class_editing.confirm_remove = lambda name, aside: asked.append((name, aside)) or True
    menu = panel.view.legend.class_menu("lemming")            # the right-click menu of key 3
    [remove] = [a for a in menu.actions() if a.text() == "Remove “lemming”…"]
    remove.trigger()
    _edit_done(qtbot, panel)
    assert asked == [("lemming", root + " (removed classes)")]
    assert _keys(panel) == ["1  empty", "2  vole"] and not os.path.exists(os.path.join(root, "lemming"))
    assert "Removed the class 'lemming'. 2 photos went back where they came from" in panel.message_bar.text()
    qtbot.waitUntil(lambda: len(panel.remaining_paths()) == 14, timeout=20000)    # to label again
    assert tree(dump) == dump_before

    panel.view.edit_class("undo")
    _edit_done(qtbot, panel)
    assert _keys(panel) == ["1  empty", "2  vole", "3  lemming"]
    assert len(os.listdir(os.path.join(root, "lemming"))) == 2
    qtbot.waitUntil(lambda: len(panel.remaining_paths()) == 12, timeout=20000)


def test_merge_asks_which_class_to_put_the_photos_into(qtbot, panel, camera):
    _dump, root = camera
    _label(qtbot, panel, Qt.Key.Key_3)
    editing = panel.view.class_editing
    offered = []
    editing.ask_target = lambda name, others: offered.append(others) or "vole"
    panel.view.edit_class("merge", "lemming")
    _edit_done(qtbot, panel)
    assert offered == [["empty", "vole"]]
    assert _keys(panel) == ["1  empty", "2  vole"] and len(os.listdir(os.path.join(root, "vole"))) == 1


def test_a_class_folder_deleted_by_hand_loses_its_key(qtbot, panel, camera):
    _dump, root = camera
    os.rmdir(os.path.join(root, "lemming"))
    _label(qtbot, panel, Qt.Key.Key_3)
    assert "no class called 'lemming'" in panel.message_bar.text()
    qtbot.waitUntil(lambda: _keys(panel) == ["1  empty", "2  vole"], timeout=10000)
    assert len(panel.remaining_paths()) == 14                # the photo stayed to be labelled


def test_the_photos_likely_to_be_a_thin_class_come_first(qtbot, panel, camera):
    _label(qtbot, panel, Qt.Key.Key_1, 10)                 # plenty of empty frames
    _label(qtbot, panel, Qt.Key.Key_2)
    _label(qtbot, panel, Qt.Key.Key_3)                     # one vole, one lemming: thin
    left = [os.path.basename(p) for p in panel.remaining_paths()]
    assert len(left) == 2
    # Least certain first would show left[0] first; the hunt for lemmings shows left[1].
    answers = {left[0]: ("empty", 0.35), left[1]: ("lemming", 0.5)}
    panel.set_predictor(FakePredictor(["empty", "vole", "lemming"], answers))
    qtbot.waitUntil(lambda: all(it.predicted for it in panel.view.grid.items()), timeout=20000)
    qtbot.waitUntil(lambda: os.path.basename(panel.remaining_paths()[0]) == left[1], timeout=20000)

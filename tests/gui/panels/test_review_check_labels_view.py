"""The Check labels queue: planted wrong labels come first; K keeps (and is remembered), M or Enter
moves to the suggested class, 1-9 to a numbered class, Ctrl+Z puts back -- and no photo is lost."""
from __future__ import annotations

import os

import pytest
from PySide6.QtCore import Qt

from core.photos.kept_labels import KeptLabels
from gui.panels.review.check_labels_view import CheckLabelsView
from tests.core.conftest import draw_class_image, hash_name, save_image
from tests.core.photos.test_check_labels import CLASSES, FOUND, PLANTED, grid_backbone
from tests.file_trees import tree


@pytest.fixture
def mislabelled(tmp_path, monkeypatch):
    """25 photos of each class and four drawn as another class (PLANTED); the check uses a small
    fixed backbone and keeps its caches under tmp_path."""
    import core.training.features as features

    monkeypatch.setattr(features, "default_backbone", lambda image_size=224: grid_backbone())
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "userdata"))
    root = tmp_path / "data"
    for index, cls in enumerate(CLASSES):
        for i in range(25):
            save_image(draw_class_image(index, 32, seed=hash_name(cls) + i), root / cls / f"{cls}_{i:03d}.png")
    for n, (rel, drawn_as) in enumerate(PLANTED.items()):
        save_image(draw_class_image(CLASSES.index(drawn_as), 32, seed=500 + n), root / rel)
    return root


@pytest.fixture
def view(qtbot):
    w = CheckLabelsView()
    qtbot.addWidget(w)
    w.resize(1000, 700)
    w.show()
    yield w
    w.shutdown()


def checked(qtbot, view, root):
    view.dataset_field.set_path(str(root), notify=False)
    with qtbot.waitSignal(view._runner.ended, timeout=120000):
        assert view.start_check()
    assert not view.message_bar.text(), view.message_bar.text()
    return view


def rel(view, root, row=None):
    s = view.table.current() if row is None else view.table.suggestions()[row]
    return os.path.relpath(s.path, root).replace(os.sep, "/")


def settled(qtbot, view):
    qtbot.waitUntil(lambda: not view.is_busy(), timeout=20000)


def test_planted_wrong_labels_come_first_and_a_key_moves_one_undoably(qtbot, view, mislabelled):
    before = tree(mislabelled)
    checked(qtbot, view, mislabelled)
    top = {rel(view, mislabelled, i) for i in range(FOUND)}
    assert len(top) == FOUND and top <= set(PLANTED)
    assert "may be filed under the wrong class" in view.summary.text()
    first = view.table.current()
    assert (first.given, first.suggested) == (rel(view, mislabelled).split("/")[0], PLANTED[rel(view, mislabelled)])
    moved_to = os.path.join(mislabelled, first.suggested, os.path.basename(first.path))

    qtbot.keyClick(view.table, Qt.Key.Key_M)
    qtbot.waitUntil(lambda: os.path.isfile(moved_to), timeout=20000)
    settled(qtbot, view)
    assert not os.path.exists(first.path)
    assert first.path not in [s.path for s in view.table.suggestions()]
    assert sorted(tree(mislabelled).values()) == sorted(before.values())       # moved, not lost

    qtbot.keyClick(view.table, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: os.path.isfile(first.path), timeout=20000)
    settled(qtbot, view)
    assert tree(mislabelled) == before
    assert view.table.suggestions()[0].path == first.path                      # back in its row


def test_enter_and_number_keys_move_and_every_move_undoes(qtbot, view, mislabelled):
    before = tree(mislabelled)
    checked(qtbot, view, mislabelled)
    order = view.order
    first = view.table.current()
    qtbot.keyClick(view.table, Qt.Key.Key_Return)                 # to the suggested class
    second = view.table.current()
    other = next(c for c in order if c not in (second.given, second.suggested))
    qtbot.keyClick(view.table, getattr(Qt.Key, f"Key_{order.index(other) + 1}"))
    settled(qtbot, view)
    assert os.path.isfile(os.path.join(mislabelled, first.suggested, os.path.basename(first.path)))
    assert os.path.isfile(os.path.join(mislabelled, other, os.path.basename(second.path)))
    assert sorted(tree(mislabelled).values()) == sorted(before.values())
    qtbot.keyClick(view.table, Qt.Key.Key_Backspace)
    qtbot.keyClick(view.table, Qt.Key.Key_Backspace)
    settled(qtbot, view)
    assert tree(mislabelled) == before
    assert [s.path for s in view.table.suggestions()[:2]] == [first.path, second.path]


def test_k_keeps_the_label_and_the_next_check_does_not_ask_again(qtbot, view, mislabelled):
    before = tree(mislabelled)
    checked(qtbot, view, mislabelled)
    n = view.table.count()
    kept = view.table.current()
    qtbot.keyClick(view.table, Qt.Key.Key_K)
    settled(qtbot, view)
    assert view.table.count() == n - 1 and kept.path not in [s.path for s in view.table.suggestions()]
    assert KeptLabels(mislabelled).is_kept(kept.path, kept.given)
    assert tree(mislabelled) == before                             # keeping moves nothing

    checked(qtbot, view, mislabelled)                              # a new check: not asked again
    assert kept.path not in [s.path for s in view.table.suggestions()]
    assert view.table.count() == n - 1 and "you kept before" in view.summary.text()

    view.keep_current()
    qtbot.keyClick(view.table, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)   # undo a keep
    settled(qtbot, view)
    assert view.table.count() == n - 1


def test_cancel_stops_the_check_and_changes_nothing(qtbot, view, mislabelled, monkeypatch):
    import threading

    import core.photos.check_labels as cl

    real, started = cl.check_labels, threading.Event()

    def until_cancelled(dataset, should_stop, **kw):     # on the job thread: holds the check until Cancel
        started.set()
        while not should_stop():
            threading.Event().wait(0.01)
        return real(dataset, should_stop=should_stop, **kw)
    monkeypatch.setattr(cl, "check_labels", until_cancelled)
    before = tree(mislabelled)
    view.dataset_field.set_path(str(mislabelled), notify=False)
    assert view.start_check()
    assert view.progress.isVisible() and not view.check_button.isEnabled()
    qtbot.waitUntil(started.is_set, timeout=20000)
    with qtbot.waitSignal(view._runner.ended, timeout=60000):
        qtbot.mouseClick(view.progress.cancel_button, Qt.MouseButton.LeftButton)
    assert "stopped" in view.message_bar.text() and view.table.count() == 0
    assert not view.progress.isVisible() and view.check_button.isEnabled()
    assert tree(mislabelled) == before


def test_a_move_made_before_a_new_check_still_undoes_and_the_photo_is_listed_once(qtbot, view, mislabelled):
    before = tree(mislabelled)
    checked(qtbot, view, mislabelled)
    first = view.table.current()
    other = next(c for c in view.order if c not in (first.given, first.suggested))
    view.move_current(other)                                      # to a class it does not look like
    settled(qtbot, view)
    checked(qtbot, view, mislabelled)                             # may now list it at its new place
    view.undo()
    settled(qtbot, view)
    assert tree(mislabelled) == before
    paths = [s.path for s in view.table.suggestions()]
    assert paths.count(first.path) == 1
    assert not any(os.path.dirname(p).endswith(other) and os.path.basename(p) == os.path.basename(first.path)
                   for p in paths)


def test_every_key_acts_on_the_photo_in_the_preview(qtbot, view, mislabelled):
    """After K or M the highlighted row and the large preview once differed by one, and the next
    key filed the row, not the photo looked at. Whatever happens, each key acts on the photo shown."""
    checked(qtbot, view, mislabelled)
    kept = KeptLabels(mislabelled)

    def shown():
        assert view.preview.path() == view.table.current().path      # the preview is the highlighted row
        return view.table.current()

    first = shown()
    qtbot.keyClick(view.table, Qt.Key.Key_K)
    second = shown()
    assert second.path != first.path
    qtbot.keyClick(view.table, Qt.Key.Key_M)                          # moves the photo shown after a K
    third = shown()
    settled(qtbot, view)
    assert os.path.isfile(os.path.join(mislabelled, second.suggested, os.path.basename(second.path)))
    qtbot.keyClick(view.table, Qt.Key.Key_K)                          # keeps the photo shown after an M
    settled(qtbot, view)
    assert kept.is_kept(third.path, third.given)

    for _ in range(3):                                                # each undo shows the photo it put back
        qtbot.keyClick(view.table, Qt.Key.Key_Backspace)
        settled(qtbot, view)
        shown()
    assert [s.path for s in view.table.suggestions()[:3]] == [first.path, second.path, third.path]
    assert shown().path == first.path
    assert not view.undo_button.isEnabled()                           # nothing left to undo

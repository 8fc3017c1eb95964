"""An unsorted folder in the Data tab: the offer to label it, the classes named, the photos
labelled with the number keys in Review (copied into a new dataset), the count of photos
still needed, Train once every class has a photo (the thin ones named), and undo that loses no photo."""
from __future__ import annotations

import os

import numpy as np
from PIL import Image
from PySide6.QtCore import Qt

from core.photos.new_dataset import READY_PER_CLASS
from tests.file_trees import tree


def _camera_dump(folder, n: int = 14):
    folder.mkdir(parents=True)
    rng = np.random.default_rng(3)
    for i in range(n):
        pixels = rng.integers(0, 255, (24, 24, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"IMG_{i:04d} cam.png")
    return folder


def test_an_unsorted_folder_is_labelled_into_a_new_dataset_that_can_train(qtbot, make_window, tmp_path):
    dump = _camera_dump(tmp_path / "birdcam")
    before = tree(dump)
    w = make_window(engine=False)
    data, rv = w.dataset_panel, w.review_panel
    data.open_folder(str(dump))
    qtbot.waitUntil(lambda: data.start_box.isVisible(), timeout=20000)
    assert "14 photos" in data.start_box.intro.text()

    data.start_box.names.setText("bird")                 # one class is not enough: said, nothing made
    qtbot.mouseClick(data.start_box.button, Qt.MouseButton.LeftButton)
    assert "at least two classes" in data.start_box.problem.text()
    assert not (tmp_path / "birdcam (labelled)").exists()

    data.start_box.names.setText("plane, bird")          # keys follow the order typed
    qtbot.mouseClick(data.start_box.button, Qt.MouseButton.LeftButton)
    root = tmp_path / "birdcam (labelled)"
    assert sorted(n for n in os.listdir(root) if not n.startswith(".")) == ["bird", "plane"]
    assert w.tabs.currentWidget() is rv and rv.copy_box.isChecked()
    assert rv.classes() == ["plane", "bird"] and len(rv.remaining_paths()) == 14
    assert [b.text() for b in rv.view.legend.buttons] == ["1  plane", "2  bird"]
    assert not rv.retrain_button.isEnabled()
    assert READY_PER_CLASS == 1
    assert rv.readiness_label.text() == "1 more photo of 'plane' and 1 more photo of 'bird' and you can train."

    grid = rv.view.grid
    grid.setFocus()
    for key in [Qt.Key.Key_2] * 3:
        grid.select_row(0)
        qtbot.keyClick(grid, key)
    qtbot.waitUntil(lambda: not rv.view.queue.busy(), timeout=20000)
    assert rv.readiness_label.text() == "1 more photo of 'plane' and you can train."
    assert not rv.retrain_button.isEnabled()
    grid.select_row(0)
    qtbot.keyClick(grid, Qt.Key.Key_1)                   # one plane: enough to start training
    qtbot.waitUntil(lambda: rv.retrain_button.isEnabled(), timeout=20000)
    assert "Train" in rv.retrain_button.text()
    assert rv.readiness_label.text() == "You can train now. Few photos of 'plane' (1) and 'bird' (3) yet."
    assert "the model's answers for them will be rough guesses" in rv.readiness_label.toolTip()
    assert tree(dump) == before                           # copied: the camera folder is untouched

    # Opened again, the folder shows only the photos not labelled yet.
    rv.open_folder(str(dump))
    assert len(rv.remaining_paths()) == 14 - 4

    # Undo takes the last copy back out: no longer ready, nothing lost.
    qtbot.waitUntil(lambda: rv.view.undo_button.isEnabled(), timeout=10000)
    qtbot.mouseClick(rv.view.undo_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not os.listdir(root / "plane"), timeout=20000)
    qtbot.waitUntil(lambda: not rv.retrain_button.isEnabled(), timeout=10000)
    assert tree(dump) == before
    rv.shutdown()
    data.shutdown()


def test_what_is_still_needed_is_said_whole_however_many_classes(qtbot, make_window, tmp_path):
    from tests.gui.qt_show import cut_texts

    dump = _camera_dump(tmp_path / "birdcam")
    w = make_window(engine=False)
    w.resize(1100, 700)
    data, rv = w.dataset_panel, w.review_panel
    data.open_folder(str(dump))
    qtbot.waitUntil(lambda: data.start_box.isVisible(), timeout=20000)
    data.start_box.names.setText("robin, blue tit, great spotted woodpecker, long-tailed tit, empty")
    qtbot.mouseClick(data.start_box.button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: w.tabs.currentWidget() is rv and rv.readiness_label.isVisible())
    w.layout().activate()
    text = rv.readiness_label.text()
    assert "great spotted woodpecker" in text and text.endswith("and you can train.")
    assert cut_texts(rv.readiness_label.parentWidget()) == []


def test_a_camera_dump_with_rare_classes_trains_after_one_photo_each(qtbot, make_window, tmp_path):
    """The loop as a person goes it: three classes typed, one of them never seen and removed again,
    one photo of the rare one, Train; the model knows every class that has photos."""
    from core.training.config import TrainConfig

    dump = _camera_dump(tmp_path / "trap", n=10)
    w = make_window()
    data, rv, tp = w.dataset_panel, w.review_panel, w.training_panel
    data.open_folder(str(dump))
    qtbot.waitUntil(lambda: data.start_box.isVisible(), timeout=20000)
    data.start_box.names.setText("empty, lemming, stoat")
    qtbot.mouseClick(data.start_box.button, Qt.MouseButton.LeftButton)
    assert rv.classes() == ["empty", "lemming", "stoat"]

    rv.view.class_editing.confirm_remove = lambda name, aside: True      # the stoat never came
    rv.view.edit_class("remove", "stoat")
    qtbot.waitUntil(lambda: rv.classes() == ["empty", "lemming"], timeout=20000)

    grid = rv.view.grid
    grid.setFocus()
    for key in [Qt.Key.Key_1] * 4 + [Qt.Key.Key_2]:
        grid.select_row(0)
        qtbot.keyClick(grid, key)
    qtbot.waitUntil(lambda: rv.retrain_button.isEnabled() and not rv.view.queue.busy(), timeout=20000)
    assert "Few photos of 'lemming' (1) and 'empty' (4)" in rv.readiness_label.text()

    tp.form.apply_config(TrainConfig(recipe="custom", arch="small_cnn", image_size=32, batch_size=8, device="cpu", augment=False,
                                     schedule="none", epochs=1, lr=0.002))
    with qtbot.waitSignal(tp.run_finished, timeout=120000) as finished:
        qtbot.mouseClick(rv.retrain_button, Qt.MouseButton.LeftButton)
    ended = finished.args[0]
    assert ended.reason == "completed", ended.message
    assert list(data.dataset.classes) == ["empty", "lemming"]
    assert data.dataset.counts()["train"]["lemming"] == 1
    qtbot.waitUntil(lambda: rv.model_path() == ended.best_model, timeout=30000)
    qtbot.waitUntil(lambda: not rv.is_busy() and all(it.predicted for it in grid.items()), timeout=60000)

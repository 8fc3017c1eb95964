"""The review panel: suggestions least certain first, keyboard labelling into the dataset, undo,
bulk accept, new classes, retraining -- and the loop panels installed in the main window."""
from __future__ import annotations

import json
import os

import pytest
from PySide6.QtCore import Qt

from core.photos.review_queue import ReviewItem
from gui.panels.review.review_panel import ReviewPanel
from gui.widgets.photo_grid import PhotoGrid
from tests.fakes import FakePredictor, noise_photo


ANSWERS = {"p0.png": ("cat", 0.55), "p1.png": ("dog", 0.95), "p2.png": ("cat", 0.99),
           "p3.png": ("dog", 0.60), "p4.png": "file is truncated or damaged"}


@pytest.fixture
def dataset(tmp_path):
    root = tmp_path / "pets"
    n = 0
    for split in ("train", "val"):
        for cls in ("cat", "dog"):
            (root / split / cls).mkdir(parents=True)
            for i in range(3):
                n += 1
                noise_photo(root / split / cls / f"{split}{cls}{i}.png", 100 + n)
    return root


@pytest.fixture
def review_dir(tmp_path):
    folder = tmp_path / "sorted" / "_review"
    folder.mkdir(parents=True)
    for i, name in enumerate(ANSWERS):
        noise_photo(folder / name, i)
    return folder


@pytest.fixture
def panel(qtbot, dataset):
    w = ReviewPanel()
    qtbot.addWidget(w)
    w.resize(1000, 700)
    w.show()
    w.set_dataset_folder(str(dataset))
    yield w
    w.shutdown()


@pytest.fixture
def shown(qtbot, panel, review_dir):
    """The panel showing the review folder with the fake model's suggestions."""
    panel.set_predictor(FakePredictor(["cat", "dog"], ANSWERS))
    assert panel.open_folder(str(review_dir))
    qtbot.waitUntil(lambda: not panel.runner.is_running() and all(it.predicted for it in panel.view.grid.items()),
                    timeout=20000)
    panel.view.grid.setFocus()
    return panel


def _names(panel):
    return [os.path.basename(p) for p in panel.remaining_paths()]


def test_photos_are_ordered_least_certain_first_with_a_numbered_legend(qtbot, shown):
    assert _names(shown) == ["p0.png", "p3.png", "p1.png", "p2.png", "p4.png"]   # unreadable last
    assert [b.text() for b in shown.view.legend.buttons] == ["1  cat", "2  dog"]
    assert shown.view.grid.current().suggestion == "cat"
    assert "5 photos to label" in shown.view.title.text()
    # Thumbnails arrive from the background loader.
    qtbot.waitUntil(lambda: shown.view.grid.thumbnails_shown >= 4, timeout=20000)


def test_cancel_stops_asking_the_model_and_labelling_by_number_still_works(qtbot, panel, review_dir, dataset):
    import threading

    gate = threading.Event()
    gated = FakePredictor(["cat", "dog"], ANSWERS, gate=gate)
    panel.set_predictor(gated)
    panel.open_folder(str(review_dir))
    try:
        qtbot.waitUntil(gated.entered.is_set, timeout=10000)
        assert panel.progress.isVisible() and len(panel.remaining_paths()) == 5   # photos show at once
        qtbot.mouseClick(panel.progress.cancel_button, Qt.MouseButton.LeftButton)
    finally:
        gate.set()
    qtbot.waitUntil(lambda: not panel.runner.is_running() and not panel.progress.isVisible(), timeout=10000)
    assert not panel.runner.is_running()                       # not started again by itself
    assert not any(it.predicted for it in panel.view.grid.items())
    panel.view.grid.setFocus()
    panel.view.grid.select_row(0)
    name = os.path.basename(panel.view.grid.current().path)
    qtbot.keyClick(panel.view.grid, Qt.Key.Key_2)
    qtbot.waitUntil(lambda: (dataset / "train" / "dog" / name).exists(), timeout=10000)


def test_key_1_moves_the_photo_into_the_class_folder_and_backspace_restores_it(qtbot, shown, dataset, review_dir):
    src, dst = review_dir / "p0.png", dataset / "train" / "cat" / "p0.png"
    content = src.read_bytes()
    assert shown.view.grid.current().path == str(src)
    qtbot.keyClick(shown.view.grid, Qt.Key.Key_1)
    assert "p0.png" not in _names(shown)                  # leaves the grid at once
    assert os.path.basename(shown.view.grid.current().path) == "p3.png"   # the next photo is selected
    qtbot.waitUntil(lambda: dst.exists() and not src.exists(), timeout=10000)
    assert dst.read_bytes() == content
    qtbot.waitUntil(lambda: shown.view.undo_button.isEnabled(), timeout=10000)

    qtbot.keyClick(shown.view.grid, Qt.Key.Key_Backspace)
    qtbot.waitUntil(lambda: src.exists() and not dst.exists(), timeout=10000)
    assert src.read_bytes() == content
    qtbot.waitUntil(lambda: _names(shown)[:1] == ["p0.png"], timeout=10000)
    assert shown.view.grid.current().path == str(src)
    assert not shown.view.undo_button.isEnabled()            # nothing left to undo

    # Number 2 is "dog"; a number without a class says so.
    qtbot.keyClick(shown.view.grid, Qt.Key.Key_2)
    qtbot.waitUntil(lambda: (dataset / "train" / "dog" / "p0.png").exists(), timeout=10000)
    qtbot.keyClick(shown.view.grid, Qt.Key.Key_7)
    assert "no class number 7" in shown.message_bar.text()


def test_enter_accepts_the_suggestion(qtbot, shown, dataset, review_dir):
    shown.view.grid.select_row(1)                                  # p3: the model says dog at 60 %
    qtbot.keyClick(shown.view.grid, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: (dataset / "train" / "dog" / "p3.png").exists(), timeout=10000)
    assert not (review_dir / "p3.png").exists()
    # An unreadable photo has no suggestion to accept: it stays, with a message.
    shown.view.grid.select_row(shown.view.grid.count() - 1)
    qtbot.keyClick(shown.view.grid, Qt.Key.Key_Enter)
    assert "p4.png" in _names(shown) and "could not be read" in shown.message_bar.text()


def test_every_key_labels_the_photo_in_the_preview(qtbot, shown, dataset, review_dir):
    grid = shown.view.grid

    def shown_photo() -> str:
        assert shown.preview.path() == grid.current().path and grid.selected() == [grid.current()]
        return os.path.basename(grid.current().path)

    first = shown_photo()
    qtbot.keyClick(grid, Qt.Key.Key_1)
    second = shown_photo()
    qtbot.keyClick(grid, Qt.Key.Key_2)
    shown_photo()
    qtbot.waitUntil(lambda: not shown.view.queue.busy(), timeout=10000)
    assert (dataset / "train" / "cat" / first).exists() and (dataset / "train" / "dog" / second).exists()
    qtbot.keyClick(grid, Qt.Key.Key_Backspace)
    qtbot.waitUntil(lambda: not shown.view.queue.busy(), timeout=10000)
    assert shown_photo() == second                        # the photo put back is the one shown
    qtbot.keyClick(grid, Qt.Key.Key_1)                    # ... and the next key labels it
    qtbot.waitUntil(lambda: (dataset / "train" / "cat" / second).exists() and not shown.view.queue.busy(),
                    timeout=10000)


def test_accept_all_above_labels_exactly_those(qtbot, shown, dataset, review_dir):
    shown.view.accept_spin.setValue(90)
    with qtbot.waitSignal(shown.labelled, timeout=10000) as blocker:
        qtbot.mouseClick(shown.view.accept_button, Qt.MouseButton.LeftButton)
    action = blocker.args[0]
    assert sorted(os.path.basename(d.op.dst) for d in action.done) == ["p1.png", "p2.png"]
    assert (dataset / "train" / "dog" / "p1.png").exists() and (dataset / "train" / "cat" / "p2.png").exists()
    assert sorted(os.listdir(review_dir)) == ["p0.png", "p3.png", "p4.png"]
    assert _names(shown) == ["p0.png", "p3.png", "p4.png"]
    assert "2 labelled" in shown.view.counts_label.text()

    # One undo puts the whole bulk action back.
    qtbot.mouseClick(shown.view.undo_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: sorted(os.listdir(review_dir)) == sorted(ANSWERS), timeout=10000)
    qtbot.waitUntil(lambda: len(_names(shown)) == 5, timeout=10000)


def test_new_class_is_validated_and_gets_the_next_number(qtbot, shown, dataset):
    shown.view.ask_class_name = lambda: "bad/name"
    qtbot.mouseClick(shown.view.legend.new_class_button, Qt.MouseButton.LeftButton)
    assert "slash" in shown.message_bar.text()
    assert sorted(os.listdir(dataset / "train")) == ["cat", "dog"]
    shown.view.ask_class_name = lambda: "Cat"
    shown.view.new_class()
    assert "already a class" in shown.message_bar.text()

    shown.view.ask_class_name = lambda: "ant"
    shown.view.new_class()
    assert (dataset / "train" / "ant").is_dir()
    # A new class gets the next number, even when its name sorts first.
    assert [b.text() for b in shown.view.legend.buttons] == ["1  cat", "2  dog", "3  ant"]
    assert "validation folder" in shown.message_bar.text()
    shown.view.grid.setFocus()
    qtbot.keyClick(shown.view.grid, Qt.Key.Key_3)
    qtbot.waitUntil(lambda: (dataset / "train" / "ant" / "p0.png").exists(), timeout=10000)


def test_confusion_cell_items_relabel_inside_their_split(qtbot, panel, dataset):
    photo = dataset / "val" / "cat" / "valcat0.png"
    panel.set_items([ReviewItem(str(photo), (("dog", 0.9),), None, "cat")], "a cell", str(dataset))
    assert _names(panel) == ["valcat0.png"]
    panel.view.grid.setFocus()
    qtbot.keyClick(panel.view.grid, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: (dataset / "val" / "dog" / "valcat0.png").exists(), timeout=10000)
    assert not photo.exists() and not (dataset / "train" / "dog" / "valcat0.png").exists()


def _fake_run(tmp_path, arch="resnet18", epochs=3):
    from core.training.config import TrainConfig

    run = tmp_path / "runs" / "20240101-120000-resnet18"
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps(TrainConfig(recipe="custom", arch=arch, epochs=epochs).to_dict()))
    (run / "run.json").write_text(json.dumps({"started": "2024-01-01T12:00:00", "data_root": ""}))
    (run / "best.pt").write_bytes(b"not used: the test gives the panel a fake predictor")
    return run


def test_retrain_asks_for_the_models_run(qtbot, shown, tmp_path):
    run = _fake_run(tmp_path)
    shown.set_predictor(shown.source.predictor, str(run / "best.pt"))
    with qtbot.waitSignal(shown.retrain_requested) as blocker:
        qtbot.mouseClick(shown.retrain_button, Qt.MouseButton.LeftButton)
    assert blocker.args == [str(run)]


def test_loop_panels_in_the_main_window(qtbot, make_window, dataset, review_dir, tmp_path):
    w = make_window(engine=False)
    assert {"evaluate", "sort", "review"} <= set(w.panels)
    rv, so = w.review_panel, w.sort_panel

    # The Data tab's dataset is the review target.
    with qtbot.waitSignal(w.dataset_panel.dataset_changed, timeout=20000):
        w.dataset_panel.open_folder(str(dataset))
    assert rv.dataset_root() == str(dataset)
    assert w.evaluate_panel.dataset_field.path() == str(dataset)

    # Sort -> "Review the unsure photos" opens the Review tab on DEST/_review.
    rv.set_predictor(FakePredictor(["cat", "dog"], ANSWERS))
    so.review_requested.emit(str(review_dir), [], "")
    assert w.tabs.currentWidget() is rv
    qtbot.waitUntil(lambda: len(rv.remaining_paths()) == 5 and not rv.runner.is_running(), timeout=20000)

    # Retrain: the run's settings go to the Train tab and the corrected dataset is read again.
    run = _fake_run(tmp_path, arch="resnet18", epochs=3)
    with qtbot.waitSignal(w.dataset_panel.dataset_changed, timeout=20000):
        rv.retrain_requested.emit(str(run))
    config = w.training_panel.form.config()
    assert config.arch == "resnet18" and config.epochs == 3
    assert w.training_panel.dataset is w.dataset_panel.dataset
    assert w.tabs.currentWidget() is w.training_panel
    # Without the training engine loaded, Start cannot run: the window says why.
    assert "Training could not start: Loading the training engine" in w.statusBar().currentMessage()
    w.shutdown(10000)


def test_the_whole_loop_train_evaluate_retrain_with_the_same_settings(qtbot, make_window, two_class_folder):
    from core.training.config import TrainConfig
    from core.training.runs import load_run

    w = make_window()
    tp, ev, rv = w.training_panel, w.evaluate_panel, w.review_panel
    w.open_dataset(str(two_class_folder))
    qtbot.waitUntil(lambda: tp.dataset is not None, timeout=30000)
    tp.form.apply_config(TrainConfig(recipe="custom", arch="small_cnn", image_size=32, batch_size=8, device="cpu",
                                     augment=False, schedule="none", epochs=1, lr=0.002))
    with qtbot.waitSignal(tp.run_finished, timeout=120000) as first:
        assert tp.start()
    ended = first.args[0]
    assert ended.reason == "completed", ended.message
    # The model just trained is ready to evaluate, sort with and review with (once the window has it).
    qtbot.waitUntil(lambda: ev.model.model_path() == ended.best_model, timeout=30000)
    assert ev.model.model_path() == ended.best_model == rv.model_path() == w.sort_panel.model.model_path()

    with qtbot.waitSignal(ev.evaluated, timeout=60000) as evaluated:
        assert ev.evaluate()
    result = evaluated.args[0]
    assert result.evaluated == result.total > 0 and result.dataset_root == str(two_class_folder)

    assert rv.dataset_root() == str(two_class_folder)
    with qtbot.waitSignal(tp.run_finished, timeout=120000) as second:
        qtbot.mouseClick(rv.retrain_button, Qt.MouseButton.LeftButton)
    again = second.args[0]
    assert again.reason == "completed", again.message
    assert again.run_dir != ended.run_dir
    old, new = load_run(ended.run_dir).config, load_run(again.run_dir).config
    for key in ("arch", "image_size", "batch_size", "epochs", "lr", "augment", "schedule"):
        assert getattr(new, key) == getattr(old, key), key


def _grey_rows(grid) -> list[int]:
    """Rows on screen that still show the grey placeholder instead of their picture."""
    view = grid.viewport().rect()
    blank = grid._placeholder.cacheKey()
    return [r for r in range(grid.count())
            if grid.visualItemRect(grid.item(r)).intersects(view) and grid.item(r).icon().cacheKey() == blank]


def test_thumbnails_stay_shown_when_the_answers_reorder_the_grid(qtbot, panel, tmp_path):
    """Issue 14 item 9: re-sorting least-certain-first must not leave thumbnails grey."""
    import threading

    folder = tmp_path / "unsorted"
    folder.mkdir()
    answers = {}
    for i in range(20):
        noise_photo(folder / f"q{i:02d}.png", 500 + i)
        answers[f"q{i:02d}.png"] = ("cat" if i % 2 else "dog", 0.99 - i * 0.02)   # q19 is the least sure
    gate = threading.Event()
    gated = FakePredictor(["cat", "dog"], answers, gate=gate)
    panel.set_predictor(gated)
    grid = panel.findChild(PhotoGrid)          # the grid the Review tab shows
    try:
        assert panel.open_folder(str(folder))
        qtbot.waitUntil(gated.entered.is_set, timeout=10000)
        # The pictures arrive while the model is still thinking ...
        qtbot.waitUntil(lambda: grid.count() == 20 and not _grey_rows(grid), timeout=20000)
        shown_before = grid.thumbnails_shown
    finally:
        gate.set()
    # ... then its answers re-sort the grid, least certain first.
    qtbot.waitUntil(lambda: not panel.runner.is_running() and _names(panel)[0] == "q19.png", timeout=20000)
    qtbot.waitUntil(lambda: not _grey_rows(grid), timeout=5000)
    assert shown_before > 0


def _warnings(widget) -> str:
    from gui.widgets.message_bar import MessageBar

    return " ".join(bar.text() for bar in widget.findChildren(MessageBar) if bar.isVisible())


def _guessed(panel) -> list[str]:
    return [os.path.basename(it.path) for it in panel.view.grid.items() if it.top]


def test_a_model_with_other_classes_than_the_dataset_is_not_used(qtbot, panel, review_dir):
    """Issue 14 item 14: keys say "1 cat 2 dog" while the suggestions say "circles 62 %"; issue 20:
    a camera's new dump ordered by an unrelated model. Its guesses are never shown, and the panel says why."""
    shapes = {name: ("circles", 0.62) for name in ANSWERS}
    unrelated = FakePredictor(["circles", "squares"], shapes)
    panel.set_predictor(unrelated)
    assert panel.open_folder(str(review_dir))
    qtbot.waitUntil(lambda: not panel.runner.is_running(), timeout=20000)
    text = _warnings(panel)
    assert "circles, squares" in text and "cat, dog" in text and "pets" in text and "not shown" in text
    assert unrelated.asked == [] and _guessed(panel) == []
    assert _names(panel) == sorted(ANSWERS)                                 # the folder's order, not the model's
    assert not panel.view.accept_current()                                  # Enter has no guess to take
    # The model made for these classes: the warning goes and its guesses order the photos.
    panel.set_predictor(FakePredictor(["cat", "dog"], ANSWERS))
    assert "circles" not in _warnings(panel)
    qtbot.waitUntil(lambda: not panel.runner.is_running() and len(_guessed(panel)) == 4, timeout=20000)
    assert _names(panel) == ["p0.png", "p3.png", "p1.png", "p2.png", "p4.png"]


def test_answers_known_from_an_unrelated_models_sort_are_not_shown(qtbot, panel, review_dir):
    """The answers a sort hands over are its model's: with classes the dataset lacks they are dropped."""
    bees = [ReviewItem(str(review_dir / name), (("bees", 0.5), ("ants", 0.5))) for name in ANSWERS]
    panel.set_predictor(FakePredictor(["ants", "bees"], {}))
    assert panel.open_folder(str(review_dir), known=bees)
    qtbot.waitUntil(lambda: not panel.runner.is_running(), timeout=20000)
    assert _guessed(panel) == [] and "ants, bees" in _warnings(panel)


def test_a_new_dataset_without_classes_shows_no_guesses_until_its_classes_fit(qtbot, panel, review_dir, tmp_path):
    fitting = FakePredictor(["cat", "dog"], ANSWERS)
    panel.set_predictor(fitting)
    (tmp_path / "new dump").mkdir()                          # as "Start labelling" makes it: no class yet
    panel.set_dataset_folder(str(tmp_path / "new dump"))
    assert panel.open_folder(str(review_dir))
    qtbot.waitUntil(lambda: not panel.runner.is_running(), timeout=20000)
    assert "has no classes yet" in _warnings(panel) and fitting.asked == [] and _guessed(panel) == []
    panel.view.add_class("cat")
    assert "cat" in panel.classes() and _guessed(panel) == []             # the model also knows dog
    panel.view.add_class("dog")
    qtbot.waitUntil(lambda: not panel.runner.is_running() and len(_guessed(panel)) == 4, timeout=20000)
    assert "not shown" not in _warnings(panel)

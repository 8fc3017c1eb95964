"""The evaluate panel: figures, the confusion-matrix heatmap, a cell's photos, relabelling, undo."""
from __future__ import annotations

import os

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette

from gui.panels.evaluate.confusion_matrix import contrast
from gui.panels.evaluate.evaluate_panel import EvaluatePanel
from tests.fakes import FakePredictor, noise_photo

# val photos: name -> (true class, predicted class, confidence)
TABLE = {
    "c0.png": ("cat", "cat", 0.90), "c1.png": ("cat", "dog", 0.70), "c2.png": ("cat", "dog", 0.95),
    "c3.png": ("cat", "dog", 0.60), "d0.png": ("dog", "dog", 0.80), "d1.png": ("dog", "cat", 0.55),
    "d2.png": ("dog", "dog", 0.99),
}


@pytest.fixture
def dataset(tmp_path):
    root = tmp_path / "pets"
    seed = 0
    for cls in ("cat", "dog"):
        (root / "train" / cls).mkdir(parents=True)
        (root / "val" / cls).mkdir(parents=True)
        for i in range(3):
            seed += 1
            noise_photo(root / "train" / cls / f"t{cls}{i}.png", seed)
    for name, (true, _p, _c) in TABLE.items():
        seed += 1
        noise_photo(root / "val" / true / name, seed)
    return root


@pytest.fixture
def predictor():
    return FakePredictor(["dog", "cat"], {n: (p, c) for n, (_t, p, c) in TABLE.items()})


@pytest.fixture
def panel(qtbot, dataset):
    w = EvaluatePanel()
    qtbot.addWidget(w)
    w.resize(1100, 800)
    w.show()
    w.set_dataset_folder(str(dataset))
    w.set_split("val")
    yield w
    w.shutdown()


def _evaluate(qtbot, panel):
    with qtbot.waitSignal(panel.evaluated, timeout=20000) as blocker:
        assert panel.evaluate()
    return blocker.args[0]


def test_figures_and_a_cell_click_shows_its_photos_most_confident_wrong_first(qtbot, panel, dataset, predictor):
    panel.set_predictor(predictor, "fake")
    result = _evaluate(qtbot, panel)
    assert result.classes == ["cat", "dog"]
    assert result.confusion == [[1, 3], [1, 2]]
    assert "Accuracy 42.9%" in panel.summary.text()
    # Per-class table: cat recall 1/4, dog precision 2/5; support 4 and 3.
    assert [panel.table.item(r, 0).text() for r in range(2)] == ["cat", "dog"]
    assert panel.table.item(0, 2).text() == "25.0%"
    assert panel.table.item(1, 1).text() == "40.0%"
    assert panel.table.item(0, 4).text() == "4" and panel.table.item(1, 4).text() == "3"
    assert not panel.progress.isVisible()

    m = panel.matrix
    assert m.classes() == ["cat", "dog"]
    assert [m.text_for(0, 0), m.text_for(0, 1)] == ["1", "3"]
    qtbot.mouseClick(m, Qt.MouseButton.LeftButton, pos=m.cell_rect(0, 1).center())
    val_cat = dataset / "val" / "cat"
    assert panel.cell_paths() == [str(val_cat / "c2.png"), str(val_cat / "c1.png"), str(val_cat / "c3.png")]
    assert "cat taken for dog" in panel.cell_title.text()

    # Keyboard: arrows move the current cell, Enter opens it.
    m.setFocus()
    m.set_current_cell(0, 1)
    qtbot.keyClick(m, Qt.Key.Key_Down)
    qtbot.keyClick(m, Qt.Key.Key_Left)
    qtbot.keyClick(m, Qt.Key.Key_Return)
    assert panel.cell_paths() == [str(dataset / "val" / "dog" / "d1.png")]

    # Counts / row shares toggle.
    panel.share_radio.setChecked(True)
    assert m.normalized() and m.text_for(0, 1) == "75%" and m.text_for(1, 1) == "67%"
    panel.counts_radio.setChecked(True)
    assert m.text_for(0, 1) == "3"


@pytest.mark.parametrize("dark", [False, True])
def test_heatmap_numbers_are_readable_in_light_and_dark_themes(qtbot, panel, predictor, dark):
    panel.set_predictor(predictor, "fake")
    _evaluate(qtbot, panel)
    m = panel.matrix
    pal = QPalette(m.palette())
    if dark:
        pal.setColor(QPalette.ColorRole.Base, QColor(30, 30, 30))
        pal.setColor(QPalette.ColorRole.Window, QColor(45, 45, 45))
        pal.setColor(QPalette.ColorRole.WindowText, QColor(230, 230, 230))
        pal.setColor(QPalette.ColorRole.Highlight, QColor(42, 130, 218))
    else:
        pal.setColor(QPalette.ColorRole.Base, QColor(255, 255, 255))
        pal.setColor(QPalette.ColorRole.Highlight, QColor(48, 140, 198))
    m.setPalette(pal)
    for t in range(2):
        for p in range(2):
            assert contrast(m.cell_colour(t, p), m.text_colour(t, p)) >= 4.5
    # Fuller rows are darker/more saturated: the 3-of-4 cell differs more from Base than the 1-of-4.
    base = pal.color(QPalette.ColorRole.Base)
    assert contrast(m.cell_colour(0, 1), base) > contrast(m.cell_colour(0, 0), base)
    m.grab()        # paints without error


def test_relabel_from_a_cell_stays_in_its_split_and_undo_restores(qtbot, panel, dataset, predictor):
    panel.set_predictor(predictor, "fake")
    _evaluate(qtbot, panel)
    panel.show_cell(0, 1)
    panel.grid.select_row(0)                      # c2: labelled cat, the model says dog at 95 %
    asked = []
    panel.ask_move = lambda text: asked.append(text) or True
    src = dataset / "val" / "cat" / "c2.png"
    dst = dataset / "val" / "dog" / "c2.png"
    content = src.read_bytes()
    changed = []
    panel.labels_changed.connect(changed.append)
    qtbot.mouseClick(panel.move_predicted_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dst.exists() and not src.exists(), timeout=10000)
    assert dst.read_bytes() == content
    assert str(src) not in panel.cell_paths()
    assert not (dataset / "train" / "dog" / "c2.png").exists()   # validation photos stay validation photos
    qtbot.waitUntil(lambda: changed == [str(dataset)], timeout=10000)
    assert panel.undo_button.isEnabled()
    assert len(asked) == 1 and "Move 1 photo labelled cat into the dog class folder?" in asked[0]
    # The matrix shows it where it is now; the model's score stays the one on the labels as evaluated.
    assert panel.placed.confusion == [[1, 2], [1, 3]] and panel.result.confusion == [[1, 3], [1, 2]]
    assert panel.matrix.text_for(0, 1) == "2" and "cat taken for dog: 2 photos" in panel.cell_title.text()
    assert "Accuracy 42.9%" in panel.summary.text() and "1 photo moved" in panel.details.text()
    assert "in their new classes gives 57.1%; that is not the model's score" in panel.details.text()

    qtbot.mouseClick(panel.undo_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: src.exists() and not dst.exists(), timeout=10000)
    assert src.read_bytes() == content
    qtbot.waitUntil(lambda: panel.cell_paths()[:1] == [str(src)], timeout=10000)
    assert not panel.cells.can_undo() and not panel.undo_button.isEnabled()      # nothing left to undo
    assert panel.placed.confusion == [[1, 3], [1, 2]] and "moved" not in panel.details.text()
    # Moving to a class chosen in the list works the same way.
    panel.grid.select_row(0)
    panel.class_combo.setCurrentIndex(panel.class_combo.findText("dog"))
    qtbot.mouseClick(panel.move_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dst.exists() and not src.exists(), timeout=10000)


def test_cancel_gives_figures_for_the_photos_done(qtbot, panel, predictor):
    predictor.on_image = lambda i: panel.runner.stop() if i == 2 else None   # on the job's thread
    panel.set_predictor(predictor, "fake")
    result = _evaluate(qtbot, panel)
    assert result.stopped and result.evaluated == 3 and result.total == 7
    assert "Stopped early" in panel.details.text()
    assert panel.evaluate_button.isEnabled()


def test_errors_are_shown_in_the_panel_and_it_stays_usable(qtbot, panel, tmp_path):
    owls = FakePredictor(["owl", "bat"], {})
    panel.set_predictor(owls, "fake")
    with qtbot.waitSignal(panel.runner.failed, timeout=20000):
        panel.evaluate()
    assert "classes the model was not trained on" in panel.message_bar.text()
    assert panel.evaluate_button.isEnabled() and not panel.is_running()

    panel.set_dataset_folder(str(tmp_path / "nowhere"))
    assert not panel.evaluate()
    assert "does not exist" in panel.message_bar.text()


def test_a_saved_model_is_loaded_in_the_background_and_evaluated(qtbot, panel, dataset):
    torch = pytest.importorskip("torch")
    from core.model.checkpoints import save_checkpoint
    from core.model.networks import ARCHITECTURES, build_model

    torch.manual_seed(0)
    model, _ = build_model("small_cnn", 2, image_size=32)
    spec = ARCHITECTURES["small_cnn"]
    path = dataset.parent / "pets.pt"
    save_checkpoint(path, model, arch="small_cnn", classes=["cat", "dog"], image_size=32,
                    mean=spec.mean, std=spec.std, config={}, metrics={})
    panel.set_model(str(path))
    assert panel.model.model_path() == str(path)
    seen = []
    panel.runner.progress.connect(lambda ev: seen.append(ev.stage))
    result = _evaluate(qtbot, panel)
    assert result.evaluated == result.total == 7
    assert sum(map(sum, result.confusion)) == 7
    assert seen[0] == "loading" and "evaluating" in seen
    assert str(path) in panel.details.text()


# -- issue 14, items 10, 11 and 14 ------------------------------------------------------------

def _ants_and_bees(root, right_bees: int):
    """20 ants (all recognised) and 20 bees of which right_bees are recognised; the other bees are
    taken for ants at 90 %. Every photo is labelled correctly. Returns (root, predictor)."""
    answers, seed = {}, 100
    for cls in ("ants", "bees"):
        (root / "train" / cls).mkdir(parents=True)
        (root / "val" / cls).mkdir(parents=True)
        seed += 1
        noise_photo(root / "train" / cls / f"t{cls}.png", seed)
        for i in range(20):
            seed += 1
            name = f"{cls}{i:02d}.png"
            noise_photo(root / "val" / cls / name, seed)
            wrong = cls == "bees" and i >= right_bees
            answers[name] = ("ants", 0.9) if wrong else (cls, 0.85)
    return root, FakePredictor(["ants", "bees"], answers)


def _open_cell(qtbot, panel, t, p):
    m = panel.matrix
    qtbot.mouseClick(m, Qt.MouseButton.LeftButton, pos=m.cell_rect(t, p).center())


def test_a_weak_model_does_not_blame_the_labels_and_moving_asks_first(qtbot, panel, tmp_path):
    root, weak = _ants_and_bees(tmp_path / "insects", right_bees=5)     # 25 of 40 right: 62.5 %
    panel.set_dataset_folder(str(root))
    panel.set_predictor(weak, "weak")
    _evaluate(qtbot, panel)
    assert "Accuracy 62.5%" in panel.summary.text()
    _open_cell(qtbot, panel, 1, 0)                # bees taken for ants
    title = panel.cell_title.text()
    assert "bees taken for ants: 15 photos" in title
    assert "Often the label is wrong" not in title and "often the label is wrong" not in title
    assert "only 62.5% right" in title and "its own mistakes" in title

    asked = []
    panel.ask_move = lambda text: asked.append(text) or False      # the person says no
    panel.grid.select_row(0)
    bee = root / "val" / "bees" / os.path.basename(panel.cell_paths()[0])
    qtbot.mouseClick(panel.move_predicted_button, Qt.MouseButton.LeftButton)
    assert len(asked) == 1
    assert "Move 1 photo labelled bees into the ants class folder?" in asked[0]
    assert "only 62.5% right" in asked[0]          # the dialog repeats the caution
    assert bee.exists() and not (root / "val" / "ants" / bee.name).exists()
    assert str(bee) in panel.cell_paths() and not panel.cells.can_undo()

    panel.ask_move = lambda text: asked.append(text) or True       # now yes
    qtbot.mouseClick(panel.move_predicted_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: (root / "val" / "ants" / bee.name).exists() and not bee.exists(), timeout=10000)
    qtbot.waitUntil(lambda: "1 photo moved" in panel.details.text(), timeout=10000)
    # The move does not reward the model: its score stays the one on the labels as evaluated.
    assert "Accuracy 62.5%" in panel.summary.text()
    assert panel.result.accuracy == pytest.approx(0.625)
    assert "gives 65.0%; that is not the model's score" in panel.details.text()


def test_a_strong_sure_model_points_at_wrong_labels_but_still_asks(qtbot, panel, tmp_path):
    root, strong = _ants_and_bees(tmp_path / "insects", right_bees=19)   # 39 of 40 right
    panel.set_dataset_folder(str(root))
    panel.set_predictor(strong, "strong")
    _evaluate(qtbot, panel)
    _open_cell(qtbot, panel, 1, 0)
    assert "often the label is wrong" in panel.cell_title.text().lower()
    asked = []
    panel.ask_move = lambda text: asked.append(text) or False
    panel.grid.select_row(0)
    assert not panel.move_to_predicted()
    assert len(asked) == 1 and "Move 1 photo labelled bees into the ants class folder?" in asked[0]
    assert "its own mistakes" not in asked[0] and "only" not in asked[0]     # no caution for a strong model


def test_results_go_out_of_date_when_the_dataset_or_model_changes(qtbot, panel, dataset, predictor, tmp_path):
    panel.set_predictor(predictor, "fake")
    _evaluate(qtbot, panel)
    panel.show_cell(0, 1)
    panel.grid.select_row(0)
    assert panel.move_predicted_button.isEnabled()
    asked = []
    panel.ask_move = lambda text: asked.append(text) or True

    other, _ = _ants_and_bees(tmp_path / "insects", right_bees=20)
    panel.set_dataset_folder(str(other))
    assert panel.cell_paths() == []                 # the old dataset's photos are gone from view
    assert not panel.move_predicted_button.isEnabled() and not panel.move_button.isEnabled()
    assert panel.stale() == "dataset"
    assert not panel.review_button.isEnabled() and not panel.mistakes_button.isEnabled()
    assert not panel.matrix_box.isEnabled()
    assert "Press Evaluate" in panel.stale_bar.text() and str(dataset) in panel.stale_bar.text()
    panel.show_cell(0, 1)                           # a click on the old matrix lists nothing
    assert panel.cell_paths() == []
    assert not panel.move_to_predicted() and asked == []
    assert (dataset / "val" / "cat" / "c2.png").exists()

    panel.set_dataset_folder(str(dataset))          # back to the dataset evaluated: usable again
    assert not panel.stale() and not panel.stale_bar.isVisible() and panel.matrix_box.isEnabled()
    panel.show_cell(0, 1)
    panel.grid.select_row(0)
    assert panel.move_predicted_button.isEnabled()

    panel.set_predictor(FakePredictor(["cat", "dog"], predictor.answers), "another")     # another model
    assert panel.stale() == "model" and panel.cell_paths() == []
    assert not panel.move_predicted_button.isEnabled()
    assert "model evaluated before" in panel.stale_bar.text()
    assert "Model: fake" in panel.details.text()    # the notes still name the model evaluated
    _evaluate(qtbot, panel)                          # evaluating again makes it current
    assert not panel.stale() and panel.matrix_box.isEnabled()


def test_the_model_s_classes_are_shown_and_a_mismatch_is_named(qtbot, panel, dataset, tmp_path):
    from types import SimpleNamespace

    panel.set_predictor(FakePredictor(["circles", "squares"], {}), "shapes")
    assert "circles, squares" in panel.model_classes.text()
    insects = tmp_path / "insects"
    panel.set_dataset(SimpleNamespace(root=str(insects), classes=["ants", "bees"], test=[]))
    text = panel.model_classes.text()
    assert "⚠" in text and "ants" in text and "bees" in text and "circles" in text

    # A model with a class more than the dataset: evaluated, and the extra class is named.
    panel.set_dataset_folder(str(dataset))
    fox = FakePredictor(["cat", "dog", "fox"], {n: (p, c) for n, (_t, p, c) in TABLE.items()})
    panel.set_predictor(fox, "fox")
    assert "⚠" not in panel.model_classes.text()     # the hand-picked folder's classes are not known yet
    _evaluate(qtbot, panel)
    text = panel.model_classes.text()
    assert "cat, dog, fox" in text and "⚠" in text and "fox" in text.split("⚠", 1)[1]
    panel.set_predictor(FakePredictor(["dog", "cat"], {}), "pets")
    assert "⚠" not in panel.model_classes.text()

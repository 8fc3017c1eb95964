"""“Show where the model looked”: H or the check box puts the heat map over the photo, in
Predict and in Review's large preview; made off the GUI thread and kept per photo."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QVBoxLayout, QWidget

from gui.widgets.heatmap import HeatMapOverlay
from gui.widgets.image_view import ImageView
from gui.widgets.thumbnails import qimage_to_pil
from tests.fakes import FakePredictor
from tests.gui.qt_show import shown

torch = pytest.importorskip("torch")

CLASSES = ["cat", "dog"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    from core.model.checkpoints import save_checkpoint
    from core.model.networks import ARCHITECTURES, build_model

    torch.manual_seed(0)
    spec = ARCHITECTURES["small_cnn"]
    model, _ = build_model("small_cnn", len(CLASSES), image_size=32)
    path = tmp_path_factory.mktemp("model") / "pets.pt"
    save_checkpoint(path, model.eval(), arch="small_cnn", classes=CLASSES, image_size=32,
                    mean=spec.mean, std=spec.std, config={}, metrics={})
    return str(path)


@pytest.fixture
def photo(tmp_path):
    path = tmp_path / "pet.png"
    Image.fromarray(np.random.default_rng(3).integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(path)
    return str(path)


def _on_view(view: ImageView) -> np.ndarray:
    """The picture the view was given (before scaling to its box)."""
    assert view.has_image()
    return np.asarray(qimage_to_pil(view._pixmap.toImage()))


def test_predict_h_shows_the_heat_map_and_the_box_puts_the_photo_back(qtbot, checkpoint, photo):
    from gui.panels.predict.predict_panel import PredictPanel

    panel = shown(qtbot, PredictPanel())
    try:
        with qtbot.waitSignal(panel.model_loaded, timeout=30000):
            panel.load_model(checkpoint)
        with qtbot.waitSignal(panel.prediction_shown, timeout=20000):
            panel.predict_files([photo])
        qtbot.waitUntil(panel.view.image_view.has_image, timeout=10000)
        plain = _on_view(panel.view.image_view)
        assert not panel.heat.box.isChecked()

        panel.strip.setFocus()
        with qtbot.waitSignal(panel.heat.overlay_shown, timeout=30000):
            qtbot.keyClick(panel.strip, Qt.Key.Key_H)
        assert panel.heat.box.isChecked() and panel.heat.showing
        overlay = _on_view(panel.view.image_view)
        assert overlay.shape == plain.shape and np.abs(overlay.astype(int) - plain).mean() > 5

        panel.heat.box.click()                                  # off: the photo as it is
        assert not panel.heat.showing
        assert np.array_equal(_on_view(panel.view.image_view), plain)
        with qtbot.waitSignal(panel.heat.overlay_shown, timeout=1000):
            panel.heat.box.click()                              # on again: from the cache, at once
        assert not panel.heat._pool.is_busy()
        assert np.array_equal(_on_view(panel.view.image_view), overlay)
    finally:
        panel.shutdown()


def test_review_preview_shows_the_current_photo_and_its_heat_map(qtbot, checkpoint, tmp_path):
    from core.model.predictor import Predictor
    from gui.panels.review.review_panel import ReviewPanel

    folder = tmp_path / "_review"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(np.full((40, 40, 3), 60 + 50 * i, np.uint8)).save(folder / f"p{i}.png")
    panel = shown(qtbot, ReviewPanel(), 1100, 700)
    try:
        panel.set_predictor(Predictor.from_checkpoint(checkpoint, device="cpu"), checkpoint)
        assert panel.open_folder(str(folder))
        qtbot.waitUntil(lambda: not panel.runner.is_running(), timeout=20000)
        grid = panel.view.grid
        grid.setFocus()
        grid.select_row(1)
        current = grid.current().path
        qtbot.waitUntil(lambda: panel.preview.path() == current and panel.preview.image_view.has_image(),
                        timeout=10000)
        plain = _on_view(panel.preview.image_view)
        with qtbot.waitSignal(panel.preview.heat.overlay_shown, timeout=30000) as shown_for:
            qtbot.keyClick(grid, Qt.Key.Key_H)               # the key works where the labelling keys do
        assert shown_for.args == [current]
        assert not np.array_equal(_on_view(panel.preview.image_view), plain)

        with qtbot.waitSignal(panel.preview.heat.overlay_shown, timeout=30000) as shown_for:
            grid.select_row(0)                                # the next photo gets its own heat map
        assert shown_for.args == [grid.current().path] and panel.preview.path() == grid.current().path
    finally:
        panel.shutdown()


def test_a_model_without_gradients_is_refused_in_plain_words(qtbot):
    holder = shown(qtbot, ImageView())
    heat = HeatMapOverlay(holder, holder, 256)
    said = []
    heat.message.connect(lambda text, kind: said.append(text))
    photo = QImage(32, 32, QImage.Format.Format_RGB888)
    photo.fill(Qt.GlobalColor.gray)
    heat.show("x", Image.new("RGB", (32, 32)), photo, FakePredictor(CLASSES))   # no .pt network
    heat.box.setChecked(True)
    qtbot.waitUntil(lambda: bool(said), timeout=10000)
    assert "heat maps need the .pt model file" in said[0].lower()
    assert not heat.box.isChecked() and not heat.showing
    heat.shutdown()

    heat2 = HeatMapOverlay(holder, holder, 256)
    said.clear()
    heat2.message.connect(lambda text, kind: said.append(text))
    heat2.show("x", "photo.png", photo, None)
    heat2.box.setChecked(True)
    assert said and said[0].startswith("Load a model first")
    heat2.shutdown()


def test_a_busy_bar_says_the_heat_map_is_being_made(qtbot):
    import threading

    holder = QWidget()
    view = ImageView(holder)
    heat = HeatMapOverlay(view, holder, 256)
    lay = QVBoxLayout(holder)
    lay.addWidget(view)
    lay.addWidget(heat.row)
    shown(qtbot, holder)
    release = threading.Event()
    photo = QImage(32, 32, QImage.Format.Format_RGB888)
    photo.fill(Qt.GlobalColor.gray)

    def slow_overlay(model, models, source, max_side):
        release.wait(30)                 # the seconds a real network takes on a CPU
        return photo, "cat"
    heat._mappers.overlay = slow_overlay
    try:
        heat.show("x", "photo.png", photo, FakePredictor(CLASSES))
        assert not heat.busy.isVisible()
        heat.box.setChecked(True)
        assert heat.is_busy() and heat.busy.isVisible() and heat.busy_label.isVisible()
        assert "Working out" in heat.busy_label.text()
        with qtbot.waitSignal(heat.overlay_shown, timeout=10000):
            release.set()
        assert not heat.is_busy() and not heat.busy.isVisible() and not heat.busy_label.isVisible()
    finally:
        release.set()
        heat.shutdown()

"""The predict panel: load a model, drop/paste photos, see the top classes; clear messages."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QImage

from core.wording import is_unsure
from gui.panels.predict.predict_panel import NO_MODEL, PredictPanel
from gui.widgets.thumbnails import pil_to_qimage, qimage_to_pil
from tests.gui.qt_drops import send_drop
from tests.gui.qt_show import shown

torch = pytest.importorskip("torch")

CLASSES = ["cat", "dog"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """An untrained 2-class small CNN saved as a Fledge model file."""
    from core.model.checkpoints import save_checkpoint
    from core.model.networks import ARCHITECTURES, build_model

    torch.manual_seed(0)
    spec = ARCHITECTURES["small_cnn"]
    model, _ = build_model("small_cnn", len(CLASSES), image_size=32)
    with torch.no_grad():       # make the answers differ between pictures and from 50/50
        for p in model.parameters():
            p.mul_(3.0)
    path = tmp_path_factory.mktemp("model") / "pets.pt"
    save_checkpoint(path, model, arch="small_cnn", classes=CLASSES, image_size=32,
                    mean=spec.mean, std=spec.std, config={}, metrics={})
    return str(path)


def fixed_answer_model(path, probabilities) -> str:
    """A small CNN that gives every photo the same answer: softmax(bias) = probabilities."""
    from core.model.checkpoints import save_checkpoint
    from core.model.networks import ARCHITECTURES, build_model

    classes = ["bird", "plane", "cat"]
    model, _ = build_model("small_cnn", len(classes), image_size=32)
    with torch.no_grad():
        model.fc.weight.zero_()
        model.fc.bias.copy_(torch.log(torch.tensor(probabilities)))
    spec = ARCHITECTURES["small_cnn"]
    save_checkpoint(path, model.eval(), arch="small_cnn", classes=classes, image_size=32,
                    mean=spec.mean, std=spec.std, config={}, metrics={})
    return str(path)


@pytest.fixture(scope="module")
def reference(checkpoint):
    """The same model, used directly: what the panel must show."""
    from core.model.predictor import Predictor

    return Predictor.from_checkpoint(checkpoint, device="cpu")


@pytest.fixture
def photos(tmp_path):
    rng = np.random.default_rng(1)
    out = {}
    for name in ("one.png", "two.png", "three.jpg"):
        arr = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
        Image.fromarray(arr).save(tmp_path / name)
        out[name] = tmp_path / name
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a real jpeg")
    (tmp_path / "notes.txt").write_text("shopping list")
    (tmp_path / "folder").mkdir()
    out["broken"] = tmp_path / "broken.jpg"
    out["text"] = tmp_path / "notes.txt"
    out["folder"] = tmp_path / "folder"
    return out


@pytest.fixture
def panel(qtbot):
    w = shown(qtbot, PredictPanel())
    yield w
    w.shutdown()


@pytest.fixture
def loaded(qtbot, panel, checkpoint):
    with qtbot.waitSignal(panel.model_loaded, timeout=30000) as blocker:
        panel.load_model(checkpoint)
    assert blocker.args == [checkpoint]
    return panel




def assert_shows(panel, expected):
    """The headline and the bars show expected (a core Prediction), in order."""
    label, p = expected.top[0]
    if is_unsure(expected.top):
        assert panel.view.headline.text().startswith(f"Not sure: maybe {label} (")
    else:
        assert panel.view.headline.text().startswith(f"{label} — ")
    values = panel.view.chart.values()
    assert [n for n, _ in values] == [n for n, _ in expected.top]
    assert np.allclose([v for _, v in values], [v for _, v in expected.top], atol=1e-5)


def test_drop_image_shows_top_classes(qtbot, loaded, reference, photos, tmp_path):
    panel = loaded
    assert "small_cnn" in panel.model_bar.label.text() and "cat, dog" in panel.model_bar.label.text()
    with qtbot.waitSignal(panel.prediction_shown, timeout=10000) as blocker:
        assert send_drop(panel, [photos["one.png"]]).isAccepted()
    expected = reference.predict(str(photos["one.png"]), top_k=5)
    assert [n for n, _ in blocker.args[0].top] == [n for n, _ in expected.top]
    assert_shows(panel, expected)
    qtbot.waitUntil(panel.view.image_view.has_image, timeout=10000)   # decoded alongside, may come second
    assert panel.view.time_label.text() == f"answered in {panel.last_answer_ms:.0f} ms"
    print(f"\ndrop-to-result, 32 px PNG (first photo after loading): {panel.last_answer_ms:.1f} ms")

    with qtbot.waitSignal(panel.prediction_shown, timeout=10000):
        send_drop(panel, [photos["two.png"]])
    assert_shows(panel, reference.predict(str(photos["two.png"]), top_k=5))
    print(f"drop-to-result, 32 px PNG (warm): {panel.last_answer_ms:.1f} ms")

    # A camera-sized JPEG: decoding dominates.
    big = tmp_path / "camera.jpg"
    rng = np.random.default_rng(2)
    small = rng.integers(0, 256, (75, 100, 3), dtype=np.uint8)
    Image.fromarray(small).resize((4000, 3000), Image.Resampling.BICUBIC).save(big, quality=90)
    with qtbot.waitSignal(panel.prediction_shown, timeout=20000):
        send_drop(panel, [big])
    assert_shows(panel, reference.predict(str(big), top_k=5))
    print(f"drop-to-result, 4000x3000 JPEG (12 MP): {panel.last_answer_ms:.1f} ms")


def test_a_drop_proposed_as_a_move_is_taken_as_a_copy(qtbot, loaded, photos):
    """Explorer deletes what it is told was moved: dropped photos are only ever copied."""
    with qtbot.waitSignal(loaded.prediction_shown, timeout=10000):
        drop = send_drop(loaded, [photos["one.png"]], move=True)
    assert drop.isAccepted()
    assert drop.dropAction() == Qt.DropAction.CopyAction
    drop = send_drop(loaded, [photos["text"]], move=True)      # refused with a message: still no move
    assert drop.dropAction() == Qt.DropAction.CopyAction


def test_several_photos_can_be_stepped_through(qtbot, loaded, reference, photos):
    panel = loaded
    names = ["one.png", "two.png", "three.jpg"]
    with qtbot.waitSignals([panel.prediction_shown] * 3, timeout=10000):
        send_drop(panel, [photos[n] for n in names])
    assert panel.strip.isVisibleTo(panel)
    assert panel.strip.count() == 3
    assert panel.strip.currentRow() == 0
    for row, name in enumerate(names):
        panel.strip.setCurrentRow(row)
        expected = reference.predict(str(photos[name]), top_k=5)
        assert_shows(panel, expected)
        assert panel.view.name_label.text() == name
        qtbot.waitUntil(panel.view.image_view.has_image, timeout=10000)
        assert expected.top[0][0] in panel.strip.item(row).text()


def test_broken_file_shows_message(qtbot, loaded, photos):
    panel = loaded
    send_drop(panel, [photos["broken"]])
    qtbot.waitUntil(lambda: panel.view.headline.text().startswith("Could not read"), timeout=10000)
    assert "broken.jpg" in panel.view.headline.text()
    assert "damaged" in panel.view.headline.text() or "not an image" in panel.view.headline.text()
    assert panel.view.chart.values() == []
    assert panel.view.time_label.text() == ""


def test_folder_and_non_image_are_explained(qtbot, loaded, photos):
    panel = loaded
    send_drop(panel, [photos["folder"]])
    assert "“folder” is a folder" in panel.message_bar.text()
    send_drop(panel, [photos["text"]])
    assert "“notes.txt” is not a photo" in panel.message_bar.text()
    assert panel.strip.count() == 0
    # A mixed drop classifies the photos and still explains the rest.
    with qtbot.waitSignal(panel.prediction_shown, timeout=10000):
        send_drop(panel, [photos["text"], photos["one.png"]])
    assert "notes.txt" in panel.message_bar.text()
    assert panel.strip.count() == 1


def test_drop_before_model_explains_then_answers_when_loaded(qtbot, panel, checkpoint, reference, photos):
    send_drop(panel, [photos["one.png"]])
    assert panel.message_bar.text() == NO_MODEL
    qtbot.waitUntil(panel.view.image_view.has_image, timeout=10000)     # the photo is shown anyway
    assert panel.view.headline.text() == "No model loaded"
    with qtbot.waitSignals([panel.model_loaded, panel.prediction_shown], timeout=30000):
        panel.load_model(checkpoint)
    assert_shows(panel, reference.predict(str(photos["one.png"]), top_k=5))
    assert not panel.message_bar.isVisibleTo(panel)


def test_broken_file_without_model_is_explained(qtbot, panel, photos):
    send_drop(panel, [photos["broken"]])
    qtbot.waitUntil(lambda: panel.view.headline.text().startswith("Could not read"), timeout=10000)
    assert panel.view.image_view.text() == "This file could not be shown."


def test_paste_image_from_clipboard(qtbot, loaded, reference, photos):
    panel = loaded
    image = QImage(str(photos["two.png"]))
    assert not image.isNull()
    QGuiApplication.clipboard().setImage(image)
    with qtbot.waitSignal(panel.prediction_shown, timeout=10000):
        qtbot.keyClick(panel, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    assert panel.view.name_label.text() == "Pasted picture"
    assert_shows(panel, reference.predict(qimage_to_pil(image), top_k=5))
    # The clipboard round trip keeps the pixels exactly.
    assert np.array_equal(np.asarray(qimage_to_pil(image)), np.asarray(Image.open(photos["two.png"]).convert("RGB")))


def test_qimage_pil_round_trip():
    rng = np.random.default_rng(3)
    arr = rng.integers(0, 256, (7, 13, 3), dtype=np.uint8)     # odd width: padded scan lines
    back = qimage_to_pil(pil_to_qimage(Image.fromarray(arr)))
    assert np.array_equal(np.asarray(back), arr)
    rgba = QImage(5, 5, QImage.Format.Format_ARGB32)
    rgba.fill(Qt.GlobalColor.transparent)
    assert np.asarray(qimage_to_pil(rgba)).min() == 255             # alpha on white


def test_models_from_runs_and_bad_files(qtbot, panel, checkpoint, tmp_path):
    run = tmp_path / "20250101-120000-small_cnn"
    run.mkdir()
    panel.set_model_from_run(str(run))
    assert "has no saved model yet" in panel.message_bar.text()
    shutil.copy(checkpoint, run / "best.pt")
    with qtbot.waitSignal(panel.model_loaded, timeout=30000) as blocker:
        panel.set_model_from_run(str(run))
    assert blocker.args == [str(run / "best.pt")]
    assert panel.predictor is not None

    bad = tmp_path / "holiday.pt"
    bad.write_bytes(b"this is not a model")
    with qtbot.assertNotEmitted(panel.model_loaded):
        panel.load_model(str(bad))
        qtbot.waitUntil(lambda: panel.message_bar.isVisibleTo(panel), timeout=30000)
    assert "holiday.pt" in panel.message_bar.text()
    assert "Still using best.pt" in panel.message_bar.text()
    assert panel.model_path == str(run / "best.pt")


@pytest.mark.parametrize("probabilities, headline, caption", [
    ([0.48, 0.41, 0.11], "Not sure: maybe bird (48 %) or plane (41 %)", "Not sure: maybe bird"),
    ([0.55, 0.25, 0.20], "Not sure: maybe bird (55 %) or plane (25 %)", "Not sure: maybe bird"),
    ([0.90, 0.07, 0.03], "bird — 90.0 %", "bird 90.0 %"),
])
def test_a_near_tie_or_a_weak_answer_is_shown_as_unsure(qtbot, panel, photos, tmp_path,
                                                        probabilities, headline, caption):
    model = fixed_answer_model(tmp_path / "fixed.pt", probabilities)
    with qtbot.waitSignal(panel.model_loaded, timeout=30000):
        panel.load_model(model)
    with qtbot.waitSignal(panel.prediction_shown, timeout=10000) as blocker:
        send_drop(panel, [photos["one.png"], photos["two.png"]])
    assert [n for n, _ in blocker.args[0].top] == ["bird", "plane", "cat"]
    assert panel.view.headline.text() == headline
    unsure = headline.startswith("Not sure")
    assert panel.view.unsure is unsure and panel.view.chart.is_unsure() is unsure
    assert ("not sure" in panel.view.headline.toolTip()) is unsure
    qtbot.waitUntil(lambda: caption in panel.strip.item(0).text(), timeout=10000)

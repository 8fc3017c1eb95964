"""The Export… dialog: a failed check is shown as a failure with nothing kept, Cancel stops the
export, a place that cannot hold it is refused up front, and File > Export model… exports the
window's current model."""
from __future__ import annotations

import json
import os

import pytest

from gui.widgets.export_dialog import ExportDialog, open_export_dialog
from tests.gui.qt_show import shown

torch = pytest.importorskip("torch")

# torch 2.14 deprecates TorchScript on every call; the export chose it knowingly.
pytestmark = pytest.mark.filterwarnings(r"ignore:`torch\.jit\.\w+` is deprecated:FutureWarning")

CLASSES = ["bird", "plane"]


@pytest.fixture
def model_path(tmp_path):
    """best.pt in a run folder (its dataset gone: the check uses generated photos)."""
    from core.model.checkpoints import save_checkpoint
    from core.model.networks import ARCHITECTURES, build_model

    torch.manual_seed(0)
    net, _ = build_model("small_cnn", len(CLASSES), image_size=32)
    run = tmp_path / "runs" / "20260101-120000-small_cnn"
    run.mkdir(parents=True)
    (run / "run.json").write_text(json.dumps({"data_root": str(tmp_path / "gone")}), encoding="utf-8")
    spec = ARCHITECTURES["small_cnn"]
    save_checkpoint(run / "best.pt", net.eval(), arch="small_cnn", classes=CLASSES, image_size=32,
                    mean=spec.mean, std=spec.std, config={"epochs": 1}, metrics={"val_acc": 0.5})
    return run / "best.pt"


def leftovers(folder) -> list[str]:
    """Anything an export left in folder besides the model file and run.json."""
    return sorted(set(os.listdir(folder)) - {"best.pt", "run.json"})


def test_a_failed_parity_check_is_shown_as_a_failure_and_nothing_is_kept(qtbot, model_path, monkeypatch):
    from core.model.export import exporter
    from core.model.export.parity import TOLERANCE, ParityReport

    def broken_check(predictor, exported, photos, from_dataset, progress=None, should_stop=None):
        return ParityReport(ok=False, photos=len(photos), from_dataset=0, max_abs_diff=0.31,
                            top_class_agreement=(len(photos) - 2) / len(photos),
                            disagreements=("a.png", "b.png"), tolerance=TOLERANCE, batch_sizes=(8, 1),
                            reason="on 2 photos the exported model's top class differs from Fledge's "
                                   "(a.png, b.png).")

    monkeypatch.setattr(exporter, "check_parity", broken_check)
    dialog = shown(qtbot, ExportDialog(str(model_path)), 600, 400)
    with qtbot.waitSignal(dialog.exported, timeout=120000) as blocker:
        dialog.export_button.click()
    qtbot.waitUntil(lambda: not dialog.is_running(), timeout=10000)
    result = blocker.args[0]
    assert not result.ok and result.folder is None
    text = dialog.result_message()
    assert text.startswith("The export failed and was not kept.")
    assert "top class differs from Fledge's (a.png, b.png)" in text
    assert "differ by up to 31 percentage points (at most 0.01 is allowed)" in text
    assert not dialog.succeeded()
    assert not dialog.open_button.isVisible()                   # nothing to open: it is not usable
    assert dialog.export_button.text() == "&Export" and dialog.export_button.isEnabled()
    assert leftovers(model_path.parent) == []                  # no folder, no staging left


def test_cancel_stops_the_export_and_keeps_nothing(qtbot, model_path):
    dialog = shown(qtbot, ExportDialog(str(model_path)), 600, 400)
    with qtbot.waitSignal(dialog._runner.progress, timeout=60000):
        dialog.export_button.click()
    assert dialog.progress.cancel_button.isEnabled()
    with qtbot.waitSignal(dialog.exported, timeout=60000) as blocker:
        dialog.progress.cancel_button.click()
        assert dialog.progress.format() == "Stopping the export…"
    assert blocker.args[0].stopped
    qtbot.waitUntil(lambda: not dialog.is_running(), timeout=10000)
    assert dialog.result_message() == "The export was stopped. Nothing was kept."
    assert not dialog.open_button.isVisible() and not dialog.progress.isVisible()
    assert leftovers(model_path.parent) == []


def test_closing_the_dialog_during_an_export_stops_it(qtbot, model_path):
    dialog = shown(qtbot, ExportDialog(str(model_path)), 600, 400)
    with qtbot.waitSignal(dialog._runner.progress, timeout=60000):
        dialog.export_button.click()
    dialog.reject()
    assert dialog.isVisible()                  # until the export has really stopped
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=60000)
    assert not dialog.is_running() and dialog.export_result.stopped
    assert leftovers(model_path.parent) == []


def test_a_place_that_cannot_hold_the_export_is_refused_before_starting(qtbot, model_path, tmp_path):
    dialog = shown(qtbot, ExportDialog(str(model_path)), 600, 400)
    assert dialog.export_button.isEnabled()
    dialog.folder.set_path(str(tmp_path / "no" / "such" / "place"))
    assert "does not exist" in dialog.place.text()
    assert not dialog.export_button.isEnabled()
    dialog.folder.set_path(str(model_path))                    # a file, not a folder
    assert "is a file" in dialog.place.text() and not dialog.export_button.isEnabled()
    dialog.folder.set_path(str(tmp_path))
    assert dialog.export_button.isEnabled() and str(tmp_path) in dialog.place.text()
    dialog.set_format("torchscript")
    assert "best-torchscript" in dialog.place.text()


def test_file_menu_exports_the_window_model(qtbot, make_window, model_path, tmp_path):
    w = make_window(engine=False)
    assert not w.export_action.isEnabled()                     # no model yet
    with qtbot.waitSignal(w.models.changed, timeout=30000):
        w.models.load(str(model_path))
    assert w.export_action.isEnabled()
    w.export_action.trigger()
    dialog = w.export_dialog
    assert dialog is not None and dialog.isVisible() and dialog.model_path == str(model_path)
    out = tmp_path / "exports"
    out.mkdir()
    dialog.folder.set_path(str(out))
    dialog.set_format("torchscript")
    with qtbot.waitSignal(dialog.exported, timeout=120000) as blocker:
        dialog.export_button.click()
    qtbot.waitUntil(lambda: not dialog.is_running(), timeout=10000)
    result = blocker.args[0]
    assert result.ok, result.reason
    assert result.folder == str(out / "best-torchscript")
    assert {"model.pt", "parity.json", "predict.py"} <= set(os.listdir(result.folder))
    assert "made-up photos (the model's dataset is no longer there)" in dialog.result_message()
    assert dialog.open_button.isVisible()
    # Asking again while nothing runs gives a fresh dialog for the current model.
    again = open_export_dialog(w, w.models.path(), dialog)
    assert again is not dialog and again.model_path == str(model_path)
    again.reject()


def test_the_window_opens_an_exports_model_onnx_and_refuses_a_foreign_one(qtbot, model_path, tmp_path):
    from PIL import Image

    from core.model.export import export_model
    from core.model.predictor import Predictor
    from gui.model_store import MODEL_FILTER, ModelStore

    assert "*.onnx" in MODEL_FILTER
    result = export_model(model_path, "onnx")
    assert result.ok, result.reason
    onnx_file = os.path.join(result.folder, "model.onnx")
    store = ModelStore()
    with qtbot.waitSignal(store.changed, timeout=60000):
        store.load(onnx_file)
    predictor = store.predictor()
    assert predictor.classes == CLASSES and predictor.info["export"]["model_file"] == onnx_file
    photo = tmp_path / "photo.png"
    Image.new("RGB", (40, 30), (200, 30, 30)).save(photo)
    want = Predictor.from_checkpoint(model_path, device="cpu").predict(str(photo))
    assert predictor.predict(str(photo)).label == want.label
    lone = tmp_path / "elsewhere" / "model.onnx"            # without its export.json
    lone.parent.mkdir()
    lone.write_bytes(open(onnx_file, "rb").read())
    with qtbot.waitSignal(store.failed, timeout=60000) as failed:
        store.load(str(lone))
    assert "has no export.json beside it" in failed.args[1]
    assert store.predictor() is predictor                   # the current model stays
    store.shutdown()


def test_the_result_of_an_export_is_shown_whole(qtbot, model_path, monkeypatch):
    """The dialog grows with its texts: the folder, the check in words, nothing cut off."""
    from types import SimpleNamespace

    import gui.widgets.export_dialog as export_dialog
    from core.model.export.parity import TOLERANCE, ParityReport
    from tests.gui.qt_show import cut_texts

    folder = str(model_path.parent / "a-rather-long-name-for-the-export-folder-of-garden-birds-torchscript")
    parity = ParityReport(ok=True, photos=16, from_dataset=0, max_abs_diff=2e-7, top_class_agreement=1.0,
                          disagreements=(), tolerance=TOLERANCE, batch_sizes=(8, 1), reason="")
    done = SimpleNamespace(ok=True, stopped=False, folder=folder, parity=parity, reason="")
    monkeypatch.setattr(export_dialog, "_export_task", lambda *_args: lambda report, control: done)
    dialog = shown(qtbot, ExportDialog(str(model_path)), 520, 240)
    assert cut_texts(dialog) == []
    with qtbot.waitSignal(dialog.exported, timeout=10000):
        dialog.export_button.click()
    qtbot.waitUntil(lambda: not dialog.is_running(), timeout=10000)
    assert folder in dialog.result_message()
    assert cut_texts(dialog) == []

"""The main window: start-up, tabs and menus, the tab interface, drops, the one loaded model
carried from tab to tab and to the next start, and the warning when it does not fit the dataset."""
from __future__ import annotations

import os
import shutil
import sys

import pytest
from PIL import Image
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QLabel

from gui.panel import Panel
from tests.fakes import FakePredictor
from tests.gui.qt_drops import send_drop


class ExtraPanel(QLabel):
    """The least a tab must have (gui.panel.Panel)."""

    status_message = Signal(str)

    def shutdown(self, msecs: int = -1) -> None:
        pass


def test_gui_modules_import_without_torch():
    """The window's own modules stay light: torch is loaded after the window shows."""
    import subprocess

    code = ("import sys; import gui.app, gui.main_window; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**__import__('os').environ, "QT_QPA_PLATFORM": "offscreen"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_window_has_panels_menus_and_shortcuts(qtbot, make_window):
    w = make_window()
    assert [w.tabs.tabText(i).replace("&", "") for i in range(w.tabs.count())] == \
        ["Data", "Train", "Predict", "Runs", "Evaluate", "Sort", "Review"]
    assert w.open_dataset_action.shortcut() == QKeySequence("Ctrl+O")
    assert w.open_model_action.shortcut() == QKeySequence("Ctrl+M")
    assert w.quit_action.shortcut() == QKeySequence("Ctrl+Q")
    tp = w.training_panel
    assert tp.start_action.shortcut() == QKeySequence("Ctrl+Return")
    assert tp.stop_action.shortcut() == QKeySequence("Ctrl+.")
    menus = [a.text().replace("&", "") for a in w.menuBar().actions()]
    assert menus[:2] == ["File", "Training"]
    assert not w.windowIcon().isNull()
    # The engine filled the device list with what exists (the CPU at least).
    devices = [tp.form.device.itemData(i) for i in range(tp.form.device.count())]
    assert "cpu" in devices
    # Without a dataset Start is disabled and says why.
    assert not tp.start_button.isEnabled()
    assert "folder" in tp.start_hint.text().lower()
    # Panels can be added later, with a View entry of their own.
    idx = w.add_panel("extra", "E&xtra", ExtraPanel("x"))
    assert w.tabs.count() == 8 and idx == 7
    w.show_panel("extra")
    assert w.tabs.currentIndex() == 7
    assert "Extra" in [a.text() for a in w.view_menu.actions()]


def test_dropping_a_folder_opens_it_in_the_dataset_panel(qtbot, two_class_folder, make_window):
    w = make_window(engine=False)
    drop = send_drop(w, [two_class_folder], move=True)     # Explorer proposes a move ...
    assert drop.isAccepted() and drop.dropAction() == Qt.DropAction.CopyAction    # ... it is a copy
    qtbot.waitUntil(lambda: w.training_panel.dataset is not None, timeout=20000)
    assert sorted(w.training_panel.dataset.classes) == ["bar", "disc"]
    assert w.tabs.currentWidget() is w.dataset_panel
    w.dataset_panel.shutdown()



def test_every_tab_is_a_panel_whose_messages_reach_the_status_bar(qtbot, make_window):
    w = make_window(engine=False)
    assert len(w.panels) == 7
    for key, panel in w.panels.items():
        assert isinstance(panel, Panel), key
        panel.status_message.emit(f"a message from the {key} tab")
        assert w.statusBar().currentMessage() == f"a message from the {key} tab"
    with pytest.raises(TypeError, match="status_message"):
        w.add_panel("label", "Label", QLabel("not a tab"))
    assert "label" not in w.panels


def test_dropping_a_model_file_loads_it_once_for_every_tab(qtbot, make_window, tmp_path, monkeypatch):
    """Predict and the other tabs share the window's model: the file is read once, and the
    Review tab asks the very predictor the Predict tab shows."""
    from core.model.predictor import Predictor

    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("a.png", "b.png"):
        Image.new("RGB", (8, 8), (200, 10, 10)).save(photos / name)
    model_file = tmp_path / "pets.pt"
    model_file.write_bytes(b"a model file")
    loads = []

    def fake_load(cls, path, device="auto", photos=None):
        fake = FakePredictor(["cat", "dog"], {"a.png": ("cat", 0.9), "b.png": ("dog", 0.8)})
        fake.arch, fake.device = "small_cnn", "cpu"
        loads.append(fake)
        return fake
    monkeypatch.setattr(Predictor, "from_checkpoint", classmethod(fake_load))

    w = make_window(engine=False)
    with qtbot.waitSignal(w.predict_panel.model_loaded, timeout=20000):
        assert w.open_paths([str(model_file)])
    assert w.tabs.currentWidget() is w.predict_panel
    assert w.statusBar().currentMessage() == f"Model loaded: {model_file}"
    rv = w.review_panel
    assert rv.model.model_path() == str(model_file)      # the tabs without a model take it
    assert w.evaluate_panel.model.model_path() == w.sort_panel.model.model_path() == str(model_file)
    rv.open_folder(str(photos))
    qtbot.waitUntil(lambda: bool(loads) and len(loads[0].asked) == 2 and not rv.runner.is_running(),
                    timeout=20000)
    assert len(loads) == 1
    assert w.predict_panel.predictor is loads[0]
    assert sorted(loads[0].asked) == ["a.png", "b.png"]


@pytest.fixture
def fake_models(monkeypatch):
    """Predictor.from_checkpoint replaced: a model file's name says its classes
    ("circles-squares.pt"); returns the list of files read."""
    from core.model.predictor import Predictor

    read: list[str] = []

    def fake_load(cls, path, device="auto", photos=None):
        read.append(str(path))
        fake = FakePredictor(os.path.splitext(os.path.basename(str(path)))[0].split("-"))
        fake.arch, fake.device = "small_cnn", "cpu"
        return fake
    monkeypatch.setattr(Predictor, "from_checkpoint", classmethod(fake_load))
    return read


def model_file(folder, classes: str):
    path = folder / f"{classes}.pt"
    path.write_bytes(b"a model file")
    return str(path)


def open_dataset(qtbot, w, folder) -> None:
    with qtbot.waitSignal(w.dataset_panel.dataset_changed, timeout=20000):
        w.open_dataset(str(folder))


def use_model(qtbot, w, path: str) -> None:
    with qtbot.waitSignal(w.models.changed, timeout=20000):
        w.use_model(path)


def model_tabs(w):
    return (w.evaluate_panel, w.sort_panel, w.review_panel)


def test_a_model_that_does_not_fit_the_dataset_is_warned_about(qtbot, make_window, two_class_folder,
                                                               tmp_path, fake_models):
    w = make_window(engine=False)
    open_dataset(qtbot, w, two_class_folder)
    use_model(qtbot, w, model_file(tmp_path, "circles-squares"))
    warning = w.dataset_panel.model_warning.text()
    assert "circles-squares.pt does not fit" in warning
    assert "circles, squares" in warning and "bar, disc" in warning
    assert w.statusBar().currentMessage() == "The model circles-squares.pt does not fit this dataset: see the Data tab."
    use_model(qtbot, w, model_file(tmp_path, "disc-bar"))        # the right classes, in any order
    assert w.dataset_panel.model_warning.text() == ""
    assert "does not fit" not in w.statusBar().currentMessage()
    use_model(qtbot, w, model_file(tmp_path, "bar-disc-star"))   # one class too many
    assert "star" in w.dataset_panel.model_warning.text()


def test_the_status_line_about_an_unfit_model_does_not_stay(qtbot, make_window, two_class_folder,
                                                             tmp_path, fake_models, monkeypatch):
    w = make_window(engine=False)
    open_dataset(qtbot, w, two_class_folder)
    shown = []
    status = w.status
    monkeypatch.setattr(w, "status", lambda text, ms=10000: (shown.append((text, ms)), status(text, ms)))
    use_model(qtbot, w, model_file(tmp_path, "circles-squares"))
    (text, ms), = [s for s in shown if "does not fit" in s[0]]
    assert 0 < ms <= 30000                            # it goes by itself (0 would keep it for good)
    assert w.statusBar().currentMessage() == text
    with qtbot.waitSignal(w.models.loading):
        w.models.load(model_file(tmp_path, "bar-disc"))          # another model: the line goes at once
    assert w.statusBar().currentMessage() == ""
    assert "does not fit" in w.dataset_panel.model_warning.text()    # until the new one is known
    qtbot.waitUntil(lambda: not w.models.is_loading(), timeout=20000)


def test_a_model_chosen_in_any_tab_becomes_every_tabs_model(qtbot, make_window, tmp_path, fake_models):
    w = make_window(engine=False)
    first, second = model_file(tmp_path, "cat-dog"), model_file(tmp_path, "ant-bee")
    use_model(qtbot, w, first)
    assert all(tab.model.model_path() == first for tab in model_tabs(w))
    with qtbot.waitSignal(w.predict_panel.model_loaded, timeout=20000):
        w.sort_panel.model.set_model(second)            # picked in Sort's model list
    assert w.predict_panel.model_path == second
    assert all(tab.model.model_path() == second for tab in model_tabs(w))
    assert fake_models == [first, second]               # each file read once


def test_the_model_and_dataset_carry_over_to_the_next_start(qtbot, make_window, two_class_folder,
                                                            tmp_path, fake_models, no_dialogs):
    w = make_window(engine=False)
    open_dataset(qtbot, w, two_class_folder)
    model = model_file(tmp_path, "bar-disc")
    use_model(qtbot, w, model)
    w.close()

    again = make_window(engine=False)        # a restart: a new window on the same settings
    qtbot.waitUntil(lambda: again.training_panel.dataset is not None and again.models.path() == model,
                    timeout=20000)
    assert again.dataset_panel.dataset.root == str(two_class_folder)
    assert sorted(again.training_panel.dataset.classes) == ["bar", "disc"]
    assert again.predict_panel.predictor is not None
    assert all(tab.model.model_path() == model for tab in model_tabs(again))
    assert "Choose a model" not in again.sort_panel.model.combo.currentText()
    again.close()

    os.remove(model)                         # gone by the next start: nothing is reopened
    shutil.rmtree(two_class_folder)
    third = make_window(engine=False)
    assert not third.models.is_loading() and not third.dataset_panel.is_busy()
    assert third.dataset_panel.dataset is None and third.predict_panel.predictor is None
    assert not third.dataset_panel.message_bar.text() and not no_dialogs


def test_a_model_just_trained_is_every_tabs_model_now_and_after_a_restart(qtbot, make_window,
                                                                         two_class_folder):
    from core.training.config import TrainConfig

    w = make_window()
    open_dataset(qtbot, w, two_class_folder)
    tp = w.training_panel
    tp.form.apply_config(TrainConfig(recipe="custom", arch="small_cnn", image_size=32, batch_size=8, device="cpu",
                                     augment=False, schedule="none", epochs=1))
    with qtbot.waitSignal(w.models.changed, timeout=120000) as changed:
        assert tp.start()
    ended = tp.last_result
    assert ended is not None and ended.reason == "completed", ended
    assert changed.args == [ended.best_model]
    assert w.predict_panel.model_path == ended.best_model and w.predict_panel.predictor is not None
    assert "No model loaded" not in w.predict_panel.model_bar.label.text()
    for tab in model_tabs(w):
        assert tab.model.model_path() == ended.best_model
        assert tab.model.combo.currentText().endswith("· bar, disc")     # the model's classes, shown
    assert not w.dataset_panel.model_warning.text()
    w.close()

    again = make_window()
    qtbot.waitUntil(lambda: again.models.path() == ended.best_model
                    and again.training_panel.dataset is not None, timeout=60000)
    assert all(tab.model.model_path() == ended.best_model for tab in model_tabs(again))
    assert again.sort_panel.model.combo.currentText().endswith("· bar, disc")

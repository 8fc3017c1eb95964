"""The main window: start-up, tabs and menus, the tab interface, drops, the one loaded model."""
from __future__ import annotations

import sys

import pytest
from PIL import Image
from PySide6.QtCore import Signal
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
    send_drop(w, [two_class_folder])
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

    def fake_load(cls, path, device="auto"):
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

"""The window without training: start-up, menus, settings, plots, the job runner, drops."""
from __future__ import annotations

import math
import sys
import time

import numpy as np
from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QKeySequence

from core.training.config import TrainConfig
from core.errors import DatasetError
from core.training.events import BatchEnd, EpochEnd, FitEnded, FitStarted
from gui.widgets.plots import GrowingBuffer, PlotsPanel
from gui.widgets.training_progress import format_duration
from gui.panels.train import LearningRateBox, TrainingPanel, default_config
from gui.background import JobRunner, running_threads
from tests.gui.qt_drops import send_drop


# -- start-up -------------------------------------------------------------------------

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
    devices = [tp.device.itemData(i) for i in range(tp.device.count())]
    assert "cpu" in devices
    # Without a dataset Start is disabled and says why.
    assert not tp.start_button.isEnabled()
    assert "folder" in tp.start_hint.text().lower()
    # Panels can be added later (evaluation, review ...).
    from PySide6.QtWidgets import QLabel
    idx = w.add_panel("extra", "E&xtra", QLabel("x"))
    assert w.tabs.count() == 8 and idx == 7
    w.show_panel("extra")
    assert w.tabs.currentIndex() == 7


def test_every_hyperparameter_has_a_tooltip(qtbot):
    tp = TrainingPanel(QSettings())
    qtbot.addWidget(tp)
    for name in ("arch", "pretrained", "freeze", "optimizer", "lr", "batch_size", "epochs", "image_size",
                 "schedule", "augment", "device", "weight_decay", "momentum", "label_smoothing", "seed"):
        widget = getattr(tp, name)
        assert widget.toolTip().strip(), name
    # Each optimizer and schedule entry explains itself.
    for combo in (tp.optimizer, tp.schedule):
        for i in range(combo.count()):
            assert combo.itemData(i, Qt.ItemDataRole.ToolTipRole)


def test_defaults_small_cnn_on_cpu_and_resnet18_with_gpu():
    assert default_config([("cpu", "CPU")]).arch == "small_cnn"
    assert default_config([("cpu", "CPU")]).device == "cpu"
    gpu = default_config([("cuda:0", "GPU 0"), ("cpu", "CPU")])
    assert (gpu.arch, gpu.pretrained, gpu.device) == ("resnet18", True, "cuda:0")


def test_settings_persist_across_windows(qtbot, isolated_fledge, make_window):
    w1 = make_window()
    tp = w1.training_panel
    tp.apply_config(TrainConfig(arch="simplenet", optimizer="sgd", lr=0.02, batch_size=12, epochs=7,
                                image_size=48, schedule="onecycle", augment=False, device="cpu",
                                weight_decay=0.001, seed=5))
    w1.close()
    assert list(isolated_fledge.rglob("*.ini")), "settings went to the temporary folder"
    w2 = make_window()
    c = w2.training_panel.config()
    assert (c.arch, c.optimizer, c.lr, c.batch_size, c.epochs, c.image_size, c.schedule, c.augment,
            c.device, c.seed) == ("simplenet", "sgd", 0.02, 12, 7, 48, "onecycle", False, "cpu", 5)
    assert math.isclose(c.weight_decay, 0.001)


def test_invalid_values_are_explained_next_to_the_field(qtbot, tmp_path, monkeypatch, make_window):
    import core.model.networks

    monkeypatch.setattr(core.model.networks, "weights_status", lambda arch: "cached")   # no network here
    w = make_window()
    tp = w.training_panel
    tp.apply_config(TrainConfig(arch="inception_v3", image_size=32, device="cpu"))
    assert tp.errors["image_size"].isVisibleTo(tp)
    assert "75" in tp.errors["image_size"].text()
    assert "image_size" in tp.field_errors()
    tp.apply_config(TrainConfig(arch="resnet18", pretrained=True, weights_path=str(tmp_path / "gone.pth"),
                                device="cpu"))
    assert "weights file" in tp.errors["weights_path"].text()
    tp.set_weights_file("")
    tp.apply_config(TrainConfig(arch="small_cnn", device="cpu"))
    assert not tp.field_errors()
    # Ranges keep impossible numbers out.
    assert tp.batch_size.minimum() == 1 and tp.epochs.minimum() == 1
    box = LearningRateBox()
    box.lineEdit().setText("-3")
    box.interpretText()
    assert box.value() > 0
    box.setValue(1e-3)
    box.stepBy(1)
    assert math.isclose(box.value(), 2e-3)
    box.stepBy(-2)
    assert math.isclose(box.value(), 5e-4)


def test_pretrained_shows_weights_status(qtbot, monkeypatch, make_window):
    import core.model.networks

    monkeypatch.setattr(core.model.networks, "weights_status", lambda arch: "unavailable")
    w = make_window()
    tp = w.training_panel
    tp.apply_config(TrainConfig(arch="resnet18", pretrained=True, device="cpu"))
    qtbot.waitUntil(lambda: "no internet" in tp.weights_state.text(), timeout=10000)
    assert tp.freeze.isEnabled()
    tp.apply_config(TrainConfig(arch="small_cnn", device="cpu"))
    assert not tp.pretrained.isEnabled()
    assert "no pretrained" in tp.weights_state.text()
    assert not tp.freeze.isEnabled()


# -- plots ----------------------------------------------------------------------------

def test_growing_buffer_doubles():
    b = GrowingBuffer(capacity=4)
    for i in range(9):
        b.append(i, 2 * i)
    assert len(b) == 9 and b.capacity == 16
    assert b.x.tolist() == list(range(9)) and b.y[-1] == 16
    b.extend(np.arange(100), np.arange(100))
    assert len(b) == 109 and b.capacity == 128


def test_plots_take_events_with_readable_axes(qtbot):
    p = PlotsPanel()
    qtbot.addWidget(p)
    assert "lower is better" in p.loss_plot.getPlotItem().getAxis("left").labelText
    assert "higher is better" in p.acc_plot.getPlotItem().getAxis("left").labelText
    assert p.loss_plot.getPlotItem().getAxis("bottom").labelText == "Epoch"
    p.handle_event(FitStarted("r", ("a", "b"), 2, 0, 4, 8, "cpu", "fp32", "cached", "small"))
    for step in range(1, 5):
        p.handle_event(BatchEnd(step, 1, step, 4, 1.0 / step, 0.5, 100.0, 1.0))
    p.handle_event(EpochEnd(1, 2, 0.5, 0.6, 0.55, 0.75, 1e-3, 1.0, 100.0))
    qtbot.waitUntil(lambda: p.redraw_count > 0, timeout=2000)
    x, y = p.train_batch_loss.curve.getOriginalDataset()
    assert x.tolist() == [0.25, 0.5, 0.75, 1.0]
    assert p.val_acc.curve.getOriginalDataset()[1].tolist() == [75.0]   # percent
    count = p.redraw_count
    qtbot.wait(120)                     # nothing new: no redraw
    assert p.redraw_count == count


def test_plot_holds_100k_points_and_redraws_quickly(qtbot):
    p = PlotsPanel()
    qtbot.addWidget(p)
    p.resize(1000, 400)
    p.show()
    qtbot.waitExposed(p)
    n = 100_000
    xs = np.arange(1, n + 1) / 1000.0
    ys = np.exp(-xs / 30) + 0.05 * np.sin(xs * 37)
    t0 = time.perf_counter()
    for x, y in zip(xs[: n // 2], ys[: n // 2]):       # one at a time, as reports arrive
        p.add_batch(float(x), float(y))
    append_s = time.perf_counter() - t0
    p.add_batches(xs[n // 2:], ys[n // 2:])
    times = []
    for i in range(10):
        p.add_batch(n / 1000.0 + 1 + i, 0.1)
        t0 = time.perf_counter()
        p.redraw()
        p.loss_plot.grab()              # paint it: the cost a frame pays
        times.append(time.perf_counter() - t0)
    x, y = p.train_batch_loss.curve.getOriginalDataset()
    assert len(x) == n + 10 and len(y) == n + 10
    assert np.all(np.diff(x) > 0)
    shown, _ = p.train_batch_loss.curve.getData()
    print(f"\n[bench] plots: {n} points appended one by one in {append_s * 1000:.0f} ms; "
          f"redraw+paint with {n + 10} points: median {1000 * sorted(times)[5]:.1f} ms, "
          f"max {1000 * max(times):.1f} ms; {len(shown)} points drawn after downsampling")


# -- job runner -----------------------------------------------------------------------

def test_job_runner_reports_and_finishes(qtbot):
    r = JobRunner()
    seen = []
    r.progress.connect(seen.append)

    def job(report, control):
        for i in range(5):
            report(i)
        return "done"

    with qtbot.waitSignal(r.finished, timeout=10000) as blocker:
        r.start(job)
    assert blocker.args == ["done"]
    assert seen == [0, 1, 2, 3, 4]
    assert not r.is_running() and not running_threads()


def test_job_runner_turns_errors_into_messages(qtbot):
    r = JobRunner()

    def bad(report, control):
        raise DatasetError("The folder has no class subfolders. Put each class in its own folder.")

    with qtbot.waitSignal(r.failed, timeout=10000) as blocker:
        r.start(bad)
    assert "class subfolders" in blocker.args[0]

    def crash(report, control):
        raise ZeroDivisionError("division by zero")

    with qtbot.waitSignal(r.failed, timeout=10000) as blocker:
        r.start(crash)
    assert "ZeroDivisionError" in blocker.args[0] and "Try again" in blocker.args[0]
    assert not running_threads()


def test_job_runner_pause_and_stop_through_control(qtbot):
    from gui.background import JobPaused, JobResumed

    r = JobRunner()
    seen = []
    r.progress.connect(seen.append)

    def job(report, control):
        n = 0
        while not control.stop_requested:
            if control.paused:
                control.wait_while_paused()
            n += 1
            if n == 3:
                report("three")
            if n > 10_000_000:
                return "ran away"
        return n

    r.start(job)
    qtbot.waitUntil(lambda: "three" in seen, timeout=10000)
    r.pause()
    qtbot.waitUntil(lambda: any(isinstance(e, JobPaused) for e in seen), timeout=10000)
    r.resume()
    qtbot.waitUntil(lambda: any(isinstance(e, JobResumed) for e in seen), timeout=10000)
    with qtbot.waitSignal(r.finished, timeout=10000) as blocker:
        r.stop()
    assert isinstance(blocker.args[0], int)


# -- window behaviour -----------------------------------------------------------------

def test_dropping_a_folder_opens_it_in_the_dataset_panel(qtbot, two_class_folder, make_window):
    w = make_window(engine=False)
    send_drop(w, [two_class_folder])
    qtbot.waitUntil(lambda: w.training_panel.dataset is not None, timeout=20000)
    assert sorted(w.training_panel.dataset.classes) == ["bar", "disc"]
    assert w.tabs.currentWidget() is w.dataset_panel
    w.dataset_panel.shutdown()


def test_progress_text_formats():
    assert format_duration(42) == "42 s"
    assert format_duration(0.3) == "under a second"
    assert format_duration(200) == "3 min 20 s"
    assert format_duration(3 * 3600 + 300) == "3 h 05 min"
    assert format_duration(float("nan")) == "unknown"


def test_result_box_shows_a_failure_and_stays_usable(qtbot):
    tp = TrainingPanel(QSettings())
    qtbot.addWidget(tp)
    tp._end(FitEnded("failed", "The GPU ran out of memory with a batch size of 64. Choose a smaller batch size."))
    assert tp.result.isVisibleTo(tp)
    assert "smaller batch size" in tp.result.message.text()
    assert "failed" in tp.result.headline.text().lower()
    assert not tp.result.predict_button.isEnabled()

"""The live training plots: growing buffers, events on readable axes, many points drawn quickly."""
from __future__ import annotations

import time

import numpy as np
import pytest

from core.training.events import BatchEnd, EpochEnd, FitStarted
from gui.widgets.plots import GrowingBuffer, PlotsPanel
from tests.gui.qt_show import shown as show


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
    p = show(qtbot, PlotsPanel(), 1000, 400)
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


@pytest.fixture
def shown(qtbot):
    """A PlotsPanel on screen (offscreen), at a typical size."""
    return show(qtbot, PlotsPanel(), 900, 400)


def test_the_epoch_axis_ticks_whole_epochs_only(qtbot):
    p = PlotsPanel()
    qtbot.addWidget(p)
    for plot in (p.loss_plot, p.acc_plot):
        axis = plot.getPlotItem().getAxis("bottom")
        for low, high in ((0.0, 1.0), (1.0, 2.0), (0.0, 3.0), (0.0, 60.0)):
            ticks = [v for _spacing, values in axis.tickValues(low, high, 400) for v in values]
            assert ticks, (low, high)
            assert all(float(v).is_integer() for v in ticks), (low, high, ticks)


def test_a_new_run_starts_on_a_view_of_its_own_epochs(qtbot, shown):
    p = shown
    p.handle_event(FitStarted("r1", ("a", "b"), 10, 0, 4, 40, "cpu", "fp32", "cached", "small"))
    for epoch in range(1, 11):
        p.handle_event(EpochEnd(epoch, 10, 5.0 / epoch, 0.5, 6.0 / epoch, 0.6, 1e-3, 1.0, 100.0))
    p.redraw()
    p.loss_plot.getPlotItem().setRange(xRange=(6, 8), yRange=(0.5, 0.7))     # the user zoomed in
    p.handle_event(FitStarted("r2", ("a", "b"), 3, 0, 4, 12, "cpu", "fp32", "cached", "small"))
    p.handle_event(EpochEnd(1, 3, 0.04, 0.9, 0.05, 0.8, 1e-3, 1.0, 100.0))
    p.redraw()
    qtbot.wait(50)                      # pyqtgraph fits auto-ranged views on its next update
    for plot in (p.loss_plot, p.acc_plot):
        (x0, x1), _y = plot.getPlotItem().viewRange()
        assert x0 <= 0 and 3 <= x1 < 3.5
    (_x, (y0, y1)) = p.loss_plot.getPlotItem().viewRange()
    assert y0 <= 0.04 and 0.05 <= y1 < 0.5          # the new run's losses, not the old view's
    assert p.point_counts()["Validation"] == 1


def test_legends_sit_beside_the_curves_never_over_them(shown):
    import pyqtgraph as pg

    p = shown
    for plot in (p.loss_plot, p.acc_plot):
        assert not [i for i in plot.scene().items() if isinstance(i, pg.LegendItem)]
        assert plot.legend.isVisible()
        assert not plot.legend.geometry().intersects(plot.geometry())
    assert p.loss_plot.legend.names() == ["Training (each report)", "Training (per epoch)", "Validation"]
    assert p.acc_plot.legend.names() == ["Training", "Validation"]


def _palette(dark: bool):
    from PySide6.QtGui import QColor, QPalette

    pal = QPalette()
    text, window, base = ((225, 225, 225), (40, 40, 40), (25, 25, 25)) if dark else \
        ((15, 15, 15), (245, 245, 245), (255, 255, 255))
    for roles, rgb in (((QPalette.ColorRole.WindowText, QPalette.ColorRole.Text), text),
                       ((QPalette.ColorRole.Window,), window), ((QPalette.ColorRole.Base,), base)):
        for role in roles:
            pal.setColor(role, QColor(*rgb))
    return pal


def test_dark_then_light_theme_leaves_dark_legend_and_axis_text(shown):
    from PySide6.QtGui import QColor

    p = shown
    p.setPalette(_palette(dark=True))
    p.setPalette(_palette(dark=False))
    for plot in (p.loss_plot, p.acc_plot):
        image = plot.legend.grab().toImage()
        lightness = [QColor(image.pixel(x, y)).lightness()
                     for x in range(0, image.width(), 2) for y in range(image.height())]
        assert max(lightness) > 230 and min(lightness) < 80      # dark text on the light background
        axis = plot.getPlotItem().getAxis("left")
        assert axis.textPen().color().lightness() < 80
        assert plot.backgroundBrush().color().lightness() > 230

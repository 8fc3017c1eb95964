"""The live training plots: growing buffers, events on readable axes, many points drawn quickly."""
from __future__ import annotations

import time

import numpy as np

from core.training.events import BatchEnd, EpochEnd, FitStarted
from gui.widgets.plots import GrowingBuffer, PlotsPanel


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

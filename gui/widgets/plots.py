"""Live loss and accuracy plots.

Points are appended to numpy buffers that grow by doubling (appending is O(1)
on average and never copies the whole history per point); the curves are
redrawn by a ~30 Hz timer only when something changed, so a fast stream of
reports costs one redraw per frame, not one per report. pyqtgraph's peak
downsampling and clip-to-view keep a 100,000-point curve cheap to draw.

The epoch axis has whole-epoch ticks; each run starts on a view of its own epochs;
the legends sit under the plots (never over a curve) as Qt labels whose text follows
the palette, like the axes do.
"""
from __future__ import annotations

import html
import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, Qt, QTimer
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from core.training.events import BatchEnd, EpochEnd, FitStarted

REDRAW_MS = 33

# Series colours: mid-tones that read on light and dark backgrounds alike.
TRAIN_COLOUR = QColor(52, 132, 228)      # blue
VAL_COLOUR = QColor(236, 120, 36)        # orange



def side_by_side(parent: QWidget, plots) -> None:
    """Lay the plots out in a row, each with its legend under it, filling parent."""
    layout = QHBoxLayout(parent)
    layout.setContentsMargins(0, 0, 0, 0)
    for plot in plots:
        column = QVBoxLayout()
        column.setSpacing(2)
        column.addWidget(plot, 1)
        column.addWidget(plot.legend)
        layout.addLayout(column)

class GrowingBuffer:
    """x/y float64 arrays that double in capacity when full."""

    def __init__(self, capacity: int = 256) -> None:
        self._x = np.empty(capacity)
        self._y = np.empty(capacity)
        self._n = 0

    def __len__(self) -> int:
        return self._n

    @property
    def capacity(self) -> int:
        return len(self._x)

    def append(self, x: float, y: float) -> None:
        if self._n == len(self._x):
            self._grow(self._n * 2)
        self._x[self._n] = x
        self._y[self._n] = y
        self._n += 1

    def extend(self, xs, ys) -> None:
        xs = np.asarray(xs, dtype=float).ravel()
        ys = np.asarray(ys, dtype=float).ravel()
        need = self._n + len(xs)
        if need > len(self._x):
            cap = len(self._x)
            while cap < need:
                cap *= 2
            self._grow(cap)
        self._x[self._n:need] = xs
        self._y[self._n:need] = ys
        self._n = need

    def _grow(self, capacity: int) -> None:
        for name in ("_x", "_y"):
            old = getattr(self, name)
            new = np.empty(max(capacity, 1))
            new[: self._n] = old[: self._n]
            setattr(self, name, new)

    def clear(self) -> None:
        self._n = 0

    @property
    def x(self) -> np.ndarray:
        return self._x[: self._n]       # a view: no copy

    @property
    def y(self) -> np.ndarray:
        return self._y[: self._n]


class Series:
    """One curve and its buffer; `dirty` until the next redraw."""

    def __init__(self, curve: pg.PlotDataItem) -> None:
        self.curve = curve
        self.buffer = GrowingBuffer()
        self.dirty = False

    def append(self, x: float, y: float) -> None:
        if math.isfinite(x) and math.isfinite(y):
            self.buffer.append(x, y)
            self.dirty = True

    def extend(self, xs, ys) -> None:
        xs = np.asarray(xs, dtype=float)
        ys = np.asarray(ys, dtype=float)
        ok = np.isfinite(xs) & np.isfinite(ys)
        self.buffer.extend(xs[ok], ys[ok])
        self.dirty = True

    def clear(self) -> None:
        self.buffer.clear()
        self.dirty = True

    def redraw(self) -> None:
        # The buffer views stay valid until the next append that grows; pyqtgraph
        # keeps references, so hand it the views and let it copy what it draws.
        self.curve.setData(self.buffer.x, self.buffer.y, skipFiniteCheck=True)
        self.dirty = False


class EpochAxis(pg.AxisItem):
    """An axis of epochs: ticks at whole epochs only (1, 2, 3, or 5, 10, 15 for long runs)."""

    def tickSpacing(self, minVal, maxVal, size):
        levels = [(spacing, offset) for spacing, offset in super().tickSpacing(minVal, maxVal, size)
                  if spacing >= 1]
        return levels or [(1.0, 0.0)]


SYMBOL_MARKS = {None: "━━", "o": "━●━", "s": "━■━"}


class SeriesLegend(QLabel):
    """What each curve of a plot is: one line of coloured marks and names, beside the plot.

    A Qt label, so its text takes the palette's colour after any theme change."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setTextFormat(Qt.TextFormat.RichText)
        self.setWordWrap(True)
        self.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        font = self.font()
        font.setPointSizeF(font.pointSizeF() * 0.9)
        self.setFont(font)
        self._entries: list[tuple[str, QColor, str | None]] = []

    def add(self, name: str, colour: QColor, symbol: str | None) -> None:
        self._entries.append((name, QColor(colour), symbol))
        self.setText("&nbsp;&nbsp;&nbsp; ".join(
            f'<span style="color:{c.name()}">{SYMBOL_MARKS.get(sym, SYMBOL_MARKS[None])}</span>'
            f"&nbsp;{html.escape(n)}" for n, c, sym in self._entries))
        self.setAccessibleName("Legend: " + ", ".join(n for n, _c, _s in self._entries))

    def names(self) -> list[str]:
        return [n for n, _c, _s in self._entries]

    def clear(self) -> None:
        self._entries.clear()
        self.setText("")


class MetricPlot(pg.PlotWidget):
    """A plot with axis labels for non-experts, palette-aware colours and a legend of its own
    (``legend``, a widget for the layout to place under the plot)."""

    def __init__(self, title: str, y_label: str, parent: QWidget | None = None) -> None:
        self._styled = False             # changeEvent fires inside the base constructor
        super().__init__(parent=parent, axisItems={"bottom": EpochAxis(orientation="bottom")})
        self._title = title
        self.legend = SeriesLegend()
        item = self.getPlotItem()
        item.setDownsampling(auto=True, mode="peak")
        item.setClipToView(True)
        item.showGrid(x=True, y=True, alpha=0.25)
        item.setMenuEnabled(False)
        self.setLabel("bottom", "Epoch")
        self.setLabel("left", y_label)
        for name in ("left", "bottom"):
            axis = item.getAxis(name)
            # Plain numbers: "0.5", never "500 (x0.001)".
            axis.enableAutoSIPrefix(False)
            # Grid lines at the labelled ticks only: the translucent minor grid cost
            # most of each repaint, which a busy CPU turned into visible stutter.
            axis.setStyle(maxTickLevel=0)
        self.setMinimumSize(260, 180)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self._styled = True
        self.apply_palette()

    def apply_palette(self) -> None:
        pal = self.palette()
        base = pal.color(QPalette.ColorRole.Base)
        text = pal.color(QPalette.ColorRole.Text)
        self.setBackground(base)
        item = self.getPlotItem()
        for name in ("left", "bottom"):
            axis = item.getAxis(name)
            axis.setPen(pg.mkPen(text))
            axis.setTextPen(pg.mkPen(text))
        item.setTitle(self._title, color=text.name())

    def changeEvent(self, event: QEvent) -> None:
        if self._styled and event.type() in (QEvent.Type.PaletteChange,
                                             QEvent.Type.ApplicationPaletteChange):
            self.apply_palette()
        super().changeEvent(event)

    def add_series(self, name: str, colour: QColor, *, width: float = 2.0, alpha: int = 255,
                   symbol: str | None = None) -> Series:
        c = QColor(colour)
        c.setAlpha(alpha)
        curve = self.getPlotItem().plot(
            [], [], name=name, pen=pg.mkPen(c, width=width),
            symbol=symbol, symbolSize=7, symbolBrush=pg.mkBrush(colour), symbolPen=None,
        )
        self.legend.add(name, colour, symbol)
        return Series(curve)

    def show_epochs(self, epochs: int) -> None:
        """View epochs 0..epochs across, whatever an earlier run or the user's zoom left."""
        self.getPlotItem().setXRange(0, max(1, epochs), padding=0.02)


class PlotsPanel(QWidget):
    """Loss and accuracy of one run, live or reopened from disk."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.loss_plot = MetricPlot("Loss", "Loss (lower is better)")
        self.acc_plot = MetricPlot("Accuracy", "Accuracy % (higher is better)")
        self.train_batch_loss = self.loss_plot.add_series(
            "Training (each report)", TRAIN_COLOUR, width=1.0, alpha=110)
        self.train_loss = self.loss_plot.add_series("Training (per epoch)", TRAIN_COLOUR, symbol="o")
        self.val_loss = self.loss_plot.add_series("Validation", VAL_COLOUR, symbol="s")
        self.train_acc = self.acc_plot.add_series("Training", TRAIN_COLOUR, symbol="o")
        self.val_acc = self.acc_plot.add_series("Validation", VAL_COLOUR, symbol="s")
        self.series = [self.train_batch_loss, self.train_loss, self.val_loss,
                       self.train_acc, self.val_acc]
        self.reset_view(1)

        side_by_side(self, (self.loss_plot, self.acc_plot))

        self.redraw_count = 0
        self._timer = QTimer(self)
        self._timer.setInterval(REDRAW_MS)
        self._timer.timeout.connect(self.redraw)
        self._timer.start()

    # -- feeding -----------------------------------------------------------
    def clear(self) -> None:
        for s in self.series:
            s.clear()

    def reset_view(self, epochs: int) -> None:
        """A run of `epochs` starts (or is shown): its epochs across, losses fitted, 0-100 %."""
        for plot in (self.loss_plot, self.acc_plot):
            plot.show_epochs(epochs)
        self.loss_plot.getPlotItem().enableAutoRange(y=True)
        self.acc_plot.getPlotItem().setYRange(0, 100, padding=0.02)

    def add_batch(self, epoch_x: float, loss: float) -> None:
        """A training report; `epoch_x` is a fractional epoch (1.5 = mid-epoch 2)."""
        self.train_batch_loss.append(epoch_x, loss)

    def add_batches(self, epoch_xs, losses) -> None:
        self.train_batch_loss.extend(epoch_xs, losses)

    def add_epoch(self, epoch: int, train_loss: float, train_acc: float,
                  val_loss: float, val_acc: float) -> None:
        """One finished epoch; accuracies are fractions 0..1 (shown as percent)."""
        self.train_loss.append(epoch, train_loss)
        self.val_loss.append(epoch, val_loss)
        self.train_acc.append(epoch, 100.0 * train_acc)
        self.val_acc.append(epoch, 100.0 * val_acc)

    def handle_event(self, event: object) -> None:
        """Feed a core.training.events object; other kinds are ignored."""
        if isinstance(event, BatchEnd):
            spe = max(event.steps_per_epoch, 1)
            self.add_batch(event.epoch - 1 + event.epoch_step / spe, event.loss)
        elif isinstance(event, EpochEnd):
            self.add_epoch(event.epoch, event.train_loss, event.train_acc,
                           event.val_loss, event.val_acc)
        elif isinstance(event, FitStarted):
            if event.start_epoch == 0:
                self.clear()
            self.reset_view(event.epochs)

    def load_record(self, record) -> None:
        """Show a finished run: a core.training.trainer.RunRecord (epochs and batches rows)."""
        self.clear()
        batches = [(b.get("step"), b.get("epoch"), b.get("loss")) for b in record.batches]
        spe = _steps_per_epoch(record.batches)
        if batches:
            xs, ys = [], []
            for step, epoch, loss in batches:
                x = _fractional_epoch(step, epoch, spe)
                if x is not None and loss is not None:
                    xs.append(x)
                    ys.append(float(loss))
            self.add_batches(xs, ys)
        for row in record.epochs:
            try:
                self.add_epoch(int(row["epoch"]), float(row["train_loss"]), float(row["train_acc"]),
                               float(row["val_loss"]), float(row["val_acc"]))
            except (KeyError, TypeError, ValueError):
                continue                      # a damaged row: show the rest
        self.redraw()
        epochs = max([int(getattr(record.config, "epochs", 0) or 0)]
                     + [float(s.buffer.x.max(initial=0)) for s in self.series])
        self.reset_view(math.ceil(epochs))

    # -- drawing -------------------------------------------------------------
    def redraw(self) -> None:
        changed = False
        for s in self.series:
            if s.dirty:
                s.redraw()
                changed = True
        if changed:
            self.redraw_count += 1

    def point_counts(self) -> dict[str, int]:
        return {s.curve.name(): len(s.buffer) for s in self.series}


# Compared runs: Tableau's ten colours, mid-tones that read on light and dark backgrounds alike.
RUN_COLOURS = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#b07aa1", "#9c755f", "#ff9da7", "#76b7b2",
               "#edc948", "#bab0ac")


def run_colour(i: int, n: int) -> QColor:
    """The colour of the i-th of n compared runs: ten distinct ones, then hues round the wheel."""
    if n <= len(RUN_COLOURS):
        return QColor(RUN_COLOURS[i])
    return pg.intColor(i, hues=n, values=1, minValue=200, maxValue=200, sat=200)


class ComparePlots(QWidget):
    """Two or more runs overlaid: validation accuracy and validation loss by epoch, one colour
    per run and a legend naming each (core.training.runs.RunCurves; this widget only draws)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.acc_plot = MetricPlot("Validation accuracy", "Accuracy % (higher is better)")
        self.loss_plot = MetricPlot("Validation loss", "Loss (lower is better)")
        self.series: list[tuple[Series, Series]] = []
        side_by_side(self, (self.acc_plot, self.loss_plot))

    def clear(self) -> None:
        for plot in (self.acc_plot, self.loss_plot):
            plot.getPlotItem().clear()
            plot.legend.clear()
        self.series = []

    def show_runs(self, runs) -> None:
        """Draw these runs' curves (a sequence of RunCurves), replacing what was drawn."""
        self.clear()
        for i, run in enumerate(runs):
            colour = run_colour(i, len(runs))
            acc = self.acc_plot.add_series(run.name, colour, symbol="o")
            loss = self.loss_plot.add_series(run.name, colour, symbol="o")
            acc.extend(run.epochs, [100.0 * a for a in run.val_acc])
            loss.extend(run.epochs, run.val_loss)
            acc.redraw()
            loss.redraw()
            self.series.append((acc, loss))
        last = max((max(run.epochs, default=0) for run in runs), default=1)
        for plot in (self.acc_plot, self.loss_plot):
            plot.show_epochs(last)
        self.loss_plot.getPlotItem().enableAutoRange(y=True)
        self.acc_plot.getPlotItem().setYRange(0, 100, padding=0.02)

    def curve_count(self) -> int:
        """Runs drawn with at least one point (each has an accuracy and a loss curve)."""
        return sum(1 for acc, _loss in self.series if len(acc.buffer))


def _steps_per_epoch(rows: list[dict]) -> int | None:
    """Steps per epoch from batches.csv rows (global steps from 1).

    The last step of every epoch is reported, so a finished epoch e ends at step
    e * steps; an unfinished one gives less, so the largest ratio is the answer.
    """
    last: dict[int, int] = {}
    for r in rows:
        try:
            e, s = int(r["epoch"]), int(r["step"])
        except (KeyError, TypeError, ValueError):
            continue
        if e >= 1:
            last[e] = max(last.get(e, 0), s)
    ratios = [s / e for e, s in last.items()]
    return max(1, round(max(ratios))) if ratios else None


def _fractional_epoch(step, epoch, spe: int | None) -> float | None:
    try:
        step, epoch = int(step), int(epoch)
    except (TypeError, ValueError):
        return None
    if spe:
        return step / spe
    return float(epoch)

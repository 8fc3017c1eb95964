"""The learning-rate finder's curve: the loss against the learning rate (a log axis), with the
suggested rate marked."""
from __future__ import annotations

import math

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QSizePolicy, QWidget

from gui.widgets.plots import TRAIN_COLOUR, VAL_COLOUR, MetricPlot


class DecadeAxis(pg.AxisItem):
    """A log axis labelled at whole decades, only as many as fit side by side: a sweep spans
    eight decades, and in a narrow form their labels ran into each other."""

    LABEL_PX = 48                        # room for one label such as "1e-05"

    def tickValues(self, minVal, maxVal, size):  # noqa: N802, N803 - pyqtgraph's names
        if not self.logMode:
            return super().tickValues(minVal, maxVal, size)
        lo, hi = math.ceil(min(minVal, maxVal)), math.floor(max(minVal, maxVal))
        if hi < lo:                      # less than a decade shown: pyqtgraph's own ticks
            return super().tickValues(minVal, maxVal, size)
        step = max(1, math.ceil((hi - lo + 1) / max(1, int(size // self.LABEL_PX))))
        return [(float(step), [float(v) for v in range(lo, hi + 1) if v % step == 0])]


class LrPlot(MetricPlot):
    """show_curve(core.training.lr_finder.LrCurve); curve holds the sweep, marker the suggestion."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Learning-rate test", "Loss", parent)
        item = self.getPlotItem()
        item.setAxisItems({"bottom": DecadeAxis(orientation="bottom")})
        item.getAxis("bottom").enableAutoSIPrefix(False)
        item.getAxis("bottom").setStyle(maxTickLevel=0)
        self.setLabel("bottom", "Learning rate (log scale)")
        item.setLogMode(x=True, y=False)
        self.curve = self.plot([], [], pen=pg.mkPen(TRAIN_COLOUR, width=2))
        self.marker = self.plot([], [], pen=None, symbol="o", symbolSize=10,
                                symbolBrush=VAL_COLOUR, symbolPen=pg.mkPen(VAL_COLOUR))
        self.line = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen(VAL_COLOUR, style=Qt.PenStyle.DashLine))
        self.line.hide()
        self.addItem(self.line)
        self.legend.add("loss", TRAIN_COLOUR, None)
        self.legend.add("suggested rate", VAL_COLOUR, "o")
        self.setMinimumSize(220, 150)
        self.setMaximumHeight(220)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.apply_palette()

    def show_curve(self, curve) -> None:
        points = [(lr, loss) for lr, loss in zip(curve.lrs, curve.losses)
                  if lr > 0 and math.isfinite(loss)]
        self.curve.setData([p[0] for p in points], [p[1] for p in points])
        i = curve.suggestion_index
        if curve.suggestion is not None and i is not None and math.isfinite(curve.losses[i]):
            self.marker.setData([curve.lrs[i]], [curve.losses[i]])
            self.line.setPos(math.log10(curve.suggestion))   # the view's x is log10 of the rate
            self.line.show()
        else:
            self.marker.setData([], [])
            self.line.hide()
        self.getPlotItem().enableAutoRange()

    def clear_curve(self) -> None:
        self.curve.setData([], [])
        self.marker.setData([], [])
        self.line.hide()

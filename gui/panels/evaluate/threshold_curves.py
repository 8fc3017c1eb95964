"""One class's precision and recall against the review threshold (core.photos.thresholds.ClassCurve),
the precision its validation photos can promise (dashed), and the threshold chosen and the precision
wanted marked."""
from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QWidget

from gui.widgets.plots import TRAIN_COLOUR, VAL_COLOUR, MetricPlot

TARGET_COLOUR = QColor(128, 128, 128)


class ThresholdCurves(MetricPlot):
    """show_curve(curve, chosen threshold, target precision); both curves are steps, as the figures
    change only at a photo's confidence."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Precision and recall against the threshold", "Share", parent)
        item = self.getPlotItem()
        item.setAxisItems({"bottom": pg.AxisItem(orientation="bottom")})
        item.getAxis("bottom").enableAutoSIPrefix(False)
        item.getAxis("bottom").setStyle(maxTickLevel=0)
        self.setLabel("bottom", "Threshold: the model's certainty needed to sort a photo")
        self.precision_curve = self.plot([], [], pen=pg.mkPen(TRAIN_COLOUR, width=2), stepMode="center")
        self.recall_curve = self.plot([], [], pen=pg.mkPen(VAL_COLOUR, width=2), stepMode="center")
        self.promised_curve = self.plot([], [], pen=pg.mkPen(TRAIN_COLOUR, width=1, style=Qt.PenStyle.DashLine),
                                        stepMode="center")
        dashed = pg.mkPen(TARGET_COLOUR, style=Qt.PenStyle.DashLine)
        self.chosen_line = pg.InfiniteLine(angle=90, movable=False, pen=dashed)
        self.target_line = pg.InfiniteLine(angle=0, movable=False, pen=dashed)
        for line in (self.chosen_line, self.target_line):
            line.hide()
            self.addItem(line)
        self.legend.add("precision: share of its sorted photos that are right", TRAIN_COLOUR, None)
        self.legend.add("recall: share of the class's photos sorted into it", VAL_COLOUR, None)
        self.legend.add("promised: the least precision so few photos vouch for (dashed)", TRAIN_COLOUR, None)
        item.setXRange(0, 1, padding=0.02)
        item.setYRange(0, 1, padding=0.02)
        self.apply_palette()

    def show_curve(self, curve, threshold: float | None = None, target: float | None = None) -> None:
        # The figures at a photo's confidence hold from the confidence below it up to it (stepMode
        # "center": x holds the edges, one more than the values); above the surest photo nothing is
        # sorted, so recall is 0 up to 1.
        t = list(curve.thresholds)
        if len(t) < 2:                     # no photo named this class
            self.clear_curve()
            return
        edges = [0.0, *t[1:]]
        self.precision_curve.setData(edges, list(curve.precision[1:]))
        self.promised_curve.setData(edges, list(curve.promised()[1:]))
        recall = list(curve.recall[1:])
        if edges[-1] < 1.0:
            edges, recall = [*edges, 1.0], [*recall, 0.0]
        self.recall_curve.setData(edges, recall)
        self._mark(self.chosen_line, threshold)
        self._mark(self.target_line, target)

    def clear_curve(self) -> None:
        self.precision_curve.setData([], [])
        self.recall_curve.setData([], [])
        self.promised_curve.setData([], [])
        self._mark(self.chosen_line, None)
        self._mark(self.target_line, None)

    def plotted(self) -> dict[str, tuple[list, list]]:
        """The data drawn (for tests and accessibility): name -> (xs, ys)."""
        out = {}
        for name, c in (("precision", self.precision_curve), ("recall", self.recall_curve),
                        ("promised", self.promised_curve)):
            xs, ys = c.getData()
            out[name] = ([] if xs is None else list(xs), [] if ys is None else list(ys))
        return out

    @staticmethod
    def _mark(line, value: float | None) -> None:
        if value is None:
            line.hide()
        else:
            line.setPos(value)
            line.show()

"""“Show where the model looked”: a heat map over the photo on show, toggled with H.

    self.heat = HeatMapOverlay(self.view.image_view, self, DISPLAY_PX, models)
    layout.addWidget(self.heat.row)             # the check box, and a busy bar while a map is made
    self.heat.message.connect(self.message_bar.show_message)
    ...
    self.heat.show(key, source, photo, model)   # each time a photo is put on show

model is a loaded predictor, or the path of a model file that models (the window's
gui.model_store.ModelStore) loads on the worker thread. The heat map itself is
core.model.explain's, made on a gui.background TaskPool thread and kept per photo (a few
dozen), so going back to a photo, or switching the overlay off and on, is instant. Making one
takes seconds on a CPU: meanwhile a busy bar next to the box says it is being worked out. This
module only asks and shows: the image view displays the overlay instead of the photo while
the box is ticked.
"""
from __future__ import annotations

import threading
from collections import OrderedDict

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QImage, QKeySequence, QShortcut
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QProgressBar, QWidget

from gui.background import TaskPool, call
from gui.style import make_muted
from gui.widgets.thumbnails import pil_to_qimage

KEY = "H"
CACHED = 24                 # overlays kept, the most recent photos'
NO_MODEL = "Load a model first: the heat map shows where that model looked to give its answer."
WORKING = "Working out where the model looked…"


class _Mappers:
    """The core.model.explain.HeatMapper of the model last used (its own copy of the network),
    made and used on the worker thread only."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._for = None
        self._mapper = None

    def overlay(self, model, models, source, max_side: int) -> tuple[QImage, str]:
        from core.model.explain import HeatMapper

        predictor = models.predictor_for(model) if isinstance(model, str) else model
        with self._lock:
            if self._for is not predictor:
                self._mapper, self._for = None, None      # the old copy goes before a new one is made
                self._mapper, self._for = HeatMapper(predictor), predictor
            mapper = self._mapper
        heat = mapper.explain(source, max_side=max_side)
        return pil_to_qimage(heat.overlay), heat.class_name


class HeatMapOverlay(QObject):
    """The check box and the H key that put the model's heat map over an ImageView's photo."""

    message = Signal(str, str)          # text, kind ("info", "warning") for the panel's message bar
    overlay_shown = Signal(object)      # the key of the photo whose heat map is now on show

    def __init__(self, image_view, key_owner: QWidget, max_side: int, models=None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent or key_owner)
        self.image_view = image_view
        self.models = models
        self.max_side = int(max_side)
        self.row = QWidget(key_owner)        # what a panel lays out: the box, and the busy bar
        self.box = QCheckBox(f"Show where the model looked ({KEY})", self.row)
        self.box.setToolTip("Colour the parts of the photo that made the model give its answer: red "
                            "counted most, blue least. Dimmed edges were cut off and never seen.")
        self.box.toggled.connect(self._toggled)
        self.busy = QProgressBar(self.row)
        self.busy.setRange(0, 0)
        self.busy.setTextVisible(False)
        self.busy.setMaximumWidth(90)
        self.busy.setAccessibleName(WORKING)
        self.busy_label = QLabel(WORKING, self.row)
        make_muted(self.busy_label)
        row = QHBoxLayout(self.row)
        row.setContentsMargins(0, 0, 0, 0)
        for w in (self.box, self.busy, self.busy_label):
            row.addWidget(w)
        row.addStretch(1)
        self.busy.hide()
        self.busy_label.hide()
        self.shortcut = QShortcut(QKeySequence(KEY), key_owner)
        self.shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.shortcut.activated.connect(self.box.toggle)
        self._pool = TaskPool(self, threads=1)
        self._pool.finished.connect(self._on_made)
        self._pool.failed.connect(self._on_failed)
        self._mappers = _Mappers()
        self._cache: OrderedDict[object, QImage] = OrderedDict()
        self._model = None              # the model the cached overlays are of
        self._pending: dict[int, object] = {}     # token -> photo key
        self._on_show: tuple | None = None        # (key, source, photo QImage, model)
        self.showing = False            # the overlay (not the plain photo) is on the view

    # -- the panel's calls ----------------------------------------------------------------
    def show(self, key, source, photo: QImage | None, model) -> None:
        """The photo now on show (photo: as the view shows it; None while it loads), and the
        model to explain (a predictor, a model file path, or None/'' for none)."""
        if key is not None and model is not self._model and model != self._model:
            self.forget()
            self._model = model
        self._on_show = (key, source, photo, model) if key is not None else None
        self.showing = False
        if self.box.isChecked():
            self._put_on()
        self._show_busy()

    def forget(self) -> None:
        """Drop every overlay made and asked for (another model, or the photos were cleared)."""
        self._pool.cancel()
        self._pending.clear()
        self._cache.clear()
        self._show_busy()

    def is_busy(self) -> bool:
        """Whether the heat map of the photo on show is being made (the busy bar is up)."""
        return self.box.isChecked() and self._on_show is not None and self._on_show[0] in self._pending.values()

    def shutdown(self, msecs: int = 10000) -> None:
        self.forget()
        self._pool.shutdown(msecs)

    # -- showing -----------------------------------------------------------------------------
    def _put_on(self) -> None:
        if self._on_show is None:
            return
        key, source, photo, model = self._on_show
        if not model:
            self.message.emit(NO_MODEL, "info")
            return
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            self._display(key, cached)
        elif photo is not None and key not in self._pending.values():
            token = self._pool.submit(call(self._mappers.overlay, model, self.models, source, self.max_side))
            self._pending[token] = key
        self._show_busy()

    def _show_busy(self) -> None:
        busy = self.is_busy()
        self.busy.setVisible(busy)
        self.busy_label.setVisible(busy)
        if busy:
            self.image_view.setCursor(Qt.CursorShape.BusyCursor)
        else:
            self.image_view.unsetCursor()

    def _display(self, key, overlay: QImage) -> None:
        self.image_view.set_image(overlay)
        self.showing = True
        self.overlay_shown.emit(key)

    def _toggled(self, on: bool) -> None:
        if on:
            self._put_on()
        elif self._on_show is not None and self.showing:
            self.image_view.set_image(self._on_show[2])
            self.showing = False
        self._show_busy()

    def _on_made(self, token: int, made: tuple) -> None:
        key = self._pending.pop(token, None)
        if key is None:
            return
        self._cache[key] = made[0]
        while len(self._cache) > CACHED:
            self._cache.popitem(last=False)
        if self.box.isChecked() and self._on_show is not None and self._on_show[0] == key:
            self._display(key, made[0])
        self._show_busy()

    def _on_failed(self, token: int, text: str) -> None:
        key = self._pending.pop(token, None)
        if key is not None and self._on_show is not None and self._on_show[0] == key:
            self.box.setChecked(False)
            self.message.emit(text, "warning")
        self._show_busy()

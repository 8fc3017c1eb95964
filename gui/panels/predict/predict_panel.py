"""The predict panel: drop photos on it and see what the model thinks they show.

The model is the window's (gui.model_store, loaded in the background and shared with
the other tabs). Each photo is decoded and classified by gui.background tasks -- a
large JPEG takes longer to decode than the UI may stall -- and the answer comes back
as a queued signal. The panel holds no model math: core.model.predictor.Predictor
does it all.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QGuiApplication, QImage, QKeySequence, QPixmap
from PySide6.QtWidgets import QSplitter, QVBoxLayout, QWidget

from core.wording import answer_text
from gui.background import TaskPool, call
from gui.drops import accept_copy, local_paths, photos_among
from gui.model_store import ModelStore
from gui.settings import PREDICT_MODEL_FOLDER, Settings
from gui.widgets.heatmap import HeatMapOverlay
from gui.widgets.message_bar import MessageBar
from gui.panels.predict.model_bar import ModelBar
from gui.panels.predict.photo_actions import PhotoActions
from gui.widgets.photo_strip import PhotoStrip
from gui.widgets.prediction_view import DISPLAY_PX, PredictionView, fit_for_display
from gui.widgets.thumbnails import ThumbnailLoader, qimage_to_pil

TOP_K = 5
ICON_PX = 40                # list icons, logical pixels
MAX_PER_DROP = 200

NO_MODEL = ("No model is loaded yet. Train one in the Train tab, pick a finished run in the "
            "Runs tab, or click “Open model…” to choose a saved model file (.pt). Your photos "
            "will be classified as soon as a model is loaded.")
EMPTY_HINT = "Drop photos here\n\nor press Ctrl+V to paste a picture, or click “Open photos…”"


@dataclass
class _Entry:
    name: str
    source: object                      # a file path, or the pasted picture as a PIL image
    eid: int = 0                        # key in PredictPanel._entries and the strip
    from_file: bool = True
    started: float = field(default_factory=time.perf_counter)
    state: str = "waiting"              # waiting | no-model | done | error
    image: QImage | None = None         # kept for the photo on show only (memory)
    view_pending: bool = False
    display_error: str | None = None    # why the picture could not be shown
    prediction: object | None = None
    error: str | None = None
    ms: float | None = None


class PredictPanel(QWidget):
    """Drop, paste or open photos; see the model's top classes for each."""

    model_loaded = Signal(str)              # path of the checkpoint now in use
    prediction_shown = Signal(object)       # core.model.predictor.Prediction of a finished photo
    status_message = Signal(str)

    def __init__(self, models: ModelStore | None = None, parent: QWidget | None = None, *,
                 settings: Settings | None = None) -> None:
        super().__init__(parent)
        self.settings = settings if settings is not None else Settings()   # the window's
        self.setAcceptDrops(True)
        self.setMinimumSize(520, 380)
        self.models = models if models is not None else ModelStore(self)
        self.models.loading.connect(self._on_model_loading)
        self.models.changed.connect(self._on_model_changed)
        self.models.failed.connect(self._on_model_failed)
        self._entries: dict[int, _Entry] = {}
        self._next_id = 1
        self._jobs: dict[int, int] = {}     # task token -> entry id
        self.last_answer_ms: float | None = None

        self._answers = TaskPool(self, threads=1)       # one photo at a time, in order
        self._answers.finished.connect(self._on_answer)
        self._answers.failed.connect(self._on_answer_failed)
        # Photos are decoded for showing in parallel with classifying them: at screen size
        # for the one on show, at icon size for the list. No cache: a re-drop re-reads the file.
        self._view = ThumbnailLoader(self, threads=1, cache_size=0)
        self._view.loaded.connect(self._on_view_loaded)
        self._view.failed.connect(self._on_display_failed)
        self._icons = ThumbnailLoader(self, threads=1, cache_size=0)
        self._icons.loaded.connect(lambda eid, _path, image: self.strip.set_icon(eid, image))
        self._icons.failed.connect(self._on_display_failed)

        self._build_ui()
        self._show_entry(None)

    # -- public interface -------------------------------------------------------------

    @property
    def predictor(self):
        return self.models.predictor()

    @property
    def model_path(self) -> str:
        return self.models.path()

    def load_model(self, path: str) -> None:
        """Make a model file the window's model; model_loaded(path) fires when it is ready."""
        self.models.load(path)

    def set_model_from_run(self, run_dir: str) -> None:
        """Use the best model of a training run (run_dir/best.pt)."""
        path = os.path.join(os.fspath(run_dir), "best.pt")
        if not os.path.isfile(path):
            self.message_bar.show_message(
                f"The run {os.path.basename(os.path.normpath(run_dir))} has no saved model yet "
                "(best.pt is missing). Wait until it has finished an epoch, or choose another run.")
            return
        self.load_model(path)

    def predict_files(self, paths: list[str]) -> None:
        """Classify photo files as if they had been dropped."""
        self._accept_paths([os.fspath(p) for p in paths], time.perf_counter())

    def predict_image(self, image: QImage, name: str = "Pasted picture") -> None:
        """Classify an in-memory picture (from the clipboard or a drag from another app)."""
        if image is None or image.isNull():
            self.message_bar.show_message("The pasted picture is empty.", "warning")
            return
        self.message_bar.clear()
        entry = _Entry(name=name, source=qimage_to_pil(image), from_file=False,
                       image=fit_for_display(QImage(image)))      # a pasted picture has no file to re-read
        self._add_entries([entry])

    def paste(self) -> None:
        """Ctrl+V: classify the picture or the photo files on the clipboard."""
        t0 = time.perf_counter()
        mime = QGuiApplication.clipboard().mimeData()
        paths, _ = local_paths(mime)
        if paths:
            self._accept_paths(paths, t0)
        elif mime is not None and mime.hasImage():
            self.predict_image(QGuiApplication.clipboard().image())
        else:
            self.message_bar.show_message(
                "The clipboard holds no picture. Copy a photo (or photo files), then press Ctrl+V here.",
                "info")

    def current_prediction(self):
        entry = self._current_entry()
        return entry.prediction if entry else None

    def clear(self) -> None:
        self._view.cancel()
        self._icons.cancel()
        self._answers.cancel()
        self.heat.forget()
        self._jobs.clear()
        self._entries.clear()
        self.strip.clear()
        self.message_bar.clear()
        self._show_entry(None)

    def shutdown(self, msecs: int = 10000) -> None:
        """Finish background work; call before the application quits."""
        self._view.shutdown(msecs)
        self._icons.shutdown(msecs)
        self._answers.shutdown(msecs)
        self.heat.shutdown(msecs)
        if self.models.parent() is self:          # a store of its own, not the window's
            self.models.shutdown(msecs)

    # -- layout -----------------------------------------------------------------------

    def _build_ui(self) -> None:
        self.model_bar = ModelBar(self.models, self.settings, PREDICT_MODEL_FOLDER, self)

        self.actions = PhotoActions(self.settings, self)
        self.actions.photos_chosen.connect(self.predict_files)
        self.actions.paste_clicked.connect(self.paste)
        self.actions.clear_clicked.connect(self.clear)

        self.message_bar = MessageBar(self)

        self.strip = PhotoStrip(ICON_PX, self)
        self.strip.setMinimumWidth(160)
        self.strip.setToolTip("Your photos; use the arrow keys to step through them")
        self.strip.setAccessibleName("Photos")
        self.strip.current_changed.connect(self._current_changed)
        self.view = PredictionView(self)
        self.heat = HeatMapOverlay(self.view.image_view, self, DISPLAY_PX)
        self.heat.message.connect(self.message_bar.show_message)

        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.addWidget(self.strip)
        self.splitter.addWidget(self.view)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.setSizes([180, 520])
        self.strip.hide()

        lay = QVBoxLayout(self)
        lay.addWidget(self.model_bar)
        lay.addWidget(self.actions)
        lay.addWidget(self.message_bar)
        lay.addWidget(self.splitter, 1)
        lay.addWidget(self.heat.row)

    # -- drag, drop, paste ------------------------------------------------------------

    def dragEnterEvent(self, event) -> None:
        mime = event.mimeData()
        if mime.hasUrls() or mime.hasImage():
            accept_copy(event)
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:
        accept_copy(event)

    def dropEvent(self, event) -> None:
        t0 = time.perf_counter()
        mime = event.mimeData()
        paths, remote = local_paths(mime)
        if not (paths or mime.hasImage() or remote):
            event.ignore()
        elif not accept_copy(event):
            return
        elif paths:
            self._accept_paths(paths, t0)
        elif mime.hasImage():
            data = mime.imageData()
            image = data.toImage() if isinstance(data, QPixmap) else QImage(data)
            self.predict_image(image, "Dropped picture")
        else:
            self.message_bar.show_message(
                "Only photos saved on this computer can be classified. Save the picture first, "
                "then drop the file here.", "warning")

    def keyPressEvent(self, event) -> None:
        if event.matches(QKeySequence.StandardKey.Paste):
            self.paste()
            event.accept()
            return
        super().keyPressEvent(event)

    def _accept_paths(self, paths: list[str], t0: float) -> None:
        photos, problems = photos_among(paths, MAX_PER_DROP)
        if problems:
            self.message_bar.show_message("\n".join(problems), "warning")
        else:
            self.message_bar.clear()
        entries = [_Entry(name=os.path.basename(os.path.normpath(p)) or p, source=p, started=t0)
                   for p in photos]
        if entries:
            self._add_entries(entries)

    # -- classifying ------------------------------------------------------------------

    def _add_entries(self, entries: list[_Entry]) -> None:
        for entry in entries:
            entry.eid = eid = self._next_id
            self._next_id += 1
            self._entries[eid] = entry
            self.strip.add(eid, entry.name, entry.source if entry.from_file else entry.name)
            if entry.from_file:
                self._icons.request(eid, entry.source, self.strip.icon_device_px())
            else:
                self.strip.set_icon(eid, entry.image)
            self._submit(entry)
        self.strip.setVisible(self.strip.count() > 1)
        self.strip.select(entries[0].eid)
        self._show_entry(entries[0])
        if self.predictor is None and not self.models.is_loading():
            self.message_bar.show_message(NO_MODEL, "info")

    def _submit(self, entry: _Entry) -> None:
        entry.prediction = None
        entry.ms = None
        predictor = self.predictor
        if predictor is None:
            # Classified when a model arrives (see _on_model_changed).
            entry.state = "waiting" if self.models.is_loading() else "no-model"
            if entry.state == "no-model" and entry.display_error:
                entry.state, entry.error = "error", entry.display_error
            return
        token = self._answers.submit(call(predictor.predict, entry.source, top_k=TOP_K))
        self._jobs[token] = entry.eid
        entry.state = "waiting"

    def _on_answer(self, token: int, prediction) -> None:
        entry = self._entries.get(self._jobs.pop(token, None))
        if entry is None:
            return      # removed meanwhile
        entry.prediction = prediction
        if prediction.error:
            entry.state, entry.error = "error", prediction.error
        else:
            entry.state, entry.error = "done", None
            entry.ms = (time.perf_counter() - entry.started) * 1000.0
            self.last_answer_ms = entry.ms
        self._refresh_item(entry)
        if self.strip.current_key() == entry.eid:
            self._show_entry(entry)
        if entry.state == "done":
            self.prediction_shown.emit(prediction)

    def _on_answer_failed(self, token: int, message: str) -> None:
        entry = self._entries.get(self._jobs.pop(token, None))
        if entry is None:
            return
        entry.state, entry.error = "error", message
        self._refresh_item(entry)
        if self.strip.current_key() == entry.eid:
            self._show_entry(entry)

    def _on_view_loaded(self, eid: int, path: str, image: QImage) -> None:
        entry = self._entries.get(eid)
        if entry is None:
            return
        entry.view_pending = False
        if self.strip.current_key() == eid:
            entry.image = image
            self._show_entry(entry)

    def _on_display_failed(self, eid: int, path: str, reason: str) -> None:
        entry = self._entries.get(eid)
        if entry is None:
            return
        entry.view_pending = False
        entry.display_error = reason
        if entry.state == "no-model":   # no prediction will report it
            entry.state, entry.error = "error", reason
            self._refresh_item(entry)
        if self.strip.current_key() == eid:
            self._show_entry(entry)

    # -- the window's model -------------------------------------------------------------

    def _on_model_loading(self, path: str) -> None:
        self.message_bar.clear()        # an earlier complaint no longer applies

    def _on_model_changed(self, path: str) -> None:
        if self.message_bar.text() == NO_MODEL:
            self.message_bar.clear()
        # Answers from the previous model are stale: classify everything again
        # (files already known to be unreadable excepted).
        self._answers.cancel()
        self._jobs.clear()
        now = time.perf_counter()
        for entry in self._entries.values():
            if entry.state != "error":
                entry.started = now
                self._submit(entry)
        self._show_entry(self._current_entry())
        self.status_message.emit(f"Model loaded: {path}")
        self.model_loaded.emit(path)

    def _on_model_failed(self, path: str, message: str) -> None:
        if self.predictor is not None:
            message += f" Still using {os.path.basename(self.model_path)}."
        self.message_bar.show_message(message)
        # Photos that waited for this model stay shown without a prediction.
        if self.predictor is None:
            for entry in self._entries.values():
                if entry.state == "waiting":
                    self._submit(entry)
                    self._refresh_item(entry)
            self._show_entry(self._current_entry())

    # -- showing ----------------------------------------------------------------------

    def _current_entry(self) -> _Entry | None:
        return self._entries.get(self.strip.current_key())

    def _refresh_item(self, entry: _Entry) -> None:
        if entry.state == "done" and entry.prediction is not None and entry.prediction.top:
            self.strip.set_caption(entry.eid, f"{entry.name}\n{answer_text(entry.prediction.top, ' ')}")
        elif entry.state == "error":
            self.strip.set_caption(entry.eid, f"{entry.name}\ncould not be read")
            self.strip.mark_unreadable(entry.eid)
        else:
            self.strip.set_caption(entry.eid, entry.name)

    def _current_changed(self, key, previous) -> None:
        old = self._entries.get(previous)
        if old is not None and old.from_file:
            old.image = None            # only the photo on show is kept at full size
            old.view_pending = False
        self._show_entry(self._entries.get(key))

    def _show_entry(self, entry: _Entry | None) -> None:
        if entry is None:
            self.view.show_nothing(EMPTY_HINT)
            self.heat.show(None, None, None, None)
            return
        if entry.image is None and entry.from_file and not entry.display_error \
                and not entry.view_pending:
            entry.view_pending = True
            self._view.cancel()         # only the photo on show matters
            self._view.request(entry.eid, entry.source, DISPLAY_PX)
        unreadable = entry.display_error or entry.state == "error"
        self.view.show_photo(entry.name, entry.source if entry.from_file else "", entry.image,
                             "This file could not be shown." if unreadable else "Loading…")
        top = entry.prediction.top if entry.prediction is not None else None
        self.view.show_outcome(entry.state, top, entry.error, entry.ms, entry.name,
                               self.predictor is not None)
        self.heat.show(entry.eid, entry.source, entry.image, self.predictor)

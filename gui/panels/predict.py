"""The predict panel: drop photos on it and see what the model thinks they show.

The model is loaded once in the background (importing torch takes seconds) and kept
between drops. Each photo is decoded and classified on a worker thread -- a large
JPEG takes longer to decode than the UI may stall -- and the answer comes back as a
queued signal. The panel holds no model math: core.model.predictor.Predictor does it all.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

from PySide6.QtCore import QSettings, QSize, Qt, Signal
from PySide6.QtGui import QFont, QGuiApplication, QIcon, QImage, QKeySequence, QPalette, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from core.errors import FledgeError
from core.data.imageio import IMAGE_EXTENSIONS, is_image_name
from core.training.runs import runs_root

from gui.widgets.bar_chart import BarChart
from core.wording import percent, plural
from gui.background import BackgroundRunner
from gui.drops import local_paths
from gui.widgets.message_bar import MessageBar
from gui.widgets.thumbnails import ThumbnailLoader, pixmap_for, qimage_to_pil

TOP_K = 5
DISPLAY_PX = 1024           # the photo on show is decoded at most this big
ICON_PX = 40                # list icons, logical pixels
MAX_PER_DROP = 200
LAST_DIR_KEY = "predict/last_model_dir"
LAST_PHOTO_DIR_KEY = "predict/last_photo_dir"

NO_MODEL = ("No model is loaded yet. Train one in the Train tab, pick a finished run in the "
            "Runs tab, or click “Open model…” to choose a saved model file (.pt). Your photos "
            "will be classified as soon as a model is loaded.")
READABLE = "JPEG, PNG, GIF, BMP, TIFF or WebP"


def _load_predictor(path: str):
    """Worker thread: import torch and build the predictor (seconds on first use)."""
    from core.model.predictor import Predictor

    return Predictor.from_checkpoint(path)


def _shrink(image: QImage) -> QImage:
    if max(image.width(), image.height()) <= DISPLAY_PX:
        return image
    return image.scaled(DISPLAY_PX, DISPLAY_PX, Qt.AspectRatioMode.KeepAspectRatio,
                        Qt.TransformationMode.SmoothTransformation)


def _classify(predictor, source: str | None, pasted: QImage | None, top_k: int):
    """Worker thread: a core Prediction for a file or a pasted picture.

    Files are decoded by the predictor itself (exactly as `fledge predict` would);
    the picture shown is decoded at the same time by the display loader.
    """
    if source is not None:
        return predictor.predict(source, top_k=top_k)
    return predictor.predict(qimage_to_pil(pasted), top_k=top_k)


@dataclass
class _Entry:
    name: str
    source: str | None                  # a file path, or None for a pasted picture
    eid: int = 0                        # key in PredictPanel._entries
    pasted: QImage | None = None
    started: float = field(default_factory=time.perf_counter)
    state: str = "waiting"              # waiting | no-model | done | error
    image: QImage | None = None         # kept for the photo on show only (memory)
    view_pending: bool = False
    has_icon: bool = False
    display_error: str | None = None    # why the picture could not be shown
    prediction: object | None = None
    error: str | None = None
    ms: float | None = None


class _ImageView(QLabel):
    """Shows one picture scaled to fit, sharp on high-DPI screens; doubles as the drop zone."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._pixmap: QPixmap | None = None
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setWordWrap(True)
        self.setMinimumSize(240, 180)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setStyleSheet("QLabel { border: 2px dashed palette(mid); border-radius: 6px; }")

    def set_image(self, image: QImage | None, text: str = "") -> None:
        self._pixmap = QPixmap.fromImage(image) if image is not None and not image.isNull() else None
        if self._pixmap is None:
            self.setPixmap(QPixmap())
            self.setText(text)
        else:
            self.setText("")
            self._rescale()

    def has_image(self) -> bool:
        return self._pixmap is not None

    def _rescale(self) -> None:
        if self._pixmap is None:
            return
        dpr = self.devicePixelRatioF()
        box = self.contentsRect().size() * dpr
        pm = self._pixmap
        if pm.width() > box.width() or pm.height() > box.height():
            pm = pm.scaled(box, Qt.AspectRatioMode.KeepAspectRatio,
                           Qt.TransformationMode.SmoothTransformation)
        pm = QPixmap(pm)
        pm.setDevicePixelRatio(dpr)
        super().setPixmap(pm)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._rescale()

    def minimumSizeHint(self) -> QSize:
        return QSize(240, 180)       # never let a large picture force the window wider

    def sizeHint(self) -> QSize:
        return QSize(480, 360)


class PredictPanel(QWidget):
    """Drop, paste or open photos; see the model's top classes for each."""

    model_loaded = Signal(str)              # path of the checkpoint now in use
    prediction_shown = Signal(object)       # core.model.predictor.Prediction of a finished photo

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAcceptDrops(True)
        self.setMinimumSize(520, 380)
        self._predictor = None
        self._model_path = ""
        self._model_generation = 0
        self._load_token = 0
        self._loading_path = ""
        self._entries: dict[int, _Entry] = {}
        self._items: dict[int, QListWidgetItem] = {}
        self._next_id = 1
        self._jobs: dict[int, tuple[int, int]] = {}     # token -> (entry id, model generation)
        self.last_answer_ms: float | None = None

        self._model_runner = BackgroundRunner(self, threads=1)
        self._model_runner.done.connect(self._on_model_loaded)
        self._model_runner.failed.connect(self._on_model_failed)
        self._predict_runner = BackgroundRunner(self, threads=1)   # one photo at a time, in order
        self._predict_runner.done.connect(self._on_answer)
        self._predict_runner.failed.connect(self._on_answer_failed)
        # Photos are decoded for showing in parallel with classifying them: at screen size
        # for the one on show, at icon size for the list. No cache: a re-drop re-reads the file.
        self._view = ThumbnailLoader(self, threads=1, cache_size=0)
        self._view.loaded.connect(self._on_view_loaded)
        self._view.failed.connect(self._on_display_failed)
        self._icons = ThumbnailLoader(self, threads=1, cache_size=0)
        self._icons.loaded.connect(self._on_icon_loaded)
        self._icons.failed.connect(self._on_display_failed)

        self._build_ui()
        self._update_model_label()
        self._show_entry(None)

    # -- public interface -------------------------------------------------------------

    @property
    def predictor(self):
        return self._predictor

    @property
    def model_path(self) -> str:
        return self._model_path

    def load_model(self, path: str) -> None:
        """Load a checkpoint in the background; model_loaded(path) fires when ready."""
        path = os.path.abspath(os.fspath(path))
        self._loading_path = path
        self.message_bar.clear()        # an earlier complaint no longer applies
        self.model_busy.show()
        self.model_label.setText(f"Loading {os.path.basename(path)}…")
        self._load_token = self._model_runner.submit(_load_predictor, path)

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
        entry = _Entry(name=name, source=None, pasted=QImage(image), started=time.perf_counter())
        self._add_entries([entry])

    def paste(self) -> None:
        """Ctrl+V: classify the picture or the photo files on the clipboard."""
        t0 = time.perf_counter()
        mime = QGuiApplication.clipboard().mimeData()
        paths, _ = local_paths(mime)
        if paths:
            self._accept_paths(paths, t0)
        elif mime is not None and mime.hasImage():
            image = QGuiApplication.clipboard().image()
            self.predict_image(image)
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
        self._predict_runner.clear()
        self._jobs.clear()
        self._entries.clear()
        self._items.clear()
        self.strip.clear()
        self.message_bar.clear()
        self._show_entry(None)

    def shutdown(self, msecs: int = 10000) -> None:
        """Finish background work; call before the application quits."""
        self._view.shutdown(msecs)
        self._icons.shutdown(msecs)
        self._predict_runner.clear()
        self._predict_runner.wait(msecs)
        self._model_runner.wait(msecs)

    # -- layout -----------------------------------------------------------------------

    def _build_ui(self) -> None:
        self.open_model_button = QPushButton("Open &model…", self)
        self.open_model_button.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_DialogOpenButton))
        self.open_model_button.setToolTip("Choose a saved Fledge model file (.pt) to classify photos with")
        self.open_model_button.clicked.connect(self._choose_model)
        self.model_busy = QProgressBar(self)
        self.model_busy.setRange(0, 0)
        self.model_busy.setMaximumWidth(120)
        self.model_busy.setTextVisible(False)
        self.model_busy.setAccessibleName("Loading model")
        self.model_busy.hide()
        self.model_label = QLabel(self)
        self.model_label.setWordWrap(True)
        self.model_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        top = QHBoxLayout()
        top.addWidget(self.open_model_button)
        top.addWidget(self.model_busy)
        top.addWidget(self.model_label, 1)

        self.open_photos_button = QPushButton("Open &photos…", self)
        self.open_photos_button.setToolTip("Choose one or more photos to classify")
        self.open_photos_button.clicked.connect(self._choose_photos)
        self.paste_button = QPushButton("P&aste", self)
        self.paste_button.setToolTip("Classify the picture on the clipboard (Ctrl+V)")
        self.paste_button.clicked.connect(self.paste)
        self.clear_button = QPushButton("C&lear", self)
        self.clear_button.setToolTip("Remove all photos from this list")
        self.clear_button.clicked.connect(self.clear)
        actions = QHBoxLayout()
        actions.addWidget(self.open_photos_button)
        actions.addWidget(self.paste_button)
        actions.addStretch(1)
        actions.addWidget(self.clear_button)

        self.message_bar = MessageBar(self)

        self.strip = QListWidget(self)
        self.strip.setIconSize(QSize(ICON_PX, ICON_PX))
        self.strip.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.strip.setMinimumWidth(160)
        self.strip.setToolTip("Your photos; use the arrow keys to step through them")
        self.strip.setAccessibleName("Photos")
        self.strip.currentItemChanged.connect(self._current_changed)

        self.image_view = _ImageView(self)
        self.image_view.setToolTip("Drop photos here")
        self.image_view.setAccessibleName("Photo")
        self.name_label = QLabel(self)
        self.name_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.headline = QLabel(self)
        big = QFont(self.headline.font())
        big.setPointSizeF(big.pointSizeF() * 1.5)
        big.setBold(True)
        self.headline.setFont(big)
        self.headline.setWordWrap(True)
        self.headline.setAccessibleName("Prediction")
        self.chart = BarChart(self)
        self.time_label = QLabel(self)
        small = QFont(self.time_label.font())
        small.setPointSizeF(max(6.0, small.pointSizeF() * 0.85))
        self.time_label.setFont(small)
        self.time_label.setForegroundRole(QPalette.ColorRole.PlaceholderText)

        result = QWidget(self)
        rlay = QVBoxLayout(result)
        rlay.setContentsMargins(0, 0, 0, 0)
        rlay.addWidget(self.image_view, 1)
        rlay.addWidget(self.name_label)
        rlay.addWidget(self.headline)
        rlay.addWidget(self.chart)
        rlay.addWidget(self.time_label)

        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.addWidget(self.strip)
        self.splitter.addWidget(result)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.setSizes([180, 520])
        self.strip.hide()

        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addLayout(actions)
        lay.addWidget(self.message_bar)
        lay.addWidget(self.splitter, 1)

    def _update_model_label(self) -> None:
        p = self._predictor
        if p is None:
            self.model_label.setText("No model loaded")
            self.model_label.setToolTip("")
            return
        classes = ", ".join(p.classes[:6]) + (", …" if len(p.classes) > 6 else "")
        self.model_label.setText(
            f"Model: {os.path.basename(self._model_path)} — {p.arch}, "
            f"{plural(len(p.classes), 'class', 'classes')} ({classes}), on {p.device}")
        self.model_label.setToolTip(self._model_path)

    # -- choosing files ---------------------------------------------------------------

    def _choose_model(self) -> None:
        settings = QSettings()
        start = str(settings.value(LAST_DIR_KEY, "") or "")
        if not start:
            start = os.path.dirname(self._model_path) if self._model_path else runs_root()
        path, _ = QFileDialog.getOpenFileName(
            self, "Open a Fledge model", start, "Fledge models (*.pt);;All files (*)")
        if path:
            settings.setValue(LAST_DIR_KEY, os.path.dirname(path))
            self.load_model(path)

    def _choose_photos(self) -> None:
        settings = QSettings()
        start = str(settings.value(LAST_PHOTO_DIR_KEY, "") or "")
        patterns = " ".join(f"*{e}" for e in sorted(IMAGE_EXTENSIONS))
        paths, _ = QFileDialog.getOpenFileNames(
            self, "Choose photos to classify", start, f"Photos ({patterns});;All files (*)")
        if paths:
            settings.setValue(LAST_PHOTO_DIR_KEY, os.path.dirname(paths[0]))
            self.predict_files(paths)

    # -- drag, drop, paste ------------------------------------------------------------

    def dragEnterEvent(self, event) -> None:
        mime = event.mimeData()
        if mime.hasUrls() or mime.hasImage():
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:
        event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        t0 = time.perf_counter()
        mime = event.mimeData()
        paths, remote = local_paths(mime)
        if paths:
            event.acceptProposedAction()
            self._accept_paths(paths, t0)
        elif mime.hasImage():
            event.acceptProposedAction()
            data = mime.imageData()
            image = data.toImage() if isinstance(data, QPixmap) else QImage(data)
            self.predict_image(image, "Dropped picture")
        elif remote:
            event.acceptProposedAction()
            self.message_bar.show_message(
                "Only photos saved on this computer can be classified. Save the picture first, "
                "then drop the file here.", "warning")
        else:
            event.ignore()

    def keyPressEvent(self, event) -> None:
        if event.matches(QKeySequence.StandardKey.Paste):
            self.paste()
            event.accept()
            return
        super().keyPressEvent(event)

    def _accept_paths(self, paths: list[str], t0: float) -> None:
        problems: list[str] = []
        entries: list[_Entry] = []
        for p in paths:
            name = os.path.basename(os.path.normpath(p)) or p
            if os.path.isdir(p):
                problems.append(f"“{name}” is a folder. Drop the photo files themselves "
                                "(open the folder, select the photos, then drag them here).")
            elif not os.path.exists(p):
                problems.append(f"“{name}” no longer exists.")
            elif not is_image_name(p):
                problems.append(f"“{name}” is not a photo Fledge can read; use {READABLE} files.")
            else:
                entries.append(_Entry(name=name, source=p, started=t0))
        shown = problems[:3]
        if len(problems) > 3:
            shown.append(f"…and {len(problems) - 3} more items that are not photos.")
        if len(entries) > MAX_PER_DROP:
            shown.append(f"Only the first {MAX_PER_DROP} of {len(entries)} photos are shown here.")
            entries = entries[:MAX_PER_DROP]
        if shown:
            self.message_bar.show_message("\n".join(shown), "warning")
        else:
            self.message_bar.clear()
        if entries:
            self._add_entries(entries)

    # -- classifying ------------------------------------------------------------------

    def _add_entries(self, entries: list[_Entry]) -> None:
        first_item = None
        for entry in entries:
            eid = self._next_id
            self._next_id += 1
            entry.eid = eid
            self._entries[eid] = entry
            item = QListWidgetItem(entry.name)
            item.setData(Qt.ItemDataRole.UserRole, eid)
            item.setToolTip(entry.source or entry.name)
            self.strip.addItem(item)
            self._items[eid] = item
            first_item = first_item or item
            if entry.source is not None:
                self._icons.request(eid, entry.source, round(ICON_PX * self.devicePixelRatioF()))
            else:
                entry.image = _shrink(entry.pasted)     # pasted pictures have no file to re-read
                self._set_icon(eid, entry.image)
            self._submit(eid, entry)
        self.strip.setVisible(self.strip.count() > 1)
        if first_item is not None:
            self.strip.setCurrentItem(first_item)
            self._show_entry(self._entry_of(first_item))
        if self._predictor is None and not self._load_token:
            self.message_bar.show_message(NO_MODEL, "info")

    def _submit(self, eid: int, entry: _Entry) -> None:
        entry.prediction = None
        entry.ms = None
        if self._predictor is None:
            # Classified when a model arrives (see _on_model_loaded).
            entry.state = "waiting" if self._load_token else "no-model"
            if entry.state == "no-model" and entry.display_error:
                entry.state, entry.error = "error", entry.display_error
            return
        token = self._predict_runner.submit(_classify, self._predictor, entry.source,
                                            entry.pasted, TOP_K)
        self._jobs[token] = (eid, self._model_generation)
        entry.state = "waiting"

    def _on_answer(self, token: int, prediction) -> None:
        job = self._jobs.pop(token, None)
        if job is None:
            return
        eid, generation = job
        entry = self._entries.get(eid)
        if entry is None or generation != self._model_generation:
            return      # removed, or a newer model's answer is on its way
        entry.prediction = prediction
        if prediction.error:
            entry.state, entry.error = "error", prediction.error
        else:
            entry.state, entry.error = "done", None
            entry.ms = (time.perf_counter() - entry.started) * 1000.0
            self.last_answer_ms = entry.ms
        self._refresh_item(eid)
        if self._current_id() == eid:
            self._show_entry(entry)
        if entry.state == "done":
            self.prediction_shown.emit(prediction)

    def _on_view_loaded(self, eid: int, path: str, image: QImage) -> None:
        entry = self._entries.get(eid)
        if entry is None:
            return
        entry.view_pending = False
        if self._current_id() == eid:
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
            self._refresh_item(eid)
        if self._current_id() == eid:
            self._show_entry(entry)

    def _on_answer_failed(self, token: int, exc) -> None:
        job = self._jobs.pop(token, None)
        if job is None:
            return
        eid, generation = job
        entry = self._entries.get(eid)
        if entry is None or generation != self._model_generation:
            return
        entry.state = "error"
        entry.error = str(exc) if isinstance(exc, FledgeError) else f"classifying failed ({exc})"
        self._refresh_item(eid)
        if self._current_id() == eid:
            self._show_entry(entry)

    def _on_model_loaded(self, token: int, predictor) -> None:
        if token != self._load_token:
            return
        self._load_token = 0
        self.model_busy.hide()
        self._predictor = predictor
        self._model_path = self._loading_path
        self._model_generation += 1
        self._update_model_label()
        if self.message_bar.text() == NO_MODEL:
            self.message_bar.clear()
        # Answers from the previous model are stale: classify everything again
        # (files already known to be unreadable excepted).
        self._predict_runner.clear()
        self._jobs.clear()
        now = time.perf_counter()
        for eid, entry in self._entries.items():
            if entry.state != "error":
                entry.started = now
                self._submit(eid, entry)
        self._show_entry(self._current_entry())
        self.model_loaded.emit(self._model_path)

    def _on_model_failed(self, token: int, exc) -> None:
        if token != self._load_token:
            return
        self._load_token = 0
        self.model_busy.hide()
        self._update_model_label()
        name = os.path.basename(self._loading_path)
        if isinstance(exc, FledgeError):
            text = str(exc)
        else:
            text = f"The model file {name} could not be loaded ({type(exc).__name__}: {exc})."
        if self._predictor is not None:
            text += f" Still using {os.path.basename(self._model_path)}."
        self.message_bar.show_message(text)
        # Photos that waited for this model stay shown without a prediction.
        if self._predictor is None:
            for eid, entry in self._entries.items():
                if entry.state == "waiting":
                    self._submit(eid, entry)
                    self._refresh_item(eid)
            self._show_entry(self._current_entry())

    # -- showing ----------------------------------------------------------------------

    def _entry_of(self, item: QListWidgetItem | None) -> _Entry | None:
        if item is None:
            return None
        return self._entries.get(item.data(Qt.ItemDataRole.UserRole))

    def _current_id(self) -> int | None:
        item = self.strip.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item is not None else None

    def _current_entry(self) -> _Entry | None:
        return self._entry_of(self.strip.currentItem())

    def _refresh_item(self, eid: int) -> None:
        item, entry = self._items.get(eid), self._entries.get(eid)
        if item is None or entry is None:
            return
        if entry.state == "done" and entry.prediction is not None and entry.prediction.top:
            label, p = entry.prediction.top[0]
            item.setText(f"{entry.name}\n{label} {percent(p)}")
        elif entry.state == "error":
            item.setText(f"{entry.name}\ncould not be read")
            if not entry.has_icon:
                item.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning))
        else:
            item.setText(entry.name)

    def _on_icon_loaded(self, eid: int, path: str, image: QImage) -> None:
        self._set_icon(eid, image)

    def _set_icon(self, eid: int, image: QImage) -> None:
        item, entry = self._items.get(eid), self._entries.get(eid)
        if item is None or entry is None:
            return
        dpr = self.devicePixelRatioF()
        side = round(ICON_PX * dpr)
        if max(image.width(), image.height()) > side:
            image = image.scaled(side, side, Qt.AspectRatioMode.KeepAspectRatio,
                                 Qt.TransformationMode.SmoothTransformation)
        item.setIcon(QIcon(pixmap_for(image, dpr)))
        entry.has_icon = True

    def _current_changed(self, current: QListWidgetItem | None, previous: QListWidgetItem | None) -> None:
        old = self._entry_of(previous)
        if old is not None and old.source is not None:
            old.image = None            # only the photo on show is kept at full size
            old.view_pending = False
        self._show_entry(self._entry_of(current))

    def _show_entry(self, entry: _Entry | None) -> None:
        if entry is None:
            self.image_view.set_image(None, "Drop photos here\n\nor press Ctrl+V to paste a picture, "
                                      "or click “Open photos…”")
            self.name_label.clear()
            self.headline.clear()
            self.chart.clear()
            self.time_label.clear()
            return
        if entry.image is None and entry.source is not None and not entry.display_error \
                and not entry.view_pending:
            entry.view_pending = True
            self._view.cancel()         # only the photo on show matters
            self._view.request(entry.eid, entry.source, DISPLAY_PX)
        unreadable = entry.display_error or entry.state == "error"
        self.image_view.set_image(entry.image, "This file could not be shown." if unreadable else "Loading…")
        self.name_label.setText(entry.name)
        self.name_label.setToolTip(entry.source or "")
        self.headline.setToolTip("")
        self.chart.clear()
        self.time_label.clear()
        if entry.state == "error":
            self.headline.setText(f"Could not read “{entry.name}”: {entry.error}")
            self.headline.setToolTip(entry.error or "")
        elif entry.state == "done" and entry.prediction is not None:
            top = entry.prediction.top
            if top:
                self.headline.setText(f"{top[0][0]} — {percent(top[0][1])}")
            self.chart.set_values(top)
        elif entry.state == "no-model":
            self.headline.setText("No model loaded")
        elif self._predictor is None:
            self.headline.setText("Waiting for the model to load…")
        else:
            self.headline.setText("Classifying…")
        self._show_time(entry)

    def _show_time(self, entry: _Entry) -> None:
        if entry.ms is not None and entry.state == "done":
            self.time_label.setText(f"answered in {entry.ms:.0f} ms")
        else:
            self.time_label.clear()

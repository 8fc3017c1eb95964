"""The dataset panel: pick a folder of photos and see what Fledge found in it.

The panel only shows and chooses; all reading of the folder is core.data.dataset's job
(and writing the sample set core.data.sample_data's). Scanning runs as a
gui.background task (a big folder takes seconds) and thumbnails are decoded by
gui.panels.data.thumbnail_grid in the background, so the window never freezes.
"""
from __future__ import annotations

import os

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QComboBox, QFileDialog, QHBoxLayout, QLabel, QProgressBar, QPushButton,
                               QSizePolicy, QSplitter, QStyle, QVBoxLayout, QWidget)

from core.data.dataset import Dataset, scan_dataset
from core.data.sample_data import ensure_sample_data
from core.data.split import SPLITS
from core.progress import JobProgress, Throttled
from core.files.user_data import user_data_dir
from core.wording import plural
from gui.background import Task, TaskPool
from gui.drops import accept_copy, local_paths
from gui.widgets.class_counts_table import ClassCountsTable
from gui.panels.data.duplicate_leak_bar import DuplicateLeakBar
from gui.widgets.message_bar import MessageBar
from gui.panels.data.recent_folders import RecentFolders
from gui.panels.data.skipped_files_dialog import SkippedFilesDialog
from gui.panels.data.start_labelling_box import StartLabellingBox
from gui.panels.data.thumbnail_grid import ThumbnailGrid
from gui.settings import RECENT_DATASETS, Settings

MAX_RECENT = 8
THUMBS_PER_CLASS = 24
THUMB_SIZE = 88             # logical pixels; decoded at this times the screen's pixel ratio

FOLDER_HELP = (
    "Fledge needs a folder that holds one subfolder per class, with the photos of each "
    "class inside it (for example Birds/robin, Birds/sparrow, Birds/empty). "
    "Folders named train, val and test with class subfolders inside are used as they are."
)


def sample_data_dir() -> str:
    """Where "Use sample data" writes its pictures: next to the runs, in Fledge's data folder."""
    return str(user_data_dir() / "sample-data")


def _scan_folder(root: str, report) -> Dataset:
    """Worker thread: scan root, reporting (done, total) while pictures are checked."""
    return scan_dataset(root, progress=report)


def _scan_task(root: str, sample: bool) -> Task:
    """A task: (write the sample set when asked, then) scan root, reporting JobProgress."""
    def task(report, control) -> Dataset:
        if sample:
            ensure_sample_data(root)
        return _scan_folder(root, Throttled(report, "scanning"))
    return task


class DatasetPanel(QWidget):
    """Choose a photo folder (button, recent list, drop, or sample data) and inspect it."""

    dataset_changed = Signal(object)        # core.data.dataset.Dataset, or None when none is usable
    status_message = Signal(str)
    label_requested = Signal(str, str)      # an unsorted folder, the new dataset to label it into

    def __init__(self, parent: QWidget | None = None, *, settings: Settings | None = None,
                 session=None) -> None:
        """session: the window's core.photos.label_session.LabelSession (Keep one copy's undo)."""
        super().__init__(parent)
        self.settings = settings if settings is not None else Settings()   # the window's
        self.setAcceptDrops(True)
        self.setMinimumSize(520, 360)
        self._dataset: Dataset | None = None
        self._scan_token = 0
        self._scanning_root = ""
        self._remember_after = False
        self._skipped_dialog: SkippedFilesDialog | None = None
        self._session = session

        self._scans = TaskPool(self, threads=1)
        self._scans.progress.connect(self._on_scan_progress)
        self._scans.finished.connect(self._on_scan_done)
        self._scans.failed.connect(self._on_scan_failed)

        self._build_ui()
        self._show_empty()

    # -- public interface -------------------------------------------------------------

    @property
    def dataset(self) -> Dataset | None:
        return self._dataset

    def open_folder(self, path: str) -> None:
        """Scan path in the background; dataset_changed fires when done."""
        path = os.path.abspath(os.path.expanduser(str(path)))
        self._start(path, sample=False)

    def use_sample_data(self) -> None:
        """Write (once) and open the bundled bird/plane sample set."""
        self._start(sample_data_dir(), sample=True, busy_text="Preparing the sample photos…")

    def reopen(self, path: str) -> None:
        """Open a dataset used before (the last one, at start-up): the sample set as such."""
        if os.path.normcase(os.path.abspath(path)) == os.path.normcase(sample_data_dir()):
            self.use_sample_data()
        else:
            self.open_folder(path)

    def show_model_warning(self, text: str) -> None:
        """Say that the window's model does not fit this dataset ('' when it does)."""
        if text:
            self.model_warning.show_message(text, "warning")
        else:
            self.model_warning.clear()

    def is_busy(self) -> bool:
        return bool(self._scan_token)

    def shutdown(self, msecs: int = 5000) -> None:
        """Stop background work; call before the application quits."""
        self.thumb_list.shutdown(msecs)
        self._scans.shutdown(msecs)
        self.leaks.shutdown(msecs)

    # -- layout -----------------------------------------------------------------------

    def _build_ui(self) -> None:
        self.choose_button = QPushButton("&Choose folder…", self)
        self.choose_button.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_DirOpenIcon))
        self.choose_button.setToolTip("Pick the folder that holds one subfolder of photos per class")
        self.choose_button.clicked.connect(self._choose_folder)

        self.recent_combo = RecentFolders(self.settings, RECENT_DATASETS, MAX_RECENT, self)
        self.recent_combo.chosen.connect(self.open_folder)

        self.sample_button = QPushButton("Use &sample data", self)
        self.sample_button.setToolTip(
            "Try Fledge with a small set of bird and plane pictures it makes for you")
        self.sample_button.clicked.connect(self.use_sample_data)

        self.busy_bar = QProgressBar(self)
        self.busy_bar.setRange(0, 0)        # indeterminate until the scan knows how many
        self.busy_bar.setMaximumWidth(140)
        self.busy_bar.setTextVisible(False)
        self.busy_bar.setAccessibleName("Scanning")
        self.busy_label = QLabel(self)
        self.busy_bar.hide()
        self.busy_label.hide()

        top = QHBoxLayout()
        top.addWidget(self.choose_button)
        top.addWidget(self.recent_combo, 1)
        top.addWidget(self.sample_button)
        top.addWidget(self.busy_bar)
        top.addWidget(self.busy_label)

        self.folder_label = QLabel(self)
        self.folder_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.folder_label.setWordWrap(True)
        self.summary_label = QLabel(self)
        self.summary_label.setWordWrap(True)
        self.message_bar = MessageBar(self)
        self.model_warning = MessageBar(self, keep_place=False)     # follows the model chosen
        # A folder of photos without class folders: offer to label them into a new dataset.
        self.start_box = StartLabellingBox(self)
        self.start_box.started.connect(self.label_requested)
        self.warnings_label = QLabel(self)
        self.warnings_label.setWordWrap(True)
        self.warnings_label.setTextFormat(Qt.TextFormat.PlainText)
        self.warnings_label.hide()
        # The same photo in training and validation (the score looks too good): checked after each scan.
        self.leaks = DuplicateLeakBar(self, self._session)
        self.leaks.files_moved.connect(self.open_folder)     # copies set aside or put back: read it again

        self.skipped_button = QPushButton(self)
        self.skipped_button.setToolTip("List the files that were left out, with the reason for each")
        self.skipped_button.clicked.connect(self.show_skipped)
        self.skipped_button.hide()
        skipped_row = QHBoxLayout()
        skipped_row.addWidget(self.skipped_button)
        skipped_row.addStretch(1)

        self.counts_table = ClassCountsTable(self)
        self.counts_table.class_chosen.connect(lambda row: self.class_combo.setCurrentIndex(row))

        self.class_combo = QComboBox(self)
        self.class_combo.setToolTip("Which class to show photos of")
        self.class_combo.setAccessibleName("Class to show")
        self.class_combo.currentIndexChanged.connect(self._show_class)
        self.thumbs_caption = QLabel(self)
        class_row = QHBoxLayout()
        class_label = QLabel("C&lass:", self)
        class_label.setBuddy(self.class_combo)
        class_row.addWidget(class_label)
        class_row.addWidget(self.class_combo, 1)
        class_row.addWidget(self.thumbs_caption)

        self.thumb_list = ThumbnailGrid(THUMB_SIZE, self)
        self.thumb_list.setToolTip("The first photos of this class; double-click or press Enter "
                                   "to open one in your picture viewer")
        self.thumb_list.setAccessibleName("Photos of the class")

        right = QWidget(self)
        rlay = QVBoxLayout(right)
        rlay.setContentsMargins(0, 0, 0, 0)
        rlay.addLayout(class_row)
        rlay.addWidget(self.thumb_list, 1)

        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.addWidget(self.counts_table)
        self.splitter.addWidget(right)
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setStretchFactor(1, 2)
        self.splitter.setChildrenCollapsible(False)

        self.hint_label = QLabel(FOLDER_HELP + "\n\nChoose a folder, drop one here, or try the sample data.", self)
        self.hint_label.setWordWrap(True)
        self.hint_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.hint_label.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Expanding)

        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(self.folder_label)
        lay.addWidget(self.message_bar)
        lay.addWidget(self.model_warning)
        lay.addWidget(self.start_box)
        lay.addWidget(self.summary_label)
        lay.addWidget(self.warnings_label)
        lay.addWidget(self.leaks)
        lay.addLayout(skipped_row)
        lay.addWidget(self.splitter, 1)
        lay.addWidget(self.hint_label, 1)

    # -- choosing ---------------------------------------------------------------------

    def _choose_folder(self) -> None:
        start = self._dataset.root if self._dataset else (self.recent_combo.folders() or [""])[0]
        path = QFileDialog.getExistingDirectory(self, "Choose the folder of photos", start)
        if path:
            self.open_folder(path)

    # -- drag and drop ----------------------------------------------------------------

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            accept_copy(event)
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            accept_copy(event)

    def dropEvent(self, event) -> None:
        paths, remote = local_paths(event.mimeData())
        if not paths:
            event.ignore()
            if remote:
                self.message_bar.show_message(
                    "Only folders on this computer can be opened. Copy the photos to a folder here first.")
            return
        if not accept_copy(event):
            return
        folders = [p for p in paths if os.path.isdir(p)]
        if len(paths) == 1 and folders:
            self.open_folder(folders[0])
        elif folders:
            self.message_bar.show_message(
                f"You dropped {plural(len(paths), 'item')}. Drop a single folder: the one that "
                "holds one subfolder per class.", "warning")
        else:
            name = os.path.basename(paths[0]) or paths[0]
            what = f"“{name}” is a file" if len(paths) == 1 else f"These {len(paths)} items are files"
            self.message_bar.show_message(f"{what}, not a folder. {FOLDER_HELP}", "warning")

    # -- scanning ---------------------------------------------------------------------

    def _start(self, root: str, *, sample: bool, busy_text: str | None = None) -> None:
        self._scanning_root = root
        self._remember_after = not sample
        self.message_bar.clear()
        self.busy_label.setText(busy_text or f"Scanning {os.path.basename(root) or root}…")
        self.busy_bar.setRange(0, 0)
        self.busy_bar.show()
        self.busy_label.show()
        self._scans.cancel()            # an older scan is superseded by this choice
        self._scan_token = self._scans.submit(_scan_task(root, sample))

    def _on_scan_progress(self, token: int, ev) -> None:
        if token != self._scan_token or not isinstance(ev, JobProgress) or ev.total <= 0:
            return
        self.busy_bar.setRange(0, ev.total)
        self.busy_bar.setValue(ev.done)
        self.busy_label.setText(f"Checking pictures: {ev.done:,} of {ev.total:,}")

    def _on_scan_done(self, token: int, dataset: Dataset) -> None:
        if token != self._scan_token:
            return
        self._scan_token = 0
        self._set_idle()
        if self._remember_after:
            self.recent_combo.remember(self._scanning_root)
        self._dataset = dataset
        self.thumb_list.forget_pictures()      # pictures may have been edited since the last scan
        self._show_dataset(dataset)
        self.start_box.offer(None)
        self.leaks.check(dataset)
        n = len(dataset.train) + len(dataset.val) + len(dataset.test)
        self.status_message.emit(f"Dataset: {plural(n, 'photo')} in {plural(len(dataset.classes), 'class', 'classes')} "
                                 f"from {dataset.root}")
        self.dataset_changed.emit(dataset)

    def _on_scan_failed(self, token: int, message: str) -> None:
        if token != self._scan_token:
            return
        self._scan_token = 0
        self._set_idle()
        self._dataset = None
        self._show_empty()
        self.leaks.check(None)
        self.folder_label.setText(f"Folder: {self._scanning_root}")
        self.folder_label.show()
        offered = self.start_box.offer(self._scanning_root)       # photos but no class folders: label them
        self.message_bar.show_message(message, "info" if offered else "error")
        self.dataset_changed.emit(None)

    def _set_idle(self) -> None:
        self.busy_bar.hide()
        self.busy_label.hide()

    # -- showing ----------------------------------------------------------------------

    def _show_empty(self) -> None:
        self.folder_label.hide()
        self.summary_label.hide()
        self.warnings_label.hide()
        self.skipped_button.hide()
        self.splitter.hide()
        self.hint_label.show()
        self.counts_table.clear_counts()
        self.class_combo.blockSignals(True)
        self.class_combo.clear()
        self.class_combo.blockSignals(False)
        self.thumb_list.clear_photos()
        if self._skipped_dialog is not None:
            self._skipped_dialog.close()
            self._skipped_dialog = None

    def _show_dataset(self, ds: Dataset) -> None:
        self._show_empty()
        self.hint_label.hide()
        self.folder_label.setText(f"Folder: {ds.root}")
        self.folder_label.setToolTip(ds.root)
        self.folder_label.show()

        counts = ds.counts()
        total = sum(sum(counts.get(s, {}).values()) for s in SPLITS)
        how = ("split into train/val folders by you" if ds.layout == "split-folders"
               else "validation photos picked automatically")
        self.summary_label.setText(
            f"{plural(len(ds.classes), 'class', 'classes')}, {plural(total, 'photo')} ({how}).")
        self.summary_label.show()

        if ds.warnings:
            self.warnings_label.setText("\n".join(f"⚠ {w}" for w in ds.warnings))
            self.warnings_label.show()
        n_skipped = len(ds.skipped)
        if n_skipped:
            self.skipped_button.setText(f"{plural(n_skipped, 'file')} skipped — show")
            self.skipped_button.show()

        self.counts_table.show_counts(ds.classes, counts)
        self.class_combo.blockSignals(True)
        for i, name in enumerate(ds.classes):
            n = sum(counts.get(s, {}).get(name, 0) for s in SPLITS)
            self.class_combo.addItem(f"{name} ({n})", i)
        self.class_combo.setCurrentIndex(-1)
        self.class_combo.blockSignals(False)
        self.splitter.show()
        if ds.classes:
            self.class_combo.setCurrentIndex(0)

    def _show_class(self, index: int) -> None:
        ds = self._dataset
        if ds is None or not (0 <= index < len(ds.classes)):
            self.thumb_list.clear_photos()
            self.thumbs_caption.clear()
            return
        self.counts_table.select_class(index)
        samples = sorted((s.path for part in (ds.train, ds.val, ds.test) for s in part if s.label == index))
        shown = samples[:THUMBS_PER_CLASS]
        self.thumbs_caption.setText(
            f"first {len(shown)} of {len(samples)}" if len(samples) > len(shown) else plural(len(samples), "photo"))
        self.thumb_list.show_paths(shown)

    def show_skipped(self) -> SkippedFilesDialog | None:
        """Open (non-modal) the list of skipped files with reasons."""
        if self._dataset is None or not self._dataset.skipped:
            return None
        if self._skipped_dialog is None:
            self._skipped_dialog = SkippedFilesDialog(self._dataset, self)
        self._skipped_dialog.show()
        self._skipped_dialog.raise_()
        self._skipped_dialog.activateWindow()
        return self._skipped_dialog

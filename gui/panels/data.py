"""The dataset panel: pick a folder of photos and see what Fledge found in it.

The panel only shows and chooses; all reading of the folder is core.data.dataset's job.
Scanning runs on a background thread (a big folder takes seconds) and thumbnails
are decoded by gui.widgets.thumbnails' worker pool, so the window never freezes.
"""
from __future__ import annotations

import json
import os

from PySide6.QtCore import QObject, QSettings, QSize, Qt, QUrl, Signal
from PySide6.QtGui import QColor, QDesktopServices, QFont, QIcon, QPalette, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QStyle,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from core.data.dataset import Dataset, scan_dataset
from core.errors import FledgeError
from core.training.runs import user_data_dir
from core.data.sample_data import MARKER as SAMPLE_MARKER
from core.data.sample_data import write_sample_data

from core.wording import plural

from gui.background import BackgroundRunner

from gui.drops import local_paths

from gui.widgets.message_bar import MessageBar
from gui.widgets.thumbnails import ThumbnailLoader, pixmap_for

RECENT_KEY = "dataset/recent"
MAX_RECENT = 8
THUMBS_PER_CLASS = 24
THUMB_SIZE = 88             # logical pixels; decoded at this times the screen's pixel ratio
SPLITS = ("train", "val", "test")

FOLDER_HELP = (
    "Fledge needs a folder that holds one subfolder per class, with the photos of each "
    "class inside it (for example Birds/robin, Birds/sparrow, Birds/empty). "
    "Folders named train, val and test with class subfolders inside are used as they are."
)


def sample_data_dir() -> str:
    """Where "Use sample data" writes its pictures: next to the runs, in Fledge's data folder."""
    return str(user_data_dir() / "sample-data")


def _sample_data_complete(dest: str) -> bool:
    """True when dest holds every picture its sample marker lists (an earlier, finished set)."""
    try:
        with open(os.path.join(dest, SAMPLE_MARKER), encoding="utf-8") as f:
            files = json.load(f).get("files") or []
    except (OSError, ValueError, AttributeError):
        return False
    return bool(files) and all(
        isinstance(rel, str) and os.path.isfile(os.path.join(dest, *rel.split("/"))) for rel in files)


def _scan_folder(root: str, report) -> Dataset:
    """Worker thread: scan root, reporting (done, total) while pictures are checked."""
    return scan_dataset(root, progress=report)


def _prepare_sample_data(dest: str, report) -> Dataset:
    """Worker thread: reuse the sample set written earlier, or (re)write it; then scan it."""
    if not _sample_data_complete(dest):
        write_sample_data(dest)     # refuses (DatasetError) to write among other files
    return scan_dataset(dest, progress=report)


class _ScanProgress(QObject):
    progress = Signal(str, int, int)    # root, pictures checked, pictures in all


def _error_text(exc: BaseException, root: str) -> str:
    if isinstance(exc, FledgeError):
        return str(exc)
    if isinstance(exc, PermissionError):
        return f"Fledge may not read the folder {root}. Check its permissions or choose another folder."
    if isinstance(exc, OSError):
        return f"The folder {root} could not be read ({exc.strerror or exc}). Choose another folder."
    return f"Scanning {root} failed unexpectedly ({type(exc).__name__}: {exc})."


class SkippedFilesDialog(QDialog):
    """A list of the files the scan left out, each with the reason."""

    def __init__(self, dataset: Dataset, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Skipped files")
        self.setMinimumSize(560, 320)
        n = len(dataset.skipped)
        intro = QLabel(
            f"{plural(n, 'file')} in {dataset.root} will not be used for training. "
            "Fix or remove them and choose the folder again to include them.", self)
        intro.setWordWrap(True)
        self.table = QTableWidget(n, 2, self)
        self.table.setHorizontalHeaderLabels(["File", "Reason"])
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().hide()
        for row, item in enumerate(dataset.skipped):
            try:
                shown = os.path.relpath(item.path, dataset.root)
            except ValueError:      # another drive on Windows
                shown = item.path
            cell = QTableWidgetItem(shown)
            cell.setToolTip(item.path)
            self.table.setItem(row, 0, cell)
            self.table.setItem(row, 1, QTableWidgetItem(item.reason))
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(intro)
        lay.addWidget(self.table, 1)
        lay.addWidget(buttons)

    def rows(self) -> list[tuple[str, str]]:
        return [(self.table.item(r, 0).toolTip(), self.table.item(r, 1).text())
                for r in range(self.table.rowCount())]


class DatasetPanel(QWidget):
    """Choose a photo folder (button, recent list, drop, or sample data) and inspect it."""

    dataset_changed = Signal(object)        # core.data.dataset.Dataset, or None when none is usable

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAcceptDrops(True)
        self.setMinimumSize(520, 360)
        self._dataset: Dataset | None = None
        self._scan_token = 0
        self._scanning_root = ""
        self._remember_after = False
        self._skipped_dialog: SkippedFilesDialog | None = None
        self._thumb_items: dict[int, QListWidgetItem] = {}
        self._thumb_class = -1
        self._thumbs_done = 0

        self._runner = BackgroundRunner(self, threads=1)
        self._runner.done.connect(self._on_scan_done)
        self._runner.failed.connect(self._on_scan_failed)
        # No parent: the worker's callback keeps it alive even if the panel goes first.
        self._progress = _ScanProgress()
        self._progress.progress.connect(self._on_scan_progress)
        self._thumbs = ThumbnailLoader(self)
        self._thumbs.loaded.connect(self._on_thumb_loaded)
        self._thumbs.failed.connect(self._on_thumb_failed)

        self._build_ui()
        self._reload_recent()
        self._show_empty()

    # -- public interface -------------------------------------------------------------

    @property
    def dataset(self) -> Dataset | None:
        return self._dataset

    def open_folder(self, path: str) -> None:
        """Scan path in the background; dataset_changed fires when done."""
        path = os.path.abspath(os.path.expanduser(str(path)))
        self._start(path, _scan_folder, remember=True)

    def use_sample_data(self) -> None:
        """Write (once) and open the bundled bird/plane sample set."""
        dest = sample_data_dir()
        self._start(dest, _prepare_sample_data, remember=False,
                    busy_text="Preparing the sample photos…")

    def is_busy(self) -> bool:
        return bool(self._scan_token)

    def thumbnail_count(self) -> int:
        """How many thumbnails of the shown class have been decoded and displayed."""
        return self._thumbs_done

    def shutdown(self, msecs: int = 5000) -> None:
        """Stop background work; call before the application quits."""
        self._thumbs.shutdown(msecs)
        self._runner.clear()
        self._runner.wait(msecs)

    # -- layout -----------------------------------------------------------------------

    def _build_ui(self) -> None:
        self.choose_button = QPushButton("&Choose folder…", self)
        self.choose_button.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_DirOpenIcon))
        self.choose_button.setToolTip("Pick the folder that holds one subfolder of photos per class")
        self.choose_button.clicked.connect(self._choose_folder)

        self.recent_combo = QComboBox(self)
        self.recent_combo.setPlaceholderText("Recent folders")
        self.recent_combo.setToolTip("Open one of the folders you used before")
        self.recent_combo.setAccessibleName("Recent folders")
        self.recent_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.recent_combo.setMinimumContentsLength(18)
        self.recent_combo.activated.connect(self._recent_chosen)

        self.sample_button = QPushButton("Use &sample data", self)
        self.sample_button.setToolTip(
            "Try Fledge with a small set of bird and plane pictures it makes for you")
        self.sample_button.clicked.connect(self.use_sample_data)

        self.busy_bar = QProgressBar(self)
        self.busy_bar.setRange(0, 0)        # indeterminate: scanning has no known length
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
        self.warnings_label = QLabel(self)
        self.warnings_label.setWordWrap(True)
        self.warnings_label.setTextFormat(Qt.TextFormat.PlainText)
        self.warnings_label.hide()

        self.skipped_button = QPushButton(self)
        self.skipped_button.setToolTip("List the files that were left out, with the reason for each")
        self.skipped_button.clicked.connect(self.show_skipped)
        self.skipped_button.hide()
        skipped_row = QHBoxLayout()
        skipped_row.addWidget(self.skipped_button)
        skipped_row.addStretch(1)

        self.counts_table = QTableWidget(0, 1 + len(SPLITS), self)
        self.counts_table.setHorizontalHeaderLabels(["Class", *SPLITS])
        self.counts_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.counts_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.counts_table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.counts_table.verticalHeader().hide()
        self.counts_table.setToolTip("Photos per class in each part of the dataset; "
                                     "select a class to see its photos")
        self.counts_table.setAccessibleName("Photos per class")
        header = self.counts_table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for c in range(1, 1 + len(SPLITS)):
            header.setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
        self.counts_table.setMinimumWidth(220)
        self.counts_table.currentCellChanged.connect(self._table_row_changed)

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

        self.thumb_list = QListWidget(self)
        self.thumb_list.setViewMode(QListView.ViewMode.IconMode)
        self.thumb_list.setMovement(QListView.Movement.Static)
        self.thumb_list.setResizeMode(QListView.ResizeMode.Adjust)
        self.thumb_list.setUniformItemSizes(True)
        self.thumb_list.setIconSize(QSize(THUMB_SIZE, THUMB_SIZE))
        self.thumb_list.setGridSize(QSize(THUMB_SIZE + 12, THUMB_SIZE + 12))
        self.thumb_list.setSpacing(2)
        self.thumb_list.setMinimumSize(THUMB_SIZE * 2 + 40, THUMB_SIZE + 40)
        self.thumb_list.setToolTip("The first photos of this class; double-click or press Enter "
                                   "to open one in your picture viewer")
        self.thumb_list.setAccessibleName("Photos of the class")
        self.thumb_list.itemActivated.connect(self._open_picture)

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
        lay.addWidget(self.summary_label)
        lay.addWidget(self.warnings_label)
        lay.addLayout(skipped_row)
        lay.addWidget(self.splitter, 1)
        lay.addWidget(self.hint_label, 1)

        self._placeholder = self._make_placeholder()

    def _make_placeholder(self) -> QIcon:
        dpr = self.devicePixelRatioF()
        pm = QPixmap(int(THUMB_SIZE * dpr), int(THUMB_SIZE * dpr))
        pm.fill(self.palette().color(QPalette.ColorRole.Midlight))
        pm.setDevicePixelRatio(dpr)
        return QIcon(pm)

    # -- choosing ---------------------------------------------------------------------

    def _choose_folder(self) -> None:
        start = self._dataset.root if self._dataset else (self._recent() or [""])[0]
        path = QFileDialog.getExistingDirectory(self, "Choose the folder of photos", start)
        if path:
            self.open_folder(path)

    def _recent_chosen(self, index: int) -> None:
        path = self.recent_combo.itemData(index)
        self.recent_combo.setCurrentIndex(-1)
        if path:
            self.open_folder(path)

    def _recent(self) -> list[str]:
        value = QSettings().value(RECENT_KEY, [])
        if isinstance(value, str):      # QSettings hands back a lone string for one item
            value = [value]
        return [str(v) for v in (value or []) if v][:MAX_RECENT]

    def _remember(self, path: str) -> None:
        items = [p for p in self._recent() if os.path.normcase(p) != os.path.normcase(path)]
        QSettings().setValue(RECENT_KEY, [path, *items][:MAX_RECENT])
        self._reload_recent()

    def _reload_recent(self) -> None:
        self.recent_combo.clear()
        for p in self._recent():
            self.recent_combo.addItem(p, p)
            self.recent_combo.setItemData(self.recent_combo.count() - 1, p, Qt.ItemDataRole.ToolTipRole)
        self.recent_combo.setCurrentIndex(-1)
        self.recent_combo.setEnabled(self.recent_combo.count() > 0)

    # -- drag and drop ----------------------------------------------------------------

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        paths, remote = local_paths(event.mimeData())
        if not paths:
            event.ignore()
            if remote:
                self.message_bar.show_message(
                    "Only folders on this computer can be opened. Copy the photos to a folder here first.")
            return
        event.acceptProposedAction()
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

    def _start(self, root: str, job, *, remember: bool, busy_text: str | None = None) -> None:
        self._scanning_root = root
        self._remember_after = remember
        self.message_bar.clear()
        self.busy_label.setText(busy_text or f"Scanning {os.path.basename(root) or root}…")
        self.busy_bar.setRange(0, 0)
        self.busy_bar.show()
        self.busy_label.show()
        emit = self._progress.progress.emit
        self._scan_token = self._runner.submit(job, root, lambda done, total: emit(root, done, total))

    def _on_scan_progress(self, root: str, done: int, total: int) -> None:
        if not self._scan_token or root != self._scanning_root or total <= 0:
            return
        self.busy_bar.setRange(0, total)
        self.busy_bar.setValue(done)
        self.busy_label.setText(f"Checking pictures: {done:,} of {total:,}")

    def _on_scan_done(self, token: int, dataset: Dataset) -> None:
        if token != self._scan_token:
            return      # an older scan, superseded by a newer choice
        self._scan_token = 0
        self._set_idle()
        if self._remember_after:
            self._remember(self._scanning_root)
        self._dataset = dataset
        self._thumbs.clear_cache()      # pictures may have been edited since the last scan
        self._show_dataset(dataset)
        self.dataset_changed.emit(dataset)

    def _on_scan_failed(self, token: int, exc) -> None:
        if token != self._scan_token:
            return
        self._scan_token = 0
        self._set_idle()
        self._dataset = None
        self._show_empty()
        self.folder_label.setText(f"Folder: {self._scanning_root}")
        self.folder_label.show()
        self.message_bar.show_message(_error_text(exc, self._scanning_root))
        self.dataset_changed.emit(None)

    def _set_idle(self) -> None:
        self.busy_bar.hide()
        self.busy_label.hide()

    # -- showing ----------------------------------------------------------------------

    def _show_empty(self) -> None:
        self._thumbs.cancel()
        self.folder_label.hide()
        self.summary_label.hide()
        self.warnings_label.hide()
        self.skipped_button.hide()
        self.splitter.hide()
        self.hint_label.show()
        self.counts_table.setRowCount(0)
        self.class_combo.blockSignals(True)
        self.class_combo.clear()
        self.class_combo.blockSignals(False)
        self.thumb_list.clear()
        self._thumb_items = {}
        self._thumbs_done = 0
        self._thumb_class = -1
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

        self._fill_table(ds, counts)
        self.class_combo.blockSignals(True)
        for i, name in enumerate(ds.classes):
            n = sum(counts.get(s, {}).get(name, 0) for s in SPLITS)
            self.class_combo.addItem(f"{name} ({n})", i)
        self.class_combo.setCurrentIndex(-1)
        self.class_combo.blockSignals(False)
        self.splitter.show()
        if ds.classes:
            self.class_combo.setCurrentIndex(0)

    def _fill_table(self, ds: Dataset, counts: dict) -> None:
        table = self.counts_table
        table.blockSignals(True)
        table.setRowCount(len(ds.classes) + 1)
        right = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        bold = QFont(table.font())
        bold.setBold(True)
        for row, name in enumerate([*ds.classes, "Total"]):
            is_total = row == len(ds.classes)
            cell = QTableWidgetItem(name)
            if is_total:
                cell.setFont(bold)
                cell.setFlags(Qt.ItemFlag.ItemIsEnabled)
            table.setItem(row, 0, cell)
            for col, split in enumerate(SPLITS, start=1):
                per_class = counts.get(split, {})
                n = sum(per_class.values()) if is_total else per_class.get(name, 0)
                item = QTableWidgetItem(str(n))
                item.setTextAlignment(right)
                if is_total:
                    item.setFont(bold)
                    item.setFlags(Qt.ItemFlag.ItemIsEnabled)
                table.setItem(row, col, item)
        table.setColumnHidden(3, not any(counts.get("test", {}).values()))
        table.blockSignals(False)

    def counts_rows(self) -> list[tuple[str, int, int, int]]:
        """The table as (class, train, val, test) rows, total row excluded."""
        rows = []
        for r in range(max(0, self.counts_table.rowCount() - 1)):
            rows.append((self.counts_table.item(r, 0).text(),
                         *(int(self.counts_table.item(r, c).text()) for c in (1, 2, 3))))
        return rows

    def _table_row_changed(self, row: int, *_):
        if self._dataset and 0 <= row < len(self._dataset.classes):
            self.class_combo.setCurrentIndex(row)

    def _show_class(self, index: int) -> None:
        ds = self._dataset
        self._thumbs.cancel()
        self.thumb_list.clear()
        self._thumb_items = {}
        self._thumbs_done = 0
        self._thumb_class = index
        if ds is None or not (0 <= index < len(ds.classes)):
            self.thumbs_caption.clear()
            return
        if self.counts_table.currentRow() != index:
            self.counts_table.blockSignals(True)
            self.counts_table.selectRow(index)
            self.counts_table.blockSignals(False)
        samples = sorted((s for part in (ds.train, ds.val, ds.test) for s in part if s.label == index),
                         key=lambda s: s.path)
        shown = samples[:THUMBS_PER_CLASS]
        self.thumbs_caption.setText(
            f"first {len(shown)} of {len(samples)}" if len(samples) > len(shown) else plural(len(samples), "photo"))
        px = round(THUMB_SIZE * self.devicePixelRatioF())
        for row, sample in enumerate(shown):
            item = QListWidgetItem(self._placeholder, "")
            name = os.path.basename(sample.path)
            item.setToolTip(name)
            item.setData(Qt.ItemDataRole.AccessibleTextRole, name)
            item.setData(Qt.ItemDataRole.UserRole, sample.path)
            item.setSizeHint(QSize(THUMB_SIZE + 8, THUMB_SIZE + 8))
            self.thumb_list.addItem(item)
            self._thumb_items[row] = item
            self._thumbs.request((index, row), sample.path, px)

    def _on_thumb_loaded(self, key, path: str, image) -> None:
        class_index, row = key
        item = self._thumb_items.get(row)
        if class_index != self._thumb_class or item is None:
            return
        # Decoded at THUMB_SIZE x ratio device pixels: drawn sharp at THUMB_SIZE logical ones.
        item.setIcon(QIcon(pixmap_for(image, self.devicePixelRatioF())))
        self._thumbs_done += 1

    def _on_thumb_failed(self, key, path: str, reason: str) -> None:
        class_index, row = key
        item = self._thumb_items.get(row)
        if class_index != self._thumb_class or item is None:
            return
        item.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning))
        item.setToolTip(f"{os.path.basename(path)}: {reason}")
        item.setForeground(QColor(self.palette().color(QPalette.ColorRole.PlaceholderText)))
        self._thumbs_done += 1

    def _open_picture(self, item: QListWidgetItem) -> None:
        path = item.data(Qt.ItemDataRole.UserRole)
        if path:
            QDesktopServices.openUrl(QUrl.fromLocalFile(path))

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

    def changeEvent(self, event) -> None:
        # Redraw placeholders and thumbnails when moved to a screen with another pixel ratio.
        if event.type() == event.Type.DevicePixelRatioChange and self._dataset:
            self._placeholder = self._make_placeholder()
            self._show_class(self._thumb_class)
        super().changeEvent(event)

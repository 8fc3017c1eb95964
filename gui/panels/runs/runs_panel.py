"""Past runs: a list of run folders, with each run's plots and settings on demand."""
from __future__ import annotations

import os

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QFontDatabase
from PySide6.QtWidgets import (QAbstractItemView, QFormLayout, QHBoxLayout, QHeaderView, QLabel,
                               QPushButton, QSplitter, QStackedWidget, QTreeWidget, QTreeWidgetItem,
                               QVBoxLayout, QWidget)

from core.errors import FledgeError
from core.data.augmentation import STRENGTHS
from core.training.config import RECIPE_LABELS, config_options
from core.training.model_summary import model_summary, training_lines
from core.training.recipe_rules import chosen_settings
from core.training.runs import RUN_FILE, can_resume, compare_runs, list_runs, load_run, read_json, runs_root
from core.wording import plural

from gui.background import TaskPool, call
from gui.panels.runs.compare_view import CompareView
from gui.widgets.export_dialog import ExportDialog, open_export_dialog
from gui.widgets.plots import PlotsPanel
from gui.run_text import STATUS_TEXT, accuracy_text, network_text, started_text
from gui.style import make_muted

COLUMNS = ["Started", "Status", "Network", "Best accuracy", "Epochs", "Images"]
PRETRAINED_KEY = "pretrained_used"      # run.json: whether the run really started from ImageNet weights


def pretrained_used(run_dir: str) -> bool | None:
    """What the run really started from, as its run.json records it; None for runs from
    before Fledge recorded it."""
    value = read_json(os.path.join(run_dir, RUN_FILE)).get(PRETRAINED_KEY)
    return value if isinstance(value, bool) else None


def pretrained_text(asked: bool, used: bool | None) -> str:
    """The "Pretrained" row: what the run really did, not only what was asked for."""
    if used is True:
        return "yes — it started from ImageNet weights"
    if used is False:
        return ("no — the ImageNet weights were not found, so it trained from scratch" if asked
                else "no — it trained from scratch")
    if asked:
        return "asked for (this older run did not record whether the weights were found)"
    return "no — it trained from scratch"


OPTIONS = {opt.name: opt for opt in config_options()}


def augmentation_text(c) -> str:
    """The "Augmentation" row: the preset and each strength set apart from it (old runs: on is light)."""
    if "augment" not in chosen_settings(c.recipe):
        return "none (the quick recipe learns from each photo and its mirror image)"
    own = [f"{OPTIONS[name].label.lower()} {value:g}" for name in STRENGTHS
           if (value := getattr(c, name)) is not None]
    return c.augment + (f" ({', '.join(own)})" if own else "")


def started_from_rows(run_dir: str, init_from: str | None) -> list[tuple[str, str]]:
    """The "Started from" row: what run.json says the run took from an earlier model."""
    if not init_from:
        return []
    said = read_json(os.path.join(run_dir, RUN_FILE)).get("init_from_message")
    return [("Started from", said if isinstance(said, str) and said else init_from)]


class RunsPanel(QWidget):
    """Lists runs (core.training.runs.list_runs) and reopens one (core.training.runs.load_run)."""

    predict_requested = Signal(str)       # best.pt of the chosen run
    settings_requested = Signal(object)   # TrainConfig of the chosen run
    resume_requested = Signal(str)        # run folder to continue
    status_message = Signal(str)

    def __init__(self, root: str | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.root = root
        self.runs = []
        self.record = None

        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(COLUMNS)
        self.tree.setRootIsDecorated(False)
        self.tree.setUniformRowHeights(True)
        self.tree.setAlternatingRowColors(True)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.tree.header().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.tree.header().setStretchLastSection(True)
        self.tree.setToolTip("Your training runs, newest first. Select one to see its curves and settings; "
                             "Ctrl+click or Shift+click two or more to compare them.")
        self.tree.currentItemChanged.connect(self._on_current)
        self.tree.itemSelectionChanged.connect(self._on_selection)
        self.tree.setMinimumWidth(360)

        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setToolTip("Read the runs folder again")
        self.refresh_button.clicked.connect(self.refresh)
        self.where = QLabel()
        self.where.setWordWrap(True)
        make_muted(self.where)
        top = QHBoxLayout()
        top.addWidget(self.refresh_button)
        top.addWidget(self.where, 1)
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addLayout(top)
        ll.addWidget(self.tree, 1)

        # Details of the selected run.
        self.title = QLabel("Select a run to see its curves and settings.")
        self.title.setWordWrap(True)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.plots = PlotsPanel()
        self.settings_view = QWidget()
        self.settings_form = QFormLayout(self.settings_view)
        self.settings_form.setContentsMargins(0, 0, 0, 0)
        # The best model's summary (core.training.model_summary, as `fledge info` prints it), read
        # off the GUI thread: a large network's file takes a while.
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.summary.setToolTip("The run's best model, as 'fledge info' describes it")
        self._summary_pool = TaskPool(self)
        self._summary_token: int | None = None
        self._summary_pool.finished.connect(self._on_summary)
        self._summary_pool.failed.connect(self._on_summary)
        self.predict_button = QPushButton("Use this model to predict")
        self.predict_button.setToolTip("Load this run's best model in the Predict tab")
        self.predict_button.clicked.connect(self._predict)
        self.reuse_button = QPushButton("Use these settings")
        self.reuse_button.setToolTip("Copy this run's settings into the Train tab")
        self.reuse_button.clicked.connect(self._reuse)
        self.resume_button = QPushButton("Resume training")
        self.resume_button.setToolTip("Continue this run from its last finished epoch")
        self.resume_button.clicked.connect(self._resume)
        self.continue_button = QPushButton("Continue from this model")
        self.continue_button.setToolTip("Fill the Train tab with this run's settings, starting from its best "
                                        "model: train it on more photos, or with a new class")
        self.continue_button.clicked.connect(self._continue)
        self.export_button = QPushButton("Export…")
        self.export_button.setToolTip("Export this run's best model to ONNX or TorchScript, to use it "
                                      "on a computer without Fledge")
        self.export_button.clicked.connect(self.export_model)
        self.export_dialog: ExportDialog | None = None
        self.open_button = QPushButton("Open folder")
        self.open_button.setToolTip("Show this run's folder in the file manager")
        self.open_button.clicked.connect(self._open_folder)
        buttons = QHBoxLayout()
        for b in (self.predict_button, self.reuse_button, self.resume_button, self.continue_button,
                  self.export_button, self.open_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addWidget(self.title)
        rl.addWidget(self.message)
        rl.addLayout(buttons)
        rl.addWidget(self.plots, 1)
        rl.addWidget(self.settings_view)
        rl.addWidget(self.summary)

        self.compare_view = CompareView()
        self.pages = QStackedWidget()
        self.pages.addWidget(right)
        self.pages.addWidget(self.compare_view)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(self.pages)
        splitter.setStretchFactor(1, 1)
        splitter.setChildrenCollapsible(False)
        splitter.setSizes([480, 720])
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.addWidget(splitter)
        self._show_details(None)

    # ------------------------------------------------------------------
    def shutdown(self, msecs: int = -1) -> None:
        """Stop an export still running (the runs folder itself is read on the GUI thread)."""
        if self.export_dialog is not None:
            self.export_dialog.shutdown(msecs)
        self._summary_pool.shutdown(msecs)

    def refresh(self) -> None:
        """Re-read the runs folder, keeping the selection when the run still exists."""
        keep = self.current_run_dir()
        root = self.root or runs_root()
        self.where.setText(f"Runs are kept in {root}")
        try:
            self.runs = list_runs(root)
        except (OSError, FledgeError) as exc:
            self.runs = []
            self.status_message.emit(f"Could not read the runs folder: {exc}")
        self.tree.blockSignals(True)
        self.tree.clear()
        for info in self.runs:
            item = QTreeWidgetItem([
                started_text(info.started),
                STATUS_TEXT.get(info.status, info.status),
                network_text(info.arch),
                accuracy_text(info.best_val_acc),
                f"{info.epochs_done} of {info.epochs}" if info.epochs else str(info.epochs_done),
                info.data_root,
            ])
            item.setData(0, Qt.ItemDataRole.UserRole, info.run_dir)
            item.setToolTip(1, info.message or STATUS_TEXT.get(info.status, info.status))
            item.setToolTip(5, info.data_root)
            item.setToolTip(0, info.run_dir)
            self.tree.addTopLevelItem(item)
        self.tree.blockSignals(False)
        if keep and self.select_run(keep, reload=True):
            self._on_selection()          # the list was read again: one run selected now
            return
        if self.record is not None:
            self._show_details(None)
        self._on_selection()

    def current_run_dir(self) -> str:
        item = self.tree.currentItem()
        return item.data(0, Qt.ItemDataRole.UserRole) if item is not None else ""

    def select_run(self, run_dir: str, reload: bool = False) -> bool:
        """Select a run in the list and show it; False when it is not listed."""
        want = os.path.normpath(run_dir)
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            path = item.data(0, Qt.ItemDataRole.UserRole)
            if os.path.normpath(path) != want:
                continue
            shown = self.record is not None and os.path.normpath(self.record.info.run_dir) == want
            self.tree.blockSignals(True)
            self.tree.setCurrentItem(item)
            self.tree.blockSignals(False)
            if reload or not shown:
                self.open_run(path)
            return True
        return False

    def selected_run_dirs(self) -> list[str]:
        """The selected runs, in the list's order (newest first)."""
        items = sorted(self.tree.selectedItems(), key=self.tree.indexOfTopLevelItem)
        return [item.data(0, Qt.ItemDataRole.UserRole) for item in items]

    def _on_selection(self) -> None:
        """Two or more runs selected: compare them; otherwise the current run's details."""
        chosen = self.selected_run_dirs()
        if len(chosen) < 2:
            self.pages.setCurrentIndex(0)
            return
        try:
            comparison = compare_runs(chosen)
        except (OSError, FledgeError) as exc:
            self.status_message.emit(str(exc))
            self.pages.setCurrentIndex(0)
            return
        self.compare_view.show_comparison(comparison)
        self.pages.setCurrentIndex(1)

    def _on_current(self, item, _previous=None) -> None:
        if item is not None:
            self.open_run(item.data(0, Qt.ItemDataRole.UserRole))

    def open_run(self, run_dir: str) -> bool:
        """Show a run's curves and settings; False (and a message) when it cannot be read."""
        try:
            record = load_run(run_dir)
        except (OSError, FledgeError) as exc:
            self.status_message.emit(str(exc))
            self._show_details(None)
            return False
        self._show_details(record)
        return True

    def _show_details(self, record) -> None:
        self.record = record
        while self.settings_form.rowCount():
            self.settings_form.removeRow(0)
        self._show_summary(record)
        if record is None:
            self.title.setText("Select a run to see its curves and settings.")
            self.message.hide()
            self.plots.clear()
            for b in (self.predict_button, self.reuse_button, self.resume_button, self.continue_button,
                      self.export_button, self.open_button):
                b.setEnabled(False)
            return
        info, c = record.info, record.config
        self.title.setText(f"<b>{info.name}</b> — {network_text(info.arch)}, {STATUS_TEXT.get(info.status, info.status).lower()}, "
                           f"best validation accuracy {accuracy_text(info.best_val_acc)}"
                           + (f", {plural(len(record.classes), 'class', 'classes')}" if record.classes else ""))
        self.message.setText(info.message)
        self.message.setVisible(bool(info.message))
        self.plots.load_record(record)
        rows = [
            ("Classes", ", ".join(record.classes) or "?"),
            ("Recipe", RECIPE_LABELS.get(c.recipe, c.recipe)),
            ("Pretrained", pretrained_text(c.pretrained, pretrained_used(info.run_dir))),
            *[(label, text) for label, text in training_lines(c, record.learning_rates)
              if label in ("Optimizer", "Schedule")],
            ("Batch size / epochs", f"{c.batch_size} / {c.epochs}"),
            *started_from_rows(info.run_dir, c.init_from),
            ("Image size", f"{c.image_size} px" if c.image_size else "the network's default"),
            ("Augmentation", augmentation_text(c)),
            ("Device", c.device),
            ("Data", info.data_root),
        ]
        for k, v in rows:
            value = QLabel(v)
            value.setWordWrap(True)
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.settings_form.addRow(k, value)
        self.predict_button.setEnabled(bool(info.best_model))
        self.export_button.setEnabled(bool(info.best_model))
        self.reuse_button.setEnabled(True)
        self.resume_button.setEnabled(can_resume(info))
        self.continue_button.setEnabled(bool(info.best_model))
        self.open_button.setEnabled(os.path.isdir(info.run_dir))

    def _show_summary(self, record) -> None:
        """Start reading the best model's summary; the answer for an earlier run is dropped."""
        self._summary_pool.cancel()
        self._summary_token = None
        model = record.info.best_model if record is not None else ""
        self.summary.setVisible(bool(model))
        if model:
            self.summary.setText("Reading the model…")
            self._summary_token = self._summary_pool.submit(call(model_summary, model))

    def _on_summary(self, token: int, text: str) -> None:
        if token == self._summary_token:
            self.summary.setText(text)

    def summary_ready(self) -> bool:
        """Whether the selected run's model summary (or why it cannot be read) is shown."""
        return not self._summary_pool.is_busy()

    # ------------------------------------------------------------------
    def _predict(self) -> None:
        if self.record is not None and self.record.info.best_model:
            self.predict_requested.emit(self.record.info.best_model)

    def _reuse(self) -> None:
        if self.record is not None:
            self.settings_requested.emit(self.record.config)
            self.status_message.emit("Settings copied to the Train tab.")

    def _continue(self) -> None:
        """This run's settings in the Train tab, starting from its best model. A quick model is
        continued by Thorough (quick trains only the last layer, in seconds, from the start)."""
        if self.record is None or not self.record.info.best_model:
            return
        config = self.record.config.replace(init_from=self.record.info.best_model)
        note = ""
        if config.recipe == "quick":
            config = config.replace(recipe="thorough")
            note = " A quick model is continued with the Thorough recipe: every layer is fine-tuned."
        self.settings_requested.emit(config)
        self.status_message.emit(f"Settings copied to the Train tab, starting from this run's best model.{note} "
                                 "Choose the photos (a new class too) in the Data tab, then start training.")

    def _resume(self) -> None:
        if self.record is not None:
            self.resume_requested.emit(self.record.info.run_dir)

    def export_model(self) -> None:
        """The export dialog for the selected run's best model."""
        if self.record is not None and self.record.info.best_model:
            self.export_dialog = open_export_dialog(self, self.record.info.best_model, self.export_dialog)

    def _open_folder(self) -> None:
        if self.record is not None and os.path.isdir(self.record.info.run_dir):
            QDesktopServices.openUrl(QUrl.fromLocalFile(self.record.info.run_dir))

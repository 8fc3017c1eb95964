"""The main window: assembles the panels, menus and status bar; no business logic.

Every tab is a gui.panel.Panel registered with add_panel(key, title, panel); the
window owns the one ModelStore and the one undo queue (core.photos.label_session) every
tab is handed, and gui.workflow's small named functions connect the tabs to each other.
"""
from __future__ import annotations

import logging
import os
from typing import Callable

from PySide6.QtCore import QByteArray, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDragMoveEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (QFileDialog, QLabel, QMainWindow, QMessageBox, QTabWidget,
                               QWidget)

from core.photos.label_session import LabelSession
from gui import workflow
from gui.background import JobRunner
from gui.drops import accept_copy, local_paths, sort_dropped
from gui.engine import EngineInfo, load_engine, warm_up
from gui.model_store import MODEL_FILTER, ModelStore
from gui.panel import Panel
from gui.panels.data.data_panel import DatasetPanel
from gui.panels.evaluate.evaluate_panel import EvaluatePanel
from gui.panels.predict.predict_panel import PredictPanel
from gui.panels.review.review_panel import ReviewPanel
from gui.panels.runs.runs_panel import RunsPanel
from gui.panels.sort.sort_panel import SortPanel
from gui.panels.train.train_panel import TrainingPanel
from gui.settings import (DATASET_DIALOG_FOLDER, MODEL_DIALOG_FOLDER, WINDOW_GEOMETRY, WINDOW_TAB,
                          Settings)
from gui.style import app_icon
from gui.widgets.export_dialog import ExportDialog, open_export_dialog

log = logging.getLogger(__name__)

def _ask_stop(parent: QWidget) -> bool:
    box = QMessageBox(QMessageBox.Icon.Question, "Training is running",
                      "A model is still training. Stop it and close Fledge?\n\n"
                      "The model trained so far is saved, and the run can be resumed later.",
                      QMessageBox.StandardButton.NoButton, parent)
    stop = box.addButton("Stop and close", QMessageBox.ButtonRole.AcceptRole)
    box.addButton("Keep training", QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(stop)
    box.exec()
    return box.clickedButton() is stop


class MainWindow(QMainWindow):
    engine_ready = Signal(object)        # gui.background.EngineInfo
    engine_failed = Signal(str)

    def __init__(self, settings: Settings | None = None, parent: QWidget | None = None,
                 *, load_engine_on_show: bool = True) -> None:
        super().__init__(parent)
        self.settings = settings if settings is not None else Settings()   # handed to every tab
        self.engine: EngineInfo | None = None
        self.engine_error = ""
        self._close_when_stopped = False
        self._closing = False
        # Replaceable in tests: the stop-on-close question and error dialogs.
        self.ask_stop_on_close: Callable[[], bool] = lambda: _ask_stop(self)
        self.show_error: Callable[[str, str], None] = self._error_dialog

        self.setWindowTitle("Fledge")
        self.setWindowIcon(app_icon())
        self.setMinimumSize(900, 600)
        self.setAcceptDrops(True)

        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.setCentralWidget(self.tabs)
        self.panels: dict[str, Panel] = {}
        self.view_menu = None
        self.export_dialog: ExportDialog | None = None       # File > Export model…

        self.models = ModelStore(self, self.settings)      # the loaded model, shared by every tab
        s = self.settings
        self.session = LabelSession()                      # labels, keeps, set-asides and their undo
        self.dataset_panel = DatasetPanel(settings=s, session=self.session)
        self.training_panel = TrainingPanel(s)
        self.predict_panel = PredictPanel(self.models, settings=s)
        self.runs_panel = RunsPanel()
        self.evaluate_panel = EvaluatePanel(self.models, settings=s, session=self.session)
        self.sort_panel = SortPanel(self.models, settings=s, session=self.session)
        self.review_panel = ReviewPanel(self.models, settings=s, session=self.session)
        self.add_panel("data", "&Data", self.dataset_panel, "Choose the photos to learn from")
        self.add_panel("train", "&Train", self.training_panel, "Train a model and watch it learn")
        self.add_panel("predict", "&Predict", self.predict_panel, "Try a trained model on photos")
        self.add_panel("runs", "&Runs", self.runs_panel, "Past training runs")
        self.add_panel("evaluate", "&Evaluate", self.evaluate_panel, "How good is a model: accuracy, "
                       "per-class figures, a confusion matrix, and the photos it gets wrong")
        self.add_panel("sort", "&Sort", self.sort_panel,
                       "Sort a folder of photos into class folders with a model")
        self.add_panel("review", "Revie&w", self.review_panel, "Label photos with the keyboard, least certain "
                       "first, and retrain with your corrections")

        self._connect()
        self._build_menus()
        self._build_status_bar()
        self._restore_geometry()

        self._engine_runner = JobRunner(self, name="fledge-engine-loader")
        self._engine_runner.finished.connect(self._on_engine_loaded)
        self._engine_runner.failed.connect(self._on_engine_failed)
        self._warmup_runner = JobRunner(self, name="fledge-warm-up")
        if load_engine_on_show:
            # After the first paint: the window appears at once, torch loads behind it,
            # then the model of the last session (reading it needs torch too).
            QTimer.singleShot(0, self.load_engine)
            self.engine_ready.connect(lambda _engine: self._reload_last_model())
        else:
            self._reload_last_model()

    # ------------------------------------------------------------------ panels
    def add_panel(self, key: str, title: str, panel: Panel, tooltip: str = "") -> int:
        if not isinstance(panel, Panel):
            raise TypeError(f"{type(panel).__name__} cannot be a tab: it needs a status_message "
                            "signal and a shutdown(msecs) method (gui.panel.Panel)")
        index = self.tabs.addTab(panel, title)
        if tooltip:
            self.tabs.setTabToolTip(index, tooltip)
        self.panels[key] = panel
        panel.status_message.connect(self.status)
        if self.view_menu is not None:
            self._add_view_action(key, title, index)
        return index

    def show_panel(self, key: str) -> None:
        self.tabs.setCurrentWidget(self.panels[key])

    def _connect(self) -> None:
        """How the tabs hand work to each other (gui.workflow) and what the window does itself."""
        data, tp, rp = self.dataset_panel, self.training_panel, self.runs_panel
        ev, so, rv = self.evaluate_panel, self.sort_panel, self.review_panel
        workflow.share_dataset(data, tp, ev, rv, so)
        workflow.share_models(self.models, tp, ev, so, rv)
        workflow.warn_unfit_model(self, data, self.models)
        workflow.carry_dataset_forward(self.settings, data)
        workflow.reuse_runs(self, tp, rp)
        workflow.review_what_needs_it(self, ev, so, rv)
        stale = workflow.rescan_after_labelling(self, data, ev, rv)
        workflow.connect_retrain(self, tp, data, rv, stale)
        workflow.connect_start_labelling(self, data, rv)
        tp.predict_requested.connect(self.use_model)
        rp.predict_requested.connect(self.use_model)
        tp.run_finished.connect(self._on_run_finished)
        tp.run_started.connect(lambda _d: self.runs_panel.refresh() if self.engine else None)
        tp.running_changed.connect(self._on_running_changed)

    # ------------------------------------------------------------------ menus
    def _build_menus(self) -> None:
        mb = self.menuBar()
        file_menu = mb.addMenu("&File")
        self.open_dataset_action = self._action(file_menu, "Open &dataset…", self.choose_dataset,
                                                QKeySequence("Ctrl+O"),
                                                "Choose a folder with one subfolder of photos per class")
        self.sample_data_action = self._action(file_menu, "Use &sample data", self.use_sample_data,
                                               tip="Try Fledge on a small made-up set of bird and plane pictures")
        self.open_model_action = self._action(file_menu, "Open &model…", self.choose_model,
                                              QKeySequence("Ctrl+M"), "Load a trained model (.pt) to predict with")
        self.export_action = self._action(file_menu, "&Export model…", self.export_model,
                                          tip="Export the current model to ONNX or TorchScript, to use it "
                                              "on a computer without Fledge (open or train a model first)")
        self.export_action.setEnabled(bool(self.models.path()))
        self.models.changed.connect(lambda _path: self.export_action.setEnabled(True))
        file_menu.addSeparator()
        self.quit_action = self._action(file_menu, "&Quit", self.close, QKeySequence("Ctrl+Q"),
                                        "Close Fledge")
        self.quit_action.setMenuRole(QAction.MenuRole.QuitRole)

        train_menu = mb.addMenu("&Training")
        tp = self.training_panel
        for a in (tp.start_action, tp.pause_action, tp.stop_action):
            train_menu.addAction(a)
            self.addAction(a)                 # shortcuts work from every tab

        self.view_menu = mb.addMenu("&View")
        for i in range(self.tabs.count()):
            key = next(k for k, w in self.panels.items() if w is self.tabs.widget(i))
            self._add_view_action(key, self.tabs.tabText(i), i)

        help_menu = mb.addMenu("&Help")
        self._action(help_menu, "&About Fledge", self.about).setMenuRole(QAction.MenuRole.AboutRole)

    def _action(self, menu, text: str, slot, shortcut: QKeySequence | None = None, tip: str = "") -> QAction:
        a = QAction(text, self)
        if shortcut is not None:
            a.setShortcut(shortcut)
        if tip:
            a.setStatusTip(tip)
            a.setToolTip(tip)
        a.triggered.connect(lambda checked=False: slot())
        menu.addAction(a)
        return a

    def _add_view_action(self, key: str, title: str, index: int) -> None:
        a = QAction(title.replace("&", ""), self)
        if index < 9:
            a.setShortcut(QKeySequence(f"Ctrl+{index + 1}"))
        a.triggered.connect(lambda checked=False, k=key: self.show_panel(k))
        self.view_menu.addAction(a)
        self.addAction(a)

    def _build_status_bar(self) -> None:
        self.engine_label = QLabel("Loading the training engine…")
        self.engine_label.setToolTip("The processor used for training")
        self.statusBar().addPermanentWidget(self.engine_label)

    def status(self, text: str, ms: int = 10000) -> None:
        if text:
            self.statusBar().showMessage(text, ms)

    # ------------------------------------------------------------------ engine
    def load_engine(self) -> None:
        if self.engine is None and not self._engine_runner.is_running() and not self._closing:
            self._engine_runner.start(load_engine)

    def _on_engine_loaded(self, engine: EngineInfo) -> None:
        self.engine = engine
        self.training_panel.set_engine(engine)
        self.runs_panel.refresh()
        gpu = next((label for dev, label in engine.devices if dev != "cpu"), "")
        self.engine_label.setText(gpu or engine.devices[-1][1] if engine.devices else "")
        self.status("Ready.", 3000)
        if not self._closing:
            self._warmup_runner.start(warm_up)
        self.engine_ready.emit(engine)

    def _on_engine_failed(self, message: str) -> None:
        self.engine_error = message
        self.engine_label.setText("Training unavailable")
        text = f"The training engine (PyTorch) could not be loaded: {message}"
        self.status(text, 0)
        self.engine_failed.emit(message)
        self.show_error("Fledge cannot train", text)

    # ------------------------------------------------------------------ actions
    def choose_dataset(self) -> None:
        path = QFileDialog.getExistingDirectory(
            self, "Choose a folder of photos (one subfolder per class)",
            self.settings.get(DATASET_DIALOG_FOLDER) or os.path.expanduser("~"))
        if path:
            self.open_dataset(path)

    def open_dataset(self, path: str) -> None:
        self.settings.set(DATASET_DIALOG_FOLDER, path)
        self.show_panel("data")
        self.dataset_panel.open_folder(path)

    def use_sample_data(self) -> None:
        self.show_panel("data")
        self.dataset_panel.use_sample_data()

    def choose_model(self) -> None:
        start = self.settings.get(MODEL_DIALOG_FOLDER)
        if not start:
            from core.training.runs import runs_root

            start = runs_root()
        path, _ = QFileDialog.getOpenFileName(self, "Open a trained model", start, MODEL_FILTER)
        if path:
            self.use_model(path)

    def use_model(self, path: str) -> None:
        """Make a model file the window's model and show it in the Predict tab."""
        self.settings.set(MODEL_DIALOG_FOLDER, os.path.dirname(path))
        self.show_panel("predict")
        self.models.load(path)

    def export_model(self) -> None:
        """The export dialog for the window's current model (gui.widgets.export_dialog)."""
        if self.models.path():
            self.export_dialog = open_export_dialog(self, self.models.path(), self.export_dialog)

    def _reload_last_model(self) -> None:
        """The last session's model, unless a model was opened (or trained) meanwhile."""
        if not self._closing and not self.models.path() and not self.models.is_loading():
            self.models.load_last()

    def about(self) -> None:
        QMessageBox.about(self, "About Fledge",
                          "<b>Fledge</b><br>Train an image classifier on your own photo folders, "
                          "watch it learn, then use it to sort and review your pictures.")

    def _on_run_finished(self, ended) -> None:
        if self.engine is not None:
            self.runs_panel.refresh()
        if self._close_when_stopped:
            self.close()

    def _on_running_changed(self, running: bool) -> None:
        self.setWindowTitle("Fledge — training…" if running else "Fledge")

    # ------------------------------------------------------------------ drops
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if local_paths(event.mimeData())[0]:
            accept_copy(event)
        else:
            event.ignore()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        if local_paths(event.mimeData())[0]:
            accept_copy(event)

    def dropEvent(self, event: QDropEvent) -> None:
        paths = local_paths(event.mimeData())[0]
        if not (paths and accept_copy(event)) or not self.open_paths(paths):
            event.ignore()

    def open_paths(self, paths: list[str]) -> bool:
        """A folder opens as the dataset, a .pt file as the model, pictures go to Predict."""
        dropped = sort_dropped(paths)
        if dropped.folders:
            self.open_dataset(dropped.folders[0])
        if dropped.models:
            self.use_model(dropped.models[0])
        if dropped.pictures:
            self.show_panel("predict")
            self.predict_panel.predict_files(dropped.pictures)
        if not dropped:
            self.status("Drop a folder of photos (one subfolder per class), a trained model (.pt) "
                        "or photos to classify.")
            return False
        return True

    # ------------------------------------------------------------------ closing
    def closeEvent(self, event: QCloseEvent) -> None:
        tp = self.training_panel
        if tp.is_running():
            if not self._close_when_stopped:
                if not self.ask_stop_on_close():
                    event.ignore()
                    return
                self._close_when_stopped = True
                tp.stop()
                self.status("Stopping training and saving the model…", 0)
            # Close for real once the run has ended (run_finished calls close()).
            event.ignore()
            return
        self._closing = True
        self.save_geometry()
        # Disappear at once; joining a thread that is still importing PyTorch can
        # take a few seconds and the user should not watch a frozen window.
        self.hide()
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self, timeout_ms: int = -1) -> None:
        """Stop every job of every panel and join its threads."""
        for key, panel in self.panels.items():
            try:
                panel.shutdown(timeout_ms)
            except Exception:  # noqa: BLE001 - closing must go on
                log.exception("the %s tab did not shut down cleanly", key)
        if self.export_dialog is not None:
            self.export_dialog.shutdown(timeout_ms)
        self._engine_runner.wait(timeout_ms)
        self._warmup_runner.wait(timeout_ms)
        self.models.shutdown(timeout_ms)
        self.settings.sync()

    def save_geometry(self) -> None:
        self.settings.set(WINDOW_GEOMETRY, bytes(self.saveGeometry().data()))
        self.settings.set(WINDOW_TAB, self.tabs.currentIndex())

    def _restore_geometry(self) -> None:
        geo = self.settings.get(WINDOW_GEOMETRY)
        if not geo or not self.restoreGeometry(QByteArray(geo)):
            self.resize(1200, 800)
        self.tabs.setCurrentIndex(self.settings.get(WINDOW_TAB))

    def _error_dialog(self, title: str, text: str) -> None:
        QMessageBox.warning(self, title, text)


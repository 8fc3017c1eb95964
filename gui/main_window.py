"""The main window: assembles the panels, menus and status bar; no business logic.

Panels are tabs registered with add_panel(key, title, widget), so a new feature
(evaluation, sorting and review) is one more call and, if it needs a menu entry,
one more action.
"""
from __future__ import annotations

import os
from typing import Callable

from PySide6.QtCore import QSettings, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (QFileDialog, QLabel, QMainWindow, QMessageBox, QTabWidget,
                               QWidget)

from core.errors import FledgeError

from gui.panels.data import DatasetPanel
from gui.workflow import install_loop_panels
from gui.panels.predict import PredictPanel
from gui.panels.runs import RunsPanel
from gui.style import app_icon
from gui.panels.train import TrainingPanel
from gui.background import JobRunner
from gui.engine import EngineInfo, load_engine, warm_up

MODEL_FILTER = "Fledge models (*.pt);;All files (*)"


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

    def __init__(self, settings: QSettings | None = None, parent: QWidget | None = None,
                 *, load_engine_on_show: bool = True) -> None:
        super().__init__(parent)
        self.settings = settings if settings is not None else QSettings()
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
        self.panels: dict[str, QWidget] = {}

        self.dataset_panel = DatasetPanel()
        self.training_panel = TrainingPanel(self.settings)
        self.predict_panel = PredictPanel()
        self.runs_panel = RunsPanel()
        self.add_panel("data", "&Data", self.dataset_panel, "Choose the photos to learn from")
        self.add_panel("train", "&Train", self.training_panel, "Train a model and watch it learn")
        self.add_panel("predict", "&Predict", self.predict_panel, "Try a trained model on photos")
        self.add_panel("runs", "&Runs", self.runs_panel, "Past training runs")

        self._wire()
        install_loop_panels(self)          # Evaluate, Sort, Review
        self._build_menus()
        self._build_status_bar()
        self._restore_geometry()

        self._engine_runner = JobRunner(self, name="fledge-engine-loader")
        self._engine_runner.finished.connect(self._on_engine_loaded)
        self._engine_runner.failed.connect(self._on_engine_failed)
        self._warmup_runner = JobRunner(self, name="fledge-warm-up")
        if load_engine_on_show:
            # After the first paint: the window appears at once, torch loads behind it.
            QTimer.singleShot(0, self.load_engine)

    # ------------------------------------------------------------------ panels
    def add_panel(self, key: str, title: str, widget: QWidget, tooltip: str = "") -> int:
        index = self.tabs.addTab(widget, title)
        if tooltip:
            self.tabs.setTabToolTip(index, tooltip)
        self.panels[key] = widget
        if hasattr(self, "view_menu"):
            self._add_view_action(key, title, index)
        return index

    def show_panel(self, key: str) -> None:
        self.tabs.setCurrentWidget(self.panels[key])

    def _wire(self) -> None:
        tp, rp = self.training_panel, self.runs_panel
        self.dataset_panel.dataset_changed.connect(self._on_dataset_changed)
        tp.status_message.connect(self.status)
        tp.predict_requested.connect(self.use_model)
        tp.run_finished.connect(self._on_run_finished)
        tp.run_started.connect(lambda _d: self.runs_panel.refresh() if self.engine else None)
        tp.running_changed.connect(self._on_running_changed)
        rp.status_message.connect(self.status)
        rp.predict_requested.connect(self.use_model)
        rp.settings_requested.connect(self._use_settings)
        rp.resume_requested.connect(self._resume_run)
        if hasattr(self.predict_panel, "model_loaded"):
            self.predict_panel.model_loaded.connect(
                lambda path: self.status(f"Model loaded: {path}"))

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
            str(self.settings.value("paths/dataset", os.path.expanduser("~"))))
        if path:
            self.open_dataset(path)

    def open_dataset(self, path: str) -> None:
        self.settings.setValue("paths/dataset", path)
        self.show_panel("data")
        try:
            self.dataset_panel.open_folder(path)
        except FledgeError as exc:
            self.show_error("Cannot use this folder", str(exc))

    def use_sample_data(self) -> None:
        self.show_panel("data")
        try:
            self.dataset_panel.use_sample_data()
        except FledgeError as exc:
            self.show_error("Cannot make the sample data", str(exc))

    def choose_model(self) -> None:
        start = str(self.settings.value("paths/model", ""))
        if not start:
            from core.training.runs import runs_root

            start = runs_root()
        path, _ = QFileDialog.getOpenFileName(self, "Open a trained model", start, MODEL_FILTER)
        if path:
            self.use_model(path)

    def use_model(self, path: str) -> None:
        """Load a model file in the Predict panel and show it."""
        self.settings.setValue("paths/model", os.path.dirname(path))
        self.show_panel("predict")
        try:
            self.predict_panel.load_model(path)
        except FledgeError as exc:
            self.show_error("Cannot open this model", str(exc))

    def about(self) -> None:
        QMessageBox.about(self, "About Fledge",
                          "<b>Fledge</b><br>Train an image classifier on your own photo folders, "
                          "watch it learn, then use it to sort and review your pictures.")

    def _on_dataset_changed(self, dataset) -> None:
        self.training_panel.set_dataset(dataset)
        if dataset is not None:
            n = len(dataset.train) + len(dataset.val) + len(dataset.test)
            self.status(f"Dataset: {n} images in {len(dataset.classes)} classes from {dataset.root}")

    def _use_settings(self, config) -> None:
        if self.training_panel.is_running():
            self.status("Settings can be changed when the current training has ended.")
            return
        self.training_panel.apply_config(config)
        self.show_panel("train")

    def _resume_run(self, run_dir: str) -> None:
        if self.training_panel.resume_run(run_dir):
            self.show_panel("train")

    def _on_run_finished(self, ended) -> None:
        if self.engine is not None:
            self.runs_panel.refresh()
        if self._close_when_stopped:
            self.close()

    def _on_running_changed(self, running: bool) -> None:
        self.setWindowTitle("Fledge — training…" if running else "Fledge")

    # ------------------------------------------------------------------ drops
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if _local_paths(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        if self.open_paths(_local_paths(event.mimeData())):
            event.acceptProposedAction()
        else:
            event.ignore()

    def open_paths(self, paths: list[str]) -> bool:
        """A folder opens as the dataset, a .pt file as the model, pictures go to Predict."""
        from core.data.imageio import is_image_name

        folders = [p for p in paths if os.path.isdir(p)]
        models = [p for p in paths if p.lower().endswith(".pt") and os.path.isfile(p)]
        pictures = [p for p in paths if os.path.isfile(p) and is_image_name(os.path.basename(p))]
        if folders:
            self.open_dataset(folders[0])
        if models:
            self.use_model(models[0])
        if pictures and hasattr(self.predict_panel, "predict_files"):
            self.show_panel("predict")
            self.predict_panel.predict_files(pictures)
        if not (folders or models or pictures):
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
        """Stop every job of every panel and join its thread."""
        self.training_panel.shutdown(timeout_ms)
        self._engine_runner.wait(timeout_ms)
        self._warmup_runner.wait(timeout_ms)
        for panel in self.panels.values():
            if panel is not self.training_panel and hasattr(panel, "shutdown"):
                try:
                    panel.shutdown()
                except Exception:  # noqa: BLE001 - closing must go on
                    pass
        self.settings.sync()

    def save_geometry(self) -> None:
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/tab", self.tabs.currentIndex())

    def _restore_geometry(self) -> None:
        geo = self.settings.value("window/geometry")
        if geo is None or not self.restoreGeometry(geo):
            self.resize(1200, 800)
        try:
            self.tabs.setCurrentIndex(int(self.settings.value("window/tab", 0)))
        except (TypeError, ValueError):
            pass

    def _error_dialog(self, title: str, text: str) -> None:
        QMessageBox.warning(self, title, text)


def _local_paths(mime) -> list[str]:
    if mime is None or not mime.hasUrls():
        return []
    return [u.toLocalFile() for u in mime.urls() if u.isLocalFile() and u.toLocalFile()]

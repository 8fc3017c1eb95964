"""Export… : a model to ONNX or TorchScript, for a computer without Fledge, proven to answer alike.

    dialog = open_export_dialog(parent, "runs/…/best.pt", previous_dialog)

The Runs tab (a run's best model) and the window's File menu (the current model) both open
this one dialog. It asks the format and where to put the export folder, runs
core.model.export.export_model on a gui.background.JobRunner with its progress and a
Cancel, then shows the result: the folder (with "Open folder") and the parity check in
plain words, or why the export failed -- an export that failed its check is not kept
(core makes sure) and is never offered as usable here.
"""
from __future__ import annotations

import math
import os

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (QComboBox, QDialog, QFormLayout, QHBoxLayout, QLabel, QPushButton,
                               QVBoxLayout, QWidget)

from core.errors import FledgeError
from core.model.export import FORMATS
from core.model.export.bundle import destination
from core.progress import JobProgress
from core.wording import plural
from gui.background import JobRunner
from gui.style import error_colour, make_muted, set_text_colour, success_colour
from gui.widgets.folder_field import FolderField
from gui.widgets.job_progress import JobProgressBar

FORMAT_LABELS = {"onnx": "ONNX — runs with onnxruntime, no PyTorch needed",
                 "torchscript": "TorchScript — for programs that use PyTorch or LibTorch"}
STAGES = {"loading": "Loading the model", "exporting": "Writing the exported model",
          "checking": "Checking it against Fledge"}


def _points(p: float) -> str:
    """A probability difference in percentage points, in decimals (no 1e-05 notation)."""
    v = 100.0 * p
    if v == 0:
        return "0"
    if v < 1e-8:
        return "less than 0.00000001"
    decimals = min(8, max(2, 1 - math.floor(math.log10(v))))     # two significant digits
    return f"{v:.{decimals}f}".rstrip("0").rstrip(".")


def parity_text(p) -> str:
    """The parity check (core.model.export.parity.ParityReport) in plain words."""
    made = p.photos - p.from_dataset
    if p.from_dataset:
        photos = f"{plural(p.photos, 'photo')} ({p.from_dataset} from the model's dataset, {made} made up)"
    else:
        photos = f"{plural(p.photos, 'made-up photo')} (the model's dataset is no longer there)"
    allowed = _points(p.tolerance)
    if p.ok:
        return (f"Checked on {photos}: the export gives the same top class as Fledge on every photo, "
                f"and its probabilities differ from Fledge's by at most {_points(p.max_abs_diff)} "
                f"percentage points (rounding; up to {allowed} is allowed).")
    agree = round(p.top_class_agreement * p.photos)
    diff = (f"differ by up to {_points(p.max_abs_diff)} percentage points (at most {allowed} is allowed)"
            if math.isfinite(p.max_abs_diff) else "are not numbers on some photos")
    return (f"Checked on {photos}: the same top class as Fledge on {agree} of {p.photos}; "
            f"the probabilities {diff}.")


def result_text(result) -> str:
    """What an ExportResult means for the person who asked for it."""
    if result.ok:
        return (f"The model was exported to {result.folder}\n\n{parity_text(result.parity)}\n\n"
                "Copy the whole folder to the other computer; its README.md says how to run "
                "predict.py there.")
    if result.stopped:
        return "The export was stopped. Nothing was kept."
    text = f"The export failed and was not kept. {result.reason}"
    if result.parity is not None:
        text += f"\n\n{parity_text(result.parity)}"
    return text


def _export_task(model_path: str, fmt: str, out: str):
    def task(report, control):
        from core.model.export import export_model      # imports torch: on the job thread

        return export_model(model_path, fmt, out, progress=report,
                            should_stop=lambda: control.stop_requested)
    return task


class ExportDialog(QDialog):
    """Choose a format and a place, export with progress, see the result."""

    exported = Signal(object)           # the ExportResult of every export that ran (ok or not)

    def __init__(self, model_path: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model_path = os.path.abspath(os.fspath(model_path))
        self.export_result = None        # the last ExportResult
        self.setWindowTitle("Export a model")
        self.setMinimumWidth(520)
        self._close_when_done = False
        self._runner = JobRunner(self, name="fledge-export")
        self._runner.progress.connect(self._on_progress)
        self._runner.finished.connect(self._on_finished)
        self._runner.failed.connect(self._on_failed)
        self._runner.ended.connect(self._on_ended)
        self._build()
        self._update_place()

    def _build(self) -> None:
        intro = QLabel(f"Export <b>{os.path.basename(self.model_path)}</b> "
                       f"({os.path.basename(os.path.dirname(self.model_path))}) as a folder another "
                       "computer can use without Fledge: the model, a small predict.py and a README. "
                       "Fledge checks on photos that the export answers as it does before keeping it.")
        intro.setWordWrap(True)
        self.format_box = QComboBox(self)
        for fmt in FORMATS:
            self.format_box.addItem(FORMAT_LABELS.get(fmt, fmt), fmt)
        self.format_box.setAccessibleName("Export format")
        self.format_box.currentIndexChanged.connect(self._update_place)
        self.folder = FolderField("The folder to put the export in", "Choose where to put the export",
                                  parent=self)
        self.folder.set_path(os.path.dirname(self.model_path), notify=False)
        self.folder.changed.connect(self._update_place)
        self.place = QLabel(self)
        self.place.setWordWrap(True)
        make_muted(self.place)
        form = QFormLayout()
        form.addRow("&Format:", self.format_box)
        form.addRow("&Put it in:", self.folder)
        form.addRow("", self.place)
        self.progress = JobProgressBar("Export progress", "Stop the export; nothing is kept", STAGES, self)
        self.progress.cancel_clicked.connect(self.cancel)
        self.result_label = QLabel(self)
        self.result_label.setWordWrap(True)
        self.result_label.setTextFormat(Qt.TextFormat.PlainText)
        self.result_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.result_label.hide()
        self.open_button = QPushButton("Open folder", self)
        self.open_button.setToolTip("Show the export folder in the file manager")
        self.open_button.clicked.connect(self.open_folder)
        self.open_button.hide()
        self.export_button = QPushButton("&Export", self)
        self.export_button.setDefault(True)
        self.export_button.clicked.connect(self.start)
        self.close_button = QPushButton("Close", self)
        self.close_button.clicked.connect(self.reject)
        buttons = QHBoxLayout()
        buttons.addWidget(self.open_button)
        buttons.addStretch(1)
        buttons.addWidget(self.export_button)
        buttons.addWidget(self.close_button)
        lay = QVBoxLayout(self)
        lay.addWidget(intro)
        lay.addLayout(form)
        lay.addWidget(self.progress)
        lay.addWidget(self.result_label)
        lay.addStretch(1)
        lay.addLayout(buttons)

    # -- state ------------------------------------------------------------------------------
    def chosen_format(self) -> str:
        return self.format_box.currentData()

    def set_format(self, fmt: str) -> None:
        self.format_box.setCurrentIndex(self.format_box.findData(fmt))

    def is_running(self) -> bool:
        return self._runner.is_running()

    def succeeded(self) -> bool:
        return self.export_result is not None and self.export_result.ok

    def result_message(self) -> str:
        return self.result_label.text()

    def _update_place(self, *_args) -> bool:
        """Say where the export folder will be made; False (and why) when it cannot be."""
        try:
            parent, name = destination(self.model_path, self.chosen_format(), self.folder.path() or None)
        except FledgeError as e:
            self.place.setText(str(e))
            self.export_button.setEnabled(False)
            return False
        self.place.setText(f"A new folder {name} is made in {parent} (with a number added when that "
                           "name is taken); nothing there is replaced.")
        self.export_button.setEnabled(not self.is_running())
        self._fit_text()
        return True

    def _fit_text(self) -> None:
        """Tall enough for every line of its texts (they wrap): a dialog does not grow by itself
        when a label gets longer, and its words would be cut off or run into each other."""
        lay = self.layout()
        lay.activate()
        need = lay.totalHeightForWidth(self.width()) if lay.hasHeightForWidth() else lay.totalSizeHint().height()
        self.setMinimumHeight(need)
        if self.height() < need:
            self.resize(self.width(), need)

    # -- the export ---------------------------------------------------------------------------
    def start(self) -> None:
        if self.is_running() or not self._update_place():
            return
        self.export_result = None
        self._show_result("", None)
        for w in (self.format_box, self.folder, self.export_button):
            w.setEnabled(False)
        self.progress.begin("Starting the export…")
        self._runner.start(_export_task(self.model_path, self.chosen_format(), self.folder.path() or None))

    def cancel(self) -> None:
        """Stop a running export (nothing of it is kept)."""
        if self.is_running():
            self._runner.stop()
            self.progress.stopping("Stopping the export…")

    def _on_progress(self, ev) -> None:
        if isinstance(ev, JobProgress) and ev.stage != "checking":
            ev = JobProgress(ev.stage)          # one step, not photos: a moving stripe
        self.progress.report(ev)

    def _on_finished(self, result) -> None:
        self.export_result = result
        level = "ok" if result.ok else ("stopped" if result.stopped else "error")
        self._show_result(result_text(result), level)
        self.exported.emit(result)

    def _on_failed(self, message: str) -> None:
        self._show_result(f"The export could not be made. {message}", "error")

    def _on_ended(self) -> None:
        self.progress.end()
        self.format_box.setEnabled(True)
        self.folder.setEnabled(True)
        self._update_place()
        if self._close_when_done:
            super().reject()

    def _show_result(self, text: str, level: str | None) -> None:
        self.result_label.setText(text)
        self.result_label.setVisible(bool(text))
        self.result_label.setPalette(self.palette())
        if level == "ok":
            set_text_colour(self.result_label, success_colour(self.palette()))
        elif level == "error":
            set_text_colour(self.result_label, error_colour(self.palette()))
        usable = level == "ok" and bool(self.export_result and self.export_result.folder)
        self.open_button.setVisible(usable)
        self.export_button.setText("Export &again" if usable else "&Export")
        self._fit_text()

    def open_folder(self) -> None:
        if self.succeeded() and os.path.isdir(self.export_result.folder):
            QDesktopServices.openUrl(QUrl.fromLocalFile(self.export_result.folder))

    # -- closing ------------------------------------------------------------------------------
    def reject(self) -> None:
        """Close; a running export is stopped first (the dialog closes once it has)."""
        if self.is_running():
            self._close_when_done = True
            self.cancel()
            return
        super().reject()

    def shutdown(self, msecs: int = -1) -> bool:
        """Stop a running export and join its thread (the window is closing)."""
        return self._runner.shutdown(msecs)


def open_export_dialog(parent: QWidget, model_path: str, previous: ExportDialog | None = None) -> ExportDialog:
    """Show the export dialog for model_path; an export still running is shown instead."""
    if previous is not None and previous.is_running():
        previous.raise_()
        previous.activateWindow()
        return previous
    if previous is not None:
        previous.deleteLater()
    dialog = ExportDialog(model_path, parent)
    dialog.open()
    return dialog

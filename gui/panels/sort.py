"""The sort panel: `fledge classify --sort-into` in the app.

Sort runs core.photos.sorting.sort_folder on a JobRunner (classify, the answers CSV into
DEST, copy or move), the same function the command line calls. Cancel stops between
photos; every copy or move already made is in DEST's journal, so nothing is half-done
and "Undo this sort" (core.photos.sort_undo.undo, also on the JobRunner) puts everything
back. The panel words core's reports in its own terms (its buttons, not commands).
"""
from __future__ import annotations

import os

from PySide6.QtCore import QSettings, Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QFont
from PySide6.QtWidgets import (QAbstractItemView, QButtonGroup, QCheckBox, QFormLayout, QHBoxLayout,
                               QHeaderView, QLabel, QPlainTextEdit, QProgressBar, QPushButton,
                               QRadioButton, QSlider, QSpinBox, QSplitter, QTableWidget,
                               QTableWidgetItem, QVBoxLayout, QWidget)

from core.errors import FledgeError
from core.photos import sorting
from core.photos.review_queue import has_photos
from core.photos.sort_undo import UndoReport, undo
from core.photos.sort_wording import Phrases, disk_full_line, sort_lines, undo_lines
from core.progress import JobProgress, Throttled
from core.wording import plural
from gui.background import JobRunner
from gui.model_store import ModelStore
from gui.widgets.folder_field import FolderField
from gui.widgets.message_bar import MessageBar
from gui.widgets.model_chooser import ModelChooser

CSV_NAME = "fledge-predictions.csv"
REVIEW = sorting.REVIEW            # DEST/_review: photos the model was unsure about
UNREADABLE = sorting.UNREADABLE
DEFAULT_THRESHOLD = 80


class SortJob:
    """A job (gui.background): classify a folder, write the CSV, then copy/move into DEST."""

    def __init__(self, model_path: str, folder: str, dest: str, *, recursive: bool, threshold: float,
                 move: bool, keep_structure: bool, predictor=None, models: ModelStore) -> None:
        self.model_path = model_path
        self.models = models
        self.folder = os.path.abspath(folder)
        self.dest = os.path.abspath(dest)
        self.recursive = recursive
        self.threshold = threshold
        self.move = move
        self.keep_structure = keep_structure
        self.predictor = predictor

    def __call__(self, report, control) -> sorting.FolderSort:
        predictor = self.predictor
        if predictor is None:
            report(JobProgress("loading"))
            predictor = self.models.predictor_for(self.model_path)
        out = sorting.sort_folder(
            predictor, self.folder, self.dest, threshold=self.threshold, move=self.move,
            keep_structure=self.keep_structure, recursive=self.recursive,
            # Never replace the CSV of an earlier sort: a free name next to it is taken.
            csv_path=os.path.join(self.dest, CSV_NAME), replace_csv=False,
            report=report, should_stop=lambda: control.stop_requested)
        if not out.results and not out.stopped_while:
            hint = "" if self.recursive else " Tick “Include subfolders” to look inside its subfolders."
            raise FledgeError(f"There are no photos in {self.folder}.{hint}")
        return out


class UndoSortJob:
    """A job: put back everything sorting copied or moved into DEST."""

    def __init__(self, dest: str) -> None:
        self.dest = dest

    def __call__(self, report, control) -> UndoReport:
        report(JobProgress("undoing"))
        return undo(self.dest, progress=Throttled(report, "undoing"), should_stop=lambda: control.stop_requested)


# How this tab names the follow-up actions in core's account of a sort: its buttons.
PHRASES = Phrases(again="press “Start sorting” again", undo_again="press “Undo this sort” again",
                  undo_first="To sort them again with new settings, press “Undo this sort” first.",
                  put_back="To put everything back, press “Undo this sort”.")


class SortPanel(QWidget):
    """Sort a folder of photos into class folders with a model; undo; review the unsure ones."""

    sort_finished = Signal(object)        # core.photos.sorting.FolderSort
    undo_finished = Signal(object)        # core.photos.sort_undo.UndoReport
    review_requested = Signal(str, object, str)   # review folder, [ReviewItem] known, model path
    status_message = Signal(str)

    def __init__(self, models: ModelStore | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.models = models if models is not None else ModelStore(self)   # the window's loaded models
        self.setMinimumSize(560, 440)
        self.outcome: sorting.FolderSort | None = None
        self.undo_report = None
        self._predictor = None
        self._sorted_with = ""              # the model file of the sort shown
        self._pending_model = ""            # ... and of the sort running
        self._job_kind = ""
        self.runner = JobRunner(self, name="fledge-sort")
        self.runner.progress.connect(self._on_progress)
        self.runner.finished.connect(self._on_finished)
        self.runner.failed.connect(self._on_failed)
        self._build_ui()
        self._restore()
        self._refresh_state()

    # -- public -------------------------------------------------------------------------
    def set_model(self, path: str) -> None:
        self._predictor = None
        self.model.set_model(path)

    def set_predictor(self, predictor, label: str = "a model in memory") -> None:
        """Sort with an already loaded predictor (anything with classes and predict_many)."""
        self._predictor = predictor
        self._refresh_state()

    def set_folder(self, path: str) -> None:
        self.folder_field.set_path(path)

    def set_destination(self, path: str) -> None:
        self.dest_field.set_path(path)

    def set_threshold(self, probability: float) -> None:
        self.threshold_spin.setValue(round(100 * float(probability)))

    def threshold(self) -> float:
        return self.threshold_spin.value() / 100.0

    def set_move(self, move: bool) -> None:
        (self.move_radio if move else self.copy_radio).setChecked(True)

    def is_running(self) -> bool:
        return self.runner.is_running()

    def problem(self) -> str:
        """Why Sort cannot run now ('' when it can)."""
        if self.is_running():
            return "Sorting is running."
        if self._predictor is None and not self.model.model_path():
            return "Choose a model to sort with."
        folder, dest = self.folder_field.path(), self.dest_field.path()
        if not folder:
            return "Choose the folder of photos to sort."
        if not os.path.isdir(folder):
            return f"The folder {folder} does not exist."
        if not dest:
            return "Choose where the sorted photos should go."
        if os.path.exists(dest) and not os.path.isdir(dest):
            return f"{dest} is a file. Choose a folder to sort the photos into."
        return ""

    def sort(self) -> bool:
        problem = self.problem()
        if problem:
            self.message_bar.show_message(problem, "info")
            return False
        self.message_bar.clear()
        self._save()
        self._pending_model = self.model.model_path()
        job = SortJob(self.model.model_path(), self.folder_field.path(), self.dest_field.path(),
                      recursive=self.recursive_box.isChecked(), threshold=self.threshold(),
                      move=self.move_radio.isChecked(), keep_structure=self.keep_box.isChecked(),
                      predictor=self._predictor, models=self.models)
        self._start("sort", job, "Starting…")
        return True

    def undo_sort(self) -> bool:
        """Put back every photo sorted into the destination (core.photos.sort_undo.undo)."""
        dest = self.outcome.dest if self.outcome is not None else self.dest_field.path()
        if self.is_running() or not dest:
            return False
        self.message_bar.clear()
        self._start("undo", UndoSortJob(dest), "Undoing…")
        return True

    def cancel(self) -> None:
        if self.is_running():
            self.runner.stop()
            self.progress.setFormat("Stopping after the current photo…")
            self._refresh_state()

    def review_folder(self) -> str:
        dest = self.outcome.dest if self.outcome is not None else self.dest_field.path()
        return os.path.join(dest, REVIEW) if dest else ""

    def review_unsure(self) -> None:
        folder = self.review_folder()
        if not folder or not os.path.isdir(folder):
            self.message_bar.show_message("There is no folder of unsure photos yet: sort a folder first.", "info")
            return
        known = []
        model = self.model.model_path()
        if self.outcome is not None and self.outcome.report is not None:
            known = self.outcome.review_items()
            model = self._sorted_with or model
        self.review_requested.emit(folder, known, model)

    def shutdown(self, msecs: int = 10000) -> None:
        self.runner.shutdown(msecs)

    # -- layout -------------------------------------------------------------------------
    def _build_ui(self) -> None:
        self.model = ModelChooser("sort/last_model_dir", self)
        self.model.model_changed.connect(self._on_model_changed)
        self.folder_field = FolderField("The folder of photos to sort", "Choose the folder of photos to sort",
                                        "The photos to classify, e.g. a camera's memory card", self)
        self.folder_field.changed.connect(lambda _p: self._refresh_state())
        self.recursive_box = QCheckBox("&Include subfolders", self)
        self.recursive_box.setToolTip("Also sort the photos in the folders inside this folder")
        self.recursive_box.toggled.connect(lambda _on: self._refresh_state())
        self.dest_field = FolderField("Where the sorted photos go", "Choose where the sorted photos go",
                                      "Each class gets a folder here; unsure photos go to _review, unreadable "
                                      "ones to _unreadable, and a CSV of all answers is written here", self)
        self.dest_field.changed.connect(lambda _p: self._refresh_state())

        self.threshold_slider = QSlider(Qt.Orientation.Horizontal, self)
        self.threshold_slider.setRange(0, 100)
        self.threshold_slider.setPageStep(5)
        self.threshold_slider.setAccessibleName("Certainty needed")
        self.threshold_spin = QSpinBox(self)
        self.threshold_spin.setRange(0, 100)
        self.threshold_spin.setSuffix(" %")
        self.threshold_spin.setAccessibleName("Certainty needed, percent")
        tip = ("How sure the model must be to put a photo in a class folder. Photos it is less sure "
               "about go to _review, for you to check.")
        self.threshold_slider.setToolTip(tip)
        self.threshold_spin.setToolTip(tip)
        self.threshold_slider.valueChanged.connect(self.threshold_spin.setValue)
        self.threshold_spin.valueChanged.connect(self.threshold_slider.setValue)
        self.threshold_spin.setValue(DEFAULT_THRESHOLD)
        threshold_row = QHBoxLayout()
        threshold_row.addWidget(self.threshold_slider, 1)
        threshold_row.addWidget(self.threshold_spin)

        self.copy_radio = QRadioButton("&Copy (the originals stay where they are)", self)
        self.copy_radio.setToolTip("Safest: the photos are copied into the class folders")
        self.move_radio = QRadioButton("Move (the photos &go into the class folders)", self)
        self.move_radio.setToolTip("The photos are moved out of the folder into the class folders "
                                   "(Undo puts them back)")
        self.copy_radio.setChecked(True)
        mode = QButtonGroup(self)
        mode.addButton(self.copy_radio)
        mode.addButton(self.move_radio)
        self.keep_box = QCheckBox("&Keep subfolders", self)
        self.keep_box.setToolTip("Inside each class folder, keep the subfolder each photo came from "
                                 "(e.g. robin/2024-05/IMG_1.jpg)")
        mode_row = QHBoxLayout()
        mode_row.addWidget(self.copy_radio)
        mode_row.addWidget(self.move_radio)
        mode_row.addWidget(self.keep_box)
        mode_row.addStretch(1)

        form = QFormLayout()
        form.addRow("&Model:", self.model)
        photos_row = QHBoxLayout()
        photos_row.addWidget(self.folder_field, 1)
        photos_row.addWidget(self.recursive_box)
        form.addRow("Photo fo&lder:", photos_row)
        form.addRow("Destinatio&n:", self.dest_field)
        form.addRow("Certaint&y needed:", threshold_row)
        form.addRow("", mode_row)
        for fld, buddy in ((self.model, self.model.combo), (photos_row, self.folder_field.edit),
                           (self.dest_field, self.dest_field.edit), (threshold_row, self.threshold_spin)):
            label = form.labelForField(fld)
            if label is not None:
                label.setBuddy(buddy)

        self.sort_button = QPushButton("St&art sorting", self)
        self.sort_button.setToolTip("Classify every photo and put it in its class folder")
        self.sort_button.clicked.connect(self.sort)
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setToolTip("Stop after the current photo; what was done so far is kept and can be undone")
        self.cancel_button.clicked.connect(self.cancel)
        self.progress = QProgressBar(self)
        self.progress.setAccessibleName("Sorting progress")
        self.progress.hide()
        run_row = QHBoxLayout()
        run_row.addWidget(self.sort_button)
        run_row.addWidget(self.cancel_button)
        run_row.addWidget(self.progress, 2)
        run_row.addStretch(1)

        self.message_bar = MessageBar(self)

        self.headline = QLabel(self)
        bold = QFont(self.headline.font())
        bold.setBold(True)
        self.headline.setFont(bold)
        self.headline.setWordWrap(True)
        self.headline.setAccessibleName("Result")
        self.counts = QTableWidget(0, 2, self)
        self.counts.setHorizontalHeaderLabels(["Folder", "Photos"])
        self.counts.verticalHeader().hide()
        self.counts.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.counts.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.counts.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.counts.setMinimumWidth(200)
        self.counts.setAccessibleName("Photos per folder")
        self.counts.setToolTip("How many photos went into each folder")
        self.details = QPlainTextEdit(self)
        self.details.setReadOnly(True)
        self.details.setAccessibleName("Details")
        self.details.setMinimumHeight(80)
        split = QSplitter(Qt.Orientation.Horizontal, self)
        split.addWidget(self.counts)
        split.addWidget(self.details)
        split.setStretchFactor(1, 1)
        split.setChildrenCollapsible(False)

        self.undo_button = QPushButton("&Undo this sort", self)
        self.undo_button.setToolTip("Put every photo back where it was (copies are removed, moved photos "
                                    "go back)")
        self.undo_button.clicked.connect(self.undo_sort)
        self.review_button = QPushButton("Review the unsure photos", self)
        self.review_button.setToolTip("Look at the photos in _review and label them with the keyboard")
        self.review_button.clicked.connect(self.review_unsure)
        self.open_button = QPushButton("Open destination", self)
        self.open_button.setToolTip("Show the destination folder in the file manager")
        self.open_button.clicked.connect(self._open_dest)
        after = QHBoxLayout()
        after.addWidget(self.undo_button)
        after.addWidget(self.review_button)
        after.addWidget(self.open_button)
        after.addStretch(1)

        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addLayout(run_row)
        lay.addWidget(self.message_bar)
        lay.addWidget(self.headline)
        lay.addWidget(split, 1)
        lay.addLayout(after)
        self.headline.setText("Choose a model, the photos and a destination, then press “Sort photos”.")

    def _restore(self) -> None:
        s = QSettings()
        self.folder_field.set_path(str(s.value("sort/folder", "") or ""), notify=False)
        self.dest_field.set_path(str(s.value("sort/dest", "") or ""), notify=False)
        try:
            self.threshold_spin.setValue(int(s.value("sort/threshold", DEFAULT_THRESHOLD)))
        except (TypeError, ValueError):
            pass
        self.recursive_box.setChecked(str(s.value("sort/recursive", "false")).lower() == "true")
        self.keep_box.setChecked(str(s.value("sort/keep", "false")).lower() == "true")
        self.set_move(str(s.value("sort/move", "false")).lower() == "true")

    def _save(self) -> None:
        s = QSettings()
        s.setValue("sort/folder", self.folder_field.path())
        s.setValue("sort/dest", self.dest_field.path())
        s.setValue("sort/threshold", self.threshold_spin.value())
        s.setValue("sort/recursive", "true" if self.recursive_box.isChecked() else "false")
        s.setValue("sort/keep", "true" if self.keep_box.isChecked() else "false")
        s.setValue("sort/move", "true" if self.move_radio.isChecked() else "false")

    # -- running ------------------------------------------------------------------------
    def _start(self, kind: str, job, text: str) -> None:
        self._job_kind = kind
        self.progress.setRange(0, 0)
        self.progress.setFormat(text)
        self.progress.show()
        self.runner.start(job)
        self.status_message.emit("Sorting photos…" if kind == "sort" else "Undoing the sort…")
        self._refresh_state()

    def _on_model_changed(self, _path: str) -> None:
        self._predictor = None
        self._refresh_state()

    def _on_progress(self, ev) -> None:
        if not isinstance(ev, JobProgress):
            return
        verb = {"loading": "Loading the model", "classifying": "Classifying",
                "sorting": "Moving" if self.move_radio.isChecked() else "Copying",
                "undoing": "Putting back"}.get(ev.stage, ev.stage)
        if ev.total:
            self.progress.setRange(0, ev.total)
            self.progress.setValue(ev.done)
            self.progress.setFormat(f"{verb}: {ev.done:,} of {ev.total:,} photos")
        else:
            self.progress.setRange(0, 0)
            self.progress.setFormat(f"{verb}…")

    def _on_finished(self, result) -> None:
        self.progress.hide()
        if self._job_kind == "sort":
            self.outcome = result
            self._sorted_with = self._pending_model
            self.undo_report = None
            self._show_outcome(result)
            self.sort_finished.emit(result)
        else:
            self.undo_report = result
            self._show_undo(result)
            self.undo_finished.emit(result)
        self._refresh_state()

    def _on_failed(self, message: str) -> None:
        self.progress.hide()
        self.message_bar.show_message(message)
        self.status_message.emit("Sorting failed: see the Sort tab." if self._job_kind == "sort"
                                 else "Undo failed: see the Sort tab.")
        self._refresh_state()

    def _show_outcome(self, out: sorting.FolderSort) -> None:
        rep = out.report
        if rep is None:
            self.headline.setText(f"Stopped while classifying ({plural(len(out.results), 'photo')} done). "
                                  "No photo was copied or moved.")
            self.details.setPlainText("")
            self.counts.setRowCount(0)
            self.status_message.emit("Sorting stopped; nothing was changed.")
            return
        counts = rep.counts()
        verb = "Moved" if out.move else "Copied"
        review, unreadable = counts.get(REVIEW, 0), counts.get(UNREADABLE, 0)
        classes = {c: n for c, n in counts.items() if c not in (REVIEW, UNREADABLE)}
        head = f"{verb} {plural(len(rep.done), 'photo')} into {out.dest}"
        if classes:
            head += ": " + ", ".join(f"{n} {c}" for c, n in sorted(classes.items()))
        head += f". {review} to review, {unreadable} unreadable."
        if out.stopped_while == "sorting":
            head += " Stopped before the end: press Sort again to continue, or Undo to put everything back."
        if rep.disk_full:
            head += " " + disk_full_line(rep, PHRASES)
        self.headline.setText(head)
        rows = sorted(classes.items()) + [("To review (unsure)", review), ("Could not be read", unreadable)]
        self.counts.setRowCount(len(rows))
        for r, (name, n) in enumerate(rows):
            self.counts.setItem(r, 0, QTableWidgetItem(name))
            it = QTableWidgetItem(f"{n:,}")
            it.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.counts.setItem(r, 1, it)
        lines = sort_lines(rep, PHRASES)
        if out.csv_path:
            lines.append(f"The model's answer for every photo is in {out.csv_path}.")
        self.details.setPlainText("\n".join(lines))
        if rep.failed:
            self.message_bar.show_message(f"{plural(len(rep.failed), 'photo')} could not be "
                                          f"{verb.lower()}: {rep.failed[0][1]}. See the details.", "warning")
        self.status_message.emit(head)

    def _show_undo(self, rep) -> None:
        if rep.nothing_to_do:
            head = f"Nothing to undo in {rep.dest}."
        elif rep.kept or rep.missing or rep.failed or rep.stopped:
            head = "Undone, with exceptions: see the details."
        else:
            head = "Undone: every photo is back where it was."
        self.headline.setText(head)
        self.counts.setRowCount(0)
        self.details.setPlainText("\n".join(undo_lines(rep, PHRASES)))
        self.status_message.emit(self.headline.text())

    def _open_dest(self) -> None:
        dest = self.outcome.dest if self.outcome is not None else self.dest_field.path()
        if dest and os.path.isdir(dest):
            QDesktopServices.openUrl(QUrl.fromLocalFile(dest))

    # -- state --------------------------------------------------------------------------
    def _refresh_state(self) -> None:
        running = self.is_running()
        problem = self.problem()
        self.sort_button.setEnabled(not problem)
        self.sort_button.setToolTip(problem or "Classify every photo and put it in its class folder")
        self.cancel_button.setEnabled(running and not self.runner.control.stop_requested)
        for w in (self.model, self.folder_field, self.dest_field, self.recursive_box, self.threshold_slider,
                  self.threshold_spin, self.copy_radio, self.move_radio, self.keep_box):
            w.setEnabled(not running)
        dest = self.outcome.dest if self.outcome is not None else self.dest_field.path()
        has_journal = bool(dest) and os.path.isfile(sorting.journal_path(dest))
        self.undo_button.setEnabled(not running and has_journal)
        review = self.review_folder()
        self.review_button.setEnabled(not running and bool(review) and os.path.isdir(review)
                                      and has_photos(review))
        self.open_button.setEnabled(bool(dest) and os.path.isdir(dest))

"""The sort panel: `fledge classify --sort-into` in the app.

Sort runs core.photos.sorting.sort_folder on a JobRunner (classify, the answers CSV into
DEST, copy or move), the same function the command line calls. "Keep watching this folder"
runs core.photos.watch.watch_folder on the same JobRunner instead (`fledge watch`): the
photos there now and each new one are sorted through the same journal until it is turned
off; its events feed a WatchView (photos per class, the latest photos). Cancel stops between
photos; every copy or move already made is in DEST's journal, so nothing is half-done
and "Undo this sort" (the window's core.photos.label_session undo_sort, as `fledge undo`,
also on the JobRunner) puts everything back -- except photos labelled into a dataset since,
which it finds in the datasets' labelling journals and says where they are. The
panel words core's reports in its own terms (its buttons, not commands), and warns when
the model's classes are not those of the dataset open in the Data tab.
"""
from __future__ import annotations

import os

from PySide6.QtCore import QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QCheckBox, QFormLayout, QHBoxLayout, QPushButton, QVBoxLayout, QWidget

from core.errors import FledgeError
from core.photos import sorting
from core.photos.label_session import LabelSession
from core.photos.review_queue import class_mismatch, has_photos
from core.photos.sort_undo import can_undo
from core.photos.sort_wording import Phrases
from core.photos.watch import WatchStarted, watch_folder
from core.progress import JobProgress, Throttled
from core.wording import plural
from gui.panel import window_parts
from gui.model_source import ModelSource, job_runner
from gui.model_store import ModelStore
from gui.widgets.folder_field import FolderField
from gui.widgets.job_progress import JobProgressBar
from gui.widgets.message_bar import MessageBar
from gui.widgets.model_chooser import ModelChooser
from gui.panels.sort.sort_options import SortOptions
from gui.panels.sort.sort_result import SortResultView
from gui.panels.sort.watch_view import WatchSwitch, WatchView
from gui.settings import (SORT_DEST, SORT_FOLDER, SORT_LABELLED_INTO, SORT_MODEL_FOLDER, SORT_RECURSIVE,
                          Settings)

CSV_NAME = "fledge-predictions.csv"
REVIEW = sorting.REVIEW            # DEST/_review: photos the model was unsure about
UNREADABLE = sorting.UNREADABLE
KEEP_DATASETS = 10

# How this tab names the follow-up actions in core's account of a sort: its buttons.
PHRASES = Phrases(again="press “Start sorting” again", undo_again="press “Undo this sort” again",
                  undo_first="To sort them again with new settings, press “Undo this sort” first.",
                  put_back="To put everything back, press “Undo this sort”.")


def undo_sort(session: LabelSession, dest: str, datasets: list[str], report, should_stop):
    """Undo the sort into dest (a job's work): core.photos.sort_undo.UndoReport, which says where
    the photos labelled into one of the datasets since are."""
    report(JobProgress("undoing"))
    return session.undo_sort(dest, progress=Throttled(report, "undoing"), should_stop=should_stop, datasets=datasets)


class SortPanel(QWidget):
    """Sort a folder of photos into class folders with a model; undo; review the unsure ones."""

    sort_finished = Signal(object)        # core.photos.sorting.FolderSort
    undo_finished = Signal(object)        # core.photos.sort_undo.UndoReport
    review_requested = Signal(str, object, str)   # review folder, [ReviewItem] known, model path
    status_message = Signal(str)

    def __init__(self, models: ModelStore | None = None, parent: QWidget | None = None, *,
                 settings: Settings | None = None, session: LabelSession | None = None) -> None:
        super().__init__(parent)
        self.models, self.settings, self.session = window_parts(self, models, settings, session)
        self.setMinimumSize(560, 440)
        self.outcome: sorting.FolderSort | None = None
        self.undo_report = None
        self._undoable: tuple = (None, False)    # (dest and its journal's size and time, can it be undone)
        self._dataset = None                # the Data tab's dataset (for its classes and labels)
        self._sorted_with = ""              # the model file of the sort shown
        self._pending_model = ""            # ... and of the sort running
        self._job_kind = ""
        self.runner = job_runner(self, "fledge-sort", self._on_progress, self._on_finished, self._on_failed)
        self._build_ui()
        self.source = ModelSource(self.model, self.models, self)
        self.source.changed.connect(self._refresh_state)
        self.source.classes_known.connect(lambda _classes: self._check_classes())
        self._restore()
        self._refresh_state()

    # -- public -------------------------------------------------------------------------
    def set_model(self, path: str) -> None:
        self.source.set_model(path)

    def set_predictor(self, predictor, label: str = "a model in memory") -> None:
        """Sort with an already loaded predictor (anything with classes and predict_many)."""
        self.source.set_predictor(predictor)

    def set_dataset(self, dataset) -> None:
        """The Data tab's dataset (core.data.dataset.Dataset or None): the model should know its classes."""
        self._dataset = dataset
        if dataset is not None and getattr(dataset, "root", ""):
            self.remember_labelling(dataset.root)
        self._check_classes()

    def remember_labelling(self, dataset_root: str) -> None:
        """Photos may be labelled into this dataset: Undo looks for them there (kept across restarts)."""
        root = os.path.abspath(dataset_root)
        roots = [r for r in self.labelling_datasets() if os.path.normcase(r) != os.path.normcase(root)]
        self.settings.set(SORT_LABELLED_INTO, (roots + [root])[-KEEP_DATASETS:])

    def labelling_datasets(self) -> list[str]:
        return self.settings.get(SORT_LABELLED_INTO)

    def set_folder(self, path: str) -> None:
        self.folder_field.set_path(path)

    def set_destination(self, path: str) -> None:
        self.dest_field.set_path(path)

    def set_threshold(self, probability: float) -> None:
        self.certainty.set_percent(round(100 * float(probability)))

    def threshold(self) -> float:
        return self.options.threshold()

    def set_move(self, move: bool) -> None:
        self.options.set_move(move)

    def is_running(self) -> bool:
        return self.runner.is_running()

    def problem(self) -> str:
        """Why Sort cannot run now ('' when it can)."""
        if self.is_running():
            return "Turn off “Keep watching this folder” first." if self.is_watching() else "Sorting is running."
        if not self.source.ready():
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
        if not self._can_start():
            return False
        folder, dest, recursive = self.folder_field.path(), self.dest_field.path(), self.recursive_box.isChecked()
        limits = self.options.limits()
        options = dict(move=self.move_radio.isChecked(), keep_structure=self.keep_box.isChecked(),
                       recursive=recursive, by_burst=self.burst_box.isChecked())

        def work(predictor, report, should_stop) -> sorting.FolderSort:
            out = sorting.sort_folder(predictor, folder, dest, threshold=limits(predictor), **options,
                                      report=report, should_stop=should_stop,
                                      # Never replace the CSV of an earlier sort: a free name next to it is taken.
                                      csv_path=os.path.join(dest, CSV_NAME), replace_csv=False)
            if not out.results and not out.stopped_while:
                hint = "" if recursive else " Tick “Include subfolders” to look inside its subfolders."
                raise FledgeError(f"There are no photos in {folder}.{hint}")
            return out
        self._start("sort", self.source.task(work), "Starting…")
        return True

    def set_watching(self, on: bool) -> None:
        """Turn "Keep watching this folder" on (when a sort could start) or off, as the switch does."""
        self.watch_box.setChecked(on)

    def is_watching(self) -> bool:
        return self.is_running() and self._job_kind == "watch"

    def _watch(self) -> bool:
        """Sort the photos in the folder and each new one (core.photos.watch), until switched off."""
        if not self._can_start():
            return False
        self.outcome = None
        folder, dest, move = self.folder_field.path(), self.dest_field.path(), self.move_radio.isChecked()
        limits = self.options.limits()

        def work(predictor, report, should_stop):
            return watch_folder(predictor, folder, dest, threshold=limits(predictor), move=move, on_event=report,
                                should_stop=should_stop)
        self.watch_view.begin(folder, dest, move)
        self._start("watch", self.source.task(work), "Starting to watch…")
        return True

    def _can_start(self) -> bool:
        problem = self.problem()
        if problem:
            self.message_bar.show_message(problem, "info")
            return False
        self.message_bar.clear()
        self._save()
        self._pending_model = self.source.path()
        return True

    def undo_sort(self) -> bool:
        """Put back every photo sorted into the destination (core.photos.sort_undo.undo)."""
        dest = self.destination()
        if self.is_running() or not dest:
            return False
        self.message_bar.clear()
        datasets = self.labelling_datasets()
        self._start("undo", lambda report, control: undo_sort(self.session, dest, datasets, report,
                                                              lambda: control.stop_requested), "Undoing…")
        return True

    def cancel(self) -> None:
        if self.is_running():
            self.runner.stop()
            self.progress.stopping()
            self._refresh_state()

    def destination(self) -> str:
        """The folder of the sort shown, else the one chosen."""
        return self.outcome.dest if self.outcome is not None else self.dest_field.path()

    def review_folder(self) -> str:
        dest = self.destination()
        return os.path.join(dest, REVIEW) if dest else ""

    def review_unsure(self) -> None:
        folder = self.review_folder()
        if not folder or not os.path.isdir(folder):
            self.message_bar.show_message("There is no folder of unsure photos yet: sort a folder first.", "info")
            return
        known = []
        model = self.source.path()
        if self.outcome is not None and self.outcome.report is not None:
            known = self.outcome.review_items()
            model = self._sorted_with or model
        self.review_requested.emit(folder, known, model)

    def shutdown(self, msecs: int = 10000) -> None:
        self.runner.shutdown(msecs)
        self.watch_view.shutdown()

    # -- layout -------------------------------------------------------------------------
    def _build_ui(self) -> None:
        self.model = ModelChooser(self.settings, SORT_MODEL_FOLDER, self)
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

        self.options = SortOptions(self)       # certainty or own thresholds, copy or move, subfolders, bursts
        o = self.options
        self.certainty, self.own_box, self.keep_box, self.burst_box = o.certainty, o.own_box, o.keep_box, o.burst_box
        self.copy_radio, self.move_radio = o.copy_radio, o.move_radio

        form = QFormLayout()
        form.addRow("&Model:", self.model)
        photos_row = QHBoxLayout()
        photos_row.addWidget(self.folder_field, 1)
        photos_row.addWidget(self.recursive_box)
        form.addRow("Photo fo&lder:", photos_row)
        form.addRow("Destinatio&n:", self.dest_field)
        form.addRow("Certaint&y needed:", o.certainty_row)
        form.addRow("", o.mode_row)
        for fld, buddy in ((self.model, self.model.combo), (photos_row, self.folder_field.edit),
                           (self.dest_field, self.dest_field.edit), (o.certainty_row, self.certainty.spin)):
            label = form.labelForField(fld)
            if label is not None:
                label.setBuddy(buddy)

        self.sort_button = QPushButton("St&art sorting", self)
        self.sort_button.setToolTip("Classify every photo and put it in its class folder")
        self.sort_button.clicked.connect(self.sort)
        self.progress = JobProgressBar("Sorting progress", "Stop after the current photo; what was done so far "
                                       "is kept and can be undone", parent=self)
        self.progress.cancel_clicked.connect(self.cancel)
        self.watch_box = WatchSwitch(self._watch, lambda: self.is_watching() and self.cancel(), self)
        run_row = QHBoxLayout()
        run_row.addWidget(self.sort_button)
        run_row.addWidget(self.watch_box)
        run_row.addWidget(self.progress, 2)
        run_row.addStretch(1)

        self.message_bar = MessageBar(self)
        self.classes_bar = MessageBar(self, keep_place=False)      # the model's classes do not fit the dataset's
        self.classes_bar.setAccessibleName("Model and dataset classes")
        self.result = SortResultView(PHRASES, self)
        self.watch_view = WatchView(self)
        self.watch_view.hide()

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
        lay.addWidget(self.classes_bar)
        lay.addWidget(self.result, 1)
        lay.addWidget(self.watch_view, 1)
        lay.addLayout(after)
        self.result.show_text("Choose a model, the photos and a destination, then press “Start sorting”.")

    def _restore(self) -> None:
        s = self.settings
        self.folder_field.set_path(s.get(SORT_FOLDER), notify=False)
        self.dest_field.set_path(s.get(SORT_DEST), notify=False)
        self.recursive_box.setChecked(s.get(SORT_RECURSIVE))
        self.options.restore(s)

    def _save(self) -> None:
        s = self.settings
        s.set(SORT_FOLDER, self.folder_field.path())
        s.set(SORT_DEST, self.dest_field.path())
        s.set(SORT_RECURSIVE, self.recursive_box.isChecked())
        self.options.save(s)

    def _check_classes(self) -> None:
        """Warn when the model's classes are not those of the dataset open in the Data tab."""
        data = self._dataset
        why = class_mismatch(self.source.classes, getattr(data, "classes", None) or [],
                             f"the dataset {os.path.basename(data.root.rstrip(os.sep))} (open in the Data tab)"
                             ) if data is not None else ""
        if why:
            self.classes_bar.show_message(why + " Photos would go into folders of the model's classes.",
                                          "warning")
        else:
            self.classes_bar.clear()

    # -- running ------------------------------------------------------------------------
    def _start(self, kind: str, job, text: str) -> None:
        self._job_kind = kind
        self.watch_view.setVisible(kind == "watch")
        self.result.setVisible(kind != "watch")
        self.progress.begin(text, {"loading": "Loading the model", "classifying": "Classifying",
                                   "sorting": "Moving" if self.move_radio.isChecked() else "Copying",
                                   "undoing": "Putting back"})
        self.runner.start(job)
        self.status_message.emit({"sort": "Sorting photos…", "watch": "Watching for new photos…"}.get(
            kind, "Undoing the sort…"))
        self._refresh_state()

    def _on_progress(self, event) -> None:
        if self._job_kind != "watch":
            self.progress.report(event)
            return
        if isinstance(event, WatchStarted):
            self.progress.begin("Watching for new photos…")
        else:
            self.progress.report(event)     # loading the model
        self.watch_view.show_event(event)

    def _on_finished(self, result) -> None:
        self.progress.end()
        if self._job_kind == "watch":
            self.watch_box.show_off()
            self.status_message.emit(self.watch_view.end(result))
        elif self._job_kind == "sort":
            self.outcome = result
            self._sorted_with = self._pending_model
            self.undo_report = None
            self._show_outcome(result)
            self.sort_finished.emit(result)
        else:
            self.undo_report = result
            self.status_message.emit(self.result.show_undo(result))
            self.undo_finished.emit(self.undo_report)
        self._refresh_state()

    def _on_failed(self, message: str) -> None:
        self.progress.end()
        self.message_bar.show_message(message)
        if self._job_kind == "watch":
            self.watch_box.show_off()
            self.watch_view.end(None, "It ended early: see the message above.")
        self.status_message.emit({"sort": "Sorting failed: see the Sort tab.", "watch": "Watching stopped: see "
                                  "the Sort tab."}.get(self._job_kind, "Undo failed: see the Sort tab."))
        self._refresh_state()

    def _show_outcome(self, out: sorting.FolderSort) -> None:
        head = self.result.show_sort(out)
        rep = out.report
        if rep is None:
            self.status_message.emit("Sorting stopped; nothing was changed.")
            return
        if rep.failed:
            verb = "moved" if out.move else "copied"
            self.message_bar.show_message(f"{plural(len(rep.failed), 'photo')} could not be "
                                          f"{verb}: {rep.failed[0][1]}. See the details.", "warning")
        self.status_message.emit(head)

    def _can_undo(self, dest: str) -> bool:
        """core.photos.sort_undo.can_undo, read again only when dest's journal changed."""
        try:
            st = os.stat(sorting.journal_path(dest))
            key = (dest, st.st_size, st.st_mtime_ns)
        except OSError:
            return False
        if self._undoable[0] != key:
            self._undoable = (key, can_undo(dest))
        return self._undoable[1]

    def _open_dest(self) -> None:
        dest = self.destination()
        if dest and os.path.isdir(dest):
            QDesktopServices.openUrl(QUrl.fromLocalFile(dest))

    # -- state --------------------------------------------------------------------------
    def _refresh_state(self) -> None:
        running = self.is_running()
        problem = self.problem()
        self.sort_button.setEnabled(not problem)
        self.watch_box.setEnabled(self.is_watching() or not problem)
        self.sort_button.setToolTip(problem or "Classify every photo and put it in its class folder")
        for w in (self.model, self.folder_field, self.dest_field, self.recursive_box):
            w.setEnabled(not running)
        self.options.set_enabled(not running)
        dest = self.destination()
        self.undo_button.setEnabled(not running and bool(dest) and self._can_undo(dest))
        review = self.review_folder()
        self.review_button.setEnabled(not running and bool(review) and os.path.isdir(review)
                                      and has_photos(review))
        self.open_button.setEnabled(bool(dest) and os.path.isdir(dest))

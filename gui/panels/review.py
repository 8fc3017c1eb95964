"""The review panel: label photos with the keyboard, least certain first.

Photos come from a sort's _review folder, any unlabelled folder, or a confusion-matrix
cell. Each shows the model's suggestion (predicted on a JobRunner when not already
known). Keys: 1–9 give the class with that number, Enter accepts the suggestion,
Backspace (or Ctrl+Z) undoes the last label, arrows move. A label moves (or copies)
the photo into the target dataset's class folder with core.photos.labelling -- journalled,
undoable -- so the next training run learns from it. Which photos, in which order, with
which answers, is core.photos.review_queue; this module only shows them and takes keys.
"""
from __future__ import annotations

import os

from PySide6.QtCore import QEvent, QObject, QSettings, Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (QCheckBox, QFormLayout, QGridLayout, QHBoxLayout, QInputDialog, QLabel,
                               QProgressBar, QPushButton, QSizePolicy, QSpinBox, QVBoxLayout, QWidget)

from core.errors import FledgeError
from core.photos.dataset_labels import DatasetLabels
from core.photos.review_queue import ReviewItem, ask_model, folder_items, legend_order, review_order
from core.progress import JobProgress
from core.wording import rounded_percent as percent
from gui.label_queue import LabelQueue
from core.training.runs import run_dir_of
from gui.model_store import ModelStore
from gui.widgets.folder_field import FolderField
from gui.widgets.model_chooser import ModelChooser
from core.wording import plural
from gui.widgets.message_bar import MessageBar
from gui.widgets.photo_grid import PhotoGrid
from gui.background import JobRunner

MAX_KEYED = 9
_DIGITS = {getattr(Qt.Key, f"Key_{n}"): n for n in range(1, 10)}


class PredictJob:
    """A job (gui.background): the model's answers for photos that have none yet."""

    def __init__(self, paths: list[str], model_path: str, predictor=None, *, models: ModelStore) -> None:
        self.paths = list(paths)
        self.model_path = model_path
        self.models = models
        self.predictor = predictor

    def __call__(self, report, control) -> dict:
        predictor = self.predictor
        if predictor is None:
            report(JobProgress("loading"))
            predictor = self.models.predictor_for(self.model_path)
        return ask_model(predictor, self.paths, report=report, should_stop=lambda: control.stop_requested)


class _Keys(QObject):
    """Turns key presses on the grid into review actions (arrows stay the grid's own)."""

    def __init__(self, panel: "ReviewPanel") -> None:
        super().__init__(panel)
        self._panel = panel

    def eventFilter(self, obj, ev) -> bool:
        if ev.type() != QEvent.Type.KeyPress:
            return False
        key, mods = ev.key(), ev.modifiers()
        plain = not (mods & (Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier
                             | Qt.KeyboardModifier.MetaModifier))
        if plain and key in _DIGITS:
            self._panel.label_number(_DIGITS[key])
            return True
        if plain and key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self._panel.accept_current()
            return True
        if (plain and key == Qt.Key.Key_Backspace) or ev.matches(QKeySequence.StandardKey.Undo):
            self._panel.undo()
            return True
        return False


class ReviewPanel(QWidget):
    """A grid of photos to label, least certain first, with a numbered class legend."""

    retrain_requested = Signal(object)    # str: the run folder whose settings to reuse ('' for none)
    labels_changed = Signal(str)          # the dataset root whose class folders changed
    labelled = Signal(object)             # core.photos.dataset_labels.LabelAction, once applied
    status_message = Signal(str)

    def __init__(self, models: ModelStore | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.models = models if models is not None else ModelStore(self)   # the window's loaded models
        self.setMinimumSize(560, 440)
        self._predictor = None
        self._predictor_path = ""
        self._labels: DatasetLabels | None = None
        self._source = ""
        self._order: list[str] = []         # class names in legend order
        self._done = 0
        self._user_stopped = False          # Cancel pressed: do not ask the model again by itself
        self.ask_class_name = self._ask_class_name     # replaceable (tests, scripts)
        self.runner = JobRunner(self, name="fledge-review-predict")
        self.runner.progress.connect(self._on_progress)
        self.runner.finished.connect(self._on_predicted)
        self.runner.failed.connect(self._on_predict_failed)
        self.queue = LabelQueue(self)
        self.queue.applied.connect(self._on_applied)
        self.queue.undone.connect(self._on_undone)
        self.queue.crashed.connect(lambda msg: self.message_bar.show_message(msg))
        self._build_ui()
        self._refresh_classes()
        self._refresh_state()

    # -- sources ------------------------------------------------------------------------
    def open_folder(self, folder: str, recursive: bool | None = None, known=None,
                    model_path: str = "") -> bool:
        """Show the photos of a folder (e.g. DEST/_review); known: ReviewItems whose answers are known."""
        folder = os.path.abspath(os.path.expanduser(os.fspath(folder)))
        if recursive is not None:
            self.recursive_box.setChecked(recursive)
        if not os.path.isdir(folder):
            self.message_bar.show_message(f"The folder {folder} does not exist.")
            return False
        if model_path:
            self.set_model(model_path)
        items = folder_items(folder, self.recursive_box.isChecked(), known or ())
        self.folder_field.set_path(folder, notify=False)
        self._show(items, folder)
        if not items:
            self.message_bar.show_message(f"There are no photos in {folder}.", "info")
        return True

    def set_items(self, items: list[ReviewItem], title: str = "", dataset_root: str = "") -> None:
        """Review given photos (e.g. a confusion-matrix cell), labelling into dataset_root if given."""
        if dataset_root:
            self.set_dataset_folder(dataset_root)
        self._show([ReviewItem(it.path, tuple(it.top), it.error, it.true_class) for it in items],
                   title or "chosen photos")

    def set_dataset(self, dataset) -> None:
        """The Data panel's dataset (a core.data.dataset.Dataset or None) becomes the target."""
        if dataset is not None and getattr(dataset, "root", ""):
            self.set_dataset_folder(dataset.root)

    def set_dataset_folder(self, root: str) -> None:
        self.dataset_field.set_path(root)

    def set_model(self, path: str) -> None:
        self.model.set_model(path)

    def set_predictor(self, predictor, model_path: str = "") -> None:
        """Use a loaded predictor (anything with classes and predict_many) for suggestions."""
        self._predictor = predictor
        self._predictor_path = model_path
        self._predict_missing()
        self._refresh_state()

    # -- state queries ------------------------------------------------------------------
    def classes(self) -> list[str]:
        """The target dataset's classes in legend order (key 1 is the first)."""
        return list(self._order)

    def dataset_root(self) -> str:
        return self._labels.root if self._labels is not None else ""

    def remaining_paths(self) -> list[str]:
        return self.grid.paths()

    def is_busy(self) -> bool:
        return self.runner.is_running() or self.queue.busy()

    def model_path(self) -> str:
        return self._predictor_path if self._predictor is not None else self.model.model_path()

    # -- labelling ------------------------------------------------------------------------
    def label_number(self, n: int) -> bool:
        classes = self.classes()
        if not 1 <= n <= len(classes):
            self.message_bar.show_message(
                f"There is no class number {n}. " + ("Choose a dataset first." if not classes else
                                                     f"The classes are numbered 1 to {min(len(classes), 9)}."),
                "info")
            return False
        return self.label_selected(classes[n - 1])

    def label_selected(self, class_name: str) -> bool:
        """Give the selected photos (or the current one) this class."""
        items = self.grid.selected()
        if not items:
            return False
        return self._label([(it, class_name) for it in items])

    def accept_current(self) -> bool:
        """Enter: the selected photos get the class the model suggests."""
        items = self.grid.selected()
        if not items:
            return False
        classes = set(self.classes())
        ok = [(it, it.suggestion) for it in items if it.suggestion in classes]
        if len(ok) < len(items):
            bad = next(it for it in items if it.suggestion not in classes)
            if bad.suggestion is None:
                why = "has no suggestion yet" if not bad.predicted else "could not be read by the model"
                self.message_bar.show_message(f"{os.path.basename(bad.path)} {why}: press a number "
                                              "to label it.", "info")
            else:
                self.message_bar.show_message(
                    f"The model suggests “{bad.suggestion}”, which is not a class of {self.dataset_root()}. "
                    "Press a number, or add the class with “New class…”.", "info")
            if not ok:
                return False
        return self._label(ok)

    def accept_above(self, threshold: float | None = None) -> int:
        """Label every photo whose suggestion is at least threshold (0–1) sure; returns how many."""
        if threshold is None:
            threshold = self.accept_spin.value() / 100.0
        classes = set(self.classes())
        pairs = [(it, it.suggestion) for it in self.grid.items()
                 if it.suggestion in classes and it.confidence >= threshold]
        if not pairs:
            self.message_bar.show_message(f"No photo has a suggestion at least {percent(threshold)} sure "
                                          "among the dataset's classes.", "info")
            return 0
        self._label(pairs)
        return len(pairs)

    def undo(self) -> bool:
        if self.queue.undo() is None:
            self.message_bar.show_message("There is no label to undo.", "info")
            return False
        self._refresh_state()
        return True

    def add_class(self, name: str) -> str | None:
        """Create a class folder in the target dataset; returns the name, or None (message shown)."""
        labels = self._target()
        if labels is None:
            return None
        try:
            name = labels.add_class(name)
        except FledgeError as exc:
            self.message_bar.show_message(str(exc))
            return None
        self._refresh_classes()
        note = f"Added the class “{name}”."
        if labels.has_validation_folder:
            note += (" Put a few photos of it into the dataset's validation folder too, so that "
                     "training can check the model on it.")
        self.message_bar.show_message(note, "info")
        self.labels_changed.emit(labels.root)
        return name

    def new_class(self) -> None:
        name = self.ask_class_name()
        if name:
            self.add_class(name)
            self.grid.setFocus()

    def cancel_predictions(self) -> None:
        """Stop asking the model; the photos without a suggestion can still be labelled by number."""
        if self.runner.is_running():
            self._user_stopped = True
            self.runner.stop()

    def request_retrain(self) -> None:
        """Ask the window to train again on the corrected dataset with the model's run settings."""
        if self._target() is None:
            return
        if self.queue.busy():
            self.message_bar.show_message("Labels are still being applied; try again in a moment.", "info")
            return
        self.retrain_requested.emit(run_dir_of(self.model_path()))

    def shutdown(self, msecs: int = 10000) -> None:
        self.runner.shutdown(msecs)
        self.queue.wait(msecs)
        self.grid.shutdown(msecs)

    # -- layout -------------------------------------------------------------------------
    def _build_ui(self) -> None:
        self.folder_field = FolderField("A folder of photos to label, e.g. DEST/_review",
                                        "Choose a folder of photos to label", "", self)
        self.folder_field.changed.connect(self._folder_chosen)
        self.recursive_box = QCheckBox("&Include subfolders", self)
        self.recursive_box.setToolTip("Also show the photos in the folders inside this folder")
        self.model = ModelChooser("review/last_model_dir", self)
        self.model.model_changed.connect(self._model_chosen)
        self.dataset_field = FolderField("The dataset to put labelled photos into",
                                         "Choose the dataset the labels go into",
                                         "Labelled photos go into this dataset's training class folders, so "
                                         "the next training run learns from them", self)
        self.dataset_field.changed.connect(self._dataset_chosen)
        self.copy_box = QCheckBox("&Keep the originals (copy)", self)
        self.copy_box.setToolTip("Copy labelled photos into the dataset instead of moving them")
        self.copy_box.setChecked(str(QSettings().value("review/copy", "false")).lower() == "true")
        self.copy_box.toggled.connect(self._copy_toggled)

        form = QFormLayout()
        photos = QHBoxLayout()
        photos.addWidget(self.folder_field, 1)
        photos.addWidget(self.recursive_box)
        form.addRow("Photo fo&lder:", photos)
        form.addRow("&Model:", self.model)
        target = QHBoxLayout()
        target.addWidget(self.dataset_field, 1)
        target.addWidget(self.copy_box)
        form.addRow("Label i&nto:", target)
        for fld, buddy in ((photos, self.folder_field.edit), (self.model, self.model.combo),
                           (target, self.dataset_field.edit)):
            label = form.labelForField(fld)
            if label is not None:
                label.setBuddy(buddy)

        self.progress = QProgressBar(self)
        self.progress.setAccessibleName("Suggestion progress")
        self.progress.hide()
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setToolTip("Stop asking the model; photos without a suggestion can still be labelled")
        self.cancel_button.clicked.connect(self.cancel_predictions)
        self.cancel_button.hide()
        prow = QHBoxLayout()
        prow.addWidget(self.progress, 1)
        prow.addWidget(self.cancel_button)

        self.message_bar = MessageBar(self)

        self.legend_box = QWidget(self)
        self.legend = QGridLayout(self.legend_box)
        self.legend.setContentsMargins(0, 0, 0, 0)
        self.legend_buttons: list[QPushButton] = []
        self.new_class_button = QPushButton("New class…", self)
        self.new_class_button.setToolTip("Add a class to the dataset (a new class folder)")
        self.new_class_button.clicked.connect(self.new_class)
        legend_row = QHBoxLayout()
        legend_row.addWidget(self.legend_box, 1)
        legend_row.addWidget(self.new_class_button, 0, Qt.AlignmentFlag.AlignTop)

        self.title = QLabel("Open a folder of photos, or press “Review the unsure photos” after sorting.", self)
        self.title.setWordWrap(True)
        self.grid = PhotoGrid(self)
        self.grid.setToolTip("Keys: 1–9 give the numbered class, Enter accepts the suggestion, Backspace "
                             "undoes the last label, arrows move.")
        self.grid.installEventFilter(_Keys(self))
        undo = QShortcut(QKeySequence.StandardKey.Undo, self)
        undo.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        undo.activated.connect(self.undo)
        self.grid.itemSelectionChanged.connect(self._refresh_state)

        self.accept_spin = QSpinBox(self)
        self.accept_spin.setRange(0, 100)
        self.accept_spin.setSuffix(" %")
        self.accept_spin.setValue(90)
        self.accept_spin.setAccessibleName("Accept above certainty")
        self.accept_spin.setToolTip("How sure the model must be for “Accept all” to take its suggestion")
        self.accept_button = QPushButton("Accept all &at or above", self)
        self.accept_button.setToolTip("Give every photo shown the model's suggestion when the model is at least "
                                      "this sure")
        self.accept_button.clicked.connect(lambda: self.accept_above())
        self.undo_button = QPushButton("Undo", self)
        self.undo_button.setToolTip("Put the last labelled photo(s) back (Backspace or Ctrl+Z)")
        self.undo_button.clicked.connect(self.undo)
        self.retrain_button = QPushButton("Retrain with &corrections", self)
        self.retrain_button.setToolTip("Train a new model on the dataset with your labels, using the settings "
                                       "of the model's training run")
        self.retrain_button.clicked.connect(self.request_retrain)
        self.counts_label = QLabel(self)
        bottom = QHBoxLayout()
        bottom.addWidget(self.accept_button)
        bottom.addWidget(self.accept_spin)
        bottom.addWidget(self.undo_button)
        bottom.addWidget(self.counts_label, 1)
        bottom.addWidget(self.retrain_button)

        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addLayout(prow)
        lay.addWidget(self.message_bar)
        lay.addLayout(legend_row)
        lay.addWidget(self.title)
        lay.addWidget(self.grid, 1)
        lay.addLayout(bottom)

    def _ask_class_name(self) -> str:
        name, ok = QInputDialog.getText(self, "New class", "Name of the new class (it becomes a folder name):")
        return name if ok else ""

    def _refresh_classes(self) -> None:
        for b in self.legend_buttons:
            self.legend.removeWidget(b)
            b.hide()
            b.deleteLater()
        self.legend_buttons = []
        self._order = legend_order(self._order, self._labels.classes if self._labels is not None else [])
        classes = self._order
        columns = 5
        for i, name in enumerate(classes):
            key = f"{i + 1}" if i < MAX_KEYED else ""
            b = QPushButton(f"{key}  {name}" if key else name, self.legend_box)
            b.setToolTip(f"Label the selected photo as {name}" + (f" (key {key})" if key else ""))
            b.setAccessibleName(f"Label as {name}")
            b.clicked.connect(lambda _c=False, c=name: self._legend_clicked(c))
            b.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
            self.legend.addWidget(b, i // columns, i % columns)
            self.legend_buttons.append(b)
        self.legend.setColumnStretch(columns, 1)
        if not classes:
            hint = QPushButton("Choose the dataset to label into", self.legend_box)
            hint.setEnabled(False)
            self.legend.addWidget(hint, 0, 0)
            self.legend_buttons.append(hint)

    def _legend_clicked(self, name: str) -> None:
        self.label_selected(name)
        self.grid.setFocus()

    # -- choosing -----------------------------------------------------------------------
    def _folder_chosen(self, path: str) -> None:
        if path:
            self.open_folder(path)

    def _model_chosen(self, path: str) -> None:
        self._predictor = None
        self._user_stopped = False
        if path and self.grid.count():
            # New model: ask it about every photo shown.
            for it in self.grid.items():
                it.top, it.error = (), None
            self.grid.refresh()
        self._predict_missing()
        self._refresh_state()

    def _dataset_chosen(self, root: str) -> None:
        self.queue.forget()       # undo applies to the dataset labels were made in
        self._labels = None
        self._order = []
        if root:
            try:
                self._labels = DatasetLabels(root, move=not self.copy_box.isChecked())
            except FledgeError as exc:
                self.message_bar.show_message(str(exc))
        self._refresh_classes()
        self._refresh_state()

    def _copy_toggled(self, on: bool) -> None:
        QSettings().setValue("review/copy", "true" if on else "false")
        root = self.dataset_field.path()
        if root and self._labels is not None:
            try:
                self._labels = DatasetLabels(root, move=not on)
            except FledgeError as exc:
                self.message_bar.show_message(str(exc))

    def _target(self) -> DatasetLabels | None:
        if self._labels is None:
            self.message_bar.show_message("Choose the dataset the labelled photos should go into "
                                          "(“Label into”, or open one in the Data tab).", "info")
        return self._labels

    # -- showing ------------------------------------------------------------------------
    def _show(self, items: list[ReviewItem], source: str) -> None:
        self._user_stopped = False
        if self.runner.is_running():
            self.runner.stop()          # its answers are for photos no longer shown
        self._source = source
        self._done = 0
        self.message_bar.clear()
        self.grid.set_items(review_order(items))
        self._update_title()
        self._predict_missing()
        self._refresh_state()
        if self.isVisible():
            self.grid.setFocus()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self.grid.count():
            self.grid.setFocus()      # the number keys work as soon as the tab is shown

    def _update_title(self) -> None:
        n = self.grid.count()
        src = self._source
        where = os.path.basename(src.rstrip(os.sep)) if os.path.isdir(src) else src
        text = (f"{plural(n, 'photo')} to label from {where}, least certain first. Keys: 1–9 give the "
                "numbered class, Enter accepts the suggestion, Backspace undoes.") if n else \
            f"Nothing left to label from {where}." if src else self.title.text()
        self.title.setText(text)
        self.title.setToolTip(src)

    def _predict_missing(self) -> None:
        if self.runner.is_running():
            return
        todo = [it.path for it in self.grid.items() if not it.predicted]
        if not todo:
            return
        if self._predictor is None and not self.model.model_path():
            self.message_bar.show_message("Choose a model to see its suggestions; you can label without "
                                          "them with the number keys.", "info")
            return
        self.progress.setRange(0, 0)
        self.progress.setFormat("Asking the model…")
        self.progress.show()
        self.cancel_button.show()
        self.runner.start(PredictJob(todo, self.model.model_path(), self._predictor,
                                    models=self.models))
        self._refresh_state()

    def _on_progress(self, ev) -> None:
        if not isinstance(ev, JobProgress):
            return
        if ev.stage == "loading":
            self.progress.setRange(0, 0)
            self.progress.setFormat("Loading the model…")
        elif ev.total:
            self.progress.setRange(0, ev.total)
            self.progress.setValue(ev.done)
            self.progress.setFormat(f"Asking the model: {ev.done:,} of {ev.total:,} photos")

    def _on_predicted(self, answers: dict) -> None:
        self.progress.hide()
        self.cancel_button.hide()
        items = self.grid.items()
        for it in items:
            got = answers.get(it.path)
            if got is not None and not it.predicted:
                it.top, it.error = got
        self.grid.refresh()
        untouched = self.grid.currentRow() <= 0      # the user has not moved on yet
        self.grid.reorder(review_order(items))
        if untouched:
            self.grid.select_row(0)
        self._refresh_state()
        if self._user_stopped:
            self._user_stopped = False
            self.status_message.emit("Stopped asking the model; label the remaining photos by number.")
        else:
            self._predict_missing()     # photos shown while this job ran (a new folder) need answers

    def _on_predict_failed(self, message: str) -> None:
        self._user_stopped = False
        self.progress.hide()
        self.cancel_button.hide()
        self.message_bar.show_message(message)
        self._refresh_state()

    # -- applying labels ------------------------------------------------------------------
    def _label(self, pairs: list[tuple[ReviewItem, str]]) -> bool:
        labels = self._target()
        if labels is None or not pairs:
            return False
        items = [it for it, _ in pairs]
        rows = self.grid.take(items)
        self.queue.label(labels, [(it, cls, row) for (it, cls), row in zip(pairs, rows)])
        self._done += len(pairs)
        self._update_title()
        self._refresh_state()
        return True

    def _on_applied(self, action) -> None:
        for item, row, _message in sorted(action.failed, key=lambda x: x[1]):
            self.grid.insert(item, row)
            self._done -= 1
        if action.failed:
            self.message_bar.show_message(action.failed[0][2])
        if action.done:
            last = action.done[-1]
            verb = "moved" if last[4].moved else "copied"
            self.status_message.emit(f"{os.path.basename(last[0].path)} {verb} to {last[1]}"
                                     if len(action.done) == 1 else
                                     f"{plural(len(action.done), 'photo')} labelled")
            self.labels_changed.emit(action.labels.root)
        self.labelled.emit(action)
        self._update_title()
        self._refresh_state()

    def _on_undone(self, action) -> None:
        for item, row, where in sorted(action.restored, key=lambda x: x[1]):
            item.path = where
            self.grid.insert(item, row)
            self._done -= 1
        if action.restored:
            self.grid.select_row(min(r for _, r, _ in action.restored))
            self.status_message.emit(f"Put {plural(len(action.restored), 'photo')} back.")
            self.labels_changed.emit(action.labels.root)
        if action.problems:
            self.message_bar.show_message(action.problems[0], "warning")
        if self.isVisible():
            self.grid.setFocus()
        self._update_title()
        self._refresh_state()

    # -- state --------------------------------------------------------------------------
    def _refresh_state(self) -> None:
        has_target = self._labels is not None
        shown = self.grid.count()
        self.accept_button.setEnabled(has_target and shown > 0)
        self.accept_spin.setEnabled(has_target and shown > 0)
        self.undo_button.setEnabled(self.queue.can_undo())
        self.retrain_button.setEnabled(has_target)
        self.new_class_button.setEnabled(has_target)
        for b in self.legend_buttons:
            if b.accessibleName():
                b.setEnabled(has_target and shown > 0)
        left = plural(shown, "photo") + " left" if self._source else ""
        self.counts_label.setText(f"{left} · {self._done} labelled" if self._done else left)

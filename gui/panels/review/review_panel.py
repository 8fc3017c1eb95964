"""The review panel: label photos with the keyboard, least certain first.

Photos come from a sort's _review folder, any unlabelled folder, or a confusion-matrix
cell. Each shows the model's suggestion (asked for on a JobRunner when not already
known). The labelling itself -- numbered classes, keys, undo, photos moved into the
dataset's class folders so the next training run learns from them -- is
gui.panels.review.labelling_view; which photos, in which order, with which answers, is
core.photos.review_queue. The panel chooses the photos, the model and the dataset, says
when the model's classes do not fit the dataset's -- a model that would name classes the
dataset lacks is not used at all (review_queue.guesses_unusable), so no guess of an unrelated
model orders or labels the photos -- and asks for a retrain.
"""
from __future__ import annotations

import os

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QCheckBox, QFormLayout, QHBoxLayout, QLabel, QPushButton, QSplitter, QTabWidget,
                               QVBoxLayout, QWidget)

from core.errors import FledgeError
from core.photos.burst_cards import frames_of
from core.photos.dataset_labels import DatasetLabels
from core.photos.label_session import LabelSession
from core.files.file_transfer import path_key
from core.photos.new_dataset import copied_in, readiness
from core.photos.review_queue import (ReviewItem, ask_model, class_mismatch, folder_items, guesses_unusable,
                                      review_order)
from core.training.runs import run_dir_of
from core.wording import plural
from gui.panel import window_parts
from gui.model_source import ModelSource, job_runner
from gui.model_store import ModelStore
from gui.panels.review.burst_grouping import BurstGrouping
from gui.panels.review.check_labels_view import CheckLabelsView
from gui.widgets.folder_field import FolderField
from gui.panels.review.heatmap_preview import PhotoPreview
from gui.widgets.job_progress import JobProgressBar
from gui.panels.review.labelling_view import LabellingView
from gui.widgets.message_bar import MessageBar
from gui.widgets.model_chooser import ModelChooser
from gui.settings import REVIEW_COPY, REVIEW_MODEL_FOLDER, Settings


class ReviewPanel(QWidget):
    """A grid of photos to label, least certain first, with a numbered class legend."""

    retrain_requested = Signal(object)    # str: the run folder whose settings to reuse ('' for none)
    labels_changed = Signal(str)          # the dataset root whose class folders changed
    labelled = Signal(object)             # core.photos.label_session.LabelStep, once applied
    status_message = Signal(str)

    def __init__(self, models: ModelStore | None = None, parent: QWidget | None = None, *,
                 settings: Settings | None = None, session: LabelSession | None = None) -> None:
        super().__init__(parent)
        self.models, self.settings, self.session = window_parts(self, models, settings, session)
        self.setMinimumSize(560, 440)
        self._user_stopped = False          # Cancel pressed: do not ask the model again by itself
        self._model_turn = 0                # counts model changes: answers of an earlier model are dropped
        self._guesses_hidden = False        # the model does not fit the dataset: its guesses are not shown
        self._classes_checked: list[str] = []
        self.runner = job_runner(self, "fledge-review-predict", lambda ev: self.progress.report(ev),
                                 self._on_predicted, self._on_predict_failed)
        self._build_ui()
        self.source = ModelSource(self.model, self.models, self)
        self.source.changed.connect(self._model_chosen)
        self.source.classes_known.connect(lambda _classes: self._check_classes())
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
        copied = copied_in(self.dataset_root()) if self.dataset_root() else set()
        items = [it for it in items if path_key(it.path) not in copied]     # labelled by copying before
        self.folder_field.set_path(folder, notify=False)
        self._show(items, folder)
        if not items:
            self.message_bar.show_message(f"There are no photos in {folder}.", "info")
        return True

    def start_labelling(self, folder: str, dataset_root: str) -> bool:
        """Label an unsorted folder into a new dataset (the Data tab's offer): photos are copied."""
        self.copy_box.setChecked(True)
        self.set_dataset_folder(dataset_root)
        return self.open_folder(folder, recursive=False)

    def set_items(self, items: list[ReviewItem], title: str = "", dataset_root: str = "") -> None:
        """Review given photos (e.g. a confusion-matrix cell), labelling into dataset_root if given."""
        if dataset_root:
            self.set_dataset_folder(dataset_root)
        self._show([ReviewItem(it.path, tuple(it.top), it.error, it.true_class) for it in items],
                   title or "chosen photos")

    def sort_undone(self, report) -> int:
        """A sort's undo (core.photos.sort_undo.UndoReport) put photos back where they came from:
        those shown here are no longer here to label. Returns how many left the grid."""
        n = self.view.drop_paths(report.gone())
        if n:
            self.message_bar.show_message(
                f"Undo this sort put {plural(n, 'photo')} shown here back where {'it' if n == 1 else 'they'} came "
                f"from, so {'it is' if n == 1 else 'they are'} no longer here to label.", "info")
            self._refresh_state()
        return n

    def set_dataset(self, dataset) -> None:
        """The Data panel's dataset (a core.data.dataset.Dataset or None) becomes the target."""
        if dataset is not None and getattr(dataset, "root", ""):
            self.set_dataset_folder(dataset.root)
        self.check_view.set_dataset(dataset)

    def set_dataset_folder(self, root: str) -> None:
        self.dataset_field.set_path(root)

    def set_model(self, path: str) -> None:
        self.source.set_model(path)

    def set_predictor(self, predictor, model_path: str = "") -> None:
        """Use a loaded predictor (anything with classes and predict_many) for suggestions."""
        self.source.set_predictor(predictor, model_path)

    # -- state queries ------------------------------------------------------------------
    def classes(self) -> list[str]:
        """The target dataset's classes in legend order (key 1 is the first)."""
        return list(self.view.order)

    def dataset_root(self) -> str:
        return self.view.labels.root if self.view.labels is not None else ""

    def remaining_paths(self) -> list[str]:
        return [f.path for it in self.view.grid.items() for f in frames_of(it)]     # every frame of a burst card

    def is_busy(self) -> bool:
        return (self.runner.is_running() or self.view.queue.busy() or self.check_view.is_busy()
                or self.view.class_editing.busy())

    def model_path(self) -> str:
        return self.source.path()

    # -- actions --------------------------------------------------------------------------
    def cancel_predictions(self) -> None:
        """Stop asking the model; the photos without a suggestion can still be labelled by number."""
        if self.runner.is_running():
            self._user_stopped = True
            self.runner.stop()

    def request_retrain(self) -> None:
        """Ask the window to train again on the corrected dataset with the model's run settings."""
        if self.view.target() is None:
            return
        if self.view.queue.busy():
            self.message_bar.show_message("Labels are still being applied; try again in a moment.", "info")
            return
        self.retrain_requested.emit(run_dir_of(self.model_path()))

    def shutdown(self, msecs: int = 10000) -> None:
        self.runner.shutdown(msecs)
        self.view.shutdown(msecs)
        self.preview.shutdown(msecs)
        self.check_view.shutdown(msecs)
        self.bursts.shutdown(msecs)

    # -- layout -------------------------------------------------------------------------
    def _build_ui(self) -> None:
        self.folder_field = FolderField("A folder of photos to label, e.g. DEST/_review",
                                        "Choose a folder of photos to label", "", self)
        self.folder_field.changed.connect(lambda path: self.open_folder(path) if path else None)
        self.recursive_box = QCheckBox("&Include subfolders", self)
        self.recursive_box.setToolTip("Also show the photos in the folders inside this folder")
        self.model = ModelChooser(self.settings, REVIEW_MODEL_FOLDER, self)
        self.dataset_field = FolderField("The dataset to put labelled photos into",
                                         "Choose the dataset the labels go into",
                                         "Labelled photos go into this dataset's training class folders, so "
                                         "the next training run learns from them", self)
        self.dataset_field.changed.connect(self._dataset_chosen)
        self.copy_box = QCheckBox("&Keep the originals (copy)", self)
        self.copy_box.setToolTip("Copy labelled photos into the dataset instead of moving them")
        self.copy_box.setChecked(self.settings.get(REVIEW_COPY))
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

        self.progress = JobProgressBar("Suggestion progress", "Stop asking the model; photos without a "
                                       "suggestion can still be labelled",
                                       {"loading": "Loading the model", "predicting": "Asking the model"}, self)
        self.progress.cancel_clicked.connect(self.cancel_predictions)
        self.message_bar = MessageBar(self)
        self.classes_bar = MessageBar(self, keep_place=False)      # the model's classes do not fit the dataset's
        self.classes_bar.setAccessibleName("Model and dataset classes")

        self.view = LabellingView(self.message_bar, self, self.session)
        self.view.changed.connect(self._refresh_state)
        self.view.status.connect(self.status_message)
        self.view.labels_changed.connect(self.labels_changed)
        self.view.labelled.connect(self.labelled)
        self.view.class_edited.connect(self._class_edited)
        self.retrain_button = QPushButton("Retrain with &corrections", self)
        self.retrain_button.setToolTip("Train a new model on the dataset with your labels, using the settings "
                                       "of the model's training run")
        self.retrain_button.clicked.connect(self.request_retrain)
        self.view.actions.addWidget(self.retrain_button)
        self.readiness_label = QLabel(self)       # "1 more photo of 'plane' and you can train."
        self.readiness_label.setWordWrap(True)    # its own line, under the buttons: never cut off
        self.readiness_label.setMinimumHeight(self.readiness_label.fontMetrics().lineSpacing())
        self.view.layout().addWidget(self.readiness_label)
        # The current photo large, with where the model looked (H) over it.
        self.preview = PhotoPreview(self.models, self, key_owner=self.view)   # not the panel: Check labels has its own
        self.preview.heat.message.connect(self.message_bar.show_message)
        self.view.grid.currentItemChanged.connect(lambda *_: self._preview_current())
        # One card per burst (the switch sits next to "Include subfolders"); its frames play in the preview.
        self.bursts = BurstGrouping(self.settings, self.view, self.preview, self)
        self.bursts.failed.connect(self.message_bar.show_message)
        photos.addWidget(self.bursts.box)
        self.splitter = QSplitter(self)
        self.splitter.addWidget(self.view)
        self.splitter.addWidget(self.preview)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)

        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.progress)
        lay.addWidget(self.message_bar)
        lay.addWidget(self.classes_bar)
        # Check labels: the dataset's photos that look filed under the wrong class, K / M / 1-9 each.
        self.check_view = CheckLabelsView(self.models, self, self.session)
        self.check_view.preview_model = lambda: self.source.predictor or self.source.path()
        self.check_view.labels_changed.connect(self.labels_changed)
        self.check_view.status.connect(self.status_message)
        self.modes = QTabWidget(self)
        self.modes.addTab(self.splitter, "Photos to label")
        self.modes.addTab(self.check_view, "Check labels")
        self.modes.setTabToolTip(1, "Find the photos of a dataset that look filed under the wrong class")
        lay.addWidget(self.modes, 1)

    # -- choosing -----------------------------------------------------------------------
    def _preview_current(self) -> None:
        item = self.view.grid.current()
        model = "" if self._guesses_problem() else self.source.predictor or self.source.path()
        self.preview.show_photo(item.path if item is not None else "", model)
        self.bursts.play(item, model)

    def _model_chosen(self) -> None:
        self._user_stopped = False
        self._preview_current()
        self._model_turn += 1
        if self.runner.is_running():
            self.runner.stop()          # its answers are the old model's; asked again when it ends
        grid = self.view.grid
        if self.source.ready() and grid.count():
            # New model: ask it about every photo shown.
            for it in grid.items():
                it.top, it.error = (), None
            grid.refresh()
        self._predict_missing()
        self._refresh_state()

    def _dataset_chosen(self, root: str) -> None:
        self._use_dataset(root, move=not self.copy_box.isChecked())

    def _copy_toggled(self, on: bool) -> None:
        self.settings.set(REVIEW_COPY, on)
        if self.view.labels is not None:
            self._use_dataset(self.dataset_field.path(), move=not on)

    def _use_dataset(self, root: str, move: bool) -> None:
        labels = None
        if root:
            try:
                labels = DatasetLabels(root, move=move)
            except FledgeError as exc:
                self.message_bar.show_message(str(exc))
        self.view.set_labels(labels)
        self._check_classes()

    def _guesses_problem(self, classes: list[str] | None = None) -> str:
        """Why the model's guesses are not shown for the dataset labelled into ('' when they are)."""
        root = self.dataset_root()
        return guesses_unusable(self.source.classes if classes is None else classes, self.classes(),
                                f"the dataset {os.path.basename(root.rstrip(os.sep))}") if root else ""

    def _check_classes(self, classes: list[str] | None = None) -> None:
        """Warn when the model's classes are not the dataset's; a model that would name classes the
        dataset lacks is not used: its guesses leave the grid until a fitting model or dataset."""
        root = self.dataset_root()
        self._classes_checked = self.classes()
        unusable = self._guesses_problem(classes)
        why = unusable or (class_mismatch(self.source.classes if classes is None else classes, self.classes(),
                                          f"the dataset {os.path.basename(root.rstrip(os.sep))}") if root else "")
        if why:
            self.classes_bar.show_message(why + " You can still label with the number keys.", "warning")
        else:
            self.classes_bar.clear()
        if unusable:
            self._hide_guesses()
        elif self._guesses_hidden:
            self._guesses_hidden = False
            self._preview_current()
            if self.source.ready():
                self._predict_missing()

    def _hide_guesses(self) -> None:
        """Take the model's answers off every photo shown, back in the folder's order."""
        self._guesses_hidden = True
        if self.runner.is_running():
            self._model_turn += 1           # its answers are dropped when it ends
            self.runner.stop()
        grid = self.view.grid
        items = grid.items()
        if any(f.predicted for it in items for f in [it, *frames_of(it)]):
            for it in items:
                for f in [it, *frames_of(it)]:
                    f.top, f.error = (), None
            grid.refresh()
            grid.reorder(sorted(items, key=lambda it: path_key(it.path)))
        self._preview_current()

    # -- showing ------------------------------------------------------------------------
    def _show(self, items: list[ReviewItem], source: str) -> None:
        self._user_stopped = False
        if self.runner.is_running():
            self.runner.stop()          # its answers are for photos no longer shown
        self.message_bar.clear()
        self.modes.setCurrentWidget(self.splitter)
        if self._guesses_problem():           # answers known from elsewhere, of a model that does not fit
            items = [ReviewItem(it.path, (), None, it.true_class) for it in items]
        self.view.show_items(review_order(items, hunt=self._hunted()), source)
        self.bursts.regroup()
        self._predict_missing()
        self._refresh_state()
        if self.isVisible():
            self.view.grid.setFocus()

    def _hunted(self) -> list[str]:
        """The thin classes of the dataset that the model knows: their likely photos come first."""
        root = self.dataset_root()
        return [c for c in readiness(root).hunt if c in self.source.classes] if root else []

    def _class_edited(self, edit) -> None:
        """Photos a class change sent back to the folder shown are there to label again."""
        source = self.folder_field.path()
        if edit.kind == "remove" and source and os.path.isdir(source) and edit.root == self.dataset_root():
            self.open_folder(source, known=self.view.grid.items())
        self._check_classes()
        self._refresh_state()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.view.refresh_classes()        # a class folder added or removed outside Fledge
        if self.view.grid.count():
            self.view.grid.setFocus()      # the number keys work as soon as the tab is shown

    def _predict_missing(self) -> None:
        if self.runner.is_running():
            return
        todo = [f.path for it in self.view.grid.items() if not it.predicted for f in frames_of(it)]
        if not todo or self._guesses_problem():
            return
        if not self.source.ready():
            self.message_bar.show_message("Choose a model to see its suggestions; you can label without "
                                          "them with the number keys.", "info")
            return
        self.progress.begin("Asking the model…")
        turn, root, classes = self._model_turn, self.dataset_root(), self.classes()

        def work(predictor, report, should_stop):
            # The model's classes are known for sure once it is loaded: one that does not fit is not asked.
            fits = not root or not guesses_unusable(predictor.classes, classes)
            return turn, list(predictor.classes), ask_model(predictor, todo, report, should_stop) if fits else {}
        self.runner.start(self.source.task(work))
        self._refresh_state()

    def _on_predicted(self, result: tuple) -> None:
        turn, classes, answers = result
        self.progress.end()
        if turn == self._model_turn and self._guesses_problem(classes):
            self._check_classes(classes)      # says why, and shows none of its answers
            self._refresh_state()
            return
        grid = self.view.grid
        items = grid.items()
        self.bursts.take_answers(items, answers if turn == self._model_turn else {})
        for it in items:
            got = answers.get(it.path) if turn == self._model_turn else None
            if got is not None and not it.predicted:
                it.top, it.error = got
        grid.refresh()
        untouched = grid.currentRow() <= 0      # the user has not moved on yet
        grid.reorder(review_order(items, hunt=self._hunted()))
        if untouched:
            grid.select_row(0)
        self._refresh_state()
        if self._user_stopped:
            self._user_stopped = False
            self.status_message.emit("Stopped asking the model; label the remaining photos by number.")
        else:
            self._predict_missing()     # photos shown while this job ran (a new folder) need answers

    def _on_predict_failed(self, message: str) -> None:
        self._user_stopped = False
        self.progress.end()
        self.message_bar.show_message(message)
        self._refresh_state()

    # -- state --------------------------------------------------------------------------
    def _refresh_state(self) -> None:
        if self.classes() != self._classes_checked:      # a class added or removed: does the model fit now?
            self._check_classes()
        self.view.refresh_state()
        state = readiness(self.dataset_root()) if self.dataset_root() else None
        # What is still needed, or (ready) which classes are thin; what that means for their answers on hover.
        shown = state is not None and (not state.ready or bool(state.thin))
        self.readiness_label.setText(state.summary if shown else "")
        self.readiness_label.setToolTip(" ".join(t for t in (state.text, state.hint) if t) if shown else "")
        self.retrain_button.setText("Retrain with &corrections" if self.model_path() else "&Train on these labels")
        self.retrain_button.setEnabled(state is not None and state.ready)     # every class has a photo

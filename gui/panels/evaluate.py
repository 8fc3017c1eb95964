"""The evaluate panel: how good is a model on a dataset split, and which photos does it get wrong?

The work is core.photos.evaluation.evaluate_folder on a JobRunner (progress bar, Cancel),
the function `fledge evaluate` calls. The result shows the accuracy, a per-class table
and a confusion matrix; clicking a cell lists its photos (mistakes most confident first)
and a photo can be moved to its right class folder -- journalled by core.photos.labelling,
undone with Ctrl+Z, and counted anew by core.photos.evaluation.relabel.
"""
from __future__ import annotations

import os

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtGui import QFont, QGuiApplication, QKeySequence, QShortcut
from PySide6.QtWidgets import (QAbstractItemView, QButtonGroup, QComboBox, QFormLayout, QHBoxLayout,
                               QHeaderView, QLabel, QProgressBar, QPushButton, QRadioButton,
                               QScrollArea, QSizePolicy, QSplitter, QTableWidget, QTableWidgetItem, QVBoxLayout,
                               QWidget)

from core.errors import FledgeError
from core.photos.dataset_labels import DatasetLabels
from core.photos.evaluation import evaluate_folder, relabel
from core.photos.file_transfer import path_key
from core.photos.review_queue import ReviewItem, evaluated_items
from core.progress import JobProgress
from core.wording import plural
from core.wording import rounded_percent as percent
from gui.background import JobRunner
from gui.label_queue import LabelQueue
from gui.model_store import ModelStore
from gui.widgets.confusion_matrix import ConfusionMatrixView
from gui.widgets.folder_field import FolderField
from gui.widgets.message_bar import MessageBar
from gui.widgets.model_chooser import ModelChooser
from gui.widgets.photo_grid import PhotoGrid

SPLIT_NAMES = {"val": "Validation", "test": "Test", "train": "Training"}


class EvaluationJob:
    """A job (gui.background): load the model, then evaluate one split of the dataset."""

    def __init__(self, model_path: str, root: str, split: str, predictor=None, *, models: ModelStore) -> None:
        self.model_path = model_path
        self.models = models
        self.root = root
        self.split = split
        self.predictor = predictor

    def __call__(self, report, control):
        predictor = self.predictor
        if predictor is None:
            report(JobProgress("loading"))
            predictor = self.models.predictor_for(self.model_path)
        return evaluate_folder(predictor, self.root, self.split, report=report,
                               should_stop=lambda: control.stop_requested)


def _cell_caption(item: ReviewItem) -> tuple[str, str]:
    name = os.path.basename(item.path)
    text = f"{name}\n{item.true_class} → {item.suggestion} {percent(item.confidence)}"
    tip = (f"{item.path}\nTrue class: {item.true_class}\nPredicted: {item.suggestion} "
           f"({percent(item.confidence)} sure)")
    return text, tip


class EvaluatePanel(QWidget):
    """Choose a model, a dataset and a split; evaluate; inspect and fix mistakes."""

    evaluated = Signal(object)            # core.photos.evaluation.EvaluationResult
    review_requested = Signal(object, str)   # [ReviewItem], dataset root to label into
    labels_changed = Signal(str)          # a dataset root whose class folders changed
    status_message = Signal(str)

    def __init__(self, models: ModelStore | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.models = models if models is not None else ModelStore(self)   # the window's loaded models
        self.setMinimumSize(640, 460)
        self.result = None
        self._moved = 0                   # photos relabelled since the evaluation
        self._predictor = None            # set_predictor(): used instead of loading the file
        self._predictor_label = ""
        self._cell: tuple[int, int] | None = None
        self._labels: DatasetLabels | None = None
        self.runner = JobRunner(self, name="fledge-evaluate")
        self.runner.progress.connect(self._on_progress)
        self.runner.finished.connect(self._on_finished)
        self.runner.failed.connect(self._on_failed)
        self.labels = LabelQueue(self)
        self.labels.applied.connect(self._on_applied)
        self.labels.undone.connect(self._on_undone)
        self.labels.crashed.connect(lambda msg: self.message_bar.show_message(msg))
        self._build_ui()
        self._refresh_state()

    # -- public -------------------------------------------------------------------------
    def set_model(self, path: str) -> None:
        """Evaluate this model file next (e.g. the model just trained)."""
        self._predictor = None
        self.model.set_model(path)

    def set_predictor(self, predictor, label: str = "a model in memory") -> None:
        """Use an already loaded predictor (anything with classes and predict_many)."""
        self._predictor = predictor
        self._predictor_label = label
        self._refresh_state()

    def set_dataset(self, dataset) -> None:
        """The dataset chosen in the Data panel (a core.data.dataset.Dataset, or None)."""
        if dataset is not None and getattr(dataset, "root", ""):
            self.dataset_field.set_path(dataset.root)
            if not getattr(dataset, "test", None) and self.split_combo.currentData() == "test":
                self.split_combo.setCurrentIndex(self.split_combo.findData("val"))

    def set_dataset_folder(self, root: str) -> None:
        self.dataset_field.set_path(root)

    def set_split(self, split: str) -> None:
        i = self.split_combo.findData(split)
        if i >= 0:
            self.split_combo.setCurrentIndex(i)

    def is_running(self) -> bool:
        return self.runner.is_running()

    def problem(self) -> str:
        """Why Evaluate cannot run now ('' when it can)."""
        if self.is_running():
            return "An evaluation is running."
        if self._predictor is None and not self.model.model_path():
            return "Choose a model to evaluate."
        root = self.dataset_field.path()
        if not root:
            return "Choose the dataset folder (or open one in the Data tab)."
        if not os.path.isdir(root):
            return f"The dataset folder {root} does not exist."
        return ""

    def evaluate(self) -> bool:
        problem = self.problem()
        if problem:
            self.message_bar.show_message(problem, "info")
            return False
        self.message_bar.clear()
        split = self.split_combo.currentData()
        job = EvaluationJob(self.model.model_path(), self.dataset_field.path(), split, self._predictor,
                            models=self.models)
        self.progress.setRange(0, 0)
        self.progress.setFormat("Starting…")
        self.progress.show()
        self.runner.start(job)
        self.status_message.emit("Evaluating…")
        self._refresh_state()
        return True

    def cancel(self) -> None:
        if self.is_running():
            self.runner.stop()
            self.progress.setFormat("Stopping…")
            self.cancel_button.setEnabled(False)

    def show_cell(self, t: int, p: int) -> None:
        """List the photos behind one confusion-matrix cell."""
        if self.result is None:
            return
        self._cell = (t, p)
        items = evaluated_items(self.result.cell(t, p))
        self._show_items(items, self._cell_title(len(items)), self.result.classes[p])

    def _cell_title(self, n: int) -> str:
        if self._cell is None:
            return f"All mistakes: {plural(n, 'photo')}, most confident first"
        t, p = self._cell
        true, pred = self.result.classes[t], self.result.classes[p]
        if t == p:
            return f"{true}, recognised correctly: {plural(n, 'photo')}, least sure first"
        return (f"{true} taken for {pred}: {plural(n, 'photo')}, most confident mistakes first. "
                "Often the label is wrong: move such photos to their right class.")

    def show_mistakes(self) -> None:
        if self.result is None:
            return
        self._cell = None
        items = evaluated_items(self.result.mistakes())
        self._show_items(items, self._cell_title(len(items)), None)

    def cell_paths(self) -> list[str]:
        return self.grid.paths()

    def move_selected(self, class_name: str) -> bool:
        """Move the selected photos into class_name's folder of their dataset split."""
        return self._move(lambda it: class_name if it.true_class != class_name else None,
                          f"The selected photos are already in {class_name}.")

    def move_to_predicted(self) -> bool:
        """The model was right and the label wrong: move each selected photo to its predicted class."""
        return self._move(lambda it: it.suggestion if it.suggestion != it.true_class else None,
                          "The model agrees with the labels of the selected photos: there is nothing to move.")

    def _move(self, target, nothing_to_move: str) -> bool:
        """Move each selected photo to the class target(photo) names (None: leave it), undoably."""
        items = self.grid.selected()
        if not items:
            self.message_bar.show_message("Select a photo first.", "info")
            return False
        moves = [(it, target(it)) for it in items if target(it)]
        if not moves:
            self.message_bar.show_message(nothing_to_move, "info")
            return False
        labels = self._dataset_labels()
        if labels is None:
            return False
        rows = self.grid.take([it for it, _cls in moves])
        self.labels.label(labels, [(it, cls, row) for (it, cls), row in zip(moves, rows)])
        self._refresh_state()
        return True

    def undo(self) -> bool:
        if self.labels.undo() is None:
            self.message_bar.show_message("There is nothing to undo.", "info")
            return False
        self._refresh_state()
        return True

    def shutdown(self, msecs: int = 10000) -> None:
        self.runner.shutdown(msecs)
        self.labels.wait(msecs)
        self.grid.shutdown(msecs)

    # -- layout -------------------------------------------------------------------------
    def _build_ui(self) -> None:
        self.model = ModelChooser("evaluate/last_model_dir", self)
        self.model.model_changed.connect(self._on_model_changed)
        self.dataset_field = FolderField(
            "The dataset folder (as in the Data tab)", "Choose the dataset to evaluate on",
            "The folder of class folders to evaluate on; the Data tab's dataset is used unless you "
            "choose another", self)
        self.dataset_field.changed.connect(lambda _p: self._refresh_state())
        self.split_combo = QComboBox(self)
        for key in ("val", "test", "train"):
            self.split_combo.addItem(SPLIT_NAMES[key], key)
        self.split_combo.setToolTip("Which photos to check the model on: validation (set aside during "
                                    "training), test (kept apart for a final check) or training")
        self.split_combo.setAccessibleName("Split")
        self.evaluate_button = QPushButton("Eval&uate", self)
        self.evaluate_button.setToolTip("Run the model on every photo of the split and compare with the labels")
        self.evaluate_button.clicked.connect(self.evaluate)
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setToolTip("Stop; the figures then cover the photos done so far")
        self.cancel_button.clicked.connect(self.cancel)
        self.progress = QProgressBar(self)
        self.progress.setAccessibleName("Evaluation progress")
        self.progress.hide()

        form = QFormLayout()
        form.addRow("&Model:", self.model)
        form.addRow("Dataset:", self.dataset_field)
        split_row = QHBoxLayout()
        split_row.addWidget(self.split_combo)
        split_row.addWidget(self.evaluate_button)
        split_row.addWidget(self.cancel_button)
        split_row.addWidget(self.progress, 2)
        split_row.addStretch(1)
        for w in (self.split_combo, self.evaluate_button, self.cancel_button):
            w.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        form.addRow("Sp&lit:", split_row)
        for field, buddy in ((self.model, self.model.combo), (self.dataset_field, self.dataset_field.edit),
                             (split_row, self.split_combo)):
            label = form.labelForField(field)
            if label is not None:
                label.setBuddy(buddy)

        self.message_bar = MessageBar(self)

        # Figures.
        self.summary = QLabel("Choose a model and a dataset, then press Evaluate.", self)
        big = QFont(self.summary.font())
        big.setPointSizeF(big.pointSizeF() * 1.3)
        big.setBold(True)
        self.summary.setFont(big)
        self.summary.setWordWrap(True)
        self.summary.setAccessibleName("Accuracy")
        self.details = QLabel(self)
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.table = QTableWidget(0, 5, self)
        self.table.setHorizontalHeaderLabels(["Class", "Precision", "Recall", "F1", "Photos"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for c in range(1, 5):
            self.table.horizontalHeader().setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
        self.table.setMinimumWidth(280)
        self.table.setAccessibleName("Figures per class")
        self.table.setToolTip("Precision: of the photos the model called this class, the share that were. "
                              "Recall: of the photos of this class, the share it found. F1 combines both. "
                              "Photos: how many photos of the class were checked.")
        self.copy_button = QPushButton("Cop&y report", self)
        self.copy_button.setToolTip("Copy the figures as text, e.g. to paste into an e-mail")
        self.copy_button.clicked.connect(self._copy_report)
        self.mistakes_button = QPushButton("Show all mista&kes", self)
        self.mistakes_button.setToolTip("List every wrongly classified photo, most confident first")
        self.mistakes_button.clicked.connect(self.show_mistakes)
        figures = QWidget(self)
        fl = QVBoxLayout(figures)
        fl.setContentsMargins(0, 0, 0, 0)
        fl.addWidget(self.summary)
        fl.addWidget(self.details)
        fl.addWidget(self.table, 1)
        row = QHBoxLayout()
        row.addWidget(self.copy_button)
        row.addWidget(self.mistakes_button)
        row.addStretch(1)
        fl.addLayout(row)

        # Confusion matrix.
        self.matrix = ConfusionMatrixView(self)
        self.matrix.cell_clicked.connect(self.show_cell)
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.matrix)
        scroll.setMinimumSize(240, 160)
        self.counts_radio = QRadioButton("&Counts", self)
        self.counts_radio.setToolTip("Show how many photos are in each cell")
        self.share_radio = QRadioButton("Percenta&ges of the true class", self)
        self.share_radio.setToolTip("Show each cell as a share of its row: how the photos of each true "
                                    "class were classified")
        self.counts_radio.setChecked(True)
        group = QButtonGroup(self)
        group.addButton(self.counts_radio)
        group.addButton(self.share_radio)
        self.share_radio.toggled.connect(self.matrix.set_normalized)
        mode = QHBoxLayout()
        mode.addWidget(QLabel("Show:", self))
        mode.addWidget(self.counts_radio)
        mode.addWidget(self.share_radio)
        mode.addStretch(1)
        matrix_box = QWidget(self)
        ml = QVBoxLayout(matrix_box)
        ml.setContentsMargins(0, 0, 0, 0)
        ml.addLayout(mode)
        ml.addWidget(scroll, 1)

        # Photos of a cell.
        self.cell_title = QLabel("Click a cell of the confusion matrix to see its photos.", self)
        self.cell_title.setWordWrap(True)
        self.grid = PhotoGrid(self, thumb_px=96, caption=_cell_caption)
        self.grid.setToolTip("The photos of the chosen cell. Select some, then move them to the right class.")
        self.grid.itemSelectionChanged.connect(self._refresh_state)
        self.move_predicted_button = QPushButton("Move to pred&icted class", self)
        self.move_predicted_button.setToolTip("The model was right and the label was wrong: move the selected "
                                              "photos to the class the model said (in the same split folder)")
        self.move_predicted_button.clicked.connect(self.move_to_predicted)
        self.class_combo = QComboBox(self)
        self.class_combo.setToolTip("The class to move the selected photos to")
        self.class_combo.setAccessibleName("Move to class")
        self.move_button = QPushButton("Move to cl&ass", self)
        self.move_button.setToolTip("Move the selected photos to the class chosen on the left")
        self.move_button.clicked.connect(lambda: self.move_selected(self.class_combo.currentText()))
        self.undo_button = QPushButton("Undo", self)
        self.undo_button.setToolTip("Put the last moved photos back where they were (Ctrl+Z)")
        self.undo_button.clicked.connect(self.undo)
        self.review_button = QPushButton("Review in the Review tab", self)
        self.review_button.setToolTip("Go through these photos with the keyboard (1–9 to label)")
        self.review_button.clicked.connect(self._review)
        actions = QHBoxLayout()
        actions.addWidget(self.move_predicted_button)
        actions.addWidget(self.class_combo)
        actions.addWidget(self.move_button)
        actions.addWidget(self.undo_button)
        actions.addStretch(1)
        actions.addWidget(self.review_button)
        cell_box = QWidget(self)
        cl = QVBoxLayout(cell_box)
        cl.setContentsMargins(0, 0, 0, 0)
        cl.addWidget(self.cell_title)
        cl.addWidget(self.grid, 1)
        cl.addLayout(actions)
        undo = QShortcut(QKeySequence.StandardKey.Undo, self)
        undo.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        undo.activated.connect(self.undo)

        top = QSplitter(Qt.Orientation.Horizontal, self)
        top.addWidget(figures)
        top.addWidget(matrix_box)
        top.setChildrenCollapsible(False)
        top.setStretchFactor(1, 1)
        main = QSplitter(Qt.Orientation.Vertical, self)
        main.addWidget(top)
        main.addWidget(cell_box)
        main.setChildrenCollapsible(False)
        main.setStretchFactor(0, 3)
        main.setStretchFactor(1, 2)

        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.message_bar)
        lay.addWidget(main, 1)
        last = str(QSettings().value("evaluate/split", "val") or "val")
        self.set_split(last)
        self.split_combo.currentIndexChanged.connect(
            lambda _i: QSettings().setValue("evaluate/split", self.split_combo.currentData()))

    # -- running ------------------------------------------------------------------------
    def _on_model_changed(self, path: str) -> None:
        self._predictor = None
        self._refresh_state()

    def _on_progress(self, ev) -> None:
        if not isinstance(ev, JobProgress):
            return
        if ev.stage == "loading":
            self.progress.setRange(0, 0)
            self.progress.setFormat("Loading the model…")
        elif ev.stage == "scanning":
            self.progress.setRange(0, 0)
            self.progress.setFormat("Reading the dataset…")
        elif ev.stage == "evaluating":
            self.progress.setRange(0, max(1, ev.total))
            self.progress.setValue(ev.done)
            self.progress.setFormat(f"Evaluating: {ev.done:,} of {ev.total:,} photos")

    def _on_finished(self, result) -> None:
        self.progress.hide()
        self.show_result(result)
        self.status_message.emit(
            "Evaluation stopped." if result.stopped else
            f"Evaluation done: accuracy {result.accuracy:.1%}." if result.accuracy is not None else
            "Evaluation done.")
        self.evaluated.emit(result)
        self._refresh_state()

    def _on_failed(self, message: str) -> None:
        self.progress.hide()
        self.message_bar.show_message(message)
        self.status_message.emit("Evaluation failed: see the Evaluate tab.")
        self._refresh_state()

    def show_result(self, result) -> None:
        """Show an EvaluationResult (from a run here, or given by another part of the app)."""
        if self._labels is not None and path_key(self._labels.root) != path_key(result.dataset_root or "."):
            self._labels = None
            self.labels.forget()            # Undo applies to the dataset the photos were moved in
        self.result = result
        self._moved = 0
        self._show_figures()
        self.matrix.set_matrix(result.classes, result.confusion)
        self.class_combo.clear()
        self.class_combo.addItems(list(result.classes))
        self.grid.set_items([])
        self.cell_title.setText("Click a cell of the confusion matrix to see its photos.")
        self._cell = None
        self._refresh_state()

    def _show_figures(self) -> None:
        result = self.result
        split = SPLIT_NAMES.get(result.split, result.split).lower()
        if result.accuracy is None:
            self.summary.setText("No photo could be evaluated.")
        else:
            self.summary.setText(f"Accuracy {result.accuracy:.1%}: {result.correct:,} of "
                                 f"{result.evaluated:,} {split} photos right")
        notes = [f"Dataset: {result.dataset_root}"]
        if self._predictor is not None:
            notes.append(f"Model: {self._predictor_label}")
        elif self.model.model_path():
            notes.append(f"Model: {self.model.model_path()}")
        if result.stopped:
            notes.append(f"Stopped early: the figures cover {result.evaluated:,} of {result.total:,} photos.")
        if result.errors:
            first = result.errors[0]
            notes.append(f"{plural(len(result.errors), 'photo')} could not be read and "
                         f"{'was' if len(result.errors) == 1 else 'were'} left out, e.g. "
                         f"{os.path.basename(first[0])}: {first[1]}.")
        if self._moved:
            notes.append(f"{plural(self._moved, 'photo')} moved to another class since: the figures count "
                         "them with their new class.")
        self.details.setText("\n".join(notes))
        self._fill_table(result)

    def _fill_table(self, result) -> None:
        figs = result.per_class()
        avgs = result.averages()
        total = sum(f.support for f in figs)
        rows = [(f.name, f.precision, f.recall, f.f1, f.support, False) for f in figs]
        rows += [("Average", avgs["macro"]["precision"], avgs["macro"]["recall"], avgs["macro"]["f1"], total,
                  "The mean over the classes: every class counts the same"),
                 ("Weighted average", avgs["weighted"]["precision"], avgs["weighted"]["recall"],
                  avgs["weighted"]["f1"], total, "The mean over the classes, weighted by their number of photos")]
        self.table.setRowCount(len(rows))
        italic = QFont(self.table.font())
        italic.setItalic(True)
        for r, (name, prec, rec, f1, support, avg) in enumerate(rows):
            cells = [name, f"{prec:.1%}", f"{rec:.1%}", f"{f1:.1%}", f"{support:,}"]
            for c, text in enumerate(cells):
                it = QTableWidgetItem(text)
                if c:
                    it.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if avg:
                    it.setFont(italic)
                    it.setToolTip(avg)
                self.table.setItem(r, c, it)

    def _copy_report(self) -> None:
        if self.result is not None:
            QGuiApplication.clipboard().setText(self.result.format_text())
            self.status_message.emit("The evaluation report was copied.")

    # -- photos of a cell ---------------------------------------------------------------
    def _show_items(self, items: list[ReviewItem], title: str, pred: str | None) -> None:
        self.cell_title.setText(title)
        self.grid.set_items(items)
        if pred is not None:
            i = self.class_combo.findText(pred)
            if i >= 0:
                self.class_combo.setCurrentIndex(i)
        self._refresh_state()

    def _dataset_labels(self) -> DatasetLabels | None:
        if self.result is None:
            return None
        if self._labels is None:
            try:
                self._labels = DatasetLabels(self.result.dataset_root, move=True)
            except FledgeError as exc:
                self.message_bar.show_message(str(exc))
                return None
        return self._labels

    def _on_applied(self, action) -> None:
        for item, row, message in action.failed:
            self.grid.insert(item, row)
        if action.failed:
            self.message_bar.show_message(action.failed[0][2])
        if action.done and self.result is not None:
            moved = [(op.src, op.dst, cls) for _item, cls, _row, _lab, op in action.done]
            self.result = relabel(self.result, moved)
            self._moved += len(action.done)
            self.status_message.emit(f"Moved {plural(len(action.done), 'photo')} (Ctrl+Z puts "
                                     f"{'it' if len(action.done) == 1 else 'them'} back).")
            self._figures_changed()
            self.labels_changed.emit(action.labels.root)
        self._refresh_state()

    def _figures_changed(self) -> None:
        current = self.matrix.current_cell()
        self._show_figures()
        self.matrix.set_matrix(self.result.classes, self.result.confusion)
        if current is not None:
            self.matrix.set_current_cell(*current)
        self.cell_title.setText(self._cell_title(self.grid.count()))

    def _on_undone(self, action) -> None:
        placed = {id(item): op.dst for item, _cls, _row, _lab, op in action.done}
        back = [(placed[id(item)], where, item.true_class) for item, _row, where in action.restored
                if id(item) in placed and item.true_class]
        if back and self.result is not None:
            self.result = relabel(self.result, back)
            self._moved -= len(back)
        for item, row, where in sorted(action.restored, key=lambda x: x[1]):
            item.path = where
            self.grid.insert(item, row)
        if action.restored:
            self._figures_changed()
            self.grid.select_row(min(r for _, r, _ in action.restored))
            self.status_message.emit(f"Put {plural(len(action.restored), 'photo')} back.")
            self.labels_changed.emit(action.labels.root)
        if action.problems:
            self.message_bar.show_message(action.problems[0], "warning")
        self._refresh_state()

    def _review(self) -> None:
        items = self.grid.items()
        if self.result is not None and items:
            self.review_requested.emit(items, self.result.dataset_root)

    # -- state --------------------------------------------------------------------------
    def _refresh_state(self) -> None:
        running = self.is_running()
        problem = self.problem()
        self.evaluate_button.setEnabled(not problem)
        self.evaluate_button.setToolTip(problem or "Run the model on every photo of the split and compare "
                                        "with the labels")
        self.cancel_button.setEnabled(running and not self.runner.control.stop_requested)
        self.model.setEnabled(not running)
        self.dataset_field.setEnabled(not running)
        self.split_combo.setEnabled(not running)
        has = self.result is not None
        self.copy_button.setEnabled(has)
        self.mistakes_button.setEnabled(has and self.result.evaluated > self.result.correct)
        selected = bool(self.grid.selectedItems()) or self.grid.currentItem() is not None
        self.move_predicted_button.setEnabled(has and selected)
        self.move_button.setEnabled(has and selected and self.class_combo.count() > 0)
        self.undo_button.setEnabled(self.labels.can_undo())
        self.review_button.setEnabled(has and self.grid.count() > 0)

"""The evaluate panel: how good is a model on a dataset split, and which photos does it get wrong?

The work is core.photos.evaluation.evaluate_folder on a JobRunner (progress bar, Cancel),
the function `fledge evaluate` calls. The result shows the accuracy, a per-class table
(gui.panels.evaluate.class_figures_table) and a confusion matrix (gui.panels.evaluate.confusion_box);
clicking a cell lists its photos (gui.panels.evaluate.cell_photos, mistakes most confident first).
Whether those mistakes point at wrong labels is core.photos.evaluation.cell_advice's call:
only a strong model that was sure says so. A photo moves to another class folder only after
a confirmation (ask_move), journalled by core.photos.labelling and undone with Ctrl+Z. The
accuracy and table stay the model's score on the labels as evaluated (`result`); the matrix
and the cells follow the photos where they are now (`placed`, core.photos.evaluation.relabel).
Results are for one model and one dataset: once another is chosen they are marked out of
date, and their photos cannot be moved from here until Evaluate is pressed again. Next to the
matrix, "Review thresholds" (gui.panels.evaluate.threshold_box) shows precision and recall against the
threshold per class and saves per-class thresholds in the model file evaluated.
"""
from __future__ import annotations

import os

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QGuiApplication, QKeySequence, QShortcut
from PySide6.QtWidgets import QFrame, QScrollArea, QSplitter, QTabWidget, QVBoxLayout, QWidget

from core.photos.evaluation import cell_advice, evaluate_folder, relabel
from core.photos.evaluation_wording import advice_text, move_question, result_notes
from core.photos.label_session import LabelSession
from core.files.file_transfer import path_key
from core.photos.review_queue import class_mismatch, evaluated_items
from core.wording import plural
from gui.panel import window_parts
from gui.model_source import ModelSource, job_runner
from gui.model_store import ModelStore
from gui.settings import Settings
from gui.panels.evaluate.cell_photos import CellPhotos
from gui.panels.evaluate.confusion_box import ConfusionBox
from gui.panels.evaluate.evaluation_figures import EvaluationFigures
from gui.panels.evaluate.evaluation_form import EvaluationForm
from gui.widgets.message_bar import MessageBar
from gui.panels.evaluate.threshold_box import ThresholdBox

CELL_PROMPT = "Click a cell of the confusion matrix to see its photos."


class EvaluatePanel(QWidget):
    """Choose a model, a dataset and a split; evaluate; inspect and fix mistakes."""

    evaluated = Signal(object)            # core.photos.evaluation.EvaluationResult
    review_requested = Signal(object, str)   # [ReviewItem], dataset root to label into
    labels_changed = Signal(str)          # a dataset root whose class folders changed
    status_message = Signal(str)

    def __init__(self, models: ModelStore | None = None, parent: QWidget | None = None, *,
                 settings: Settings | None = None, session: LabelSession | None = None) -> None:
        super().__init__(parent)
        self.models, self.settings, self.session = window_parts(self, models, settings, session)
        self.setMinimumSize(640, 460)
        self.result = None                # as evaluated: the model's score
        self.placed = None                # the same photos where they are now, after moves
        self._moved = 0                   # photos moved to another class since the evaluation
        self._predictor_label = ""
        self._cell: tuple[int, int] | None = None
        self._basis: tuple | None = None      # (model, dataset key, model's name) the result is for
        self._asked: tuple | None = None      # the same, for the evaluation running
        self._dataset_classes: tuple[str, list[str]] | None = None   # (dataset key, its classes)
        self.runner = job_runner(self, "fledge-evaluate", lambda ev: self.form.show_progress(ev),
                                 self._on_finished, self._on_failed)
        self._build_ui()
        self.source = ModelSource(self.model, self.models, self)
        self.source.changed.connect(self._choice_changed)
        self.source.classes_known.connect(lambda _classes: self._show_classes())
        self._refresh_state()

    # -- public -------------------------------------------------------------------------
    def set_model(self, path: str) -> None:
        """Evaluate this model file next (e.g. the model just trained)."""
        self.source.set_model(path)

    def set_predictor(self, predictor, label: str = "a model in memory") -> None:
        """Use an already loaded predictor (anything with classes and predict_many)."""
        self._predictor_label = label
        self.source.set_predictor(predictor)

    def set_dataset(self, dataset) -> None:
        """The dataset chosen in the Data panel (a core.data.dataset.Dataset, or None)."""
        if dataset is not None and getattr(dataset, "root", ""):
            self._dataset_classes = (path_key(dataset.root), [str(c) for c in dataset.classes])
            self.dataset_field.set_path(dataset.root)
            if not getattr(dataset, "test", None) and self.split_combo.currentData() == "test":
                self.split_combo.setCurrentIndex(self.split_combo.findData("val"))
            self._show_classes()

    def set_dataset_folder(self, root: str) -> None:
        self.dataset_field.set_path(root)

    def set_split(self, split: str) -> None:
        self.form.set_split(split)

    def is_running(self) -> bool:
        return self.runner.is_running()

    def problem(self) -> str:
        """Why Evaluate cannot run now ('' when it can)."""
        if self.is_running():
            return "An evaluation is running."
        if not self.source.ready():
            return "Choose a model to evaluate."
        root = self.dataset_field.path()
        if not root:
            return "Choose the dataset folder (or open one in the Data tab)."
        if not os.path.isdir(root):
            return f"The dataset folder {root} does not exist."
        return ""

    def stale(self) -> str:
        """'' while the results shown are for the chosen model and dataset, else which changed."""
        if self.result is None or self._basis is None:
            return ""
        model, data, _name = self._choice()
        if data != self._basis[1]:
            return "dataset"
        same = model is self._basis[0] or (isinstance(model, str) and model == self._basis[0])
        return "" if same else "model"

    def evaluate(self) -> bool:
        problem = self.problem()
        if problem:
            self.message_bar.show_message(problem, "info")
            return False
        self.message_bar.clear()
        root, split = self.dataset_field.path(), self.form.split()
        self._asked = self._choice()
        self.form.start_progress()
        self.runner.start(self.source.task(lambda predictor, report, should_stop: evaluate_folder(
            predictor, root, split, report=report, should_stop=should_stop)))
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
        self._show_photos((t, p))

    def show_mistakes(self) -> None:
        self._show_photos(None)

    def _show_photos(self, cell: tuple[int, int] | None) -> None:
        if self.placed is None or self._refuse_if_stale():
            return
        self._cell = cell
        items = evaluated_items(self.placed.mistakes() if cell is None else self.placed.cell(*cell))
        self.cells.show_items(items, self._cell_title(len(items)), self.placed.classes[cell[1]] if cell else None)
        self._refresh_state()

    def cell_paths(self) -> list[str]:
        return self.grid.paths()

    def move_selected(self, class_name: str) -> bool:
        """Move the selected photos into class_name's folder of their dataset split (after asking)."""
        return self._move(lambda it: class_name if it.true_class != class_name else None,
                          f"The selected photos are already in {class_name}.")

    def move_to_predicted(self) -> bool:
        """The label was wrong: move each selected photo to its predicted class (after asking)."""
        return self._move(lambda it: it.suggestion if it.suggestion != it.true_class else None,
                          "The model agrees with the labels of the selected photos: there is nothing to move.")

    def undo(self) -> bool:
        done = self.cells.undo()
        self._refresh_state()
        return done

    @property
    def ask_move(self):
        """ask_move(question) -> bool, asked before photos move: replaceable (tests, scripts)."""
        return self.cells.ask_move

    @ask_move.setter
    def ask_move(self, ask) -> None:
        self.cells.ask_move = ask

    def shutdown(self, msecs: int = 10000) -> None:
        self.runner.shutdown(msecs)
        self.cells.shutdown(msecs)
        self.thresholds.shutdown(msecs)

    # -- layout -------------------------------------------------------------------------
    def _build_ui(self) -> None:
        self.form = EvaluationForm(self.settings, self)
        self.model, self.model_classes, self.dataset_field = (self.form.model, self.form.model_classes,
                                                              self.form.dataset_field)
        self.split_combo, self.progress = self.form.split_combo, self.form.progress
        self.evaluate_button, self.cancel_button = self.form.evaluate_button, self.form.cancel_button
        self.dataset_field.changed.connect(lambda _p: self._choice_changed())
        self.evaluate_button.clicked.connect(self.evaluate)
        self.cancel_button.clicked.connect(self.cancel)
        self.message_bar = MessageBar(self)
        self.stale_bar = MessageBar(self, keep_place=False)   # the results shown are for another model or dataset

        self.figures = EvaluationFigures(self)
        self.summary, self.details, self.table = self.figures.summary, self.figures.details, self.figures.table
        self.copy_button, self.mistakes_button = self.figures.copy_button, self.figures.mistakes_button
        self.copy_button.clicked.connect(self._copy_report)
        self.mistakes_button.clicked.connect(self.show_mistakes)

        self.matrix_box = ConfusionBox(self)
        self.matrix, self.counts_radio, self.share_radio = (self.matrix_box.matrix, self.matrix_box.counts_radio,
                                                            self.matrix_box.share_radio)
        self.matrix.cell_clicked.connect(self.show_cell)
        self.thresholds = ThresholdBox(self)        # per-class review thresholds, saved in the model file
        self.thresholds.status.connect(self.status_message)
        views = QTabWidget(self)
        views.addTab(self.matrix_box, "Confusion matrix")
        # Scrolled when the tab is short: the curves and their words never overlap.
        self.thresholds_page = QScrollArea(self)
        self.thresholds_page.setWidget(self.thresholds)
        self.thresholds_page.setWidgetResizable(True)
        self.thresholds_page.setFrameShape(QFrame.Shape.NoFrame)
        views.addTab(self.thresholds_page, "Review thresholds")
        self.cells = CellPhotos(self, CELL_PROMPT, self.session)
        self.cells.selection_changed.connect(self._refresh_state)
        self.cells.move_to_predicted.connect(self.move_to_predicted)
        self.cells.move_to_class.connect(self.move_selected)
        self.cells.undo_button.clicked.connect(self._refresh_state)
        self.cells.review.connect(self._review)
        self.cells.moved.connect(self._on_moved)
        self.cells.restored.connect(self._on_restored)
        self.cells.labels_changed.connect(self.labels_changed)
        self.cells.status.connect(self.status_message)
        self.cells.problem.connect(self.message_bar.show_message)
        self.grid, self.cell_title, self.class_combo = self.cells.grid, self.cells.title, self.cells.class_combo
        self.move_predicted_button, self.move_button = self.cells.move_predicted_button, self.cells.move_button
        self.undo_button, self.review_button = self.cells.undo_button, self.cells.review_button
        undo = QShortcut(QKeySequence.StandardKey.Undo, self)
        undo.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        undo.activated.connect(self.undo)

        top = QSplitter(Qt.Orientation.Horizontal, self)
        top.addWidget(self.figures)
        top.addWidget(views)
        top.setChildrenCollapsible(False)
        top.setStretchFactor(1, 1)
        main = QSplitter(Qt.Orientation.Vertical, self)
        main.addWidget(top)
        main.addWidget(self.cells)
        main.setChildrenCollapsible(False)
        main.setStretchFactor(0, 3)
        main.setStretchFactor(1, 2)
        lay = QVBoxLayout(self)
        lay.addWidget(self.form)
        lay.addWidget(self.message_bar)
        lay.addWidget(self.stale_bar)
        lay.addWidget(main, 1)

    # -- the model and dataset chosen ------------------------------------------------------
    def _choice(self) -> tuple:
        """(model, dataset key, model's name) chosen now; model: the predictor handed over, or the
        model file's key."""
        path, root = self.model.model_path(), self.dataset_field.path()
        if self.source.predictor is not None:
            return self.source.predictor, path_key(root) if root else "", self._predictor_label
        return path_key(path) if path else "", path_key(root) if root else "", path

    def _choice_changed(self) -> None:
        """Another model or dataset: results for the old ones are marked out of date."""
        if self.stale():
            self._cell = None
            self.cells.clear("The results above are out of date: press Evaluate, then click a cell.")
        elif not self.grid.count() and self._cell is None:
            self.cells.clear()
        self._show_classes()
        self._show_stale()
        self._refresh_state()

    def _show_stale(self) -> None:
        what = self.stale()
        if not what:
            self.stale_bar.clear()
            return
        was = f"the dataset {self.result.dataset_root}" if what == "dataset" else "the model evaluated before"
        self.stale_bar.show_message(
            f"These results are for {was}, not the {what} chosen now. Press Evaluate to see how the "
            f"{'model does on it' if what == 'dataset' else 'chosen model does'}; until then no photo can be "
            "moved from here.", "warning")

    def _refuse_if_stale(self) -> bool:
        if self.stale():
            self.message_bar.show_message("The results shown are out of date: press Evaluate first.", "info")
            return True
        return False

    def _show_classes(self) -> None:
        """The model's class names where it is chosen, with a warning when they do not fit the dataset."""
        classes = self.source.classes
        if not classes and self.result is not None and self.stale() != "model":
            classes = self.result.model_classes
        if not self.source.ready() or not classes:
            self.model_classes.setText("The model's classes are shown once it has been loaded (press Evaluate)."
                                       if self.source.ready() else "")
            return
        text = f"The model's classes: {', '.join(classes)}"
        root = self.dataset_field.path()
        known = self._dataset_classes
        if self.result is not None and path_key(self.result.dataset_root or ".") == path_key(root or "."):
            known = (path_key(root), self.result.dataset_classes or self.result.classes)
        if root and known is not None and known[0] == path_key(root):
            why = class_mismatch(classes, known[1], f"the dataset {os.path.basename(root.rstrip(os.sep))}")
            if why:
                text += "\n⚠ " + why
        self.model_classes.setText(text)

    def _cell_title(self, n: int) -> str:
        if self._cell is None:
            return f"All mistakes: {plural(n, 'photo')}, most confident first. " + advice_text(
                cell_advice(self.result))
        t, p = self._cell
        true, pred = self.placed.classes[t], self.placed.classes[p]
        if t == p:
            return f"{true}, recognised correctly: {plural(n, 'photo')}, least sure first"
        return (f"{true} taken for {pred}: {plural(n, 'photo')}, most confident mistakes first. "
                + advice_text(cell_advice(self.result, t, p)))

    # -- moving photos ----------------------------------------------------------------------
    def _move(self, target, nothing_to_move: str) -> bool:
        """Move each selected photo to the class target(photo) names (None: leave it), undoably."""
        if self._refuse_if_stale():
            return False
        advice = cell_advice(self.result, *(self._cell or (None, None)))
        done = self.cells.move(target, nothing_to_move, lambda moves: "\n".join(
            move_question(moves, advice) + ["", "You can undo this with Ctrl+Z."]))
        self._refresh_state()
        return done

    def _on_moved(self, moves: list) -> None:
        if moves and self.placed is not None:
            self.placed = relabel(self.placed, moves)
            self._moved += len(moves)
            self._figures_changed()
        self._refresh_state()

    def _on_restored(self, back: list) -> None:
        if back and self.placed is not None:
            self.placed = relabel(self.placed, back)
            self._moved -= len(back)
            self._figures_changed()
        self._refresh_state()

    def _review(self) -> None:
        items = self.grid.items()
        if self.result is not None and items and not self._refuse_if_stale():
            self.review_requested.emit(items, self.result.dataset_root)

    # -- running ------------------------------------------------------------------------
    def _on_finished(self, result) -> None:
        self.progress.hide()
        self.show_result(result, self._asked)
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

    def show_result(self, result, basis: tuple | None = None) -> None:
        """Show an EvaluationResult (from a run here, or given by another part of the app);
        basis: the (model, dataset, model's name) it is for (default: those chosen now)."""
        self.cells.set_dataset(result.dataset_root)     # Undo applies to the dataset photos moved in
        self.result = self.placed = result
        self._basis = basis or self._choice()
        self._moved = 0
        self._figures_changed()
        self.thresholds.show_result(result)
        self.thresholds.set_model_path(self._basis[2] if isinstance(self._basis[0], str) else "")
        self.cells.set_classes(result.classes)
        self._cell = None
        self.cells.clear()
        self._choice_changed()

    def _figures_changed(self) -> None:
        self.figures.show_result(self.result, result_notes(self.result, self.placed, self._moved, self._basis[2]))
        current = self.matrix.current_cell()
        self.matrix.set_matrix(self.placed.classes, self.placed.confusion)
        self.matrix_box.set_note("The photos where they are now." if self._moved else "")
        if current is not None:
            self.matrix.set_current_cell(*current)
        if self.grid.count() or self._cell is not None:
            self.cell_title.setText(self._cell_title(self.grid.count()))

    def _copy_report(self) -> None:
        if self.result is not None:
            QGuiApplication.clipboard().setText(self.result.format_text())
            self.status_message.emit("The evaluation report was copied.")

    # -- state --------------------------------------------------------------------------
    def _refresh_state(self) -> None:
        running, problem = self.is_running(), self.problem()
        self.evaluate_button.setEnabled(not problem)
        self.evaluate_button.setToolTip(problem or "Run the model on every photo of the split and compare "
                                        "with the labels")
        self.form.set_running(running, not self.runner.control.stop_requested)
        has = self.result is not None
        usable = has and not self.stale()
        self.copy_button.setEnabled(has)
        self.mistakes_button.setEnabled(usable and self.placed.evaluated > self.placed.correct)
        self.matrix_box.setEnabled(usable)
        self.thresholds.setEnabled(usable)
        self.table.setEnabled(usable)
        self.cells.live = not self.stale()
        self.cells.set_actions(move=usable, undo=self.cells.can_undo(), review=usable)

"""The "what to evaluate" form: a model (with its class names), a dataset folder, a split, Evaluate."""
from __future__ import annotations

from PySide6.QtWidgets import (QComboBox, QFormLayout, QHBoxLayout, QLabel, QProgressBar, QPushButton,
                               QSizePolicy, QWidget)

from core.progress import JobProgress
from core.wording import of_total
from gui.panels.evaluate.evaluation_figures import SPLIT_NAMES
from gui.widgets.folder_field import FolderField
from gui.settings import EVALUATE_MODEL_FOLDER, EVALUATE_SPLIT, Settings
from gui.widgets.model_chooser import ModelChooser


class EvaluationForm(QWidget):
    """``model`` (a ModelChooser), ``model_classes`` (a note under it), ``dataset_field``,
    ``split_combo``, ``evaluate_button``, ``cancel_button`` and ``progress``.

    settings: the window's Settings, remembering the model folder and the split.
    """

    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = ModelChooser(settings, EVALUATE_MODEL_FOLDER, self)
        self.model_classes = QLabel(self)       # the model's class names, and whether they fit
        self.model_classes.setWordWrap(True)
        self.model_classes.setAccessibleName("Classes of the model")
        self.dataset_field = FolderField(
            "The dataset folder (as in the Data tab)", "Choose the dataset to evaluate on",
            "The folder of class folders to evaluate on; the Data tab's dataset is used unless you "
            "choose another", self)
        self.split_combo = QComboBox(self)
        for key in ("val", "test", "train"):
            self.split_combo.addItem(SPLIT_NAMES[key], key)
        self.split_combo.setToolTip("Which photos to check the model on: validation (set aside during "
                                    "training), test (kept apart for a final check) or training")
        self.split_combo.setAccessibleName("Split")
        self.evaluate_button = QPushButton("Eval&uate", self)
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setToolTip("Stop; the figures then cover the photos done so far")
        self.progress = QProgressBar(self)
        self.progress.setAccessibleName("Evaluation progress")
        self.progress.hide()

        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("&Model:", self.model)
        form.addRow("", self.model_classes)
        form.addRow("Dataset:", self.dataset_field)
        split_row = QHBoxLayout()
        for w in (self.split_combo, self.evaluate_button, self.cancel_button):
            split_row.addWidget(w)
            w.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        split_row.addWidget(self.progress, 2)
        split_row.addStretch(1)
        form.addRow("Sp&lit:", split_row)
        for field, buddy in ((self.model, self.model.combo), (self.dataset_field, self.dataset_field.edit),
                             (split_row, self.split_combo)):
            label = form.labelForField(field)
            if label is not None:
                label.setBuddy(buddy)
        self.set_split(settings.get(EVALUATE_SPLIT))
        self.split_combo.currentIndexChanged.connect(
            lambda _i: settings.set(EVALUATE_SPLIT, self.split()))

    def split(self) -> str:
        return str(self.split_combo.currentData())

    def set_split(self, split: str) -> None:
        i = self.split_combo.findData(split)
        if i >= 0:
            self.split_combo.setCurrentIndex(i)

    def set_running(self, running: bool, can_stop: bool) -> None:
        for w in (self.model, self.dataset_field, self.split_combo):
            w.setEnabled(not running)
        self.cancel_button.setEnabled(running and can_stop)

    def start_progress(self) -> None:
        self.progress.setRange(0, 0)
        self.progress.setFormat("Starting…")
        self.progress.show()

    def show_progress(self, ev) -> None:
        """A JobProgress of loading the model, reading the dataset or evaluating."""
        if not isinstance(ev, JobProgress):
            return
        if ev.stage in ("loading", "scanning"):
            self.progress.setRange(0, 0)
            self.progress.setFormat("Loading the model…" if ev.stage == "loading" else "Reading the dataset…")
        elif ev.stage == "evaluating":
            self.progress.setRange(0, max(1, ev.total))
            self.progress.setValue(ev.done)
            self.progress.setFormat(f"Evaluating: {of_total(ev.done, ev.total, 'photo')}")

"""Review thresholds from the evaluation: pick the precision wanted, see per class what it costs
-- a class whose validation photos are too few to promise it gets no threshold and sends its photos
to review, with how many more photos would do -- and save the thresholds in the model file.

core.photos.thresholds chooses and words them; the save is core.model.checkpoints.save_thresholds
on a gui.background pool (a model file is rewritten, off the GUI thread). After a save, `fledge
classify --sort-into` and `fledge watch` use the file's per-class thresholds unless --threshold
is given (the Sort tab keeps its own certainty picker).
"""
from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QComboBox, QFormLayout, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QVBoxLayout,
                               QWidget)

from core.photos.thresholds import DEFAULT_TARGET, choose_thresholds, threshold_curves
from gui.background import TaskPool, call
from gui.widgets.certainty import CertaintyPicker
from gui.widgets.message_bar import MessageBar
from gui.panels.evaluate.threshold_curves import ThresholdCurves

NO_RESULT = "Evaluate a model to see how sure it must be for each class to be right often enough."


def _save(path: str, record: dict) -> str:
    from core.model.checkpoints import save_thresholds      # imports torch: on the pool's thread only

    save_thresholds(path, record)
    return path


class ThresholdBox(QWidget):
    """show_result(EvaluationResult), set_model_path(path or ''); ``saved(path)`` after a save."""

    saved = Signal(str)
    status = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.result = None
        self.choice = None
        self._curves = {}
        self._model_path = ""
        self.target = CertaintyPicker("Precision wanted", "The share of the photos sorted into a class that must "
                                      "really be of that class; the rest go to review",
                                      round(100 * DEFAULT_TARGET), self)
        self.target.slider.setRange(50, 100)
        self.target.spin.setRange(50, 100)
        self.class_combo = QComboBox(self)
        self.class_combo.setAccessibleName("Class whose curves are shown")
        self.curves = ThresholdCurves(self)
        self.curves.setMinimumHeight(200)
        self.consequences = QLabel(NO_RESULT, self)
        self.consequences.setWordWrap(True)
        # Its lines always get their height: the curves give way (the page scrolls when short).
        self.consequences.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
        self.save_button = QPushButton("Save thresholds in the model", self)
        self.message_bar = MessageBar(self)
        self._pool = TaskPool(self, threads=1)
        self._pool.finished.connect(self._on_saved)
        self._pool.failed.connect(lambda _token, message: self._on_failed(message))
        self.target.spin.valueChanged.connect(lambda _v: self._choose())
        self.class_combo.currentIndexChanged.connect(lambda _i: self._show_curve())
        self.save_button.clicked.connect(self.save)
        form = QFormLayout()
        form.addRow("Precision wanted:", self.target)
        form.addRow("Curves of:", self.class_combo)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.save_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(form)
        lay.addWidget(self.curves, 1)
        lay.addWidget(self.curves.legend)
        lay.addWidget(self.consequences)
        lay.addWidget(self.message_bar)
        lay.addLayout(buttons)
        self._refresh()

    # -- public -------------------------------------------------------------------------
    def show_result(self, result) -> None:
        self.result = result
        self.message_bar.clear()
        self._curves = {c.name: c for c in threshold_curves(result)} if result is not None else {}
        self.class_combo.blockSignals(True)
        self.class_combo.clear()
        self.class_combo.addItems(list(self._curves))
        self.class_combo.blockSignals(False)
        self._choose()

    def set_model_path(self, path: str) -> None:
        """The model file the result is for ('' when it is not a Fledge model file: nothing to save in)."""
        self._model_path = path if path and path.lower().endswith(".pt") else ""
        self._refresh()

    def set_target(self, precision: float) -> None:
        self.target.set_percent(round(100 * precision))

    def save(self) -> bool:
        if self._why_not() or self._pool.is_busy():
            return False
        self.save_button.setEnabled(False)
        self._pool.submit(call(_save, self._model_path, self.choice.to_record()))
        return True

    def shutdown(self, msecs: int = 10000) -> None:
        self._pool.shutdown(msecs)

    # -- inside -------------------------------------------------------------------------
    def _choose(self) -> None:
        ok = self.result is not None and self.result.evaluated > 0
        self.choice = choose_thresholds(self.result, self.target.percent() / 100.0) if ok else None
        self.consequences.setText("\n".join(self.choice.lines()) if self.choice else NO_RESULT)
        self._show_curve()
        self._refresh()

    def _show_curve(self) -> None:
        curve = self._curves.get(self.class_combo.currentText()) if self.choice else None
        if curve is None:
            self.curves.clear_curve()
            return
        chosen = self.choice.thresholds().get(curve.name)         # None: the class goes to review
        self.curves.show_curve(curve, chosen, self.target.percent() / 100.0)

    def _why_not(self) -> str:
        """Why the thresholds shown cannot be saved now ('' when they can)."""
        return ("Evaluate a model first." if self.choice is None else
                "The evaluation was stopped early: evaluate every photo first." if self.result.stopped else
                "Only a model file (.pt) chosen above can hold thresholds." if not self._model_path else "")

    def _refresh(self) -> None:
        why = self._why_not()
        self.save_button.setEnabled(not why and not self._pool.is_busy())
        self.save_button.setToolTip(why or "Keep these thresholds in the model file: 'fledge classify' and "
                                    "'fledge watch' then send each class's unsure photos to review by them")

    def _on_saved(self, _token: int, path: str) -> None:
        self.message_bar.show_message(f"Saved in {path}. With this model, the Sort tab (while “Use the model's "
                                      "own thresholds” is ticked), 'fledge classify --sort-into' and 'fledge "
                                      "watch' now send each class's unsure photos to review by these thresholds.",
                                      "info")
        self.status.emit("Thresholds saved in the model.")
        self.saved.emit(path)
        self._refresh()

    def _on_failed(self, message: str) -> None:
        self.message_bar.show_message(message)
        self._refresh()

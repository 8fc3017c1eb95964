"""One TrainConfig field in the settings form: the widget its Option describes, reading and
showing its value (what was kept of it is gui.settings's)."""
from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QLineEdit, QSpinBox, QWidget

from core.training.config import Option

from gui.panels.train.learning_rate_box import LearningRateBox
from gui.panels.train.recipe_choice import RecipeChoice


class StrengthBox(QDoubleSpinBox):
    """An augmentation strength; one step below its range it is empty: the preset's (None)."""

    def __init__(self, opt: Option) -> None:
        super().__init__()
        self._empty = opt.minimum - opt.step
        self.setDecimals(opt.decimals)
        self.setRange(self._empty, opt.maximum)
        self.setSingleStep(opt.step)
        self.setSuffix(opt.suffix)
        self.setSpecialValueText("As the preset")

    def show_preset(self, value: float) -> None:
        """Say the preset's strength in the empty box."""
        self.setSpecialValueText(f"As the preset ({value:g}{self.suffix()})")

    def strength(self) -> float | None:
        v = self.value()
        return None if v <= self._empty else max(0.0, v)

    def set_strength(self, value: float | None) -> None:
        self.setValue(self._empty if value is None else float(value))


def editor(opt: Option) -> QWidget:
    """The widget for a field whose Option alone says how to edit it."""
    if opt.widget == "strength":
        return StrengthBox(opt)
    if opt.widget == "check":
        return QCheckBox(opt.text)
    if opt.widget == "recipe":
        return RecipeChoice(opt)
    if opt.widget == "text":
        line = QLineEdit()
        line.setPlaceholderText(opt.metavar)
        return line
    if opt.widget == "choice":
        combo = QComboBox()
        for value in opt.choices:
            combo.addItem(opt.choice_labels.get(value, str(value)), value)
            combo.setItemData(combo.count() - 1, opt.choice_help.get(value, ""), Qt.ItemDataRole.ToolTipRole)
        return combo
    box = {"int": QSpinBox, "float": QDoubleSpinBox, "learning_rate": LearningRateBox}[opt.widget]()
    if opt.decimals is not None:
        box.setDecimals(opt.decimals)
    if opt.minimum is not None and opt.maximum is not None:
        box.setRange(opt.kind(opt.minimum), opt.kind(opt.maximum))
    if opt.step is not None:
        box.setSingleStep(opt.kind(opt.step))
    box.setSuffix(opt.suffix)
    return box


def value_of(widget: QWidget) -> Any:
    if isinstance(widget, QComboBox):
        return widget.currentData()
    if isinstance(widget, QCheckBox):
        return widget.isChecked()
    if isinstance(widget, StrengthBox):
        return widget.strength()
    if isinstance(widget, QLineEdit):
        return widget.text().strip()
    return widget.value()


def show_value(widget: QWidget, value: Any) -> None:
    if isinstance(widget, QComboBox):
        select(widget, value)
    elif isinstance(widget, QCheckBox):
        widget.setChecked(bool(value))
    elif isinstance(widget, RecipeChoice):
        widget.setValue(value)
    elif isinstance(widget, StrengthBox):
        widget.set_strength(value)
    elif isinstance(widget, QLineEdit):
        widget.setText(str(value))
    elif isinstance(widget, QSpinBox):
        widget.setValue(int(value))
    else:
        widget.setValue(float(value))


def select(combo: QComboBox, data: Any) -> bool:
    """Choose the entry holding data; False when there is none."""
    i = combo.findData(data)
    if i >= 0:
        combo.setCurrentIndex(i)
    return i >= 0


def value_changed(widget: QWidget):
    if isinstance(widget, QComboBox):
        return widget.currentIndexChanged
    if isinstance(widget, QCheckBox):
        return widget.toggled
    if isinstance(widget, QLineEdit):
        return widget.editingFinished
    return widget.valueChanged

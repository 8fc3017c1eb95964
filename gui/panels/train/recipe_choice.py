"""The first choice of the Train tab: how to train (TrainConfig.recipe), as three large
radio buttons with the chosen one's help under them and the network it uses; which rows of
the settings form each recipe shows (the settings core.training.recipe_rules says a person
chooses in it), and the note on uneven classes."""
from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QButtonGroup, QLabel, QRadioButton, QVBoxLayout, QWidget

from core.training.class_balance import ClassBalance
from core.training.config import Option
from core.training.recipe_rules import PRESETS, augmentation_note, chosen_settings, recipe_network

from gui.style import make_muted


def network_note(recipe: str) -> str:
    """Which network a recipe trains, in plain words, and (quick) that it does not augment; '' for
    custom: the form shows both."""
    if recipe_network(recipe) is None:
        return ""
    layers = ("only its last layer learns your classes" if recipe == "quick"
              else "its last layer learns first, then every layer is fine-tuned")
    return " ".join(filter(None, (f"The network is pretrained on ImageNet (installed with Fledge, works "
                                  f"offline); {layers}.", augmentation_note(recipe))))


class RecipeChoice(QWidget):
    """value(): the chosen recipe; valueChanged(recipe) after a person or setValue changes it."""

    valueChanged = Signal(str)

    def __init__(self, opt: Option, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.opt = opt
        self.group = QButtonGroup(self)
        self.buttons: dict[str, QRadioButton] = {}
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(4)
        for i, recipe in enumerate(opt.choices):
            button = QRadioButton(opt.choice_labels.get(recipe, recipe))
            f = QFont(button.font())
            f.setPointSizeF(f.pointSizeF() * 1.1)
            button.setFont(f)
            button.setMinimumHeight(28)
            button.setToolTip(opt.choice_help.get(recipe, opt.help))
            self.group.addButton(button, i)
            self.buttons[recipe] = button
            lay.addWidget(button)
        self.help = QLabel()
        self.help.setWordWrap(True)
        self.network = QLabel()
        self.network.setWordWrap(True)
        make_muted(self.network)
        lay.addWidget(self.help)
        lay.addWidget(self.network)
        self.buttons[opt.default if opt.default in self.buttons else opt.choices[0]].setChecked(True)
        self._show_help()
        self.group.idToggled.connect(self._on_toggled)

    def value(self) -> str:
        return next(r for r, b in self.buttons.items() if b.isChecked())

    def setValue(self, recipe: str) -> None:  # noqa: N802 - the Qt spelling, as the other editors
        button = self.buttons.get(recipe)
        if button is not None and not button.isChecked():
            button.setChecked(True)       # idToggled -> valueChanged

    def _on_toggled(self, _id: int, checked: bool) -> None:
        if checked:
            self._show_help()
            self.valueChanged.emit(self.value())

    def _show_help(self) -> None:
        recipe = self.value()
        self.help.setText(self.opt.choice_help.get(recipe, ""))
        note = network_note(recipe)
        self.network.setText(note)
        self.network.setVisible(bool(note))


def shown_fields(recipe: str, names, uneven: bool) -> set[str]:
    """The form's fields a recipe shows: those a person chooses in it; a preset's class
    weighting only when the classes are uneven (its note says what it does then)."""
    shown = set(names) & chosen_settings(recipe)
    if recipe in PRESETS and not uneven:
        shown.discard("class_weighting")
    return shown


def balance_note(balance: ClassBalance | None, weighting: str) -> str:
    """What uneven classes mean for this run, next to the class-weighting setting ('' when even)."""
    if balance is None or not balance.uneven:
        return ""
    weighted = ("the loss is weighted by class, so the small classes count as much as the large"
                if weighting != "off" else "the loss is not weighted: the model may favour the largest class")
    return (f"The classes are uneven (the largest has {balance.ratio:.1f} times the photos of the "
            f"smallest): {weighted}.")

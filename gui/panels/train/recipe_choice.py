"""The first choice of the Train tab: how to train (TrainConfig.recipe), as three large
radio buttons with the chosen one's help under them and the network it uses; which rows of
the settings form each recipe shows, and the note on uneven classes."""
from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QButtonGroup, QLabel, QRadioButton, QVBoxLayout, QWidget

from core.model.architectures import ARCH_INFO
from core.training.class_balance import ClassBalance
from core.training.config import Option

from gui.style import make_muted

# The network the quick and thorough recipes train (core.model.offline_backbone.ARCH): its
# ImageNet weights come installed, so it needs no internet.
RECIPE_ARCH = "efficientnet_lite0"


def network_note(recipe: str) -> str:
    """Which network a recipe trains, in plain words ('' for custom: the form shows it)."""
    if recipe == "custom":
        return ""
    info = ARCH_INFO[RECIPE_ARCH]
    layers = ("only its last layer learns your classes" if recipe == "quick"
              else "its last layer learns first, then every layer is fine-tuned")
    return (f"Network: {info.label}, pretrained on ImageNet (installed with Fledge, works "
            f"offline); {layers}.")


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


# What each recipe shows besides itself; custom shows every field. Uneven classes add the
# class-weighting row to any recipe, with its note.
RECIPE_FIELDS = {"quick": ("epochs", "device"),
                 "thorough": ("epochs", "lr", "auto_lr", "device")}


def shown_fields(recipe: str, names, uneven: bool) -> set[str]:
    """The form's fields a recipe shows."""
    if recipe not in RECIPE_FIELDS:
        return set(names)
    return {"recipe", *RECIPE_FIELDS[recipe], *(("class_weighting",) if uneven else ())}


def recipe_values(recipe: str, values: dict) -> dict:
    """The form's values with a preset's network in place of the custom one's (quick and
    thorough always train the offline EfficientNet-Lite0 at its own size)."""
    if recipe not in RECIPE_FIELDS:
        return values
    return {**values, "arch": RECIPE_ARCH, "pretrained": True, "weights_path": None,
            "freeze_backbone": False, "image_size": None}


def balance_note(balance: ClassBalance | None, weighting: str) -> str:
    """What uneven classes mean for this run, next to the class-weighting setting ('' when even)."""
    if balance is None or not balance.uneven:
        return ""
    weighted = ("the loss is weighted by class, so the small classes count as much as the large"
                if weighting != "off" else "the loss is not weighted: the model may favour the largest class")
    return (f"The classes are uneven (the largest has {balance.ratio:.1f} times the photos of the "
            f"smallest): {weighted}.")

"""The training-settings form of the Train tab: every knob of a run, with tooltips,
per-field errors, defaults for this computer and the choices kept in the window's Settings.

The rows are built from TrainConfig's table of fields (core.training.config.config_options):
label, help, range, choices and widget come from there. config() is the configuration the
form was last given (apply_config) with the form's values put in, so a field the form has
no widget for (precision, pipeline, workers, Nesterov, ...) is never lost.
The recipe comes first: quick and thorough show only the settings a person chooses in them
(core.training.recipe_rules, which also says what a run of each really uses), custom every setting.
`changed` fires after each edit (settings saved, errors updated).
"""
from __future__ import annotations

import dataclasses
import math
import os
from typing import Any

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFormLayout, QFrame, QHBoxLayout, QLabel, QPushButton,
                               QScrollArea, QStyle, QToolButton, QVBoxLayout, QWidget)

from core.data.augmentation import PRESETS, STRENGTHS, preview_photo
from core.model.architectures import ARCH_INFO
from core.training.class_balance import ClassBalance, class_balance
from core.training.config import ALL_GPUS_DEVICE, Option, TrainConfig
from core.training.optimizer_rules import unused_settings, usual_lr
from core.training.recipe_rules import resolve
from core.training.runs import start_model_problem

from gui.engine import EngineInfo
from gui.style import ErrorLabel, make_muted
from gui.panels.train.augment_preview import AugmentPreview
from gui.panels.train.lr_suggest import LearningRateRow
from gui.panels.train.pretrained_weights_box import PretrainedWeightsBox
from gui.panels.train.recipe_choice import balance_note, shown_fields
from gui.panels.train.start_from_box import StartFromBox
from gui.panels.train.setting_editors import editor, select, show_value, value_changed, value_of
from gui.panels.train.settings_store import (FORM_FIELDS, OPTIONS, default_config, load_stored, recipe_epochs,
                                             store, stored_keys)
from gui.settings import Settings



class SettingsForm(QScrollArea):
    """The settings of the next run, one row per field with its error label under it.

    A scroll area around the fields (widget()): lock the fields, not the scroll bar.
    fields: field name -> the widget that edits it; errors: field name -> its error label.
    """

    changed = Signal()                    # after an edit: settings saved, errors updated

    def __init__(self, settings: Settings | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings if settings is not None else Settings()
        self.devices: list[tuple[str, str]] = []
        self.architectures = dict(ARCH_INFO)
        self.sizes: dict = {}               # name -> NetworkSize, counted once the engine is loaded
        self.ready = False                  # True once torch and the models are loaded
        self._restoring = False
        self._constructed = False          # nothing is saved until the form is built
        self._field_errors: dict[str, str] = {}
        self._base = TrainConfig()         # what config() starts from (see apply_config)
        self._pending_device: str | None = None
        self._optimizer = self._base.optimizer    # the one shown, until another is chosen
        self.dataset = None                # the Data tab's, for the finder and the class balance
        self.balance: ClassBalance | None = None
        self.rows: dict[str, tuple[QWidget, QWidget]] = {}   # field -> (label, row)

        self._stored_keys = stored_keys(self.settings)   # what the person chose before

        self._build_ui()
        self._fill_architectures()
        self.apply_config(load_stored(self.settings, self.settings_defaults()))
        self._connect_changes()
        self._constructed = True

    # ------------------------------------------------------------------ UI
    def _build_ui(self) -> None:
        fields = QWidget()
        form = QFormLayout(fields)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        # Less common knobs, folded away.
        self.advanced = QWidget()
        adv = QFormLayout(self.advanced)
        adv.setContentsMargins(0, 0, 0, 0)
        self.fields: dict[str, QWidget] = {}
        self.errors: dict[str, ErrorLabel] = {}
        special = {"arch": self._arch_row, "pretrained": self._pretrained_row,
                   "image_size": self._image_size_row, "device": self._device_row,
                   "learning_rate": self._lr_row}
        for name in FORM_FIELDS:
            opt = OPTIONS[name]
            if opt.widget == "weights_file":
                continue                    # part of the Pretrained row
            if opt.widget == "model_file":  # a file, not a value the field editors show
                self.start_from = StartFromBox(opt.help)
                self.start_from.file_changed.connect(self._on_changed)
                self._row(adv if opt.advanced else form, opt, self.start_from, self.start_from, None)
                continue
            if opt.widget in special:
                widget, row, extra = special[opt.widget](opt)
            else:
                widget = row = editor(opt)
                extra = None
                if name == "class_weighting":
                    extra = self.balance_label = _note()    # uneven classes: what it means
                elif name == "augment":
                    extra = self.augment_preview = AugmentPreview()   # what it does to a photo
            self.fields[name] = widget
            self._row(adv if opt.advanced else form, opt, widget, row, extra)
        self.errors["weights_path"] = self.errors["pretrained"]
        self.fields["step_size"].setSpecialValueText("Every third of the epochs")    # 0

        self.advanced_toggle = QToolButton()
        self.advanced_toggle.setText("Advanced settings")
        self.advanced_toggle.setCheckable(True)
        self.advanced_toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.advanced_toggle.setArrowType(Qt.ArrowType.RightArrow)
        self.advanced_toggle.setAutoRaise(True)
        form.addRow(self.advanced_toggle)
        form.addRow(self.advanced)
        self.advanced.hide()
        self.advanced_toggle.toggled.connect(self._toggle_advanced)

        self.reset_button = QPushButton("Reset to defaults")
        self.reset_button.setToolTip("Put every setting back to the recommended value for this computer")
        self.reset_button.clicked.connect(self.reset_defaults)
        form.addRow(self.reset_button)

        # Wrapped before the fields are filled: the column's width follows the empty form.
        self.setWidget(fields)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setMinimumWidth(330)
        # As wide as Custom's rows, whichever recipe shows first: no sideways scrolling later.
        self._full_width = fields.sizeHint().width() + self.style().pixelMetric(
            QStyle.PixelMetric.PM_ScrollBarExtent)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        return super().sizeHint().expandedTo(QSize(min(self._full_width, 640), 0))

    def _arch_row(self, opt: Option):
        self.arch = QComboBox()
        self.arch.setMinimumContentsLength(14)
        self.arch_desc = _note()
        return self.arch, self.arch, self.arch_desc

    def _pretrained_row(self, opt: Option):
        self.weights = PretrainedWeightsBox(opt.text, OPTIONS["weights_path"].help)
        self.weights.file_changed.connect(self._on_changed)
        self.pretrained = self.weights.checkbox
        return self.pretrained, self.weights, None

    def _image_size_row(self, opt: Option):
        self.image_default = QCheckBox()
        self.image_default.setToolTip("Use the size the network was designed for")
        self.image_size = editor(dataclasses.replace(opt, widget="int"))
        row = QWidget()
        lay = QHBoxLayout(row)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.image_default)
        lay.addWidget(self.image_size, 1)
        return self.image_size, row, None

    def _device_row(self, opt: Option):
        self.device = QComboBox()
        self.device.addItem("Looking for devices…", "auto")
        return self.device, self.device, None

    def _lr_row(self, opt: Option):
        box = editor(opt)
        self.lr_row = LearningRateRow(box, self.finder_input)
        self.lr_row.busy_changed.connect(lambda _busy: self.changed.emit())
        return box, self.lr_row, None

    def _row(self, form: QFormLayout, opt: Option, widget: QWidget, row: QWidget,
             extra: QWidget | None) -> None:
        """A form row: the field, an optional note under it, and its error label."""
        widget.setToolTip(opt.help)
        err = ErrorLabel()
        self.errors[opt.name] = err
        box = QWidget()
        bl = QVBoxLayout(box)
        bl.setContentsMargins(0, 0, 0, 0)
        bl.setSpacing(2)
        bl.addWidget(row)
        if extra is not None:
            bl.addWidget(extra)
        bl.addWidget(err)
        lab = QLabel(opt.label)
        lab.setBuddy(widget)
        lab.setToolTip(opt.help)
        if opt.widget == "recipe":       # the first choice: a heading, and the whole width
            f = lab.font()
            f.setBold(True)
            lab.setFont(f)
            form.addRow(lab)
            form.addRow(box)
        else:
            form.addRow(lab, box)
        self.rows[opt.name] = (lab, box)

    def _toggle_advanced(self, on: bool) -> None:
        self.advanced.setVisible(on)
        self.advanced_toggle.setArrowType(Qt.ArrowType.DownArrow if on else Qt.ArrowType.RightArrow)

    def _fill_architectures(self) -> None:
        current = self.arch.currentData()
        self.arch.blockSignals(True)
        self.arch.clear()
        for name, info in self.architectures.items():
            size = self.sizes.get(name)
            self.arch.addItem(f"{info.label} — {size.words}" if size else info.label, name)
            self.arch.setItemData(self.arch.count() - 1, self._arch_words(name, info),
                                  Qt.ItemDataRole.ToolTipRole)
        if current is not None:
            select(self.arch, current)
        self.arch.blockSignals(False)

    def _arch_words(self, name: str, info) -> str:
        """A network's description, design size and (once the engine has counted it) its size."""
        size = self.sizes.get(name)
        counted = (f" {size.words} (with ImageNet's 1000 classes; yours needs a smaller last layer)."
                   if size else "")
        return f"{info.description} Designed for {info.input_size}-pixel images.{counted}"

    # ------------------------------------------------------------ settings
    def settings_defaults(self) -> TrainConfig:
        return default_config(self.devices)

    def _shown(self) -> dict[str, Any]:
        """Every form field as its widgets show it (before the pretrained rules apply)."""
        values = {name: value_of(w) for name, w in self.fields.items()}
        values = {k: OPTIONS[k].default if v is None else v for k, v in values.items()}
        if self.image_default.isChecked():
            values["image_size"] = None
        values["weights_path"] = self.weights.path or None
        values["init_from"] = self.start_from.path or None
        return values

    def save_settings(self) -> None:
        if self._restoring or not self._constructed:
            return
        values = self._shown()
        if not self.ready:               # before the device list exists the choice is unknown
            values.pop("device")
        store(self.settings, values)

    def apply_config(self, c: TrainConfig) -> None:
        """Show a configuration in the form (from settings, defaults or a past run); config()
        returns it with the form's edits, every other field as it is here."""
        self._restoring = True
        try:
            self._base = c
            for name, widget in self.fields.items():
                value = getattr(c, name)
                if name == "arch" and self.arch.findData(value) < 0:
                    value = TrainConfig().arch
                elif name == "image_size":
                    self.image_default.setChecked(not value)
                    if not value:
                        continue
                elif name == "device":
                    if c.gpus != "1" and value.startswith("cuda"):
                        value = ALL_GPUS_DEVICE
                    self._pending_device = value
                show_value(widget, value)
            self.weights.set_file(c.weights_path or "", by_user=False)
            self._optimizer = c.optimizer
            self.start_from.set_file(c.init_from or "", by_user=False)
        finally:
            self._restoring = False
        self._on_arch_changed()
        self._on_changed()

    def reset_defaults(self) -> None:
        self.apply_config(self.settings_defaults())

    def _connect_changes(self) -> None:
        # First: a recipe's own settings are shown before the form saves what it shows.
        self.fields["recipe"].valueChanged.connect(self._on_recipe_chosen)
        for widget in self.fields.values():
            value_changed(widget).connect(self._on_changed)
        self.fields["optimizer"].currentIndexChanged.connect(self._on_optimizer_chosen)
        self.image_default.toggled.connect(self._on_changed)
        self.arch.currentIndexChanged.connect(self._on_arch_changed)

    def config(self) -> TrainConfig:
        """The configuration the form shows now."""
        values = self._shown()
        info = self.architectures.get(values["arch"])
        pretrained = values["pretrained"] and bool(info and info.has_pretrained)
        values.update(pretrained=pretrained, weights_path=values["weights_path"] if pretrained else None,
                      freeze_backbone=values["freeze_backbone"] and pretrained)
        # "All N GPUs" (gui.engine) is CUDA on every GPU: the gpus setting, not a device name.
        all_gpus = values["device"] == ALL_GPUS_DEVICE
        values.update(device="cuda" if all_gpus else values["device"],
                      gpus="all" if all_gpus else ("1" if self.ready else self._base.gpus))
        return resolve(dataclasses.replace(self._base, **values))[0]

    def field_errors(self) -> dict[str, str]:
        """Field -> message for what is wrong now (core's checks, plus whether the weights file is there)."""
        c = self.config()
        errs = c.errors()
        if c.weights_path and not os.path.isfile(c.weights_path):
            errs["weights_path"] = "The weights file is no longer there. Choose it again or clear it."
        if c.init_from and (problem := start_model_problem(c.init_from, c.arch)):
            errs["init_from"] = problem
        return errs

    # ---------------------------------------------------------------- reactions
    def _on_changed(self, *_: Any) -> None:
        if self._restoring:
            return
        info = self.architectures.get(self.arch.currentData())
        self.fields["freeze_backbone"].setEnabled(self.pretrained.isChecked() and bool(info and info.has_pretrained))
        self.image_size.setEnabled(not self.image_default.isChecked())
        if info is not None:
            self.image_default.setText(f"Default ({info.input_size} px)" if self.image_default.isChecked()
                                       else "Default")
            if self.image_default.isChecked():
                # Show the size that will be used; starting from it when unticked.
                self.image_size.blockSignals(True)
                self.image_size.setValue(info.input_size)
                self.image_size.blockSignals(False)
        for name, widget in self.fields.items():
            opt = OPTIONS[name]
            if opt.choice_help and isinstance(widget, QComboBox):   # the chosen entry explains itself too
                widget.setToolTip(f"{opt.help} {opt.choice_help.get(widget.currentData(), '')}")
        self._show_recipe()
        self._show_errors(self.field_errors())
        self._show_augmentation()
        self.save_settings()
        self.changed.emit()

    def _show_recipe(self) -> None:
        """Only the rows the chosen recipe needs; the class-balance note when it applies."""
        recipe = self.fields["recipe"].value()
        note = balance_note(self.balance, self.fields["class_weighting"].currentData())
        self.balance_label.setText(note)
        self.balance_label.setVisible(bool(note))
        # The optimizer's and schedule's own settings only when they take them.
        shown = shown_fields(recipe, self.rows, bool(note)) - unused_settings(
            self.fields["optimizer"].currentData() or "", self.fields["schedule"].currentData() or "")
        for name, (label, row) in self.rows.items():
            label.setVisible(name in shown)
            row.setVisible(name in shown)
        custom = recipe == "custom"
        self.advanced_toggle.setVisible(custom)
        self.advanced.setVisible(custom and self.advanced_toggle.isChecked())

    def _show_augmentation(self) -> None:
        """Samples of a photo of the dataset with the augmentation chosen, once torch is loaded."""
        if self.rows["augment"][1].isHidden() or "augment" in self._field_errors:
            return                        # quick: no augmentation (its note says so)
        config = self.config()
        for name in STRENGTHS:
            self.fields[name].show_preset(getattr(PRESETS[config.augment], name))
        photo = preview_photo(self.dataset) if self.ready else None
        self.augment_preview.show_for(photo, config.augmentation())

    def _on_recipe_chosen(self, recipe: str) -> None:
        """A person chose a recipe: its own epochs come back; a recipe that finds its own
        learning rate (quick or thorough) is set to."""
        if self._restoring:
            return
        self.lr_row.clear()               # a sweep of another recipe's network says nothing here
        epochs = self.fields["epochs"]
        epochs.blockSignals(True)         # saved with the recipe, by the change that follows
        epochs.setValue(recipe_epochs(self.settings, recipe, self.settings_defaults().epochs))
        epochs.blockSignals(False)

    def _on_optimizer_chosen(self, *_: Any) -> None:
        """A person chose an optimizer: its usual learning rate, unless they had set one (the
        rate differs from the previous optimizer's usual one)."""
        chosen = self.fields["optimizer"].currentData()
        previous, self._optimizer = self._optimizer, chosen
        if self._restoring or chosen is None:
            return
        lr = self.fields["lr"]
        if math.isclose(lr.value(), usual_lr(previous)) or math.isclose(lr.value(), TrainConfig.lr):
            lr.setValue(usual_lr(chosen))

    def _show_errors(self, errs: dict[str, str]) -> None:
        shown = set()
        for key, label in self.errors.items():
            if id(label) in shown and not errs.get(key):
                continue                  # a label shared by two fields (pretrained, weights)
            label.set_error(errs.get(key))
            shown.add(id(label))
        self._field_errors = errs

    def _on_arch_changed(self, *_: Any) -> None:
        info = self.architectures.get(self.arch.currentData())
        if info is None:
            self.arch_desc.setText("")
            return
        self.arch_desc.setText(self._arch_words(self.arch.currentData(), info))
        self.arch.setToolTip(f"{OPTIONS['arch'].help}\n\n{info.label}: {info.description}")
        self.weights.show_arch(self.arch.currentData(), info)

    # ------------------------------------------------------------- engine
    def set_engine(self, engine: EngineInfo) -> None:
        """Called once torch and the models are loaded: fill devices and real lists."""
        first = not self.ready
        self.ready = True
        self.weights.set_ready()
        self.devices = list(engine.devices)
        self.sizes = dict(engine.sizes)
        if engine.architectures:
            self.architectures = dict(engine.architectures)
        self._fill_architectures()
        self.device.blockSignals(True)
        self.device.clear()
        for dev_id, label in self.devices:
            self.device.addItem(label, dev_id)
        self.device.blockSignals(False)
        defaults = self.settings_defaults()
        if first and "arch" not in self._stored_keys:
            # Never chosen: this computer's defaults (a pretrained resnet18 with a GPU).
            self._restoring = True
            select(self.arch, defaults.arch)
            self.pretrained.setChecked(defaults.pretrained)
            self.fields["batch_size"].setValue(defaults.batch_size)
            self._restoring = False
        if "device" not in self._stored_keys or not select(self.device, self._pending_device):
            select(self.device, defaults.device)
        self._on_arch_changed()
        self._on_changed()

    # ------------------------------------------------------------- dataset
    def set_dataset(self, dataset) -> None:
        """The Data tab's dataset: the learning-rate finder sweeps on it; uneven classes are noted."""
        self.dataset = dataset
        if dataset is None:
            self.balance = None
        else:
            train = dataset.counts()["train"]
            self.balance = class_balance(dataset.classes, [train[c] for c in dataset.classes])
        self._on_changed()

    def finder_input(self) -> tuple | str:
        """(config, dataset) for the learning-rate finder, or why it cannot run yet."""
        if not self.ready:
            return "Loading the training engine…"
        if self.dataset is None:
            return "Choose a folder of photos first (Data tab): the test trains on a few batches of them."
        if self._field_errors:
            return "Fix the settings marked in red first."
        return self.config(), self.dataset

    def problem(self) -> str:
        """Why these settings cannot start a run, in plain words; '' when they can."""
        if self.lr_row.is_running():
            return "Finding a learning rate… (press Stop next to it to end the test)."
        errs = self._field_errors
        if errs:                          # a field the recipe hides, or one without a row
            unshown = [msg for key, msg in errs.items()
                       if key not in self.errors or not self.errors[key].isVisibleTo(self)]
            return " ".join(unshown) if unshown else "Fix the settings marked in red first."
        return ""

    def shutdown(self, timeout_ms: int = -1) -> bool:
        """Stop the weights check, the learning-rate test and the augmentation samples; join their threads."""
        ok = self.lr_row.shutdown(timeout_ms) and self.augment_preview.shutdown(timeout_ms)
        return self.weights.shutdown(timeout_ms) and ok


def _note() -> QLabel:
    """A note under a field: secondary, wrapped text."""
    label = QLabel()
    label.setWordWrap(True)
    make_muted(label)
    return label

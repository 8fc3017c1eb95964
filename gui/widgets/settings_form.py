"""The training-settings form of the Train tab: every knob of a run, with tooltips,
per-field errors, defaults for this computer and the choices kept in QSettings.

config() reads the form as a core.training.config.TrainConfig and apply_config() shows one;
`changed` fires after each edit (settings saved, errors updated).
"""
from __future__ import annotations

import math
import os
import sys
from typing import Any

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtGui import QValidator
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFileDialog, QFormLayout, QFrame,
                               QHBoxLayout, QLabel, QPushButton, QScrollArea, QSpinBox, QToolButton,
                               QVBoxLayout, QWidget)

from core.model.architectures import ARCH_INFO
from core.training.config import OPTIMIZER_HELP, OPTIMIZERS, SCHEDULE_HELP, SCHEDULES, TrainConfig

from gui.style import ErrorLabel, make_muted, set_text_colour, success_colour, warning_colour
from gui.background import JobRunner
from gui.engine import EngineInfo

SETTINGS_GROUP = "train"

OPTIMIZER_LABELS = {"sgd": "SGD (momentum)", "adam": "Adam", "adamw": "AdamW", "rmsprop": "RMSprop",
                    "adagrad": "Adagrad", "adadelta": "Adadelta", "rprop": "Rprop"}
SCHEDULE_LABELS = {"none": "Constant", "step": "Step (÷10 every third)",
                   "multistep": "Steps at 50% and 75%", "cosine": "Cosine", "onecycle": "One-cycle"}

TIPS = {
    "arch": "The kind of neural network to train; bigger ones learn more but need more time and a GPU.",
    "pretrained": "Start from a network already trained on a million photos (ImageNet): learns far faster from few images.",
    "weights": "Use an ImageNet weights file you downloaded yourself, for computers without internet.",
    "freeze": "Train only the last layer and keep the pretrained rest fixed: very fast, good with few images.",
    "optimizer": "The method that adjusts the network's weights after each batch of images.",
    "lr": "How big each adjustment is: too high and training goes wild, too low and it crawls.",
    "batch_size": "How many images the network looks at before each adjustment; lower it if memory runs out.",
    "epochs": "How many times training goes through all the training images.",
    "image_size": "The size in pixels that images are scaled to; larger sees more detail but is slower.",
    "schedule": "How the learning rate changes during training.",
    "augment": "Show the images slightly cropped and mirrored each time, so the network learns the subject, not the picture.",
    "device": "Which processor trains the network; a GPU is many times faster than the CPU.",
    "weight_decay": "A gentle pull of all weights towards zero that helps against learning the training images by heart.",
    "momentum": "How much each adjustment keeps going in the direction of the previous ones (SGD and RMSprop).",
    "label_smoothing": "Teaches the network to be a little less sure of itself; 0.1 often helps on messy labels.",
    "seed": "The starting point of the random choices; the same seed and settings repeat the same run.",
}

WEIGHTS_STATUS_TEXT = {
    "cached": ("ok", "ImageNet weights are on this computer."),
    "downloadable": ("info", "ImageNet weights will be downloaded when training starts."),
    "unavailable": ("warn", "No ImageNet weights on this computer and no internet: it would train from "
                            "scratch. Choose a weights file to use them."),
    "none": ("info", "This network has no pretrained weights; it always trains from scratch."),
}


def has_gpu(devices: list[tuple[str, str]]) -> bool:
    return any(d.startswith("cuda") or d == "mps" for d, _ in devices)


def default_config(devices: list[tuple[str, str]]) -> TrainConfig:
    """small_cnn on the CPU; a pretrained resnet18 on the best GPU when there is one."""
    if has_gpu(devices):
        return TrainConfig(arch="resnet18", pretrained=True, device=devices[0][0], batch_size=64,
                           epochs=10)
    return TrainConfig(arch="small_cnn", pretrained=False, device="cpu")


class LearningRateBox(QDoubleSpinBox):
    """A learning rate field: shows 0.001 or 3e-05, steps 1-2-5 per decade."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setDecimals(10)
        self.setRange(1e-6, 10.0)
        self.setValue(1e-3)
        self.setKeyboardTracking(False)

    def textFromValue(self, value: float) -> str:
        return f"{value:.3g}"

    def valueFromText(self, text: str) -> float:
        try:
            return float(text.strip())
        except ValueError:
            return self.value()

    def validate(self, text: str, pos: int) -> QValidator.State:
        t = text.strip()
        try:
            v = float(t)
        except ValueError:
            # Partial entries like "", "1e", "0." are fine while typing.
            ok = all(c in "0123456789.eE-+" for c in t)
            return QValidator.State.Intermediate if ok else QValidator.State.Invalid
        if self.minimum() <= v <= self.maximum():
            return QValidator.State.Acceptable
        return QValidator.State.Intermediate

    def stepBy(self, steps: int) -> None:
        v = self.value()
        for _ in range(abs(steps)):
            v = _next_125(v, up=steps > 0)
        self.setValue(min(max(v, self.minimum()), self.maximum()))


def _next_125(v: float, up: bool) -> float:
    """The next value of the 1, 2, 5, 10, 20, ... series above or below v."""
    exp = math.floor(math.log10(v))
    candidates = sorted(m * 10.0 ** e for e in (exp - 1, exp, exp + 1) for m in (1, 2, 5))
    if up:
        return next(c for c in candidates if c > v * 1.0001)
    return next(c for c in reversed(candidates) if c < v * 0.9999)


class SettingsForm(QScrollArea):
    """The settings of the next run, one row per field with its error label under it.

    A scroll area around the fields (widget()): lock the fields, not the scroll bar.
    """

    changed = Signal()                    # after an edit: settings saved, errors updated

    def __init__(self, settings: QSettings | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings if settings is not None else QSettings()
        self.devices: list[tuple[str, str]] = []
        self.architectures = dict(ARCH_INFO)
        self.ready = False                  # True once torch and the models are loaded
        self._restoring = False
        self._constructed = False          # nothing is saved until the form is built
        self._weights_status: dict[str, str] = {}
        self._status_arch: str | None = None
        self._field_errors: dict[str, str] = {}

        self._status_runner = JobRunner(self, name="fledge-weights-status")
        self._status_runner.finished.connect(self._on_weights_status)
        self._status_runner.failed.connect(lambda msg: self._on_weights_status(None))

        self.settings.beginGroup(SETTINGS_GROUP)
        self._stored_keys = set(self.settings.childKeys())   # what the user chose before
        self.settings.endGroup()

        self._build_ui()
        self._fill_architectures()
        self._restore_settings(self.settings_defaults())
        self._connect_changes()
        self._constructed = True

    # ------------------------------------------------------------------ UI
    def _build_ui(self) -> None:
        fields = QWidget()
        form = QFormLayout(fields)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.errors: dict[str, ErrorLabel] = {}

        self.arch = QComboBox()
        self.arch.setMinimumContentsLength(14)
        self.arch_desc = QLabel()
        self.arch_desc.setWordWrap(True)
        make_muted(self.arch_desc)
        self._row(form, "Network", self.arch, "arch", extra=self.arch_desc)

        self.pretrained = QCheckBox("Start from ImageNet weights")
        self.weights_state = QLabel()
        self.weights_state.setWordWrap(True)
        self.weights_button = QPushButton("Weights file…")
        self.weights_button.setToolTip(TIPS["weights"])
        self.weights_clear = QToolButton()
        self.weights_clear.setText("✕")
        self.weights_clear.setToolTip("Forget the weights file")
        self.weights_clear.setAccessibleName("Forget weights file")
        self.weights_file = QLabel()
        self.weights_file.setWordWrap(True)
        self.weights_file.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._weights_path = ""
        wrow = QHBoxLayout()
        wrow.setContentsMargins(0, 0, 0, 0)
        wrow.addWidget(self.weights_button)
        wrow.addWidget(self.weights_clear)
        wrow.addStretch(1)
        wbox = QWidget()
        wl = QVBoxLayout(wbox)
        wl.setContentsMargins(0, 0, 0, 0)
        wl.addWidget(self.pretrained)
        wl.addWidget(self.weights_state)
        wl.addLayout(wrow)
        wl.addWidget(self.weights_file)
        self.pretrained.setToolTip(TIPS["pretrained"])
        self._row(form, "Pretrained", wbox, "pretrained", tip=False)
        self.errors["weights_path"] = self.errors["pretrained"]

        self.freeze = QCheckBox("Train only the last layer")
        self._row(form, "Freeze backbone", self.freeze, "freeze_backbone", tip_key="freeze")

        self.optimizer = QComboBox()
        for name in OPTIMIZERS:
            self.optimizer.addItem(OPTIMIZER_LABELS.get(name, name), name)
            self.optimizer.setItemData(self.optimizer.count() - 1, OPTIMIZER_HELP.get(name, ""),
                                       Qt.ItemDataRole.ToolTipRole)
        self._row(form, "Optimizer", self.optimizer, "optimizer")

        self.lr = LearningRateBox()
        self._row(form, "Learning rate", self.lr, "lr")

        self.batch_size = QSpinBox()
        self.batch_size.setRange(1, 4096)
        self._row(form, "Batch size", self.batch_size, "batch_size")

        self.epochs = QSpinBox()
        self.epochs.setRange(1, 10000)
        self._row(form, "Epochs", self.epochs, "epochs")

        self.image_default = QCheckBox()
        self.image_size = QSpinBox()
        self.image_size.setRange(16, 1024)
        self.image_size.setSingleStep(16)
        self.image_size.setSuffix(" px")
        isrow = QWidget()
        il = QHBoxLayout(isrow)
        il.setContentsMargins(0, 0, 0, 0)
        il.addWidget(self.image_default)
        il.addWidget(self.image_size, 1)
        self.image_default.setToolTip("Use the size the network was designed for")
        self._row(form, "Image size", isrow, "image_size", tip=False)
        self.image_size.setToolTip(TIPS["image_size"])

        self.schedule = QComboBox()
        for name in SCHEDULES:
            self.schedule.addItem(SCHEDULE_LABELS.get(name, name), name)
            self.schedule.setItemData(self.schedule.count() - 1, SCHEDULE_HELP.get(name, ""),
                                      Qt.ItemDataRole.ToolTipRole)
        self._row(form, "LR schedule", self.schedule, "schedule")

        self.augment = QCheckBox("Random crops and flips")
        self._row(form, "Augmentation", self.augment, "augment")

        self.device = QComboBox()
        self.device.addItem("Looking for devices…", "auto")
        self._row(form, "Device", self.device, "device")

        # Less common knobs, folded away.
        self.advanced_toggle = QToolButton()
        self.advanced_toggle.setText("Advanced settings")
        self.advanced_toggle.setCheckable(True)
        self.advanced_toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.advanced_toggle.setArrowType(Qt.ArrowType.RightArrow)
        self.advanced_toggle.setAutoRaise(True)
        form.addRow(self.advanced_toggle)
        self.advanced = QWidget()
        adv = QFormLayout(self.advanced)
        adv.setContentsMargins(0, 0, 0, 0)
        self.weight_decay = QDoubleSpinBox()
        self.weight_decay.setDecimals(6)
        self.weight_decay.setRange(0.0, 0.5)
        self.weight_decay.setSingleStep(1e-4)
        self._row(adv, "Weight decay", self.weight_decay, "weight_decay")
        self.momentum = QDoubleSpinBox()
        self.momentum.setDecimals(3)
        self.momentum.setRange(0.0, 0.999)
        self.momentum.setSingleStep(0.05)
        self._row(adv, "Momentum", self.momentum, "momentum")
        self.label_smoothing = QDoubleSpinBox()
        self.label_smoothing.setDecimals(2)
        self.label_smoothing.setRange(0.0, 0.5)
        self.label_smoothing.setSingleStep(0.05)
        self._row(adv, "Label smoothing", self.label_smoothing, "label_smoothing")
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self._row(adv, "Random seed", self.seed, "seed")
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

        self.weights_button.clicked.connect(self.choose_weights_file)
        self.weights_clear.clicked.connect(lambda: self.set_weights_file(""))

    def _row(self, form: QFormLayout, label: str, widget: QWidget, key: str, *, extra: QWidget | None = None,
             tip: bool = True, tip_key: str | None = None) -> None:
        """A form row: the field, an optional note under it, and its error label."""
        if tip:
            widget.setToolTip(TIPS[tip_key or key])
        err = ErrorLabel()
        self.errors[key] = err
        box = QWidget()
        bl = QVBoxLayout(box)
        bl.setContentsMargins(0, 0, 0, 0)
        bl.setSpacing(2)
        bl.addWidget(widget)
        if extra is not None:
            bl.addWidget(extra)
        bl.addWidget(err)
        lab = QLabel(label)
        lab.setBuddy(widget)
        lab.setToolTip(TIPS[tip_key or key] if (tip_key or key) in TIPS else "")
        form.addRow(lab, box)

    def _toggle_advanced(self, on: bool) -> None:
        self.advanced.setVisible(on)
        self.advanced_toggle.setArrowType(Qt.ArrowType.DownArrow if on else Qt.ArrowType.RightArrow)

    def _fill_architectures(self) -> None:
        current = self.arch.currentData()
        self.arch.blockSignals(True)
        self.arch.clear()
        for name, info in self.architectures.items():
            self.arch.addItem(f"{info.label}", name)
            self.arch.setItemData(self.arch.count() - 1,
                                  f"{info.description} Designed for {info.input_size}-pixel images.",
                                  Qt.ItemDataRole.ToolTipRole)
        if current is not None:
            self._select(self.arch, current)
        self.arch.blockSignals(False)

    # ------------------------------------------------------------ settings
    def settings_defaults(self) -> TrainConfig:
        return default_config(self.devices)

    def _restore_settings(self, defaults: TrainConfig) -> None:
        s = self.settings
        s.beginGroup(SETTINGS_GROUP)
        try:
            self.apply_config(TrainConfig(
                arch=str(s.value("arch", defaults.arch)),
                pretrained=_as_bool(s.value("pretrained", defaults.pretrained)),
                weights_path=str(s.value("weights_path", "")) or None,
                freeze_backbone=_as_bool(s.value("freeze_backbone", defaults.freeze_backbone)),
                optimizer=str(s.value("optimizer", defaults.optimizer)),
                lr=_as_float(s.value("lr"), defaults.lr),
                batch_size=_as_int(s.value("batch_size"), defaults.batch_size),
                epochs=_as_int(s.value("epochs"), defaults.epochs),
                image_size=_as_int(s.value("image_size"), 0) or None,
                schedule=str(s.value("schedule", defaults.schedule)),
                augment=_as_bool(s.value("augment", defaults.augment)),
                device=str(s.value("device", defaults.device)),
                weight_decay=_as_float(s.value("weight_decay"), defaults.weight_decay),
                momentum=_as_float(s.value("momentum"), defaults.momentum),
                label_smoothing=_as_float(s.value("label_smoothing"), defaults.label_smoothing),
                seed=_as_int(s.value("seed"), defaults.seed),
            ))
        finally:
            s.endGroup()

    def save_settings(self) -> None:
        if self._restoring or not self._constructed:
            return
        c = self.config()
        s = self.settings
        s.beginGroup(SETTINGS_GROUP)
        for key, value in (("arch", c.arch), ("pretrained", self.pretrained.isChecked()),
                           ("weights_path", self._weights_path), ("freeze_backbone", self.freeze.isChecked()),
                           ("optimizer", c.optimizer), ("lr", c.lr), ("batch_size", c.batch_size),
                           ("epochs", c.epochs), ("image_size", c.image_size or 0), ("schedule", c.schedule),
                           ("augment", c.augment), ("weight_decay", c.weight_decay), ("momentum", c.momentum),
                           ("label_smoothing", c.label_smoothing), ("seed", c.seed)):
            s.setValue(key, value)
        if self.ready:                   # before the device list exists the choice is unknown
            s.setValue("device", c.device)
        s.endGroup()

    def apply_config(self, c: TrainConfig) -> None:
        """Show a configuration in the form (from settings, defaults or a past run)."""
        self._restoring = True
        try:
            if not self._select(self.arch, c.arch):
                self._select(self.arch, TrainConfig().arch)
            self.pretrained.setChecked(bool(c.pretrained))
            self.set_weights_file(c.weights_path or "", save=False)
            self.freeze.setChecked(bool(c.freeze_backbone))
            self._select(self.optimizer, c.optimizer)
            self.lr.setValue(float(c.lr))
            self.batch_size.setValue(int(c.batch_size))
            self.epochs.setValue(int(c.epochs))
            self.image_default.setChecked(not c.image_size)
            if c.image_size:
                self.image_size.setValue(int(c.image_size))
            self._select(self.schedule, c.schedule)
            self.augment.setChecked(bool(c.augment))
            self._pending_device = c.device
            self._select(self.device, c.device)
            self.weight_decay.setValue(float(c.weight_decay))
            self.momentum.setValue(float(c.momentum))
            self.label_smoothing.setValue(float(c.label_smoothing))
            self.seed.setValue(int(c.seed))
        finally:
            self._restoring = False
        self._on_arch_changed()
        self._on_changed()

    def reset_defaults(self) -> None:
        self.apply_config(self.settings_defaults())

    @staticmethod
    def _select(combo: QComboBox, data: Any) -> bool:
        i = combo.findData(data)
        if i >= 0:
            combo.setCurrentIndex(i)
        return i >= 0

    def _connect_changes(self) -> None:
        for w in (self.arch, self.optimizer, self.schedule, self.device):
            w.currentIndexChanged.connect(self._on_changed)
        for w in (self.pretrained, self.freeze, self.image_default, self.augment):
            w.toggled.connect(self._on_changed)
        for w in (self.lr, self.batch_size, self.epochs, self.image_size, self.weight_decay,
                  self.momentum, self.label_smoothing, self.seed):
            w.valueChanged.connect(self._on_changed)
        self.arch.currentIndexChanged.connect(self._on_arch_changed)

    def config(self) -> TrainConfig:
        """The configuration the form shows now."""
        arch = self.arch.currentData() or "small_cnn"
        info = self.architectures.get(arch)
        can_pretrain = bool(info and info.has_pretrained)
        return TrainConfig(
            arch=arch,
            pretrained=self.pretrained.isChecked() and can_pretrain,
            weights_path=(self._weights_path or None) if can_pretrain and self.pretrained.isChecked() else None,
            freeze_backbone=self.freeze.isChecked() and self.pretrained.isChecked() and can_pretrain,
            optimizer=self.optimizer.currentData() or "adamw",
            lr=float(self.lr.value()),
            batch_size=int(self.batch_size.value()),
            epochs=int(self.epochs.value()),
            image_size=None if self.image_default.isChecked() else int(self.image_size.value()),
            schedule=self.schedule.currentData() or "cosine",
            augment=self.augment.isChecked(),
            device=self.device.currentData() or "auto",
            weight_decay=float(self.weight_decay.value()),
            momentum=float(self.momentum.value()),
            label_smoothing=float(self.label_smoothing.value()),
            seed=int(self.seed.value()),
        )

    def field_errors(self) -> dict[str, str]:
        """Field -> message for what is wrong now (core's checks once loaded, plus file checks)."""
        c = self.config()
        errs: dict[str, str] = c.errors() if "core.model.networks" in sys.modules else {}
        info = self.architectures.get(c.arch)
        if info is not None:
            size = c.image_size or info.input_size
            if size < info.min_size:
                errs["image_size"] = (f"{info.label} needs images of at least {info.min_size} pixels; "
                                      f"choose a larger size.")
        if c.weights_path and not os.path.isfile(c.weights_path):
            errs["weights_path"] = "The weights file is no longer there. Choose it again or clear it."
        return errs

    # ---------------------------------------------------------------- reactions
    def _on_changed(self, *_: Any) -> None:
        if self._restoring:
            return
        info = self.architectures.get(self.arch.currentData())
        can_pretrain = bool(info and info.has_pretrained)
        pretrained_on = self.pretrained.isChecked() and can_pretrain
        self.freeze.setEnabled(pretrained_on)
        self.image_size.setEnabled(not self.image_default.isChecked())
        self.momentum.setEnabled((self.optimizer.currentData() or "") in ("sgd", "rmsprop"))
        if info is not None:
            self.image_default.setText(f"Default ({info.input_size} px)" if self.image_default.isChecked()
                                       else "Default")
            if self.image_default.isChecked():
                # Show the size that will be used; starting from it when unticked.
                self.image_size.blockSignals(True)
                self.image_size.setValue(info.input_size)
                self.image_size.blockSignals(False)
        self.optimizer.setToolTip(f"{TIPS['optimizer']} {OPTIMIZER_HELP.get(self.optimizer.currentData(), '')}")
        self.schedule.setToolTip(f"{TIPS['schedule']} {SCHEDULE_HELP.get(self.schedule.currentData(), '')}")
        errs = self.field_errors()
        shown = set()
        for key, label in self.errors.items():
            if id(label) in shown and not errs.get(key):
                continue
            label.set_error(errs.get(key))
            shown.add(id(label))
        self._field_errors = errs
        self.save_settings()
        self.changed.emit()

    def _on_arch_changed(self, *_: Any) -> None:
        name = self.arch.currentData()
        info = self.architectures.get(name)
        if info is None:
            self.arch_desc.setText("")
            return
        self.arch_desc.setText(f"{info.description} Designed for {info.input_size}-pixel images.")
        self.arch.setToolTip(f"{TIPS['arch']}\n\n{info.label}: {info.description}")
        self.pretrained.setEnabled(info.has_pretrained)
        self.weights_button.setEnabled(info.has_pretrained)
        self._show_weights_state()
        self._check_weights_status(name)

    def _show_weights_state(self) -> None:
        name = self.arch.currentData()
        info = self.architectures.get(name)
        if info is None:
            return
        if not info.has_pretrained:
            key = "none"
        elif self._weights_path:
            self._set_weights_text("ok", "Using the weights file below.")
            return
        else:
            key = self._weights_status.get(name, "")
        if not key:
            self._set_weights_text("info", "Checking for ImageNet weights…" if self.ready else "")
            return
        level, text = WEIGHTS_STATUS_TEXT.get(key, ("info", key))
        self._set_weights_text(level, text)

    def _set_weights_text(self, level: str, text: str) -> None:
        self.weights_state.setText(text)
        pal = self.palette()
        if level == "ok":
            set_text_colour(self.weights_state, success_colour(pal))
        elif level == "warn":
            set_text_colour(self.weights_state, warning_colour(pal))
        else:
            make_muted(self.weights_state)
        self.weights_state.setVisible(bool(text))

    def _check_weights_status(self, name: str | None) -> None:
        """Ask core.model.networks.weights_status in the background (it may touch the network)."""
        if not self.ready or name is None or name in self._weights_status:
            return
        info = self.architectures.get(name)
        if info is None or not info.has_pretrained:
            return
        if self._status_runner.is_running():
            return                        # re-checked when the current answer arrives
        self._status_arch = name

        def job(report, control, arch=name):
            from core.model.networks import weights_status

            return weights_status(arch)

        self._status_runner.start(job)

    def _on_weights_status(self, status: str | None) -> None:
        arch = self._status_arch
        if arch is not None:
            self._weights_status[arch] = status or "unavailable"
        self._status_arch = None
        self._show_weights_state()
        current = self.arch.currentData()
        if current not in self._weights_status:
            self._check_weights_status(current)

    def choose_weights_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Choose an ImageNet weights file", os.path.dirname(self._weights_path or ""),
            "PyTorch weights (*.pth *.pt);;All files (*)")
        if path:
            self.set_weights_file(path)

    def set_weights_file(self, path: str, save: bool = True) -> None:
        self._weights_path = path or ""
        self.weights_file.setText(os.path.basename(path) if path else "")
        self.weights_file.setToolTip(path)
        self.weights_file.setVisible(bool(path))
        self.weights_clear.setVisible(bool(path))
        if path and save:
            self.pretrained.setChecked(True)
        self._show_weights_state()
        if save:
            self._on_changed()

    # ------------------------------------------------------------- engine
    def set_engine(self, engine: EngineInfo) -> None:
        """Called once torch and the models are loaded: fill devices and real lists."""
        first = not self.ready
        self.ready = True
        self.devices = list(engine.devices)
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
            self._select(self.arch, defaults.arch)
            self.pretrained.setChecked(defaults.pretrained)
            self.batch_size.setValue(defaults.batch_size)
            self._restoring = False
        want = getattr(self, "_pending_device", None)
        if "device" not in self._stored_keys or not self._select(self.device, want):
            self._select(self.device, defaults.device)
        self._on_arch_changed()
        self._on_changed()

    def problem(self) -> str:
        """Why these settings cannot start a run, in plain words; '' when they can."""
        errs = self._field_errors
        if errs:
            unshown = [msg for key, msg in errs.items() if key not in self.errors]
            return " ".join(unshown) if unshown else "Fix the settings marked in red first."
        return ""

    def shutdown(self, timeout_ms: int = -1) -> bool:
        """Stop the weights check and join its thread."""
        return self._status_runner.shutdown(timeout_ms)


def _as_bool(v: Any) -> bool:
    if isinstance(v, str):
        return v.strip().lower() in ("1", "true", "yes", "on")
    return bool(v)


def _as_int(v: Any, default: int) -> int:
    try:
        return int(float(v))
    except (TypeError, ValueError):
        return default


def _as_float(v: Any, default: float) -> float:
    try:
        f = float(v)
        return f if math.isfinite(f) else default
    except (TypeError, ValueError):
        return default

"""Training configuration: one frozen dataclass with readable validation.

Each field carries an Option (its label, help, CLI flag, choices, range and form widget), so
the `fledge train` options and the Train tab's settings form are both built from this one
table. A new setting is one more field here; both front ends pick it up.

How the photos are split into training and validation is not a training setting: the
Dataset owns it (core.data.split.SplitSettings) and every run records it.
"""
from __future__ import annotations

import dataclasses
import functools
import math
import typing
from dataclasses import dataclass

from core.data.augmentation import PRESET_HELP as AUG_PRESET_HELP
from core.data.augmentation import PRESET_LABELS as AUG_PRESET_LABELS
from core.data.augmentation import PRESETS as AUG_PRESETS
from core.data.augmentation import STRENGTHS, Augmentation, augmentation, preset_of
from core.model.architectures import ARCH_NAMES, check_image_size

OPTIMIZERS = ("sgd", "adam", "adamw", "adamax", "rmsprop", "adagrad", "adadelta", "rprop")
SCHEDULES = ("none", "step", "multistep", "cosine", "onecycle")
PRECISIONS = ("auto", "fp32", "bf16")
PIPELINES = ("auto", "cached", "stream")
ALL_GPUS_DEVICE = "gpus:all"    # the window's "All N GPUs" device: device cuda, gpus all

# How a model is trained. "quick": the offline pretrained backbone stays frozen, each photo's
# features are computed once (and cached), and only the classifier head trains — seconds.
# "thorough": quick first, then every layer fine-tuned at a lower learning rate (fastai's
# fine_tune). "custom": the network and every setting as chosen. What each means for a run:
# core.training.recipe_rules. A new configuration is quick (TrainConfig.recipe); files and
# settings from before recipes existed were chosen one by one, so they load as custom.
RECIPES = ("quick", "thorough", "custom")
# The installed networks quick and thorough train (core.training.recipe_rules.recipe_network).
BACKBONES = ("fast", "accurate")
BACKBONE_LABELS = {"fast": "Fast — EfficientNet-Lite0", "accurate": "More accurate — EfficientNet-Lite2"}
BACKBONE_HELP = {"fast": "EfficientNet-Lite0: reads about 65 photos a second on a 2-core CPU.",
                 "accurate": "EfficientNet-Lite2: about twice the computation for each photo, for a "
                             "point or two more accuracy (more on fine-grained classes)."}
RECIPE_BEFORE_RECIPES = "custom"
RECIPE_LABELS = {"quick": "Quick — a pretrained network, seconds",
                 "thorough": "Thorough — then fine-tune the whole network",
                 "custom": "Custom — choose the network and every setting"}
RECIPE_HELP = {
    "quick": "Start from a network that already knows a million photos and teach it only your classes: "
             "good results in seconds, even on a laptop and with a few dozen photos per class.",
    "thorough": "Quick first, then adjust every layer of the network a little: more accurate, takes "
                "minutes on a CPU.",
    "custom": "Choose the network, whether it starts pretrained, and every training setting yourself.",
}
CLASS_WEIGHTING = ("auto", "on", "off")
CLASS_WEIGHTING_LABELS = {"auto": "When the classes are uneven", "on": "Always", "off": "Never"}

OPTIMIZER_LABELS = {"sgd": "SGD (momentum)", "adam": "Adam", "adamw": "AdamW", "adamax": "Adamax", "rmsprop": "RMSprop",
                    "adagrad": "Adagrad", "adadelta": "Adadelta", "rprop": "Rprop"}
OPTIMIZER_HELP = {
    "sgd": "SGD with momentum (Nesterov): steady and well understood; likes a higher learning rate (about 0.01-0.1).",
    "adam": "Adam: adapts the step per weight; a safe default at about 0.001.",
    "adamw": "AdamW: Adam with proper weight decay; the usual best choice at about 0.001.",
    "adamax": "Adamax: Adam that follows the largest recent step of each weight; steady, about 0.002.",
    "rmsprop": "RMSprop: adapts the step per weight; try about 0.001.",
    "adagrad": "Adagrad: steps shrink as training goes on; try about 0.01.",
    "adadelta": "Adadelta: needs little tuning; a learning rate of 1.0 is normal for it.",
    "rprop": "Rprop: uses only the sign of the gradient; best with large batches; takes no weight decay.",
}
SCHEDULE_LABELS = {"none": "Constant", "step": "Step (every few epochs)",
                   "multistep": "Steps at chosen epochs", "cosine": "Cosine", "onecycle": "One-cycle"}
SCHEDULE_HELP = {
    "none": "Keep the learning rate constant.",
    "step": "Multiply the learning rate by the step factor every few epochs (at first: ÷10 every third "
            "of the epochs).",
    "multistep": "Multiply the learning rate by the step factor at the epochs chosen (at first: ÷10 at "
                 "50% and 75% of the epochs).",
    "cosine": "Lower the learning rate smoothly to zero along a cosine curve.",
    "onecycle": "Warm up, then lower the learning rate: often the fastest to a good model.",
}


@dataclass(frozen=True)
class Option:
    """How one TrainConfig field is shown and typed in.

    widget names the settings form's editor: "check", "int", "float", "text", "choice" and
    "learning_rate" are built from this entry alone; "recipe", "arch", "pretrained",
    "weights_file", "model_file", "image_size" and "device" have editors of their own; "strength" is a
    number that may be left empty (None: the augmentation preset's); "" keeps the field out of the form
    (it keeps the value of the configuration the form was given). name, kind, optional and
    default are filled in from the field itself (config_options()).
    """
    label: str                               # the form's row label; a short noun phrase
    help: str                                # tooltip and --help text, in full sentences
    widget: str = ""
    flag: str = ""                           # "" -> --field-name
    metavar: str = ""
    choices: tuple = ()                      # the allowed values, in the order shown
    choice_labels: dict = dataclasses.field(default_factory=dict)
    choice_help: dict = dataclasses.field(default_factory=dict)
    text: str = ""                           # a check box's own words
    minimum: float | None = None             # the allowed range: the form's spin box, errors()
    maximum: float | None = None
    usual: str = ""                          # a good value, said after a range error
    step: float | None = None
    decimals: int | None = None
    suffix: str = ""
    advanced: bool = False                   # folded away under "Advanced settings"
    name: str = ""
    kind: type = str                         # bool, int, float or str
    optional: bool = False                   # None is allowed (and means "automatic")
    default: typing.Any = None

    @property
    def cli_flag(self) -> str:
        return self.flag or "--" + self.name.replace("_", "-")

    def problem(self, value) -> str | None:
        """What is wrong with value by this entry's choices, type and range, in words; None if nothing."""
        if value is None and self.optional:
            return None
        if self.choices:
            if value in self.choices:
                return None
            return f"{self.label} must be one of: {', '.join(map(str, self.choices))} (not '{value}')."
        if self.minimum is None and self.maximum is None:
            return None
        whole = self.kind is int
        number = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        low = -math.inf if self.minimum is None else self.minimum
        high = math.inf if self.maximum is None else self.maximum
        if number and (isinstance(value, int) or not whole) and low <= value <= high:
            return None
        kind = "a whole number" if whole else "a number"
        if self.maximum is None:
            span = f"of at least {_number(self.minimum)}{self.suffix}"
        elif self.minimum is None:
            span = f"of at most {_number(self.maximum)}{self.suffix}"
        else:
            span = f"from {_number(self.minimum)} to {_number(self.maximum)}{self.suffix}"
        usual = f" ({self.usual})" if self.usual else ""
        return f"{self.label} must be {kind} {span}{usual}."


def _number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def _setting(default, **option) -> typing.Any:
    return dataclasses.field(default=default, metadata={"option": Option(**option)})


def _strength(label: str, maximum: float, step: float, suffix: str, help: str) -> typing.Any:
    """An augmentation strength (core.data.augmentation): None takes the preset's."""
    return _setting(None, label=label, widget="strength", minimum=0.0, maximum=maximum, step=step,
                    decimals=2, suffix=suffix, advanced=True, metavar="X",
                    help=help + " Not set (the default): the augmentation preset's.")


@dataclass(frozen=True)
class TrainConfig:
    recipe: str = _setting(
        "quick", label="Recipe", widget="recipe", choices=RECIPES, choice_labels=RECIPE_LABELS,
        choice_help=RECIPE_HELP, metavar="R",
        help="How to train: quick (a pretrained network, only the last layer learns: seconds), thorough "
             "(quick, then the whole network is fine-tuned) or custom (every setting as you choose).")
    backbone: str = _setting(
        "fast", label="Network", widget="choice", choices=BACKBONES, choice_labels=BACKBONE_LABELS,
        choice_help=BACKBONE_HELP, metavar="B",
        help="The pretrained network the quick and thorough recipes train (both installed with Fledge): "
             "fast (EfficientNet-Lite0) or accurate (EfficientNet-Lite2: about twice the computation per "
             "photo, for a point or two more accuracy). The custom recipe trains the network chosen "
             "under Network.")
    arch: str = _setting(
        "small_cnn", label="Network", widget="arch", choices=tuple(ARCH_NAMES), metavar="A",
        help="The kind of neural network to train; bigger ones learn more but need more time and a GPU.")
    pretrained: bool = _setting(
        False, label="Pretrained", widget="pretrained", text="Start from ImageNet weights",
        help="Start from a network already trained on a million photos (ImageNet): learns far "
             "faster from few images.")
    weights_path: str | None = _setting(
        None, label="Weights file", widget="weights_file", flag="--weights", metavar="FILE",
        help="Use an ImageNet weights file you downloaded yourself, for computers without internet.")
    init_from: str | None = _setting(
        None, label="Start from", widget="model_file", metavar="MODEL.pt",
        help="Start from the weights of a model trained earlier (its best.pt) instead of from the "
             "beginning: every layer is carried over, and the last layer too when the classes are the "
             "same; with a new class the last layer learns afresh. It must be the same network.")
    freeze_backbone: bool = _setting(
        False, label="Freeze backbone", widget="check", text="Train only the last layer",
        help="Train only the last layer and keep the pretrained rest fixed: very fast, good with few images.")
    optimizer: str = _setting(
        "adamw", label="Optimizer", widget="choice", choices=OPTIMIZERS, metavar="O",
        choice_labels=OPTIMIZER_LABELS, choice_help=OPTIMIZER_HELP,
        help="The method that adjusts the network's weights after each batch of images.")
    lr: float = _setting(
        1e-3, label="Learning rate", widget="learning_rate", minimum=1e-6, maximum=10.0,
        usual="0.001 is a good start",
        help="How big each adjustment is: too high and training goes wild, too low and it crawls.")
    batch_size: int = _setting(
        32, label="Batch size", widget="int", minimum=1, maximum=4096,
        help="How many images the network looks at before each adjustment; lower it if memory runs out.")
    epochs: int = _setting(
        10, label="Epochs", widget="int", minimum=1, maximum=10000,
        help="How many times training goes through all the training images.")
    patience: int = _setting(
        5, label="Early stopping", widget="int", minimum=0, maximum=10000, metavar="EPOCHS", advanced=True,
        usual="5 is usual; 0 turns it off",
        help="End training when the validation accuracy and loss have not improved for this many epochs "
             "in a row (the best model is kept); 0: always train every epoch.")
    image_size: int | None = _setting(
        None, label="Image size", widget="image_size", minimum=16, maximum=1024, step=16,
        suffix=" px", metavar="PX",
        help="The size in pixels that images are scaled to; larger sees more detail but is slower. "
             "Automatic: the size the network was designed for.")
    schedule: str = _setting(
        "cosine", label="LR schedule", widget="choice", choices=SCHEDULES, metavar="S",
        choice_labels=SCHEDULE_LABELS, choice_help=SCHEDULE_HELP,
        help="How the learning rate changes during training.")
    augment: str = _setting(
        "light", label="Augmentation", widget="choice", choices=tuple(AUG_PRESETS), metavar="P",
        choice_labels=AUG_PRESET_LABELS, choice_help=AUG_PRESET_HELP,
        help="Show each training photo a little changed every time (cropped, mirrored, and with strong "
             "also turned, moved and recoloured), so the network learns the subject, not the picture: "
             "none, light or strong. Each change's strength below can be set on its own.")
    crop: float | None = _strength(
        "Random crop", 0.9, 0.05, "", "Cut away up to this share of the photo at random (then scale it "
        "back up), so the subject is learnt wherever it sits and however big: 0.65 is light's, 0 none.")
    flip: float | None = _strength(
        "Mirror", 1.0, 0.1, "", "The chance that a photo is shown mirrored left to right: 0.5 is usual, "
        "0 for photos whose left and right matter (writing, road signs).")
    rotation: float | None = _strength(
        "Rotation", 180.0, 5.0, "°", "Turn each photo by up to this many degrees either way: 15 for a "
        "camera that is not quite level, 180 for photos with no up and down (from above, microscopes).")
    shift: float | None = _strength(
        "Shift", 0.5, 0.05, "", "Move each photo sideways and up or down by up to this share of its side, "
        "so the subject need not be in the middle: 0.1 is strong's.")
    brightness: float | None = _strength(
        "Brightness", 1.0, 0.05, "", "Make each photo brighter or darker by up to this share (0.3: from "
        "70 % to 130 %), for cameras whose light changes through the day.")
    contrast: float | None = _strength(
        "Contrast", 1.0, 0.05, "", "Raise or lower each photo's contrast by up to this share, as haze, "
        "glare or a dirty lens would.")
    saturation: float | None = _strength(
        "Colour saturation", 1.0, 0.05, "", "Make each photo's colours stronger or paler by up to this "
        "share, so the network does not rely on one exact colour.")
    grayscale: float | None = _strength(
        "Grey photos", 1.0, 0.05, "", "The chance that a photo is shown in grey only: for cameras that "
        "switch to infrared (grey) pictures at night; 0.1 is strong's.")
    device: str = _setting(
        "auto", label="Device", widget="device",
        help="Which processor trains the network (auto, cpu, cuda, cuda:N or mps); a GPU is many "
             "times faster than the CPU.")
    gpus: str = _setting(
        "1", label="GPUs", metavar="all|N",
        help="Train on this many GPUs of this computer at once (all: every one), one process each, "
             "started with torchrun; on a computer without a GPU, N processes share the CPU. The batch "
             "size is per process and the learning rate is scaled by the number of processes.")
    sync_bn: bool = _setting(
        False, label="Synchronised BatchNorm",
        help="With several GPUs: BatchNorm layers compute their statistics over the whole batch of "
             "every GPU (SyncBatchNorm) instead of each GPU's own part; helps with small batches.")
    weight_decay: float = _setting(
        1e-4, label="Weight decay", widget="float", minimum=0.0, maximum=0.5, step=1e-4, decimals=6,
        advanced=True, usual="0.0001 is usual",
        help="A gentle pull of all weights towards zero that helps against learning the training "
             "images by heart.")
    momentum: float = _setting(
        0.9, label="Momentum", widget="float", minimum=0.0, maximum=0.999, step=0.05, decimals=3,
        advanced=True, usual="0.9 is usual",
        help="How much each adjustment keeps going in the direction of the previous ones (SGD and RMSprop).")
    nesterov: bool = _setting(
        True, label="Nesterov momentum",
        help="SGD only: look ahead along the momentum before each adjustment (Nesterov); usually "
             "a little better.")
    # The knobs of single optimizers and schedules: which apply to which is
    # core.training.optimizer_rules (the form hides the others, the CLI refuses them).
    dampening: float = _setting(
        0.0, label="Dampening", widget="float", minimum=0.0, maximum=0.999, step=0.05, decimals=3,
        advanced=True, usual="0 is usual",
        help="SGD only: how much of each new gradient the momentum leaves out; Nesterov momentum needs 0.")
    beta1: float = _setting(
        0.9, label="Beta 1", widget="float", minimum=0.0, maximum=0.9999, step=0.01, decimals=4,
        advanced=True, usual="0.9 is usual",
        help="Adam, AdamW and Adamax: how slowly the running average of the gradient forgets (the "
             "first of Adam's betas).")
    beta2: float = _setting(
        0.999, label="Beta 2", widget="float", minimum=0.0, maximum=0.9999, step=0.001, decimals=4,
        advanced=True, usual="0.999 is usual",
        help="Adam, AdamW and Adamax: how slowly the running average of the squared gradient forgets "
             "(the second of Adam's betas).")
    amsgrad: bool = _setting(
        False, label="AMSGrad", widget="check", text="Never let a step grow back (AMSGrad)", advanced=True,
        help="Adam and AdamW: keep the largest squared-gradient average seen, which can steady "
             "training that jumps about.")
    alpha: float = _setting(
        0.99, label="Averaging (alpha)", widget="float", minimum=0.0, maximum=0.9999, step=0.01, decimals=4,
        advanced=True, usual="0.99 is usual",
        help="RMSprop only: how slowly its running average of the squared gradient forgets (alpha).")
    centered: bool = _setting(
        False, label="Centered", widget="check", text="Centered RMSprop", advanced=True,
        help="RMSprop only: divide by the gradient's variance instead of its square; sometimes "
             "steadier, a little slower.")
    rho: float = _setting(
        0.9, label="Rho", widget="float", minimum=0.0, maximum=0.9999, step=0.01, decimals=4,
        advanced=True, usual="0.9 is usual",
        help="Adadelta only: how slowly its running averages forget.")
    step_size: int = _setting(
        0, label="Step every", widget="int", minimum=0, maximum=10000, suffix=" epochs", advanced=True, metavar="N",
        help="Step schedule: multiply the learning rate by the step factor every this many epochs "
             "(0: every third of the epochs).")
    milestones: str = _setting(
        "", label="Step at epochs", widget="text", metavar="E,E", advanced=True,
        help="Multi-step schedule: the epochs after which the learning rate is multiplied by the step "
             "factor, e.g. 5,8 (empty: at 50% and 75% of the epochs).")
    gamma: float = _setting(
        0.1, label="Step factor", widget="float", minimum=0.001, maximum=1.0, step=0.05, decimals=3,
        advanced=True, usual="0.1 is usual",
        help="Step and multi-step schedules: what the learning rate is multiplied by at each step "
             "(0.1: divided by 10).")
    label_smoothing: float = _setting(
        0.0, label="Label smoothing", widget="float", minimum=0.0, maximum=0.5, step=0.05, decimals=2,
        advanced=True, usual="0.1 is usual",
        help="Teaches the network to be a little less sure of itself; 0.1 often helps on messy labels.")
    auto_lr: bool = _setting(
        False, label="Find the learning rate", widget="check", text="Suggest it with a short test first",
        flag="--auto-lr",
        help="Before training, try a sweep of learning rates for a few steps and use the one where the "
             "loss falls fastest ('--lr auto' on the command line).")
    class_weighting: str = _setting(
        "auto", label="Weigh classes", widget="choice", choices=CLASS_WEIGHTING,
        choice_labels=CLASS_WEIGHTING_LABELS,
        help="Give the photos of small classes more weight, so the network does not learn to ignore a "
             "class that has few photos. Auto: when the largest class has more than three times the "
             "photos of the smallest.")
    seed: int = _setting(
        0, label="Random seed", widget="int", minimum=0, maximum=2**31 - 1, advanced=True,
        help="The starting point of the random choices in training (starting weights, image order, "
             "augmentation); the same seed and settings repeat the same run. It does not change "
             "which photos are set aside for validation.")
    precision: str = _setting(
        "auto", label="Precision", choices=PRECISIONS,
        help="Number format for the arithmetic: auto uses bf16 on a GPU that has it, else fp32.")
    pipeline: str = _setting(
        "auto", label="Data pipeline", choices=PIPELINES,
        help="auto: keep decoded images in memory when they fit, else stream them from disk.")
    memory_budget_mb: int | None = _setting(
        None, label="Memory budget", metavar="MB", minimum=0,
        help="Memory for the decoded images, in MB; automatic: a share of the free memory.")
    workers: int | None = _setting(
        None, label="Decoding processes", metavar="N", minimum=0,
        help="How many processes decode images when they are streamed; automatic: all cores.")

    def __post_init__(self) -> None:
        # Files and settings from when augmentation was on or off: light or none.
        object.__setattr__(self, "augment", preset_of(self.augment))

    def augmentation(self) -> Augmentation:
        """The training batches' random changes: the preset's, each strength set in place of its."""
        return augmentation(self.augment, **{name: getattr(self, name) for name in STRENGTHS})

    def errors(self) -> dict[str, str]:
        """Field name -> readable message, for every invalid value: each field by its own
        entry in the table (choices, type, range), then what the table cannot say."""
        e = {opt.name: problem for opt in config_options() if (problem := opt.problem(getattr(self, opt.name)))}
        if "image_size" not in e and self.image_size is not None:
            if problem := check_image_size(self.arch, self.image_size):      # depends on the network
                e["image_size"] = problem
        from core.training import optimizer_rules     # late: it reads this module's tables (a cycle)

        e.update({k: v for k, v in optimizer_rules.problems(self).items() if k not in e})
        if not gpus_problem_free(self.gpus):
            e["gpus"] = f"GPUs must be all or a whole number from 1 to 1024, not '{self.gpus}'."
        dev = self.device
        if not (dev in ("auto", "cpu", "cuda", "mps") or (dev.startswith("cuda:") and dev[5:].isdigit())):
            e["device"] = f"Unknown device '{dev}'. Use auto, cpu, cuda, cuda:N or mps."
        return e

    def validate(self) -> None:
        errs = self.errors()
        if errs:
            raise ConfigError(" ".join(errs.values()))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        """Tolerant of unknown keys (older or newer files) and missing ones; a file from before
        recipes existed is the custom recipe."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{"recipe": RECIPE_BEFORE_RECIPES, **{k: v for k, v in d.items() if k in names}})

    def replace(self, **changes) -> "TrainConfig":
        return dataclasses.replace(self, **changes)


def gpus_problem_free(gpus) -> bool:
    """'all' or a whole number of processes from 1 to 1024."""
    text = str(gpus).strip().lower()
    return text == "all" or (text.isdigit() and 1 <= int(text) <= 1024)


@functools.cache
def config_options() -> tuple[Option, ...]:
    """Every TrainConfig field's Option, in field order, with its name, type and default."""
    hints = typing.get_type_hints(TrainConfig)
    out = []
    for f in dataclasses.fields(TrainConfig):
        kinds = [t for t in typing.get_args(hints[f.name]) if t is not type(None)] or [hints[f.name]]
        out.append(dataclasses.replace(f.metadata["option"], name=f.name, kind=kinds[0],
                                       optional=type(None) in typing.get_args(hints[f.name]),
                                       default=f.default))
    return tuple(out)


class ConfigError(ValueError):
    """A configuration a person must fix; the message says how."""

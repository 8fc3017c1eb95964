"""Training configuration: one frozen dataclass with readable validation."""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop", "adagrad", "adadelta", "rprop")
SCHEDULES = ("none", "step", "multistep", "cosine", "onecycle")
PRECISIONS = ("auto", "fp32", "bf16")
PIPELINES = ("auto", "cached", "stream")

OPTIMIZER_HELP = {
    "sgd": "SGD with momentum (Nesterov): steady and well understood; likes a higher learning rate (about 0.01-0.1).",
    "adam": "Adam: adapts the step per weight; a safe default at about 0.001.",
    "adamw": "AdamW: Adam with proper weight decay; the usual best choice at about 0.001.",
    "rmsprop": "RMSprop: adapts the step per weight; try about 0.001.",
    "adagrad": "Adagrad: steps shrink as training goes on; try about 0.01.",
    "adadelta": "Adadelta: needs little tuning; a learning rate of 1.0 is normal for it.",
    "rprop": "Rprop: uses only the sign of the gradient; best with large batches.",
}
SCHEDULE_HELP = {
    "none": "Keep the learning rate constant.",
    "step": "Divide the learning rate by 10 every third of the epochs.",
    "multistep": "Divide the learning rate by 10 at 50% and 75% of the epochs.",
    "cosine": "Lower the learning rate smoothly to zero along a cosine curve.",
    "onecycle": "Warm up, then lower the learning rate: often the fastest to a good model.",
}


@dataclass(frozen=True)
class TrainConfig:
    arch: str = "small_cnn"
    pretrained: bool = False
    weights_path: str | None = None      # a local ImageNet weights file, when offline
    freeze_backbone: bool = False
    optimizer: str = "adamw"
    lr: float = 1e-3
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 1e-4
    batch_size: int = 32
    epochs: int = 10
    schedule: str = "cosine"
    image_size: int | None = None        # None: the architecture's own input size
    augment: bool = True
    label_smoothing: float = 0.0
    seed: int = 0
    device: str = "auto"                 # auto | cpu | cuda | cuda:N | mps
    precision: str = "auto"              # auto (bf16 on CUDA) | fp32 | bf16
    val_fraction: float = 0.2            # used when the folder has no val/ split
    test_fraction: float = 0.0
    pipeline: str = "auto"               # auto | cached | stream
    memory_budget_mb: int | None = None  # cache budget; None: a share of free memory
    workers: int | None = None           # decoding processes; None: all cores

    def errors(self) -> dict[str, str]:
        """Field name -> readable message, for every invalid value."""
        from core.model.architectures import ARCH_INFO as ARCHITECTURES, check_image_size

        e: dict[str, str] = {}
        if self.arch not in ARCHITECTURES:
            e["arch"] = f"Unknown architecture '{self.arch}'. Choose one of: {', '.join(ARCHITECTURES)}."
        if self.optimizer not in OPTIMIZERS:
            e["optimizer"] = f"Unknown optimizer '{self.optimizer}'. Choose one of: {', '.join(OPTIMIZERS)}."
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and 0 < self.lr <= 10):
            e["lr"] = "The learning rate must be a number above 0 and at most 10 (0.001 is a good start)."
        if not (0 <= self.momentum < 1):
            e["momentum"] = "Momentum must be at least 0 and below 1 (0.9 is usual)."
        if not (0 <= self.weight_decay < 1):
            e["weight_decay"] = "Weight decay must be at least 0 and below 1 (0.0001 is usual)."
        if not (isinstance(self.batch_size, int) and 1 <= self.batch_size <= 4096):
            e["batch_size"] = "The batch size must be a whole number from 1 to 4096."
        if not (isinstance(self.epochs, int) and 1 <= self.epochs <= 10000):
            e["epochs"] = "The number of epochs must be a whole number from 1 to 10000."
        if self.schedule not in SCHEDULES:
            e["schedule"] = f"Unknown schedule '{self.schedule}'. Choose one of: {', '.join(SCHEDULES)}."
        if self.image_size is not None and not (isinstance(self.image_size, int) and 16 <= self.image_size <= 1024):
            e["image_size"] = "The image size must be a whole number of pixels from 16 to 1024."
        elif self.image_size is not None and (problem := check_image_size(self.arch, self.image_size)):
            e["image_size"] = problem
        if not (0 <= self.label_smoothing < 1):
            e["label_smoothing"] = "Label smoothing must be at least 0 and below 1 (0.1 is usual)."
        if self.precision not in PRECISIONS:
            e["precision"] = f"Precision must be one of: {', '.join(PRECISIONS)}."
        if not (0 < self.val_fraction < 1):
            e["val_fraction"] = "The validation share must be between 0 and 1 (0.2 is usual)."
        if not (0 <= self.test_fraction < 1) or self.val_fraction + self.test_fraction >= 0.9:
            e["test_fraction"] = "The test share must be at least 0, and validation plus test must leave most images for training."
        if self.pipeline not in PIPELINES:
            e["pipeline"] = f"The data pipeline must be one of: {', '.join(PIPELINES)}."
        if self.memory_budget_mb is not None and self.memory_budget_mb < 0:
            e["memory_budget_mb"] = "The memory budget cannot be negative."
        if self.workers is not None and self.workers < 0:
            e["workers"] = "The number of workers cannot be negative."
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
        """Tolerant of unknown keys (older or newer files) and missing ones."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def replace(self, **changes) -> "TrainConfig":
        return dataclasses.replace(self, **changes)


class ConfigError(ValueError):
    """A configuration a person must fix; the message says how."""

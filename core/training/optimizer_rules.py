"""Which settings each optimizer and learning-rate schedule takes, said once: the settings
form shows only those (gui), `fledge train` refuses the others when they are given
(core.cli.train), make_optimizer/make_scheduler (core.training.optimizers) pass them to
PyTorch, and a model's summary lists them. Also each optimizer's usual learning rate and
the multi-step schedule's epochs. Torch-free, so the window can read it at start-up.
"""
from __future__ import annotations

from core.training.config import OPTIMIZER_LABELS, SCHEDULE_LABELS, TrainConfig, config_options

# The settings each optimizer passes to torch.optim besides the learning rate (Rprop takes no
# weight decay at all in PyTorch).
OPTIMIZER_SETTINGS: dict[str, tuple[str, ...]] = {
    "sgd": ("momentum", "nesterov", "dampening", "weight_decay"),
    "adam": ("beta1", "beta2", "amsgrad", "weight_decay"),
    "adamw": ("beta1", "beta2", "amsgrad", "weight_decay"),
    "adamax": ("beta1", "beta2", "weight_decay"),
    "rmsprop": ("momentum", "alpha", "centered", "weight_decay"),
    "adagrad": ("weight_decay",),
    "adadelta": ("rho", "weight_decay"),
    "rprop": (),
}
SCHEDULE_SETTINGS: dict[str, tuple[str, ...]] = {
    "none": (), "step": ("step_size", "gamma"), "multistep": ("milestones", "gamma"),
    "cosine": (), "onecycle": (),
}
# Every setting that only some optimizers or schedules take.
KNOBS: tuple[str, ...] = tuple(dict.fromkeys(
    [n for names in OPTIMIZER_SETTINGS.values() for n in names]
    + [n for names in SCHEDULE_SETTINGS.values() for n in names]))

# The learning rate each optimizer usually works with (PyTorch's defaults, SGD's the common
# fine-tuning rate): the form and `fledge train` start from it unless a rate was chosen.
USUAL_LR: dict[str, float] = {"sgd": 0.01, "adam": 1e-3, "adamw": 1e-3, "adamax": 2e-3, "rmsprop": 1e-3,
                              "adagrad": 1e-2, "adadelta": 1.0, "rprop": 1e-2}

_OPTIONS = {opt.name: opt for opt in config_options()}


def applies(name: str, optimizer: str, schedule: str) -> bool:
    """Whether the setting is used with this optimizer and schedule (every non-knob setting is)."""
    if name not in KNOBS:
        return True
    return name in OPTIMIZER_SETTINGS.get(optimizer, ()) or name in SCHEDULE_SETTINGS.get(schedule, ())


def unused_settings(optimizer: str, schedule: str) -> frozenset[str]:
    """The knobs this optimizer and schedule do not take."""
    return frozenset(n for n in KNOBS if not applies(n, optimizer, schedule))


def usual_lr(optimizer: str) -> float:
    return USUAL_LR.get(optimizer, TrainConfig.lr)


def not_used_message(name: str, optimizer: str, schedule: str) -> str:
    """Why a setting given by name does nothing with this optimizer and schedule, in words."""
    opt = _OPTIONS[name]
    schedules = [s for s, names in SCHEDULE_SETTINGS.items() if name in names]
    if schedules:
        return (f"{opt.cli_flag} is not used by the '{SCHEDULE_LABELS.get(schedule, schedule)}' schedule: it "
                f"applies to --schedule {' and '.join(schedules)}. Leave it out or choose one of those.")
    users = [OPTIMIZER_LABELS[o] for o, names in OPTIMIZER_SETTINGS.items() if name in names]
    return (f"{opt.cli_flag} is not used by {OPTIMIZER_LABELS.get(optimizer, optimizer)}: it applies to "
            f"{_and(users)}. Leave it out or choose one of those optimizers.")


def _and(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def milestone_epochs(text: str, epochs: int) -> list[int]:
    """The multi-step schedule's epochs: those written ("5,8"), else 50% and 75% of the epochs.
    ValueError for text that is not whole numbers separated by commas."""
    if not text.strip():
        return sorted({max(1, int(epochs * 0.5)), max(1, int(epochs * 0.75))})
    parts = [p.strip() for p in text.replace(";", ",").split(",") if p.strip()]
    if not parts or not all(p.isdigit() for p in parts):
        raise ValueError(text)
    return sorted({int(p) for p in parts})


def step_epochs(step_size: int, epochs: int) -> int:
    """The step schedule's period: the one chosen, else a third of the epochs."""
    return step_size if step_size > 0 else max(1, epochs // 3)


def problems(config: TrainConfig) -> dict[str, str]:
    """Field -> message for knob values PyTorch would refuse or that would never act."""
    e: dict[str, str] = {}
    if config.optimizer == "sgd" and config.nesterov and config.dampening > 0 and config.momentum > 0:
        e["dampening"] = ("Nesterov momentum needs a dampening of 0: set dampening to 0 or turn "
                          "Nesterov momentum off.")
    if config.schedule == "multistep":
        try:
            epochs = milestone_epochs(config.milestones, config.epochs)
        except ValueError:
            e["milestones"] = (f"Step at epochs must be epoch numbers separated by commas, such as 5,8 "
                               f"(not '{config.milestones}').")
        else:
            if config.milestones.strip() and (epochs[0] < 1 or epochs[-1] >= config.epochs):
                e["milestones"] = (f"Step at epochs must be between 1 and {config.epochs - 1} (the run has "
                                   f"{config.epochs} epochs): a step after the last epoch never happens.")
    if config.schedule == "step" and config.step_size >= config.epochs > 1:
        e["step_size"] = (f"Step every must be less than the {config.epochs} epochs of the run, or the "
                          "learning rate never steps (0: every third of the epochs).")
    return e


"""What the settings form starts from: this computer's defaults for a newcomer, and the
settings a person chose before (the window's Settings, gui.settings.TRAIN)."""
from __future__ import annotations

import dataclasses
from typing import Any

from core.training.config import RECIPE_BEFORE_RECIPES, TrainConfig, config_options

from gui.settings import TRAIN, TRAIN_RECIPE_EPOCHS, Settings

OPTIONS = {opt.name: opt for opt in config_options()}
# The fields with a widget; weights_path is edited inside the Pretrained row.
FORM_FIELDS = [opt.name for opt in config_options() if opt.widget]


def has_gpu(devices: list[tuple[str, str]]) -> bool:
    return any(d.startswith("cuda") or d == "mps" for d, _ in devices)


def default_config(devices: list[tuple[str, str]]) -> TrainConfig:
    """A newcomer's settings: the default recipe; under Custom, small_cnn on the CPU, or a
    pretrained resnet18 on the best GPU when there is one."""
    if has_gpu(devices):
        return TrainConfig(arch="resnet18", pretrained=True, device=devices[0][0], batch_size=64, epochs=10)
    return TrainConfig(arch="small_cnn", pretrained=False, device="cpu")


def stored_keys(settings: Settings) -> set[str]:
    """The settings a person chose before."""
    return {name for name, setting in TRAIN.items() if settings.has(setting)}


def load_stored(settings: Settings, defaults: TrainConfig) -> TrainConfig:
    """defaults with what the person chose before. Settings kept by a Fledge from before
    recipes (no recipe among them) were chosen one by one: that is the custom recipe."""
    stored = {name: settings.get(TRAIN[name], getattr(defaults, name))
              for name in FORM_FIELDS if settings.has(TRAIN[name])}
    if stored and "recipe" not in stored:
        stored["recipe"] = RECIPE_BEFORE_RECIPES
    return dataclasses.replace(defaults, **stored)


def store(settings: Settings, values: dict[str, Any]) -> None:
    """Keep the form's values; the epochs also as those of the recipe shown."""
    for name, value in values.items():
        if name in TRAIN:
            settings.set(TRAIN[name], value)
    if values.get("recipe") in TRAIN_RECIPE_EPOCHS and "epochs" in values:
        settings.set(TRAIN_RECIPE_EPOCHS[values["recipe"]], values["epochs"])


def recipe_epochs(settings: Settings, recipe: str, default: int) -> int:
    """The epochs last chosen under this recipe; default when none were."""
    setting = TRAIN_RECIPE_EPOCHS.get(recipe)
    return settings.get(setting) if setting is not None and settings.has(setting) else default

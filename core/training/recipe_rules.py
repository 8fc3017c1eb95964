"""What a recipe means, said once: the settings a run of each recipe really uses (resolve),
the settings a person chooses in each, and the recipe and learning rate a new run starts with.

quick and thorough train a network whose ImageNet weights come installed with Fledge
(TrainConfig.backbone: fast, core.model.architectures.OFFLINE_ARCH, or accurate, ACCURATE_ARCH),
pretrained, at its own image size; custom trains the network and settings as chosen. The settings form, `fledge train` and every Trainer call
resolve(). Torch-free, so the window can read it at start-up; the recipes' training steps
(the head, fine-tuning, the learning-rate finder) are core.training.recipes.
"""
from __future__ import annotations

from core.data.augmentation import STRENGTHS
from core.model.architectures import ACCURATE_ARCH, ARCH_INFO, OFFLINE_ARCH
from core.training.config import TrainConfig, config_options

PRESETS = ("quick", "thorough")          # start from the installed network's features
PRESET_NETWORKS = {"fast": OFFLINE_ARCH, "accurate": ACCURATE_ARCH}   # TrainConfig.backbone -> arch
PRESET_ONLY = ("backbone",)             # settings the custom recipe does not use

# What a preset decides, whatever the configuration says: its epochs are few and short, so it
# runs every one (no early stopping); thorough augments by the preset alone (no strengths); no
# learning-rate sweep (quick's last layer has no rate: it is fit to convergence; thorough fine-tunes
# at its set rate: a sweep of every layer took longer than the fine-tuning and undid the head).
_PRESET_VALUES = dict(auto_lr=False, pretrained=True, weights_path=None, freeze_backbone=False,
                      image_size=None, patience=0, **dict.fromkeys(STRENGTHS))

# The settings a person chooses in each preset besides the recipe; the rest keep their values
# (defaults, most of which a preset does not use). The form shows class weighting only when
# the classes are uneven.
_PRESET_SETTINGS = {"quick": ("backbone", "epochs", "device", "class_weighting"),
                   "thorough": ("backbone", "epochs", "lr", "augment", "init_from", "device", "class_weighting")}


def resolve(config: TrainConfig) -> tuple[TrainConfig, tuple[str, ...]]:
    """(the settings a run of config.recipe really uses, plain-words notes of the settings a
    person chose — changed from their defaults — that the recipe does not use). Resolving a
    resolved configuration changes nothing and notes nothing."""
    if config.recipe not in PRESETS:
        return config, ()
    network = recipe_network(config.recipe, config.backbone)
    resolved = config.replace(arch=network, **_PRESET_VALUES)
    notes = ()
    if config.recipe == "quick" and config.init_from:
        # The head learns in seconds from the network's features: nothing to gain by starting it
        # from an earlier one, so quick does not (thorough and custom do).
        resolved = resolved.replace(init_from=None)
        notes = (f"The quick recipe does not start from an earlier model ({config.init_from}): it trains only the "
                 "last layer, in seconds, from the pretrained network's features. To continue from that model, "
                 "choose Thorough or Custom.",)
    unused = [opt for opt in config_options()
              if (opt.name in _PRESET_VALUES or opt.name == "arch") and getattr(config, opt.name) not in (opt.default, getattr(resolved, opt.name))]
    if not unused:
        return resolved, notes
    chosen = "; ".join(f"{opt.label.lower()}: {_words(opt.name, getattr(config, opt.name))}" for opt in unused)
    return resolved, (f"The {config.recipe} recipe trains {ARCH_INFO[network].label}, pretrained, at its own "
                      f"image size, so these settings are used only by the custom recipe: {chosen}.", *notes)


def _words(name: str, value) -> str:
    if name == "arch" and value in ARCH_INFO:
        return ARCH_INFO[value].label
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def recipe_network(recipe: str, backbone: str = "fast") -> str | None:
    """The network a recipe trains with this TrainConfig.backbone (None: custom trains the one
    chosen under arch)."""
    if recipe not in PRESETS:
        return None
    return PRESET_NETWORKS.get(backbone, OFFLINE_ARCH)


def backbone_of(arch: str) -> str | None:
    """The TrainConfig.backbone that trains arch in quick and thorough (None: only custom does)."""
    return next((name for name, network in PRESET_NETWORKS.items() if network == arch), None)


def chosen_settings(recipe: str) -> frozenset[str]:
    """The settings a person chooses in this recipe, the recipe itself included (custom: every one)."""
    if recipe in _PRESET_SETTINGS:
        return frozenset(("recipe", *_PRESET_SETTINGS[recipe]))
    return frozenset(opt.name for opt in config_options() if opt.name not in PRESET_ONLY)


def augmentation_note(recipe: str) -> str:
    """What the recipe does about augmentation, where the form shows no augmentation row ('' elsewhere)."""
    if recipe != "quick":
        return ""
    return ("No augmentation: the quick recipe learns from what the network sees in each photo and its "
            "mirror image, worked out once. Thorough and custom show the photos changed a little each time.")


def recipe_for(recipe: str | None, arch: str | None) -> str:
    """A new run's recipe: the one named; else custom when a network was named (that network
    is to be trained), else TrainConfig's default."""
    if recipe is not None:
        return recipe
    return "custom" if arch is not None else TrainConfig.recipe

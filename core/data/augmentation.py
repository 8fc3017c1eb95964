"""What a training batch's augmentation does, said once: the presets (none, light, strong)
and the strength of each random change, in the units a person reads them in.

Torch-free, so the settings (core.training.config) and the window can read it at start-up;
the batched operations that apply an Augmentation on the device are core.data.transforms.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass(frozen=True)
class Augmentation:
    """The strength of each random change; 0 leaves that change out."""
    crop: float = 0.0          # share of the picture a random crop may cut away (0-0.9)
    flip: float = 0.0          # chance of a mirrored picture (0-1)
    rotation: float = 0.0      # turned by up to this many degrees either way (0-180)
    shift: float = 0.0         # moved by up to this share of its side, sideways and up/down (0-0.5)
    brightness: float = 0.0    # brightness times a factor within 1 +- this (0-1)
    contrast: float = 0.0      # contrast likewise
    saturation: float = 0.0    # colour saturation likewise
    grayscale: float = 0.0     # chance of a grey picture, as infrared cameras take at night (0-1)

    @property
    def geometric(self) -> bool:
        return any((self.crop, self.flip, self.rotation, self.shift))

    @property
    def colour(self) -> bool:
        return any((self.brightness, self.contrast, self.saturation, self.grayscale))

    @property
    def identity(self) -> bool:
        return not (self.geometric or self.colour)


STRENGTHS = tuple(f.name for f in dataclasses.fields(Augmentation))

PRESETS = {
    "none": Augmentation(),
    # Fledge's augmentation before presets existed: random resized crops (35-100 % of the
    # area) and mirror images.
    "light": Augmentation(crop=0.65, flip=0.5),
    "strong": Augmentation(crop=0.8, flip=0.5, rotation=15.0, shift=0.1, brightness=0.3, contrast=0.3,
                           saturation=0.3, grayscale=0.1),
}
PRESET_LABELS = {"none": "None", "light": "Light — crops and mirror images",
                 "strong": "Strong — also turned, moved, recoloured, sometimes grey"}
PRESET_HELP = {
    "none": "Show every photo as it is: for checking a setting, or photos that always look the same.",
    "light": "Show each photo slightly cropped and sometimes mirrored: a good start for most folders.",
    "strong": "Also turn, move, brighten, darken and recolour each photo a little, and sometimes show it "
              "grey: for few photos, or cameras whose light changes (day and night, infrared).",
}


# Augmentation was on or off before presets existed: files and settings may say so.
_ON_OFF = {True: "light", False: "none", "true": "light", "false": "none"}


def preset_of(value) -> str:
    """A preset's name, also from a file or setting kept when augmentation was on or off."""
    if isinstance(value, (bool, str)) and value in _ON_OFF:
        return _ON_OFF[value]
    return value


def augmentation(preset, **strengths) -> Augmentation:
    """The preset's strengths, each strength given (not None) in place of the preset's."""
    if isinstance(preset, Augmentation):
        base = preset
    else:
        base = PRESETS[preset_of(preset)]
    return dataclasses.replace(base, **{k: float(v) for k, v in strengths.items() if v is not None})


def preview_photo(dataset) -> str | None:
    """The photo whose augmented samples show what a setting does (core.data.augment_preview):
    the dataset's first training photo; None without one."""
    train = getattr(dataset, "train", None) or []
    return train[0].path if train else None

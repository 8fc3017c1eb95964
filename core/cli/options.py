"""The range of every number a `fledge` option takes, in one table, and the kinds of path an
option may name.

The parsers of `fledge` (core.cli.main) give each option named in NUMBERS its entry as the
argparse type, whatever the command declared, so `--top-k 0`, `--images -1` or `--settle nan`
is refused in one line with exit status 2 before anything runs. The ranges of the training
settings are TrainConfig's own (core.training.config's Option table), taken from there.
"""
from __future__ import annotations

import argparse
import math
import os
from dataclasses import dataclass

from core.training.config import config_options


@dataclass(frozen=True)
class Number:
    """An argparse type: a whole number (kind int) or a finite number (float) from low to high;
    above: more than low, not low itself."""
    kind: type
    low: float
    high: float
    above: bool = False

    def __call__(self, text: str) -> int | float:
        try:
            value = self.kind(text)
        except ValueError:
            value = None
        if value is None or not math.isfinite(value) or not self.allows(value):
            raise argparse.ArgumentTypeError(f"must be {self.describe()}, not {text!r}")
        return value

    def allows(self, value) -> bool:
        return (self.low < value if self.above else self.low <= value) and value <= self.high

    def describe(self) -> str:
        what = "a whole number" if self.kind is int else "a number"
        low, high = (f"{int(v)}" if self.kind is int else f"{v:g}" for v in (self.low, self.high))
        return f"{what} above {low} and at most {high}" if self.above else f"{what} from {low} to {high}"


# The training settings' ranges, as TrainConfig's Option table gives them (--lr also takes
# "auto", so core.cli.train types it and TrainConfig.errors() checks its range).
_TRAINING = {opt.cli_flag: Number(opt.kind, opt.minimum, opt.maximum) for opt in config_options()
             if opt.kind in (int, float) and None not in (opt.minimum, opt.maximum) and opt.name != "lr"}

NUMBERS: dict[str, Number] = {
    **_TRAINING,             # --batch-size, --epochs, --image-size, --seed, --momentum...: for bench too
    "--memory-budget-mb": Number(int, 0, 10**8),
    "--workers": Number(int, 0, 1024),
    "--top-k": Number(int, 1, 1000),                   # classes per photo
    "--top": Number(int, 0, 10**6),                    # check-labels: suggestions printed
    "--threshold": Number(float, 0.0, 1.0),
    "--settle": Number(float, 0.0, 3600.0, above=True),  # seconds a new photo must stay unchanged
    "--confidence": Number(float, 0.5, 0.999),
    "--target": Number(float, 0.5, 1.0),               # bench --camera: the precision asked         # thresholds: how sure a promised precision is
    "--images": Number(int, 1, 10**6),                 # bench: photos to generate
    "--per-class": Number(int, 2, 10**6),              # one for training, one for validation at least
}

# Options whose numbers are checked together, by their owner, rather than one by one here:
# the dataset split's shares must leave photos for training (core.data.split.SplitSettings).
CHECKED_BY_OWNER = {"--val-fraction", "--test-fraction", "--split-seed"}


def number_type(names: tuple[str, ...], declared) -> Number | None:
    """The table's type for an option with these flags (None when it has no entry)."""
    number = next((NUMBERS[n] for n in names if n in NUMBERS), None)
    if number is not None and declared not in (None, number.kind):
        raise TypeError(f"{'/'.join(names)} is declared as {declared}, but NUMBERS makes it {number.kind}")
    return number


def output_file(text: str) -> str:
    """An argparse type for a file to write: new, or a plain file. A folder, a named pipe or a
    device is refused, so that writing never replaces it with a file."""
    path = os.path.expanduser(text)
    if os.path.exists(path) and not os.path.isfile(path):
        what = "a folder" if os.path.isdir(path) else "not a plain file (a named pipe or a device)"
        raise argparse.ArgumentTypeError(f"{text} is {what}; give the name of a file to write")
    return text

"""The automatic split: sharing one class's files out to training, validation and test.

Each file's split follows from a hash of the seed, its class and its path in the class
folder alone, so adding files never moves the files already there. SplitSettings are
the seed and shares, decided once per dataset and recorded with every model.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, dataclass, fields

SPLITS = ("train", "val", "test")
# A class with this many photos or fewer keeps them all for training: a head on frozen features
# learns something from one photo, while one validation photo checks next to nothing.
ALL_IN_TRAINING = 2


@dataclass(frozen=True)
class SplitSettings:
    """How the pictures of a folder without its own val/ (or test/) folder are shared out.

    Decided once, when the folder is scanned; the Dataset carries them and every model and
    run trained on it records them, so Evaluate and resume rebuild the very same split. The
    seed is the split's own: the training seed (TrainConfig.seed) never moves a photo.
    """
    seed: int = 0
    val_fraction: float = 0.2
    test_fraction: float = 0.0

    def problem(self) -> str:
        """Why these shares cannot split a dataset, in plain words; '' when they can."""
        v, t = self.val_fraction, self.test_fraction
        if not (0 < v < 1) or not (0 <= t < 1) or v + t >= 1:
            return ("The validation and test shares must be between 0 and 1 and leave "
                    "some pictures for training (for example 0.2 and 0.0).")
        return ""

    def to_dict(self) -> dict:
        """Plain values, named as scan_dataset's keyword arguments."""
        return asdict(self)

    @classmethod
    def from_record(cls, record, legacy_config=None) -> SplitSettings:
        """The settings a run folder or model file recorded ("split").

        Files written before that record existed split with their training config's seed
        and shares, as Fledge did then; missing or unreadable values take the defaults.
        """
        source = record if isinstance(record, dict) else legacy_config
        source = source if isinstance(source, dict) else {}
        values = {}
        for f in fields(cls):
            try:
                values[f.name] = type(f.default)(source[f.name])
            except (KeyError, TypeError, ValueError):
                values[f.name] = f.default
        return cls(**values)



def _unit_hash(seed: int, cls: str, rel: str) -> float:
    """A number in [0, 1) that depends only on seed, class and the file's path in its class."""
    h = hashlib.blake2b(f"{seed}\0{cls}\0{rel}".encode("utf-8", "surrogatepass"), digest_size=8)
    return int.from_bytes(h.digest(), "big") / 2.0 ** 64


def split_class(items: list[tuple[str, str]], cls: str, seed: int, val_fraction: float,
                test_fraction: float) -> dict[str, list[str]]:
    """Share one class's files (path, path relative to the class folder) out to splits.

    Each file's split is decided by its own hash, so adding files never moves the
    files already there. Afterwards small classes are topped up: training keeps at
    least one file, validation gets one from two files on, test one from three on.
    """
    scored = sorted((_unit_hash(seed, cls, rel.replace(os.sep, "/")), path) for path, rel in items)
    buckets: dict[str, list[tuple[float, str]]] = {s: [] for s in SPLITS}
    for u, path in scored:
        if u < test_fraction:
            buckets["test"].append((u, path))
        elif u < test_fraction + val_fraction:
            buckets["val"].append((u, path))
        else:
            buckets["train"].append((u, path))
    train, val, test = buckets["train"], buckets["val"], buckets["test"]
    n = len(scored)

    # Move the file whose hash lies nearest the boundary, so the fix-up is as stable as can be.
    def move(src: list, dst: list, highest: bool) -> None:
        item = max(src) if highest else min(src)
        src.remove(item)
        dst.append(item)

    if n >= 1 and not train:
        move(val if val else test, train, highest=True)
    if n >= 2 and val_fraction > 0 and not val:
        if len(train) > 1:
            move(train, val, highest=False)
        elif test:             # validation matters more than an optional test split
            move(test, val, highest=True)
    if n >= 3 and test_fraction > 0 and not test:
        if len(train) > 1:
            move(train, test, highest=False)
        elif len(val) > 1:
            move(val, test, highest=False)
    return {s: sorted(p for _, p in b) for s, b in buckets.items()}


def keep_thin_in_training(splits: dict[str, dict[str, list[str]]]) -> list[str]:
    """Put every photo of a class with ALL_IN_TRAINING photos or fewer into training (splits:
    split -> class -> paths, "train" among them, changed in place); returns those classes."""
    classes = dict.fromkeys(c for part in splits.values() for c in part)
    thin = [c for c in classes if 0 < sum(len(part.get(c, [])) for part in splits.values()) <= ALL_IN_TRAINING]
    for c in thin:
        splits["train"][c] = sorted(p for part in splits.values() for p in part.get(c, []))
        for name, part in splits.items():
            if name != "train":
                part[c] = []
    return thin

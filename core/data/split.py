"""The automatic split: sharing one class's files out to training, validation and test.

Each file's split follows from a hash of the seed, its class and its path in the class
folder alone, so adding files never moves the files already there. Frames of one burst
(core.data.sequences: one camera, seconds apart) go together, where the first frame's hash
sends them, so the same moment is never both learnt from and checked on (camera-trap
practice: split by sequence); a new photo moves only the burst it joins. SplitSettings are
the seed, the shares and whether bursts are kept together, decided once per dataset and
recorded with every model.
"""
from __future__ import annotations

from collections.abc import Sequence

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
    bursts: bool = True              # frames of one burst on one side (False: photo by photo)

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
        and shares, as Fledge did then; missing or unreadable values take the defaults,
        except that a record from before bursts were kept together split photo by photo.
        """
        source = record if isinstance(record, dict) else legacy_config
        source = source if isinstance(source, dict) else {}
        values = {}
        for f in fields(cls):
            try:
                values[f.name] = type(f.default)(source[f.name])
            except (KeyError, TypeError, ValueError):
                values[f.name] = False if f.name == "bursts" else f.default
        return cls(**values)



def _unit_hash(seed: int, cls: str, rel: str) -> float:
    """A number in [0, 1) that depends only on seed, class and the file's path in its class."""
    h = hashlib.blake2b(f"{seed}\0{cls}\0{rel}".encode("utf-8", "surrogatepass"), digest_size=8)
    return int.from_bytes(h.digest(), "big") / 2.0 ** 64


def split_class(items: list[tuple[str, str]], cls: str, seed: int, val_fraction: float,
                test_fraction: float) -> dict[str, list[str]]:
    """Share one class's files (path, path relative to the class folder) out to splits, each
    file on its own (split_files with no bursts)."""
    parts = split_files([(path, cls, rel) for path, rel in items], [], seed, val_fraction, test_fraction)
    return {s: parts[s].get(cls, []) for s in SPLITS}


def split_files(files: list[tuple[str, str, str]], groups: list[list[int]], seed: int, val_fraction: float,
                test_fraction: float) -> dict[str, dict[str, list[str]]]:
    """Share files (path, class, path relative to the class folder) out to splits: split -> class
    -> sorted paths. groups: indices of files that go together (the frames of one burst, which
    may span classes); a file in none goes on its own.

    Each group's split is decided by its first file's hash, so adding files never moves the
    files already there (but for the burst a new frame joins). Afterwards small classes are
    topped up, counting the groups that hold the class: training keeps at least one, validation
    gets one from two on, test one from three on. A class whose photos are all one burst so stays
    in training only: any other way would check the model on the moment it learnt.
    """
    placed = {i for g in groups for i in g}
    units = [list(g) for g in groups if g] + [[i] for i in range(len(files)) if i not in placed]
    score = [_unit_hash(seed, files[u[0]][1], files[u[0]][2].replace(os.sep, "/")) for u in units]
    classes_of = [{files[i][1] for i in u} for u in units]
    where = []
    for u in score:
        where.append("test" if u < test_fraction else "val" if u < test_fraction + val_fraction else "train")

    def move(cls: str, src: str, dst: str, highest: bool) -> None:
        """Move the unit of cls in src whose hash lies nearest the boundary (the fix-up stays as
        stable as can be), one of cls alone where there is one (other classes keep theirs)."""
        candidates = [k for k in range(len(units)) if where[k] == src and cls in classes_of[k]]
        k = min(candidates, key=lambda k: (len(classes_of[k]) > 1, -score[k] if highest else score[k]))
        where[k] = dst

    for cls in dict.fromkeys(f[1] for f in files):
        def count(split: str) -> int:
            return sum(1 for k in range(len(units)) if where[k] == split and cls in classes_of[k])
        n = count("train") + count("val") + count("test")
        if n >= 1 and not count("train"):
            move(cls, "val" if count("val") else "test", "train", highest=True)
        if n >= 2 and val_fraction > 0 and not count("val"):
            if count("train") > 1:
                move(cls, "train", "val", highest=False)
            elif count("test"):        # validation matters more than an optional test split
                move(cls, "test", "val", highest=True)
        if n >= 3 and test_fraction > 0 and not count("test"):
            if count("train") > 1:
                move(cls, "train", "test", highest=False)
            elif count("val") > 1:
                move(cls, "val", "test", highest=False)
    out: dict[str, dict[str, list[str]]] = {s: {} for s in SPLITS}
    for k, unit in enumerate(units):
        for i in unit:
            out[where[k]].setdefault(files[i][1], []).append(files[i][0])
    return {s: {c: sorted(paths) for c, paths in by_class.items()} for s, by_class in out.items()}


def keep_thin_in_training(splits: dict[str, dict[str, list[str]]],
                          together: Sequence[Sequence[str]] = ()) -> list[str]:
    """Put every photo of a class with ALL_IN_TRAINING photos or fewer into training (splits:
    split -> class -> paths, "train" among them, changed in place); returns those classes.
    together: paths that stay on one side (a burst's frames): with a thin class's photo, all
    of them go to training, so no burst straddles the split."""
    classes = dict.fromkeys(c for part in splits.values() for c in part)
    thin = [c for c in classes if 0 < sum(len(part.get(c, [])) for part in splits.values()) <= ALL_IN_TRAINING]
    for c in thin:
        splits["train"][c] = sorted(p for part in splits.values() for p in part.get(c, []))
        for name, part in splits.items():
            if name != "train":
                part[c] = []
    moved = {p for c in thin for p in splits["train"][c]}
    follow = {p for group in together if moved.intersection(group) for p in group}
    for name, part in splits.items():
        if name == "train" or not follow:
            continue
        for c, paths in part.items():
            going = [p for p in paths if p in follow]
            if going:
                part[c] = [p for p in paths if p not in follow]
                splits["train"][c] = sorted(splits["train"].get(c, []) + going)
    return thin

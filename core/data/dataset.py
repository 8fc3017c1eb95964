"""Scanning a folder of pictures into a dataset: classes, splits, skipped files.

Two layouts are understood:

* split folders: DATA/train/<class>/, DATA/val/<class>/ and optionally DATA/test/<class>/
  (the names are matched without regard to case; "valid" and "validation" mean val);
* class folders: DATA/<class>/ only; Fledge then sets aside part of each class for
  validation (and test) by a seeded split that keeps every file where it was when
  new files are added.

Class names come from folder names. Pictures may sit in subfolders of a class folder.
Files that cannot be used are listed with the reason (core.data.folder_scan lists and
checks the files), never silently dropped; core.data.split shares them out.
"""
from __future__ import annotations

import os
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from core.data.folder_scan import SkippedFile, check_all, collect, loose_files, subfolders
from core.data.imageio import is_image_name
from core.data.sequences import split_sequences
from core.data.split import ALL_IN_TRAINING, SPLITS, SplitSettings, keep_thin_in_training, split_files
from core.errors import DatasetError
from core.wording import and_list, plural

SPLIT_TITLES = {"train": "training", "val": "validation", "test": "test"}

# Folder name (lower case) -> split.
SPLIT_FOLDER_NAMES = {
    "train": "train", "training": "train",
    "val": "val", "valid": "val", "validation": "val",
    "test": "test", "testing": "test",
}

NOT_IN_CLASS = "not inside a class folder, so its class is unknown"

FEW_IMAGES = 10          # fewer training pictures than this in a class -> warning
IMBALANCE_RATIO = 3.0    # largest class / smallest class above this -> warning
SUMMARY_PATHS_PER_REASON = 10


@dataclass(frozen=True)
class Sample:
    path: str
    label: int


@dataclass
class Dataset:
    root: str
    classes: list[str]
    train: list[Sample]
    val: list[Sample]
    test: list[Sample]
    skipped: list[SkippedFile]
    layout: str                      # "split-folders" | "class-folders"
    warnings: list[str]
    # How the automatic split was made (class-folders, or val carved out of train/): see
    # SplitSettings, which split_settings returns.
    seed: int = 0
    val_fraction: float = 0.2
    test_fraction: float = 0.0
    bursts: bool = True              # frames of one burst kept on one side of the automatic split
    kept_together: tuple[int, int] = (0, 0)      # (bursts of 2 or more photos, their photos) it kept whole

    @property
    def split_settings(self) -> SplitSettings:
        """The settings this dataset was split with (recorded with every model trained on it)."""
        return SplitSettings(self.seed, self.val_fraction, self.test_fraction, self.bursts)

    def burst_note(self) -> str:
        """How the automatic split kept bursts whole, in a sentence ('' when it kept none)."""
        bursts, photos = self.kept_together
        if not bursts:
            return ""
        return (f"{photos} photos are frames of {plural(bursts, 'burst')} (one camera, seconds apart); each "
                "burst is wholly in training or wholly in validation, so the model is never checked on a "
                "moment it learnt from.")

    def split(self, name: str) -> list[Sample]:
        return {"train": self.train, "val": self.val, "test": self.test}[name]

    def counts(self) -> dict[str, dict[str, int]]:
        """split -> class -> number of pictures (every split and class present)."""
        out: dict[str, dict[str, int]] = {}
        for name in SPLITS:
            c = Counter(s.label for s in self.split(name))
            out[name] = {cls: c.get(i, 0) for i, cls in enumerate(self.classes)}
        return out

    def summary(self) -> str:
        """Several lines of plain text: layout, classes with counts, skipped files, warnings."""
        counts = self.counts()
        has_test = bool(self.test)
        if self.layout == "split-folders":
            layout = "train/ and val/ folders" + (" and a test/ folder" if has_test else "")
        else:
            parts = [f"{100 * (1 - self.val_fraction - self.test_fraction):.0f}% training",
                     f"{100 * self.val_fraction:.0f}% validation"]
            if self.test_fraction > 0:
                parts.append(f"{100 * self.test_fraction:.0f}% test")
            layout = f"one folder per class, split automatically ({', '.join(parts)}; seed {self.seed})"
        lines = [f"Folder: {self.root}", f"Layout: {layout}"]
        if note := self.burst_note():
            lines.append(f"Bursts: {note}")
        lines.append(f"Classes: {len(self.classes)}")
        splits = [s for s in SPLITS if s != "test" or has_test]
        width = max([len(c) for c in self.classes] + [5])
        lines.append("  " + "class".ljust(width) + "".join(f"{s:>8}" for s in splits))
        for cls in self.classes:
            lines.append("  " + cls.ljust(width) + "".join(f"{counts[s][cls]:>8}" for s in splits))
        lines.append("  " + "total".ljust(width) + "".join(f"{len(self.split(s)):>8}" for s in splits))
        if self.skipped:
            lines.append(f"Skipped {plural(len(self.skipped), 'file')}:")
            by_reason: dict[str, list[str]] = defaultdict(list)
            for s in self.skipped:
                by_reason[s.reason].append(s.path)
            for reason, paths in sorted(by_reason.items(), key=lambda kv: -len(kv[1])):
                lines.append(f"  {reason}: {plural(len(paths), 'file')}")
                for p in paths[:SUMMARY_PATHS_PER_REASON]:
                    lines.append(f"    {self._rel(p)}")
                if len(paths) > SUMMARY_PATHS_PER_REASON:
                    lines.append(f"    ... and {len(paths) - SUMMARY_PATHS_PER_REASON} more")
        if self.warnings:
            lines.append("Warnings:")
            lines.extend(f"  - {w}" for w in self.warnings)
        return "\n".join(lines)

    def _rel(self, path: str) -> str:
        try:
            rel = os.path.relpath(path, self.root)
        except ValueError:          # another drive on Windows
            return path
        return path if rel.startswith("..") else rel

    def to_dict(self) -> dict:
        """Plain JSON-able description (kept in each run folder as dataset.json)."""
        return {
            "root": self.root,
            "layout": self.layout,
            "classes": list(self.classes),
            "seed": self.seed,
            "val_fraction": self.val_fraction,
            "test_fraction": self.test_fraction,
            "bursts": self.bursts,
            "kept_together": list(self.kept_together),
            "counts": self.counts(),
            **{name: [[s.path, s.label] for s in self.split(name)] for name in SPLITS},
            "skipped": [{"path": s.path, "reason": s.reason} for s in self.skipped],
            "warnings": list(self.warnings),
        }

    @classmethod
    def from_dict(cls, d: dict) -> Dataset:
        """Inverse of to_dict."""
        return cls(
            root=d["root"], classes=list(d["classes"]),
            **{name: [Sample(str(p), int(l)) for p, l in d.get(name, [])] for name in SPLITS},
            skipped=[SkippedFile(s["path"], s["reason"]) for s in d.get("skipped", [])],
            layout=d["layout"], warnings=list(d.get("warnings", [])),
            seed=int(d.get("seed", 0)), val_fraction=float(d.get("val_fraction", 0.2)),
            test_fraction=float(d.get("test_fraction", 0.0)), bursts=bool(d.get("bursts", False)),
            kept_together=tuple(int(n) for n in d.get("kept_together", (0, 0)))[:2],
        )



def _short(folder: str) -> str:
    """The folder's own name, for examples in messages (DATA in DATA/bird)."""
    return os.path.basename(os.path.normpath(folder)) or folder


def _class_key(name: str) -> tuple[str, str]:
    return (name.casefold(), name)


# -- scanning --------------------------------------------------------------------------

def _no_class_folders(root: str, where: str, example: str) -> DatasetError:
    loose = [p for p in loose_files(root) if is_image_name(p)]
    need = (f"Fledge needs one subfolder per class, like {example}/bird and {example}/plane, "
            "each holding the pictures of that class.")
    if loose:
        return DatasetError(f"{where} holds {plural(len(loose), 'picture')} but no class folders. {need}")
    return DatasetError(f"{where} has no class folders. {need}")


def _describe_skips(skipped: list[SkippedFile]) -> str:
    if not skipped:
        return ""
    first = skipped[0]
    return (f" ({plural(len(skipped), 'file')} could not be used, e.g. "
            f"{os.path.basename(first.path)}: {first.reason})")


def scan_dataset(root, val_fraction: float = 0.2, test_fraction: float = 0.0, seed: int = 0,
                 verify: bool = True, progress: Callable[[int, int], None] | None = None,
                 bursts: bool = True) -> Dataset:
    """Read a folder of class folders into a Dataset, or raise DatasetError saying what to fix.

    verify: check every picture's header (and that it is not cut short) so unusable
    files are listed now rather than failing during training.
    progress(done, total) is called now and then while pictures are checked.
    bursts: an automatic split keeps the frames of one burst on one side (False: photo by
    photo, as Fledge split before; a model file says which its split was).
    """
    if problem := SplitSettings(seed, val_fraction, test_fraction).problem():
        raise DatasetError(problem)
    if root is None or os.fspath(root) == "":
        raise DatasetError("No folder was chosen. Choose the folder that holds your class folders.")
    root = os.path.abspath(os.path.expanduser(os.fspath(root)))
    if not os.path.exists(root):
        raise DatasetError(f"The folder {root} does not exist. Choose the folder that holds your "
                           "class folders (for example DATA, with DATA/bird and DATA/plane inside).")
    if not os.path.isdir(root):
        raise DatasetError(f"{root} is a file, not a folder. Choose the folder that holds your "
                           "class folders (for example DATA, with DATA/bird and DATA/plane inside).")
    if not os.access(root, os.R_OK | os.X_OK):
        raise DatasetError(f"Fledge may not read the folder {root}. Check its permissions or choose another folder.")

    top = subfolders(root)
    split_dirs: dict[str, list[str]] = defaultdict(list)
    for name in top:
        split = SPLIT_FOLDER_NAMES.get(name.lower())
        if split:
            split_dirs[split].append(name)
    split = SplitSettings(seed, val_fraction, test_fraction, bursts)
    if "train" in split_dirs or "val" in split_dirs:
        return _scan_split_folders(root, top, split_dirs, split, verify, progress)
    return _scan_class_folders(root, top, split, verify, progress)


@dataclass(frozen=True)
class _AutoSplit:
    """What the automatic split made: split -> class -> paths, and the bursts it kept whole."""
    splits: dict[str, dict[str, list[str]]]
    kept_together: tuple[int, int] = (0, 0)
    one_burst: tuple[tuple[str, int], ...] = ()     # (class, photos) whose photos are all one burst


def _auto_split(files: list[tuple[str, str, str]], split: SplitSettings) -> _AutoSplit:
    """Share files (path, class, path in its class folder) out as split says; with split.bursts,
    the frames of one burst (by EXIF capture time) go together."""
    groups = (split_sequences([f[0] for f in files]) or []) if split.bursts else []
    groups = [g for g in groups if len(g) > 1]
    parts = split_files(files, groups, split.seed, split.val_fraction, split.test_fraction)
    # A class of a photo or two: all of it to learn from, with the rest of its bursts.
    keep_thin_in_training(parts, [[files[i][0] for i in g] for g in groups])
    by_class: dict[str, set[int]] = defaultdict(set)      # class -> the groups (or lone files) holding it
    grouped = {i: k for k, g in enumerate(groups) for i in g}
    for i, (_path, cls, _rel) in enumerate(files):
        by_class[cls].add(grouped.get(i, -1 - i))
    one = tuple((c, sum(1 for f in files if f[1] == c)) for c, units in by_class.items()
                if len(units) == 1 and next(iter(units)) >= 0)
    return _AutoSplit(parts, (len(groups), sum(map(len, groups))), one)


def _finish(root: str, layout: str, classes: list[str], auto: _AutoSplit, skipped: list[SkippedFile],
            warnings: list[str], split: SplitSettings) -> Dataset:
    index = {c: i for i, c in enumerate(classes)}
    samples = {s: [Sample(p, index[c]) for c in classes for p in auto.splits[s].get(c, [])] for s in SPLITS}
    ds = Dataset(root=root, classes=classes, train=samples["train"], val=samples["val"],
                 test=samples["test"], skipped=sorted(skipped, key=lambda s: s.path), layout=layout,
                 warnings=warnings, seed=split.seed, val_fraction=split.val_fraction,
                 test_fraction=split.test_fraction, bursts=split.bursts, kept_together=auto.kept_together)
    ds.warnings.extend(_dataset_warnings(ds))
    for cls, n in auto.one_burst:
        ds.warnings.append(f"{'Both' if n == 2 else f'All {n}'} photos of '{cls}' are frames of one burst, so they "
                           f"all stay in training and none of them checks the model: its answers for '{cls}' are "
                           f"untested. Label '{cls}' photos from another visit to fix that.")
    return ds


def _dataset_warnings(ds: Dataset) -> list[str]:
    out = []
    counts = ds.counts()
    train = counts["train"]
    largest = max(train, key=lambda c: train[c])
    smallest = min(train, key=lambda c: train[c])
    if train[smallest] and train[largest] > IMBALANCE_RATIO * train[smallest]:
        out.append(f"The classes are unbalanced: '{largest}' has {train[largest]} training pictures "
                   f"but '{smallest}' only {train[smallest]}. The model may favour '{largest}'; "
                   f"add pictures of '{smallest}' if you can.")
    few = [c for c in ds.classes if train[c] < FEW_IMAGES]
    if few:
        listed = ", ".join(f"'{c}' ({train[c]})" for c in few)
        out.append(f"Very few training pictures for {listed}. Aim for at least {FEW_IMAGES} per "
                   "class, better 50 or more.")
    thin = [c for c in ds.classes if 0 < train[c] <= ALL_IN_TRAINING and not counts["val"][c]]
    if thin:
        out.append(_thin_warning(thin, train))
    if ds.skipped:
        out.append(f"{plural(len(ds.skipped), 'file')} could not be used and "
                   f"{'was' if len(ds.skipped) == 1 else 'were'} skipped (see the list of skipped files).")
    return out


def _scan_class_folders(root, top, split: SplitSettings, verify, progress) -> Dataset:
    if not top:
        raise _no_class_folders(root, f"The folder {root}", _short(root))
    found = {c: collect(os.path.join(root, c)) for c in top}
    empty = [c for c in top if not found[c].images and not found[c].skipped]
    found = {c: f for c, f in found.items() if c not in empty}
    usable, skipped = check_all(found, verify, progress)
    skipped += [SkippedFile(p, NOT_IN_CLASS) for p in loose_files(root) if is_image_name(p)]

    for c in found:
        if not usable[c]:
            folder_skips = [s for s in skipped if s.path.startswith(os.path.join(root, c) + os.sep)]
            raise DatasetError(f"The class folder {os.path.join(root, c)} has no usable pictures"
                               f"{_describe_skips(folder_skips)}. Add pictures to it, or remove the folder.")
    classes = sorted(found, key=_class_key)
    _need_two_classes(root, classes, _short(root), empty)
    auto = _auto_split([(p, c, rel) for c in classes for p, rel in usable[c]], split)
    return _finish(root, "class-folders", classes, auto, skipped, _empty_notes(root, empty), split)


def _empty_notes(folder: str, empty: list[str]) -> list[str]:
    """A class folder with nothing in it yet (made for labelling) is left out, never an error."""
    if not empty:
        return []
    names = ", ".join(f"'{c}'" for c in sorted(empty, key=_class_key))
    one = len(empty) == 1
    return [f"The class folder{'' if one else 's'} {names} in {folder} {'is' if one else 'are'} empty, so "
            f"{'that class is' if one else 'those classes are'} left out until {'it has' if one else 'they have'} "
            "photos."]


def _thin_warning(thin: list[str], train: dict[str, int]) -> str:
    one = len(thin) == 1
    listed = and_list(f"'{c}' ({train[c]})" for c in thin)
    return (f"So few photos of {listed} that {'they are' if one else 'each class has them'} all used for "
            "training and none is kept to check the model: its answers for "
            f"{'that class' if one else 'those classes'} are guesses from a photo or two, and the validation "
            f"score says nothing about {'it' if one else 'them'}. Label more photos of {'it' if one else 'them'} "
            "when the camera sees one.")


def _need_two_classes(root: str, classes: list[str], example: str, empty: list[str] = ()) -> None:
    if len(classes) < 2 and empty:
        have = f"Only '{classes[0]}' has photos" if classes else "No class folder has photos"
        raise DatasetError(f"{have} in {root} so far; {', '.join(repr(c) for c in empty)} "
                           f"{'is' if len(empty) == 1 else 'are'} still empty. A model learns to tell at least "
                           "two classes apart: label photos into another class first.")
    if len(classes) < 2:
        raise DatasetError(
            f"Fledge found only one class folder, '{classes[0]}', in {root}. It needs at least two "
            f"classes to tell apart, like {example}/bird and {example}/plane. If your class folders "
            "are deeper inside, choose the folder that holds them directly.")


def _split_dirs_in_use(root: str, split_dirs: dict[str, list[str]]) -> tuple[dict[str, str], list[str]]:
    """split -> its folder (empty ones left out, with a note); DatasetError without train/."""
    for split, names in split_dirs.items():
        if len(names) > 1:
            raise DatasetError(f"{root} has more than one {SPLIT_TITLES[split]} folder "
                               f"({' and '.join(names)}). Keep one and move the pictures into it.")
    dirs = {s: os.path.join(root, names[0]) for s, names in split_dirs.items()}
    notes: list[str] = []

    # A split folder with nothing at all in it counts as absent.
    for s in list(dirs):
        if not subfolders(dirs[s]) and not loose_files(dirs[s]):
            if s == "train":
                raise DatasetError(f"The training folder {dirs[s]} is empty. Put each class's pictures "
                                   f"in its own subfolder, like {dirs[s]}/bird and {dirs[s]}/plane.")
            notes.append(f"The folder {dirs[s]} is empty and was ignored.")
            del dirs[s]
    if "train" not in dirs:
        val_name = split_dirs["val"][0]
        raise DatasetError(f"{root} has a {val_name} folder but no train folder. Put the pictures to "
                           f"learn from in {os.path.join(root, 'train')}, one subfolder per class "
                           "(train/bird, train/plane, ...), or use one folder per class "
                           f"({_short(root)}/bird, {_short(root)}/plane) so Fledge splits them automatically.")
    return dirs, notes


def _class_dirs_of_splits(root: str, dirs: dict[str, str]) -> tuple[dict[str, list[str]], list[SkippedFile]]:
    """split -> its class folder names, and the pictures lying loose in the split folders."""
    loose: list[SkippedFile] = []
    class_dirs: dict[str, list[str]] = {}
    for s, d in dirs.items():
        class_dirs[s] = subfolders(d)
        if not class_dirs[s]:
            rel = os.path.relpath(d, root)
            raise _no_class_folders(d, f"The folder {d}", f"{_short(root)}/{rel}")
        loose += [SkippedFile(p, NOT_IN_CLASS) for p in loose_files(d) if is_image_name(p)]
    return class_dirs, loose


def _split_folder_classes(root: str, dirs: dict[str, str], class_dirs: dict[str, list[str]],
                          usable: dict, skipped: list[SkippedFile], notes: list[str]) -> list[str]:
    """The classes, once every split's class folders agree with train/'s; else DatasetError.
    An empty training class folder is left out (a note in notes says so)."""
    present = {s: {c for c in class_dirs[s] if usable[(s, c)]} for s in dirs}
    empty = []
    for c in class_dirs["train"]:
        if c not in present["train"]:
            folder = os.path.join(dirs["train"], c)
            folder_skips = [x for x in skipped if x.path.startswith(folder + os.sep)]
            if not folder_skips:
                empty.append(c)
                continue
            raise DatasetError(f"The class folder {folder} has no usable pictures"
                               f"{_describe_skips(folder_skips)}. Add pictures to it, or remove the folder.")
    classes = sorted(present["train"], key=_class_key)
    notes.extend(_empty_notes(dirs["train"], empty))
    if "val" in dirs:
        for c in classes:
            near = [v for v in class_dirs["val"] if v != c and v.casefold() == c.casefold()]
            if c not in present["val"] and not near and len(usable[("train", c)]) <= ALL_IN_TRAINING:
                continue            # too few to spare one: all in training (a warning says so)
            if c not in present["val"]:
                hint = (f" (there is a folder '{near[0]}': class folder names must match exactly)"
                        if near else "")
                raise DatasetError(
                    f"Class '{c}' has no validation pictures{hint}. Add some pictures to "
                    f"{os.path.join(dirs['val'], c)}, or put all pictures in one folder per class "
                    f"({_short(root)}/bird, {_short(root)}/plane, ...) so Fledge splits them automatically.")
    for s in ("val", "test"):
        for c in sorted(present.get(s, set()) - present["train"], key=_class_key):
            raise DatasetError(
                f"Class '{c}' has {SPLIT_TITLES[s]} pictures but no training pictures. Add pictures "
                f"to {os.path.join(dirs['train'], c)}, or remove {os.path.join(dirs[s], c)}.")
    _need_two_classes(dirs["train"], classes, f"{_short(root)}/{os.path.basename(dirs['train'])}", empty)
    return classes


def _scan_split_folders(root, top, split_dirs, split: SplitSettings, verify, progress) -> Dataset:
    dirs, notes = _split_dirs_in_use(root, split_dirs)
    others = [n for n in top if n.lower() not in SPLIT_FOLDER_NAMES]
    if others:
        notes.append(f"Ignored {plural(len(others), 'folder')} next to the split folders "
                     f"({', '.join(others[:5])}{', ...' if len(others) > 5 else ''}): with "
                     "train/ and val/ folders, classes are read from inside them.")
    skipped = [SkippedFile(p, NOT_IN_CLASS) for p in loose_files(root) if is_image_name(p)]
    class_dirs, loose = _class_dirs_of_splits(root, dirs)
    skipped += loose

    found = {(s, c): collect(os.path.join(d, c)) for s, d in dirs.items() for c in class_dirs[s]}
    usable, more_skipped = check_all(found, verify, progress)
    skipped += more_skipped
    classes = _split_folder_classes(root, dirs, class_dirs, usable, skipped, notes)

    split = SplitSettings(split.seed, split.val_fraction, 0.0, split.bursts)   # test comes only from test/
    if "val" in dirs:
        auto = _AutoSplit({"train": {c: [p for p, _ in usable[("train", c)]] for c in classes},
                           "val": {c: [p for p, _ in usable.get(("val", c), [])] for c in classes}, "test": {}})
    else:
        # No validation folder: set part of train/ aside, as for class folders.
        auto = _auto_split([(p, c, rel) for c in classes for p, rel in usable[("train", c)]], split)
        notes.append(f"There is no validation folder, so {100 * split.val_fraction:.0f}% of the training "
                     "pictures are set aside to check the model.")
    auto.splits["test"] = {c: [p for p, _ in usable.get(("test", c), [])] for c in classes}
    if "test" in dirs:
        missing = [c for c in classes if not auto.splits["test"][c]]
        if missing:
            notes.append(f"The test folder has no pictures of {', '.join(repr(c) for c in missing)}.")
    return _finish(root, "split-folders", classes, auto, skipped, notes, split)

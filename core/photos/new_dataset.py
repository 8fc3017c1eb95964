"""Starting from one unsorted folder of photos: a new dataset to label them into.

    folder = "~/birdcam"                                  # photos, no class folders
    root = start_dataset(folder, ["bird", "plane"])       # ~/birdcam (labelled)/bird, /plane
    labels = DatasetLabels(root, move=False)              # then label as Review does (journalled)
    readiness(root).text       # "1 more photo of 'plane' and you can train."

The new dataset is a sibling of the unsorted folder, never inside it, so the photos still
to label and the labelled ones stay apart and a scan of either does not see the other.
Nothing is moved here: the labelling (core.photos.labelling) copies or moves each photo,
journalled and undoable.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

from core.data.dataset import FEW_IMAGES
from core.data.folder_scan import loose_files
from core.data.imageio import is_image_name
from core.errors import FledgeError
from core.files.file_transfer import describe_os_error, is_inside, path_key
from core.files.journal import FileJournal
from core.photos.class_order import remember_order
from core.photos.labelling import (LABELS_JOURNAL, Labeller, class_root_of, follow_moves, training_classes,
                                   validate_class_name)
from core.wording import and_list, plural

# Photos each class needs before the first training run: a head on frozen features learns from
# one (core.data.split keeps a class of one or two photos wholly for training).
READY_PER_CLASS = 1
THIN_BELOW = FEW_IMAGES        # fewer photos than this: a thin class, said so and hunted for in Review
NEW_DATASET_SUFFIX = " (labelled)"


def unsorted_photos(folder: str) -> list[str]:
    """The photos lying directly in folder (its subfolders are not looked into)."""
    return sorted(p for p in loose_files(os.fspath(folder)) if is_image_name(p))


def new_dataset_folder(folder: str) -> str:
    """A free folder name next to folder: 'birdcam (labelled)', else 'birdcam (labelled 2)'..."""
    folder = os.path.abspath(os.path.expanduser(os.fspath(folder)))
    parent, name = os.path.split(folder.rstrip(os.sep)) if folder != os.sep else (folder, "photos")
    candidate = os.path.join(parent, name + NEW_DATASET_SUFFIX)
    n = 2
    while os.path.lexists(candidate):
        candidate = os.path.join(parent, f"{name} (labelled {n})")
        n += 1
    return candidate


def check_class_names(names: Sequence[str]) -> list[str]:
    """The names, each checked as a folder name; at least two, none twice."""
    out: list[str] = []
    for raw in names:
        if raw.strip():
            name = validate_class_name(raw)
            if any(n.casefold() == name.casefold() for n in out):
                raise FledgeError(f"The class '{name}' is named twice. Give each class one name.")
            out.append(name)
    if len(out) < 2:
        raise FledgeError("Name at least two classes (for example: bird, plane); a model learns to "
                          "tell classes apart, so one is not enough.")
    return out


def parse_class_names(text: str) -> list[str]:
    """Class names typed one per line or separated by commas."""
    return check_class_names(text.replace("\n", ",").split(","))


def start_dataset(unsorted: str, class_names: Sequence[str], dest: str | None = None) -> str:
    """Create the dataset folder dest (by default new_dataset_folder(unsorted)) with one empty
    folder per class; returns its path. An existing dest keeps what it holds and gains the
    classes it lacks."""
    unsorted = os.path.abspath(os.path.expanduser(os.fspath(unsorted)))
    root = os.path.abspath(os.path.expanduser(os.fspath(dest))) if dest else new_dataset_folder(unsorted)
    if is_inside(root, unsorted) or is_inside(unsorted, root):
        raise FledgeError(f"The new dataset cannot be inside the folder of photos to label, or hold it "
                          f"({root}). Choose a folder next to it.")
    names = check_class_names(class_names)
    try:
        os.makedirs(root, exist_ok=True)
    except OSError as exc:
        raise FledgeError(f"Could not create the dataset folder {root} ({describe_os_error(exc)}). "
                          "Check that the disk is not full and that the folder can be written to.") from None
    labeller = Labeller(root, move=False)
    have = {c.casefold() for c in labeller.classes}
    for name in names:
        if name.casefold() not in have:
            labeller.add_class(name)
    remember_order(root, _typed_order(labeller.classes, names))      # keys follow the order typed
    return root


def _typed_order(have: list[str], names: list[str]) -> list[str]:
    """The classes in the order typed, the existing spelling kept; those not typed after them."""
    spelling = {c.casefold(): c for c in have}
    first = [spelling.get(n.casefold(), n) for n in names]
    return first + [c for c in have if c not in first]


@dataclass(frozen=True)
class Readiness:
    counts: dict[str, int] = field(default_factory=dict)     # photos per class
    missing: dict[str, int] = field(default_factory=dict)    # photos still needed per class
    ready: bool = False
    text: str = ""
    thin: dict[str, int] = field(default_factory=dict)       # classes with few photos, fewest first

    @property
    def summary(self) -> str:
        """text in a few words, for a footer: what is still needed, or which classes are thin."""
        if not self.ready or not self.thin:
            return self.text
        names = [f"'{c}' ({n})" for c, n in self.thin.items()]
        shown = and_list(names) if len(names) <= 3 else ", ".join(names[:3]) + f" and {len(names) - 3} more"
        return f"You can train now. Few photos of {shown} yet."

    @property
    def hint(self) -> str:
        """What to do about a class no photo has been labelled into yet ('' when there is none)."""
        if not any(self.counts.get(c, 0) == 0 for c in self.missing):
            return ""
        return ("A class the camera has not seen yet need not hold you up: remove it (Classes, then "
                "Remove), train without it, and add it again when one turns up.")

    @property
    def hunt(self) -> list[str]:
        """The thin classes Review looks for first (core.photos.review_queue.review_order): while
        another class has plenty; when every class is thin, least certain first serves them all."""
        return list(self.thin) if len(self.thin) < len(self.counts) else []


def readiness(dataset_root: str, need: int = READY_PER_CLASS) -> Readiness:
    """Whether every class has need photos for a first training run, said the way a person
    counts ("1 more photo of 'plane' and you can train."), and which classes are thin and
    what that means for the model's answers."""
    if not os.path.isdir(dataset_root):
        return Readiness(text=f"The dataset folder {dataset_root} is no longer there.")
    # Only read: a Labeller would also recover its journal, under a labelling in progress.
    class_root = class_root_of(dataset_root)[1]
    counts = {c: len([p for p in loose_files(os.path.join(class_root, c)) if is_image_name(p)])
              for c in training_classes(dataset_root)}
    if len(counts) < 2:
        return Readiness(counts, text="Add a second class: a model learns to tell classes apart.")
    missing = {c: need - n for c, n in counts.items() if n < need}
    thin = dict(sorted(((c, n) for c, n in counts.items() if n < THIN_BELOW), key=lambda kv: kv[1]))
    if missing:
        most_first = sorted(missing.items(), key=lambda kv: -kv[1])       # ties in key order
        listed = and_list(f"{plural(n, 'more photo')} of '{c}'" for c, n in most_first)
        return Readiness(counts, missing, False, f"{listed} and you can train.", thin)
    if not thin:
        return Readiness(counts, {}, True, f"Every class has at least {plural(THIN_BELOW, 'photo')}: "
                                           "you can train now.", thin)
    return Readiness(counts, {}, True, "You can train now. " + thin_classes_text(thin), thin)


def thin_classes_text(thin: dict[str, int]) -> str:
    """What few photos of a class mean for the model's answers, in a sentence."""
    one = len(thin) == 1
    listed = and_list(f"'{c}' ({n})" for c, n in thin.items())
    return (f"Few photos of {listed} yet: the model's answers for {'it' if one else 'them'} will be rough "
            "guesses, so expect those photos in review. Label more when you see one: Review shows the "
            "likeliest first.")


def copied_in(dataset_root: str) -> set[str]:
    """path_key of every photo whose copy was labelled into the dataset and is still there, so
    a folder labelled by copying does not ask for the same photos again when opened anew."""
    if not os.path.isdir(dataset_root):
        return set()
    try:
        ops = FileJournal(os.path.join(dataset_root, LABELS_JOURNAL)).live_ops()    # read, never recovered here
    except (OSError, FledgeError):
        return set()                       # an unreadable journal: every photo is shown, none lost
    return {path_key(op.src) for op in ops if op.kind != "move" and os.path.exists(follow_moves(ops, op.dst))}

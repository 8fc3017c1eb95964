"""Shortcuts: a simple property of the files that tells the classes apart by itself.

    report = find_shortcuts(dataset)          # a core.data.dataset.Dataset
    report.warnings()                          # what to tell the user before training

When every 'plane' photo is 640x480 and every 'bird' photo 1920x1080, a network can score
well by learning the size (or the camera, the file format, the light of the hour the photos
were taken) instead of the subject, and then fails on the user's own photos.

For each property the best one-property rule is learnt on the training photos (each value,
or each band of a number, gets the class most common there) and scored on the validation
photos, against always naming the most common class. A rule that is right for at least
SHORTCUT_ACCURACY of them, and closes at least half of the gap between guessing and being
always right, is a shortcut. Only file headers are read (Pillow opens a file without
decoding its pixels), so a few thousand photos take about a second.
"""
from __future__ import annotations

import os
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from core.wording import percent, plural

SHORTCUT_ACCURACY = 0.9       # a rule at least this often right on validation photos...
GAP_CLOSED = 0.5              # ...that closes at least this share of the gap above guessing
MIN_CHECKED = 10              # fewer validation photos than this say nothing either way
NUMBER_BANDS = 8              # a numeric property is cut into at most this many bands
_HELD_OUT_EVERY = 5           # without validation photos, every 5th training photo is held out

_EXIF_MAKE, _EXIF_MODEL, _EXIF_IFD, _EXIF_DATETIME_ORIGINAL = 0x010F, 0x0110, 0x8769, 0x9003
_EXIF_SUBSEC_ORIGINAL = 0x9291      # the fraction of the second, which tells a fast burst's frames apart

_ADVICE = {
    "size": "the size instead of the subject. This usually means the classes come from different sources "
            "(one camera's photos and photos from elsewhere, say): add photos of every class at other sizes, "
            "or resize all photos the same way before training.",
    "shape": "the picture's shape instead of the subject. Add photos of every class in other shapes, "
             "or crop them all alike.",
    "format": "the file format (and its compression marks) instead of the subject. Save all photos "
              "in one format, for example all as JPEG.",
    "camera": "the camera's colours and noise instead of the subject. If a class was only ever seen by one "
              "camera (it lives where that camera looks), that is no fault of the photos; what helps is "
              "photos of the other classes from that camera too (its empty frames, say), so that the camera "
              "alone no longer tells, and photos of every class from other cameras where you have them.",
    "hour": "the light of the time of day instead of the subject.",
}
NIGHT_HOURS = (20, 6)         # from 20:00 to 06:00: a camera's infrared, black-and-white frames
NIGHT_CLASS = 0.8             # a class with at least this share of its photos taken at night is nocturnal


@dataclass(frozen=True)
class PhotoFacts:
    """What a photo's header says (None where it says nothing)."""
    width: int | None = None
    height: int | None = None
    format: str | None = None
    camera: str | None = None
    hour: int | None = None          # 0-23: EXIF DateTimeOriginal, else the file's time
    taken: datetime | None = None    # the same moment in full (bursts need the seconds)
    taken_from_exif: bool = False    # False: the file's modification time stood in


@dataclass(frozen=True)
class Shortcut:
    name: str                        # a key of _ADVICE
    accuracy: float                  # the rule's, on the validation photos
    baseline: float                  # always the most common class
    text: str                        # the warning, in plain words


@dataclass
class ShortcutReport:
    checked: int = 0                 # photos the rules were scored on
    shortcuts: list[Shortcut] = field(default_factory=list)
    scores: dict[str, float] = field(default_factory=dict)     # every property's best accuracy
    baseline: float = 0.0
    seconds: float = 0.0

    def warnings(self) -> list[str]:
        return [s.text for s in self.shortcuts]


# -- reading headers ---------------------------------------------------------------------

def _exif(im):
    """The EXIF block without decoding pixels (Pillow's PNG getexif would decode the image)."""
    from PIL import Image

    if im.format in ("JPEG", "TIFF", "MPO", "WEBP"):
        return im.getexif()
    exif = Image.Exif()
    raw = im.info.get("exif")
    if raw:
        exif.load(raw)
    return exif


def _taken(exif, path: str) -> tuple[datetime | None, bool]:
    """(when the photo was taken, whether EXIF said so): EXIF DateTimeOriginal, else the file's time."""
    ifd = exif.get_ifd(_EXIF_IFD) if exif else {}
    taken = ifd.get(_EXIF_DATETIME_ORIGINAL)
    if isinstance(taken, str):
        try:
            when = datetime.strptime(taken.strip("\x00 ")[:19], "%Y:%m:%d %H:%M:%S")
        except ValueError:
            pass
        else:
            subsec = str(ifd.get(_EXIF_SUBSEC_ORIGINAL) or "").strip("\x00 ")
            if subsec.isdigit():
                when = when.replace(microsecond=int(subsec[:6].ljust(6, "0")))
            return when, True
    try:
        return datetime.fromtimestamp(os.stat(path).st_mtime), False
    except (OSError, ValueError, OverflowError):
        return None, False


def read_facts(path: str) -> PhotoFacts:
    """The header facts of one photo; an unreadable file gives empty facts, never an error."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            width, height = im.size
            fmt = im.format
            try:
                exif = _exif(im)
                camera = " ".join(str(exif.get(t) or "").strip() for t in (_EXIF_MAKE, _EXIF_MODEL)).strip()
            except Exception:  # noqa: BLE001 - a damaged EXIF block just says nothing
                exif, camera = None, ""
        taken, from_exif = _taken(exif, path)
        return PhotoFacts(width, height, fmt, camera or None, taken.hour if taken else None, taken, from_exif)
    except Exception:  # noqa: BLE001 - a file that does not open says nothing
        return PhotoFacts()


def read_all_facts(paths: Sequence[str], workers: int = 4,
                   should_stop: Callable[[], bool] | None = None) -> list[PhotoFacts] | None:
    """read_facts for each path, in order; None when should_stop() turned true."""
    out: list[PhotoFacts] = []
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="fledge-headers") as pool:
        for start in range(0, len(paths), 256):
            if should_stop is not None and should_stop():
                return None
            out.extend(pool.map(read_facts, paths[start:start + 256]))
    return out


# -- the properties ------------------------------------------------------------------------

def _size(f: PhotoFacts):
    return f"{f.width}x{f.height}" if f.width else None


def _pixels(f: PhotoFacts):
    return float(f.width * f.height) if f.width and f.height else None


def _shape(f: PhotoFacts):
    return f"{f.width / f.height:.2f}" if f.width and f.height else None


def _aspect(f: PhotoFacts):
    return f.width / f.height if f.width and f.height else None


# name -> (words for it, [(value of a photo, numeric?)]): the best of each name's rules counts.
_PROPERTIES: dict[str, tuple[str, list[tuple[Callable, bool]]]] = {
    "size": ("size", [(_size, False), (_pixels, True)]),
    "shape": ("shape (width to height)", [(_shape, False), (_aspect, True)]),
    "format": ("file format", [(lambda f: f.format, False)]),
    "camera": ("camera", [(lambda f: f.camera or "no camera recorded", False)]),
    "hour": ("time of day", [(lambda f: f.hour, False)]),
}


def _bands(values: list[float]) -> np.ndarray:
    """Cut points between at most NUMBER_BANDS bands of equal count."""
    qs = np.quantile(np.asarray(values, dtype=float), np.linspace(0, 1, NUMBER_BANDS + 1)[1:-1])
    return np.unique(qs)


def _rule(train: list[tuple[object, int]], numeric: bool, fallback: int):
    """A function value -> class learnt from (value, class) pairs: each value (or band) gets
    its most common class; values never seen get fallback."""
    known = [(v, c) for v, c in train if v is not None]
    if not known:
        return lambda v: fallback
    cuts = _bands([v for v, _ in known]) if numeric else None
    key = (lambda v: int(np.searchsorted(cuts, v, side="right"))) if numeric else (lambda v: v)
    votes: dict[object, Counter] = defaultdict(Counter)
    for v, c in known:
        votes[key(v)][c] += 1
    best = {k: cnt.most_common(1)[0][0] for k, cnt in votes.items()}
    return lambda v: fallback if v is None else best.get(key(v), fallback)


def _describe_value(name: str, value) -> str:
    if name == "hour":
        return f"taken around {int(value):02d}:00"
    if name == "shape":
        return f"{float(value):.2f} times as wide as high"
    if name == "format":
        return f"{value} files"
    if name == "camera":
        return "from no recorded camera" if value == "no camera recorded" else f"from a {value}"
    return str(value)


def _class_words(name: str, facts: list[PhotoFacts], labels: list[int], classes: list[str]) -> str:
    """'plane' photos are 640x480 and 'bird' photos 1920x1080 (each class's usual value)."""
    value_of = _PROPERTIES[name][1][0][0]
    by_class: dict[int, Counter] = defaultdict(Counter)
    for f, c in zip(facts, labels):
        by_class[c][value_of(f)] += 1
    parts = []
    for c in sorted(by_class, key=lambda c: -sum(by_class[c].values()))[:3]:
        value, n = by_class[c].most_common(1)[0]
        share = n / sum(by_class[c].values())
        how = "all" if share >= 0.999 else "most" if share >= 0.8 else "many"
        parts.append(f"{how} '{classes[c]}' photos are {_describe_value(name, value)}")
    text = " and ".join([", ".join(parts[:-1]), parts[-1]] if len(parts) > 1 else parts)
    return text[0].upper() + text[1:] + (", and so on" if len(by_class) > 3 else "")


def _at_night(hour: int | None) -> bool:
    return hour is not None and (hour >= NIGHT_HOURS[0] or hour < NIGHT_HOURS[1])


def hour_advice(facts: list[PhotoFacts], labels: list[int], classes: list[str]) -> str:
    """What a time-of-day shortcut means for a camera, and what helps: an animal seen only at night
    is a fact of its life, not of the photos, so photos of it by day cannot be asked for; photos of
    the other classes at night can."""
    night: dict[int, list[bool]] = defaultdict(list)
    for f, c in zip(facts, labels):
        if f.hour is not None:
            night[c].append(_at_night(f.hour))
    nocturnal = [classes[c] for c, n in night.items() if n and sum(n) / len(n) >= NIGHT_CLASS]
    if nocturnal and len(nocturnal) < len(night):
        names = " and ".join(f"'{c}'" for c in nocturnal)
        one = len(nocturnal) == 1
        return (f"For a camera this is often simply true: {names} {'comes' if one else 'come'} out at night, and "
                f"no daytime photos of {'it' if one else 'them'} can be added. The risk is that the model answers "
                f"{names} for the night (the infrared, black-and-white frames) rather than for the animal. What "
                f"helps: label night photos of the other classes too (empty night frames above all), so that "
                f"darkness alone no longer means {names}; then check in Evaluate that night photos of the other "
                f"classes are not called {names}.")
    return ("If a class is only ever there at one time of day, that is no fault of the photos, and photos of it "
            "at other hours cannot be added; what helps is photos of the other classes taken at those same "
            "hours, so that the light alone no longer tells.")


# -- the check -------------------------------------------------------------------------------

def _split(dataset) -> tuple[list, list]:
    train, val = list(dataset.train), list(dataset.val)
    if len(val) >= MIN_CHECKED:
        return train, val
    return ([s for i, s in enumerate(train) if i % _HELD_OUT_EVERY] ,
            [s for i, s in enumerate(train) if not i % _HELD_OUT_EVERY])


def is_shortcut(accuracy: float, baseline: float) -> bool:
    return accuracy >= SHORTCUT_ACCURACY and accuracy - baseline >= GAP_CLOSED * (1.0 - baseline) - 1e-9


def score_properties(train: list[tuple[PhotoFacts, int]], held: list[tuple[PhotoFacts, int]]
                     ) -> tuple[dict[str, float], float]:
    """({property: accuracy of its best rule on held}, accuracy of always the most common class)."""
    common = Counter(c for _, c in train).most_common(1)[0][0]
    truth = np.array([c for _, c in held])
    baseline = float(np.mean(truth == common))
    scores = {}
    for name, (_, getters) in _PROPERTIES.items():
        best = 0.0
        for value_of, numeric in getters:
            rule = _rule([(value_of(f), c) for f, c in train], numeric, common)
            guess = np.array([rule(value_of(f)) for f, _ in held])
            best = max(best, float(np.mean(guess == truth)))
        scores[name] = best
    return scores, baseline


def _same_story(report: ShortcutReport, facts: list[PhotoFacts]) -> str:
    """Which of size and shape not to tell when both are shortcuts (the shape follows from the
    size): the size, when fewer shapes than sizes tell as much; else the shape."""
    if not all(is_shortcut(report.scores[n], report.baseline) for n in ("size", "shape")):
        return ""
    sizes, shapes = len({_size(f) for f in facts}), len({_shape(f) for f in facts})
    return "size" if shapes < sizes and report.scores["shape"] >= report.scores["size"] else "shape"


def find_shortcuts(dataset, workers: int = 4,
                   should_stop: Callable[[], bool] | None = None) -> ShortcutReport | None:
    """The shortcuts of a Dataset (train and val); None when should_stop() turned true."""
    t0 = time.perf_counter()
    train, held = _split(dataset)
    report = ShortcutReport()
    if len(held) < MIN_CHECKED or len({s.label for s in train}) < 2:
        report.seconds = time.perf_counter() - t0
        return report
    facts = read_all_facts([s.path for s in train + held], workers, should_stop)
    if facts is None:
        return None
    tr = list(zip(facts[:len(train)], [s.label for s in train]))
    he = list(zip(facts[len(train):], [s.label for s in held]))
    report.checked = len(he)
    report.scores, report.baseline = score_properties(tr, he)
    classes = list(dataset.classes)
    said_once = _same_story(report, [f for f, _ in tr])
    for name, acc in report.scores.items():
        if is_shortcut(acc, report.baseline) and name != said_once:
            words = _PROPERTIES[name][0]
            text = (f"The {words} alone tells the classes apart: it names the right class for "
                    f"{percent(acc)} of the {plural(len(he), 'validation photo')} (always naming the "
                    f"most common class: {percent(report.baseline)}). "
                    f"{_class_words(name, [f for f, _ in tr], [c for _, c in tr], classes)}: "
                    f"the model may learn {_ADVICE[name]}")
            if name == "hour":
                text += " " + hour_advice([f for f, _ in tr + he], [c for _, c in tr + he], classes)
            report.shortcuts.append(Shortcut(name, acc, report.baseline, text))
    report.seconds = time.perf_counter() - t0
    return report


def shortcut_warnings(dataset, should_stop: Callable[[], bool] | None = None) -> list[str]:
    """The warnings to show before training (none when stopped)."""
    report = find_shortcuts(dataset, should_stop=should_stop)
    return report.warnings() if report is not None else []

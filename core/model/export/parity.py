"""Proof that an exported model answers as Fledge does, made at export time.

The same photos go through Fledge's Predictor (PyTorch, fp32 on the CPU) and through the
export folder's own predict.py and model file: decoding, preprocessing and the network
all take part, so a difference anywhere shows. Photos come from the model's dataset when
it is still there, plus generated ones that take the awkward paths (EXIF rotation,
transparency, grayscale, 16-bit, palette, smaller than the input size).
"""
from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
from PIL import Image, ImageDraw

from core.data.imageio import iter_image_files
from core.wording import plural

TOLERANCE = 1e-4                 # fp32 rounding stays far below; a real difference does not
DATASET_PHOTOS = 32              # at most this many, spread over the dataset's classes
GENERATED_ONLY = 16              # photos made up when the dataset is gone
BATCH = 8                        # exported side: batches of 8 and the remainder, and one alone


class ParityStopped(Exception):
    """should_stop() turned true during the check."""


@dataclass(frozen=True)
class ParityReport:
    ok: bool
    photos: int                      # photos compared
    from_dataset: int                # how many of them came from the model's dataset
    max_abs_diff: float              # largest |p_export - p_fledge| over photos and classes
    top_class_agreement: float       # share of photos with the same top class
    disagreements: tuple[str, ...]   # file names whose top class differs
    tolerance: float
    batch_sizes: tuple[int, ...]     # batch sizes the exported model was run with
    reason: str | None = None        # why ok is False

    def to_dict(self) -> dict:
        """Plain JSON values (a difference that is not a number becomes None)."""
        d = asdict(self)
        d["disagreements"] = list(self.disagreements)
        d["batch_sizes"] = list(self.batch_sizes)
        if not np.isfinite(self.max_abs_diff):
            d["max_abs_diff"] = None
        return d

    def summary(self) -> str:
        """One sentence a person can read."""
        where = f"{self.from_dataset} from the dataset" if self.from_dataset else "generated"
        if self.ok:
            return (f"checked on {plural(self.photos, 'photo')} ({where}): the same top class on "
                    f"every photo, probabilities within {self.max_abs_diff:.1e} of Fledge's.")
        return self.reason or "the check failed."


def dataset_photos(root: str | None, limit: int = DATASET_PHOTOS) -> list[str]:
    """Up to limit pictures spread evenly over root (sorted by class folder); [] if it is gone."""
    if not root or not os.path.isdir(root):
        return []
    files = list(iter_image_files(root, recursive=True))
    if len(files) <= limit:
        return files
    return [files[(i * len(files)) // limit] for i in range(limit)]


def _scene(rng: np.random.Generator, w: int, h: int) -> Image.Image:
    """A noisy background with a few coloured shapes: something for a network to react to."""
    im = Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), "RGB")
    d = ImageDraw.Draw(im)
    for _ in range(3):
        x0, y0 = int(rng.integers(0, w // 2)), int(rng.integers(0, h // 2))
        box = [x0, y0, x0 + int(rng.integers(w // 4, w // 2 + 1)), y0 + int(rng.integers(h // 4, h // 2 + 1))]
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        (d.ellipse if rng.random() < 0.5 else d.rectangle)(box, fill=colour)
    return im


def generated_photos(folder: str, image_size: int, count: int = 6, seed: int = 0) -> list[str]:
    """count pictures written into folder, the first six each taking one awkward path."""
    rng = np.random.default_rng(seed)
    s = int(image_size)
    out = []

    def save(im: Image.Image, name: str, **kw) -> None:
        path = os.path.join(folder, name)
        im.save(path, **kw)
        out.append(path)

    exif = Image.Exif()
    exif[0x0112] = 6                                  # "rotate 90° clockwise to view"
    save(_scene(rng, 3 * s, 2 * s), "rotated-exif.jpg", quality=92, exif=exif)
    rgba = _scene(rng, 2 * s, 2 * s).convert("RGBA")
    alpha = np.full((2 * s, 2 * s), 255, np.uint8)
    alpha[:, : s] = 0                                 # the left half transparent
    rgba.putalpha(Image.fromarray(alpha, "L"))
    save(rgba, "transparent.png")
    save(_scene(rng, 2 * s, 3 * s).convert("L"), "grayscale.png")
    deep = (np.asarray(_scene(rng, 2 * s, 2 * s).convert("L"), np.uint16) * 257).astype(np.uint16)
    save(Image.fromarray(deep), "sixteen-bit.png")
    save(_scene(rng, 2 * s, s).convert("P", palette=Image.Palette.ADAPTIVE), "palette.gif")
    save(_scene(rng, max(2, s // 3), max(2, s // 4)), "smaller-than-input.png")
    for i in range(6, count):
        w, h = (int(v) for v in rng.integers(s, 4 * s, 2))
        save(_scene(rng, w, h), f"generated-{i:02d}.jpg", quality=90)
    return out[:count]


def check_parity(predictor, exported, photos: list[str], from_dataset: int,
                 progress: Callable[[int, int], None] | None = None,
                 should_stop: Callable[[], bool] | None = None) -> ParityReport:
    """Compare predictor.probabilities with exported.prepare + exported.probabilities.

    exported: the export folder's predict.Model; photos[:from_dataset] are the dataset's.
    A top class that differs only between two classes whose probabilities are within the
    tolerance (a tie) is not a disagreement.
    """
    ref = predictor.probabilities(photos)
    inputs: dict[int, np.ndarray] = {}
    for i, path in enumerate(photos):
        if should_stop is not None and should_stop():
            raise ParityStopped
        try:
            inputs[i] = exported.prepare(path)
        except Exception:  # noqa: BLE001 - whether both sides read a photo is compared below
            pass
        if progress is not None:
            progress(i + 1, len(photos))
    got, alone, sizes = _run_exported(exported, inputs, len(photos), ref.shape[1])
    prepared = np.isin(np.arange(len(photos)), list(inputs))
    return _compare(ref, got, alone, prepared, [os.path.basename(p) for p in photos], from_dataset, sizes)


def _run_exported(exported, inputs: dict[int, np.ndarray], n: int, classes: int
                  ) -> tuple[np.ndarray, tuple[int, np.ndarray] | None, tuple[int, ...]]:
    """(probabilities, NaN rows for unread photos; (row, the first photo run alone); sizes)."""
    got = np.full((n, classes), np.nan, dtype=np.float32)
    rows = sorted(inputs)
    sizes = set()
    for start in range(0, len(rows), BATCH):
        chunk = rows[start:start + BATCH]
        got[chunk] = exported.probabilities(np.stack([inputs[i] for i in chunk]))
        sizes.add(len(chunk))
    alone = None
    if rows:                       # the same photo alone must agree too: batch size is dynamic
        alone = (rows[0], exported.probabilities(inputs[rows[0]][None])[0])
        sizes.add(1)
    return got, alone, tuple(sorted(sizes, reverse=True))


def _top_differs(ref: np.ndarray, got: np.ndarray) -> bool:
    """The exported top class is not Fledge's, nor tied with it within the tolerance."""
    return ref[int(np.argmax(got))] < ref.max() - TOLERANCE


def _compare(ref: np.ndarray, got: np.ndarray, alone, prepared: np.ndarray, names: list[str],
             from_dataset: int, sizes: tuple[int, ...]) -> ParityReport:
    """The report; got rows of photos the export read may hold NaN (a broken model): that
    counts as an infinite difference, not as an unread photo."""
    fledge_read = ~np.isnan(ref).any(axis=1)
    both = np.flatnonzero(fledge_read & prepared)
    one_sided = [names[i] for i in np.flatnonzero(fledge_read != prepared)]
    gaps = np.nan_to_num(np.abs(got[both] - ref[both]), nan=np.inf)
    diff = float(gaps.max()) if len(both) else float("nan")
    disagree = [names[i] for i in both if _top_differs(ref[i], got[i])]
    if alone is not None and fledge_read[alone[0]]:
        diff = max(diff, float(np.nan_to_num(np.abs(alone[1] - ref[alone[0]]), nan=np.inf).max()))
        if _top_differs(ref[alone[0]], alone[1]) and names[alone[0]] not in disagree:
            disagree.append(names[alone[0]])
    reason = None
    if not len(both):
        reason = "no photo could be read by both Fledge and the export, so nothing was compared."
    elif one_sided:
        reason = (f"{plural(len(one_sided), 'photo')} could be read on one side only "
                  f"({', '.join(one_sided[:5])}): the export does not prepare photos as Fledge does.")
    elif disagree:
        reason = (f"on {len(disagree)} of {plural(len(both), 'photo')} the exported model's top class "
                  f"differs from Fledge's ({', '.join(disagree[:5])}); probabilities differ by up "
                  f"to {diff:.1e}.")
    elif not diff <= TOLERANCE:
        reason = (f"probabilities differ from Fledge's by up to {diff:.1e}, more than the "
                  f"{TOLERANCE:.0e} that rounding explains.")
    agree = (len(both) - len(disagree)) / len(both) if len(both) else 0.0
    return ParityReport(ok=reason is None, photos=int(len(both)),
                        from_dataset=int(sum(1 for i in both if i < from_dataset)),
                        max_abs_diff=diff, top_class_agreement=agree,
                        disagreements=tuple(disagree), tolerance=TOLERANCE, batch_sizes=sizes,
                        reason=reason)

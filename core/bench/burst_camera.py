"""A generated camera folder with known bursts, for `fledge bench --bursts` and the tests.

    planted = write_camera_folder("/tmp/cam", visits=60)
    planted[0].paths, planted[0].camera, planted[0].label

Two cameras shoot on one timeline (their bursts overlap in time), and a third writes no
EXIF at all (its photos' file times say when). Each visit is a burst of 3-10 frames one or
two seconds apart of one scene (a smooth random background and a bird, a plane or
nothing, moving a little from frame to frame, with sensor noise); some visits are a single
photo. Visits are 10 s to 5 min apart, except that now and then a new scene follows the
last frame of the one before within a second: only the look of the photos tells those apart,
and a third of those keep the view (the background) and change only the subject, which the
look alone barely tells (a known limit, measured by the benchmark).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

CAMERAS = (("Birdcam", "North 1"), ("Birdcam", "South 2"), None)    # None: no EXIF written
CLASSES = ("bird", "plane", "empty")
START = datetime(2024, 5, 6, 6, 0, 0)


@dataclass(frozen=True)
class PlantedBurst:
    paths: tuple[str, ...]
    camera: str                  # "Make Model", or "" for the camera without EXIF
    label: str                   # every frame's class


def _exif(camera, taken: datetime):
    from PIL import Image

    exif = Image.Exif()
    if camera is not None:
        exif[0x010F], exif[0x0110] = camera
        exif.get_ifd(0x8769)[0x9003] = taken.strftime("%Y:%m:%d %H:%M:%S")      # DateTimeOriginal
    return exif


def _scene(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    from PIL import Image

    w, h = size
    coarse = rng.uniform(30, 225, (6, 8, 3)).astype(np.uint8)
    return np.asarray(Image.fromarray(coarse).resize((w, h), Image.Resampling.BICUBIC), dtype=np.float32)


def _frame(background: np.ndarray, label: str, x: float, y: float, rng: np.random.Generator):
    from PIL import Image, ImageDraw

    im = Image.fromarray(np.clip(background + rng.normal(0, 4, background.shape), 0, 255).astype(np.uint8))
    d = ImageDraw.Draw(im)
    r = im.height * 0.12
    if label == "bird":
        d.ellipse([x - r, y - r * 0.7, x + r, y + r * 0.7], fill=(170, 60, 40))
    elif label == "plane":
        d.rectangle([x - 2 * r, y - r * 0.2, x + 2 * r, y + r * 0.2], fill=(200, 200, 210))
        d.rectangle([x - r * 0.3, y - r, x + r * 0.3, y + r], fill=(200, 200, 210))
    return im


def write_camera_folder(folder, visits: int = 60, seed: int = 0, size: tuple[int, int] = (320, 240),
                        single_share: float = 0.15, quick_change_share: float = 0.15) -> list[PlantedBurst]:
    """Write the photos (JPEG) into folder; the planted bursts, in the order written."""
    folder = os.fspath(folder)
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    clock = {i: START + timedelta(seconds=float(rng.uniform(0, 30))) for i in range(len(CAMERAS))}
    planted, views = [], {}
    for v in range(visits):
        cam = int(rng.integers(len(CAMERAS)))
        camera = CAMERAS[cam]
        quick = rng.random() < quick_change_share and v > 0
        clock[cam] += timedelta(seconds=1 if quick else float(rng.integers(10, 300)))
        n = 1 if rng.random() < single_share else int(rng.integers(3, 11))
        label = CLASSES[int(rng.integers(len(CLASSES)))]
        same_view = quick and cam in views and rng.random() < 1 / 3
        background = views[cam] if same_view else _scene(rng, size)
        views[cam] = background
        x, y = rng.uniform(0.3, 0.7) * size[0], rng.uniform(0.3, 0.7) * size[1]
        paths = []
        for f in range(n):
            if f:
                clock[cam] += timedelta(seconds=int(rng.integers(1, 3)))
                x, y = x + rng.normal(0, 3), y + rng.normal(0, 2)
            taken = clock[cam]
            path = os.path.join(folder, f"cam{cam + 1}_{v:04d}_{f:02d}.jpg")
            _frame(background, label, x, y, rng).save(path, "JPEG", quality=85, exif=_exif(camera, taken))
            if camera is None:
                os.utime(path, (taken.timestamp(), taken.timestamp()))
            paths.append(path)
        planted.append(PlantedBurst(tuple(paths), " ".join(camera) if camera else "", label))
    return planted


# -- one fixed camera (a trail or tunnel camera): `fledge bench --camera` and the tests ----------

TRAP_CAMERA = ("TrailCam", "TC-1")
TRAP_START = datetime(2024, 9, 2, 0, 0, 0)
NIGHT = (20, 6)                  # from 20:00 to 06:00 the camera shoots infrared, black and white
COPY_KINDS = ("exact", "re-saved", "resized", "png", "re-saved, no EXIF")

# what each animal looks like: body colour by day, length and height (shares of the frame height)
ANIMALS = {"vole": ((105, 80, 55), 0.22, 0.13), "shrew": ((70, 62, 60), 0.17, 0.08),
           "stoat": ((160, 105, 55), 0.42, 0.10)}


@dataclass(frozen=True)
class PlantedPhoto:
    path: str
    label: str                   # "empty" or the animal in the frame
    burst: int                   # the trigger it was taken in (a planted copy: its original's)
    taken: datetime
    copy_of: str | None = None   # a planted copy: the photo it copies
    copy_kind: str = ""          # how it was copied (COPY_KINDS)

    @property
    def night(self) -> bool:
        return self.taken.hour >= NIGHT[0] or self.taken.hour < NIGHT[1]


def _fixed_scene(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """The camera's one view: a smooth ground with fine texture (gravel, grass) and a few stones."""
    from PIL import Image, ImageDraw, ImageFilter

    w, h = size
    coarse = Image.fromarray(rng.uniform(0.55, 1.45, (5, 8)).astype(np.float32), mode="F")
    shade = np.asarray(coarse.resize((w, h), Image.Resampling.BICUBIC), dtype=np.float32)
    ground = shade[..., None] * np.array([112, 98, 70], dtype=np.float32)          # earth and leaf litter
    grain = Image.fromarray(rng.normal(128, 40, (h, w)).clip(0, 255).astype(np.uint8)).filter(
        ImageFilter.GaussianBlur(1.2))
    im = Image.fromarray(np.clip(ground + (np.asarray(grain, np.float32)[..., None] - 128) * 0.8, 0, 255
                                 ).astype(np.uint8))
    d = ImageDraw.Draw(im)
    for _ in range(6):
        x, y, r = rng.uniform(0, w), rng.uniform(0.4 * h, h), rng.uniform(0.03, 0.09) * h
        tone = int(rng.uniform(90, 170))
        d.ellipse([x - 1.6 * r, y - r, x + 1.6 * r, y + r], fill=(tone, tone - 5, tone - 12))
    return np.asarray(im, dtype=np.float32)


def _trap_frame(scene: np.ndarray, taken: datetime, sway: np.ndarray, animal: tuple | None,
                rng: np.random.Generator, light: float):
    """One capture: the scene in the light of the hour (infrared black and white at night), leaves
    moved by the wind (sway), the animal (name, x, y) if any, and the sensor's noise."""
    from PIL import Image, ImageDraw

    h, w = scene.shape[:2]
    night = taken.hour >= NIGHT[0] or taken.hour < NIGHT[1]
    im = Image.fromarray(np.clip(scene * light, 0, 255).astype(np.uint8))
    d = ImageDraw.Draw(im)
    for lx, ly, dx, dy in sway:                                   # grass blades in the foreground
        d.line([(lx, h), (lx + dx, ly + dy)], fill=(60, 110, 40), width=max(2, w // 160))
    if animal is not None:
        name, x, y = animal
        colour, length, height = ANIMALS[name]
        if night:                                                 # fur shines back in infrared
            colour = tuple(min(255, int(c * 1.7 + 40)) for c in colour)
        a, b = length * h / 2, height * h / 2
        d.ellipse([x - a, y - b, x + a, y + b], fill=colour)
        d.ellipse([x + a * 0.7, y - b * 1.1, x + a * 0.7 + b * 1.6, y + b * 0.5], fill=colour)   # the head
    if night:                                                     # infrared: grey, bright centre
        grey = np.asarray(im.convert("L"), dtype=np.float32) * _falloff(w, h)
        grey += rng.standard_normal(grey.shape, dtype=np.float32) * 7.0
        return Image.fromarray(np.clip(grey, 0, 255).astype(np.uint8)).convert("RGB")
    pixels = np.asarray(im, dtype=np.float32) + rng.standard_normal((h, w, 3), dtype=np.float32) * 3.0
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


_falloffs: dict[tuple[int, int], np.ndarray] = {}


def _falloff(w: int, h: int) -> np.ndarray:
    """The infrared lamp's light: bright in the middle, dim at the corners."""
    if (w, h) not in _falloffs:
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        _falloffs[(w, h)] = 1.1 * (1.0 - 1.375 * (((xx - w / 2) / w) ** 2 + ((yy - h / 2) / h) ** 2))
    return _falloffs[(w, h)]


def _plant_copy(rng: np.random.Generator, original: PlantedPhoto, kind: str) -> PlantedPhoto:
    """A true copy of one photo, as people make them: the same file again, re-saved, made smaller,
    turned into a PNG; some keep the camera's EXIF, some lose it on the way."""
    import shutil

    from PIL import Image

    stem, _ = os.path.splitext(original.path)
    if kind == "exact":
        path = f"{stem} (1).jpg"
        shutil.copy2(original.path, path)
    else:
        with Image.open(original.path) as im:
            exif = im.getexif()
            im = im.convert("RGB")
            if kind == "re-saved":
                path = f"{stem} edited.jpg"
                im.save(path, "JPEG", quality=int(rng.integers(55, 75)), exif=exif)
            elif kind == "resized":
                path = f"{stem} small.jpg"
                im.resize((im.width // 2, im.height // 2), Image.Resampling.LANCZOS).save(path, "JPEG", quality=80)
            elif kind == "png":
                path = f"{stem}.png"
                im.save(path, "PNG")
            else:
                path = f"{stem} copy.jpg"
                im.save(path, "JPEG", quality=int(rng.integers(35, 50)))
    return PlantedPhoto(path, original.label, original.burst, original.taken, original.path, kind)


def write_trap_folder(folder, triggers: int = 90, seed: int = 0, size: tuple[int, int] = (640, 360),
                      common: str = "vole", rare: tuple[tuple[str, int, int], ...] = (("shrew", 3, 1), ("stoat", 2, 2)),
                      animal_share: float = 0.3, copies: int = len(COPY_KINDS), frames: int = 3,
                      start: datetime = TRAP_START, days: int = 4, prefix: str = "IMG_", view: int = 0,
                      first_number: int = 1) -> list[PlantedPhoto]:
    """The dump of one fixed camera (JPEGs with EXIF times, written into folder): its one view with
    noise, lighting that changes with the hour and the weather, infrared black-and-white frames at
    night, grass moving in the wind; each trigger a burst of `frames` photos 1-2 s apart. Most
    triggers are empty (wind, sun); animal_share of them show the common animal (at night: it is
    nocturnal), whose last frame is empty now and then (it left). Each rare animal (name, photos,
    visits) is seen in exactly that many photos on that many visits (night-time bursts whose other
    frames are empty). Then `copies` true copies of photos, one of each COPY_KINDS in turn.

    view: the camera's view (the same number, the same place: a later dump of one camera takes
    another seed and start, the same view, and numbers its files on from first_number).

    Returns every photo planted, in the order taken (the copies last)."""
    folder = os.fspath(folder)
    os.makedirs(folder, exist_ok=True)
    place = np.random.default_rng([view, 7])
    scene = _fixed_scene(place, size)
    w, h = size
    blades = np.column_stack([place.uniform(0, w, 14), place.uniform(0.55 * h, 0.85 * h, 14)])
    rng = np.random.default_rng(seed)
    times = sorted(start + timedelta(seconds=int(s)) for s in rng.uniform(0, days * 86400, triggers))
    for k in range(1, len(times)):                               # the camera waits a minute to trigger again
        times[k] = max(times[k], times[k - 1] + timedelta(seconds=60))
    plan: list[list[str]] = []                                   # the label of each frame of each trigger
    for t in times:
        night = t.hour >= NIGHT[0] or t.hour < NIGHT[1]
        if rng.random() < animal_share * (1.6 if night else 0.25):
            labels = [common] * frames
            if frames > 1 and rng.random() < 0.3:
                labels[-1] = "empty"
        else:
            labels = ["empty"] * frames
        plan.append(labels)
    def preference(i: int) -> int:           # empty nights first, then empty days, then any trigger
        night = times[i].hour >= NIGHT[0] or times[i].hour < NIGHT[1]
        return (0 if night else 1) if set(plan[i]) == {"empty"} else 2
    spare = sorted((int(i) for i in rng.permutation(len(times))), key=preference)
    for name, count, visits in rare:
        for v in range(visits):
            shown = count // visits + (v < count % visits)
            plan[spare.pop(0)][:shown] = [name] * min(shown, frames)
    planted: list[PlantedPhoto] = []
    number = first_number
    for b, (t0, labels) in enumerate(zip(times, plan)):
        light = float(np.clip(0.55 + 0.55 * np.sin(np.pi * (t0.hour + t0.minute / 60 - 6) / 14), 0.55, 1.1)
                      * rng.uniform(0.85, 1.1))                   # the hour and the clouds
        x, y = rng.uniform(0.25, 0.75) * w, rng.uniform(0.45, 0.8) * h
        taken = t0
        for f, label in enumerate(labels):
            if f:
                taken += timedelta(seconds=int(rng.integers(1, 3)))
                x, y = x + rng.normal(0, 0.04 * w), y + rng.normal(0, 0.01 * h)
            sway = np.column_stack([blades, rng.normal(0, 6, (len(blades), 2))])
            frame = _trap_frame(scene, taken, sway, None if label == "empty" else (label, x, y), rng,
                                light * rng.uniform(0.98, 1.02))
            path = os.path.join(folder, f"{prefix}{number:04d}.JPG")
            frame.save(path, "JPEG", quality=88, exif=_exif(TRAP_CAMERA, taken))
            planted.append(PlantedPhoto(path, label, b, taken))
            number += 1
    originals = [int(i) for i in rng.choice(len(planted), size=min(copies, len(planted)), replace=False)]
    planted += [_plant_copy(rng, planted[i], COPY_KINDS[k % len(COPY_KINDS)]) for k, i in enumerate(originals)]
    return planted

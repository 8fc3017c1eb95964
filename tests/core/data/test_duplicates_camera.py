"""A copy is the same capture: a fixed camera's frames and the frames of one burst look alike but are
not copies; re-saved, resized and converted copies still are, with or without their EXIF; leaks are
worded as copies or as frames of one burst; keeping one copy offers only real copies."""
from __future__ import annotations

import os
import shutil
from datetime import datetime, timedelta

import numpy as np
import pytest
from PIL import Image, ImageDraw

from core.bench.burst_camera import TRAP_CAMERA, _exif, write_trap_folder
from core.data.dataset import scan_dataset
from core.data.duplicates import duplicate_groups, find_duplicates, hash_photos
from core.data.same_capture import COPY_MEAN, COPY_PATCH, pixel_difference, thumbnail
from tests.core.data.test_duplicates import blob_photo


def labelled(planted, root) -> str:
    """The planted photos filed into root/<label>/ (their names kept), as a person labels them."""
    for p in planted:
        os.makedirs(os.path.join(root, p.label), exist_ok=True)
        shutil.copy2(p.path, os.path.join(root, p.label, os.path.basename(p.path)))
    return str(root)


def names(report) -> set[frozenset]:
    return {frozenset(os.path.basename(c.path) for c in g.copies) for g in report.groups}


@pytest.fixture(scope="module")
def camera(tmp_path_factory):
    """A small fixed camera's dump (empty frames by day and by infrared night, voles, bursts of 3,
    EXIF times) with one planted copy of each kind, filed into class folders."""
    tmp = tmp_path_factory.mktemp("camera")
    planted = write_trap_folder(tmp / "dump", triggers=14, seed=3, size=(320, 180), rare=())
    return planted, labelled(planted, tmp / "data")


def test_a_fixed_cameras_frames_are_not_copies_but_the_planted_copies_are(camera):
    planted, root = camera
    report = find_duplicates(scan_dataset(root))
    want = {frozenset({os.path.basename(p.path), os.path.basename(p.copy_of)}) for p in planted if p.copy_of}
    assert len(want) == 5 and {p.copy_kind for p in planted if p.copy_of} == {
        "exact", "re-saved", "resized", "png", "re-saved, no EXIF"}
    assert names(report) == want
    # The hash alone takes most of the camera's frames for copies of one another.
    hashes = hash_photos([p.path for p in planted])
    assert sum(len(g) for g in duplicate_groups(hashes, strict=False)) > len(planted) // 2


def test_keep_one_copy_offers_only_the_planted_copies(camera):
    planted, root = camera
    extras = find_duplicates(scan_dataset(root)).extra_copies()
    copies = {os.path.basename(p.path) for p in planted if p.copy_of}
    originals = {os.path.basename(p.copy_of) for p in planted if p.copy_of}
    assert len(extras) == 5
    assert all(os.path.basename(c.path) in copies | originals for c in extras)


def shot(path, taken: datetime | None, moved: float = 0.0, seed: int = 0, subsec: str = "") -> str:
    """A 160x120 frame of one still scene with a dark blob moved right by `moved` pixels and its own
    sensor noise; taken None writes no EXIF."""
    rng = np.random.default_rng(seed)
    base = np.random.default_rng(99).uniform(60, 190, (6, 8, 3)).astype(np.uint8)
    im = Image.fromarray(base).resize((160, 120), Image.Resampling.BICUBIC)
    ImageDraw.Draw(im).ellipse([40 + moved, 50, 70 + moved, 70], fill=(40, 30, 20))
    pixels = np.asarray(im, np.float32) + rng.normal(0, 3, (120, 160, 3))
    exif = _exif(TRAP_CAMERA, taken) if taken is not None else Image.Exif()
    if subsec:
        exif.get_ifd(0x8769)[0x9291] = subsec
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(path, "JPEG", quality=90, exif=exif)
    return str(path)


T0 = datetime(2024, 9, 2, 23, 10, 5)


def test_two_captures_with_their_own_times_are_not_copies_even_when_nothing_moved(tmp_path):
    a = shot(tmp_path / "a.jpg", T0, seed=1)
    b = shot(tmp_path / "b.jpg", T0 + timedelta(seconds=1), seed=2)
    same_second = shot(tmp_path / "c.jpg", T0, seed=3, subsec="50")      # a fast burst: .5 s later
    assert same_pixels_of(a, b)                                          # only the times tell
    assert duplicate_groups(hash_photos([a, b, same_second])) == []


def same_pixels_of(a: str, b: str) -> bool:
    mean, patch = pixel_difference(thumbnail(a), thumbnail(b))
    return mean <= COPY_MEAN and patch <= COPY_PATCH


def test_without_times_the_pixels_decide(tmp_path):
    a = shot(tmp_path / "a.jpg", None, seed=1)
    moved = shot(tmp_path / "moved.jpg", None, moved=8, seed=2)          # the animal took a step
    hashes = hash_photos([a, moved])
    assert duplicate_groups(hashes, strict=False) == [[0, 1]]            # the hash alone: a copy
    assert duplicate_groups(hashes) == []


def test_a_copy_that_lost_its_time_never_joins_two_captures(tmp_path):
    """Frames a and b (1 s apart, nothing moved) and a re-saved copy of a without EXIF, which looks
    like both: it joins a, and a and b stay apart."""
    a = shot(tmp_path / "a.jpg", T0, seed=1)
    b = shot(tmp_path / "b.jpg", T0 + timedelta(seconds=1), seed=2)
    copy = str(tmp_path / "a copy.jpg")
    with Image.open(a) as im:
        im.convert("RGB").save(copy, "JPEG", quality=60)                 # no exif= : the time is lost
    groups = duplicate_groups(hash_photos([a, b, copy]))
    assert groups == [[0, 2]]


def test_resaved_resized_and_converted_copies_of_ordinary_photos_are_still_found(tmp_path):
    root = tmp_path / "data"
    for i in range(12):
        blob_photo(root / "train" / "bird" / f"b{i}.jpg", seed=i, size=128)
        blob_photo(root / "train" / "plane" / f"p{i}.jpg", seed=100 + i, size=128)
        blob_photo(root / "val" / "bird" / f"vb{i}.jpg", seed=200 + i, size=128)
        blob_photo(root / "val" / "plane" / f"vp{i}.jpg", seed=300 + i, size=128)
    made = {}
    for k, how in enumerate(("q30", "half", "quarter", "png", "grey", "x2")):
        src = root / "train" / "bird" / f"b{k}.jpg"
        with Image.open(src) as im:
            im = im.convert("RGB")
            dst = root / "val" / "bird" / f"copy{k}.{'png' if how == 'png' else 'jpg'}"
            if how == "q30":
                im.save(dst, "JPEG", quality=30)
            elif how in ("half", "quarter", "x2"):
                scale = {"half": 0.5, "quarter": 0.25, "x2": 2}[how]
                im.resize((int(128 * scale),) * 2, Image.Resampling.LANCZOS).save(dst, "JPEG", quality=80)
            elif how == "png":
                im.save(dst, "PNG")
            else:
                im.convert("L").save(dst, "JPEG", quality=90)
        made[how] = frozenset({src.name, dst.name})
    report = find_duplicates(scan_dataset(root))
    assert names(report) == set(made.values())
    assert report.twins_in_train["val"] == 6 and report.burst_twins["val"] == 0
    assert "also in training (the same capture" in report.leak_warning()


def test_frames_of_one_burst_on_both_sides_of_a_hand_made_split_are_named_as_such(camera, tmp_path):
    """train/ and val/ made by hand, a burst's first frame in val/, its others in train/: a leak of
    the same moment, worded as frames of one burst, not as copies."""
    planted, _ = camera
    frames = [p for p in planted if not p.copy_of]
    bursts: dict[int, list] = {}
    for p in frames:
        bursts.setdefault(p.burst, []).append(p)
    root = tmp_path / "split"
    straddling = [b for b in bursts.values() if len(b) == 3 and len({p.label for p in b}) == 1][:2]
    for k, burst in enumerate(bursts.values()):
        for i, p in enumerate(burst):
            side = "val" if (burst in straddling and i == 0) or (burst not in straddling and k % 4 == 0) else "train"
            os.makedirs(root / side / p.label, exist_ok=True)
            shutil.copy2(p.path, root / side / p.label / os.path.basename(p.path))
    ds = scan_dataset(root)
    report = find_duplicates(ds)
    assert report.groups == [] and report.twins_in_train["val"] == 0
    assert report.burst_twins["val"] == 2 and len(report.bursts) == 2
    warning = report.leak_warning()
    assert f"2 of the {len(ds.val)} validation photos" in warning and "frames of a burst" in warning
    assert "not copies" in warning and "Keep each burst in one folder" in warning
    assert "fledge check-labels" not in warning                        # nothing to keep one copy of

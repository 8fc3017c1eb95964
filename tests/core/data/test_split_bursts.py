"""The automatic split keeps the frames of one burst on one side (camera-trap practice: split by
sequence), says so, leaves photos without a recorded time as they were, and travels with the model."""
from __future__ import annotations

import os
import shutil
from datetime import datetime, timedelta

import pytest

from core.bench.burst_camera import write_trap_folder
from core.data.dataset import Dataset, scan_dataset
from core.data.sequences import SPLIT_PIECE, split_sequences
from core.data.split import SplitSettings, split_class, split_files
from core.training.config import TrainConfig
from core.training.events import Message
from core.training.trainer import Trainer
from tests.core.data.test_duplicates_camera import labelled, shot


def split_of(ds) -> dict[str, str]:
    return {os.path.basename(s.path): name for name in ("train", "val", "test") for s in ds.split(name)}


@pytest.fixture(scope="module")
def camera(tmp_path_factory):
    """A fixed camera's dump in class folders: bursts of 3 (a vole's last frame is empty now and
    then), no copies, one rare animal seen in one burst."""
    tmp = tmp_path_factory.mktemp("camera")
    planted = write_trap_folder(tmp / "dump", triggers=30, seed=1, size=(160, 90), copies=0,
                                rare=(("shrew", 3, 1),))
    return planted, labelled(planted, tmp / "data")


def test_no_burst_straddles_training_and_validation(camera):
    planted, root = camera
    where = split_of(scan_dataset(root))
    sides: dict[int, set] = {}
    for p in planted:
        sides.setdefault(p.burst, set()).add(where[os.path.basename(p.path)])
    assert all(len(s) == 1 for s in sides.values())
    assert {"train", "val"} <= set(where.values())
    # Photo by photo (as before), the same folder puts frames of a burst on both sides.
    by_photo = split_of(scan_dataset(root, bursts=False))
    assert any(len({by_photo[os.path.basename(p.path)] for p in planted if p.burst == b}) > 1 for b in sides)


def test_a_burst_that_spans_classes_stays_whole(camera):
    """A vole burst whose last frame is empty (the vole left): the empty frame goes with the voles."""
    planted, root = camera
    where = split_of(scan_dataset(root))
    mixed = [b for b in {p.burst for p in planted} if len({p.label for p in planted if p.burst == b}) > 1]
    assert mixed
    for b in mixed:
        assert len({where[os.path.basename(p.path)] for p in planted if p.burst == b}) == 1


def test_the_summary_says_so_and_a_class_of_one_burst_stays_in_training(camera):
    planted, root = camera
    ds = scan_dataset(root)
    bursts, photos = ds.kept_together
    assert bursts == 30 and photos == len(planted)
    assert f"Bursts: {photos} photos are frames of 30 bursts" in ds.summary()
    assert "wholly in training or wholly in validation" in ds.summary()
    assert ds.counts()["train"]["shrew"] == 3 and ds.counts()["val"]["shrew"] == 0
    assert any(w.startswith("All 3 photos of 'shrew' are frames of one burst") and "untested" in w
               for w in ds.warnings)
    again = Dataset.from_dict(ds.to_dict())
    assert again.kept_together == ds.kept_together and again.split_settings == ds.split_settings


def test_photos_without_a_recorded_time_split_as_before(make_image_folder):
    root = make_image_folder(classes={"bird": 30, "plane": 25}, size=16)
    assert split_of(scan_dataset(root)) == split_of(scan_dataset(root, bursts=False))
    assert scan_dataset(root).kept_together == (0, 0)


def test_a_file_time_is_never_taken_for_a_capture_time(tmp_path):
    """Photos copied in one go have file times a moment apart: they are not one burst."""
    paths = [shot(tmp_path / f"{i}.jpg", None, seed=i) for i in range(6)]
    assert split_sequences(paths) == [[i] for i in range(6)]


def test_a_long_chain_comes_in_pieces_so_a_class_is_never_one_piece(tmp_path):
    """25 photos recording one and the same time (a batch edit, a camera whose clock is stuck)."""
    t = datetime(2024, 9, 2, 23, 0, 0)
    for cls in ("owl", "lark"):
        for i in range(25):
            shot(tmp_path / cls / f"{cls}{i:02d}.jpg", t, seed=i)
    ds = scan_dataset(tmp_path)
    assert ds.kept_together == (5, 50) and SPLIT_PIECE == 10               # 50 frames of one moment
    assert all(n >= 1 for n in ds.counts()["val"].values())


def test_top_ups_count_bursts_not_photos():
    files = [(f"/d/x/{i}.jpg", "x", f"{i}.jpg") for i in range(9)]
    for seed in range(25):
        one = split_files(files, [list(range(9))], seed, 0.2, 0.0)
        assert one["train"]["x"] == sorted(f[0] for f in files) and not one["val"]     # one burst: training
        two = split_files(files, [list(range(5)), list(range(5, 9))], seed, 0.2, 0.1)
        assert len(two["train"]["x"]) in (4, 5) and len(two["val"]["x"]) in (4, 5)   # one burst each
        three = split_files(files, [[0, 1, 2], [3, 4, 5], [6, 7, 8]], seed, 0.2, 0.2)
        assert [len(three[s].get("x", [])) for s in ("train", "val", "test")] == [3, 3, 3]


def test_without_bursts_the_split_is_the_photo_by_photo_one():
    items = [(f"/d/x/{i}.jpg", f"{i}.jpg") for i in range(40)]
    files = [(p, "x", rel) for p, rel in items]
    assert split_files(files, [], 3, 0.2, 0.1) == {s: {"x": v} for s, v in split_class(items, "x", 3, 0.2, 0.1).items()
                                                   if v}


def test_the_setting_travels_with_the_model():
    assert SplitSettings().bursts and SplitSettings().to_dict()["bursts"] is True
    new = SplitSettings(4, 0.25, 0.1, True)
    assert SplitSettings.from_record(new.to_dict()) == new
    # A model trained before bursts were kept together is evaluated on the split it was trained on.
    assert SplitSettings.from_record({"seed": 4, "val_fraction": 0.25, "test_fraction": 0.1}).bursts is False
    assert SplitSettings.from_record(None, {"seed": 4}).bursts is False


def test_training_says_the_bursts_were_kept_whole(camera, tmp_path):
    _, root = camera
    messages = []
    ended = Trainer(TrainConfig(recipe="custom", epochs=1, arch="small_cnn", image_size=32, batch_size=16, workers=0),
                    scan_dataset(root), run_dir=str(tmp_path / "run"),
                    callbacks=[lambda ev: messages.append(ev) if isinstance(ev, Message) else None]).fit()
    assert ended.reason == "completed", ended.message
    said = [m.text for m in messages if m.text.startswith("Split by burst:")]
    assert len(said) == 1 and "frames of 30 bursts" in said[0]
    assert not [m for m in messages if "also in training" in m.text or "frames of a burst" in m.text]


def test_a_copy_keeps_its_originals_side_when_it_kept_the_time(tmp_path):
    """A re-saved copy that kept its EXIF time is in its original's burst, so on its side too."""
    t = datetime(2024, 9, 2, 23, 0, 0)
    for i in range(12):
        for cls in ("owl", "lark"):
            shot(tmp_path / cls / f"{cls}{i:02d}.jpg", t + timedelta(minutes=i, hours=cls == "lark"), seed=i)
    shutil.copy2(tmp_path / "owl" / "owl03.jpg", tmp_path / "owl" / "owl03 (1).jpg")
    where = split_of(scan_dataset(tmp_path))
    assert where["owl03 (1).jpg"] == where["owl03.jpg"]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_burst_with_a_rare_animal_goes_whole_to_training(tmp_path, seed):
    """A class of a photo or two is kept all for training; the other frames of its burst (the empty
    ones before and after) go with it, not to validation."""
    planted = write_trap_folder(tmp_path / "dump", triggers=40, seed=seed, size=(160, 90), copies=0)
    where = split_of(scan_dataset(labelled(planted, tmp_path / "data")))
    thin = {c for c in {p.label for p in planted} if sum(p.label == c for p in planted) <= 2}
    assert thin
    for burst in {p.burst for p in planted if p.label in thin}:
        assert {where[os.path.basename(p.path)] for p in planted if p.burst == burst} == {"train"}

"""Shortcuts (core.data.shortcuts): a size, shape, format, camera or hour that tells the
classes apart by itself is warned about; a folder where nothing does is not."""
from __future__ import annotations

import os
import time
from datetime import datetime

import numpy as np
from PIL import Image

from core.data.dataset import scan_dataset
from core.data.shortcuts import PhotoFacts, find_shortcuts, hour_advice, is_shortcut, read_facts, shortcut_warnings
from core.training.config import TrainConfig
from core.training.trainer import Trainer

PER_CLASS = 30


def _photo(path, size, seed: int, fmt: str = "PNG", exif: Image.Exif | None = None) -> None:
    w, h = size
    arr = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    kwargs = {"exif": exif} if exif is not None else {}
    Image.fromarray(arr).save(path, fmt, **kwargs)


def _folder(root, sizes: dict, fmt: dict | None = None, exif: dict | None = None):
    """root/<class>/*: each class's photos cycle through its sizes (and format, EXIF)."""
    n = 0
    for cls, choices in sizes.items():
        (root / cls).mkdir(parents=True)
        for i in range(PER_CLASS):
            n += 1
            kind = (fmt or {}).get(cls, "PNG")
            ext = "jpg" if kind == "JPEG" else kind.lower()
            _photo(root / cls / f"{cls}{i:02d}.{ext}", choices[i % len(choices)], n, kind,
                   (exif or {}).get(cls))
    return root


def _exif(make: str, model: str, taken: str) -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = make, model
    exif.get_ifd(0x8769)[0x9003] = taken
    return exif


def test_a_class_separable_by_image_size_is_warned_about(tmp_path):
    root = _folder(tmp_path / "d", {"bird": [(48, 36)], "plane": [(40, 40)]})
    dataset = scan_dataset(root)
    report = find_shortcuts(dataset)
    names = {s.name for s in report.shortcuts}
    assert names == {"size"}                    # the shape follows from the size: not said twice
    assert report.scores["size"] == 1.0 and abs(report.baseline - 0.5) < 0.1
    text = next(s.text for s in report.shortcuts if s.name == "size")
    assert "All 'bird' photos are 48x36" in text and "'plane' photos are 40x40" in text
    assert "the model may learn the size instead of the subject" in text
    assert report.checked == len(dataset.val) >= 10
    assert report.scores["shape"] == 1.0


def test_a_shape_shortcut_across_sizes(tmp_path):
    root = _folder(tmp_path / "d", {"wide": [(60, 30), (80, 40), (40, 20)], "tall": [(30, 60), (40, 80), (20, 40)]})
    report = find_shortcuts(scan_dataset(root))
    assert {s.name for s in report.shortcuts} == {"shape"}
    assert "'wide' photos are 2.00 times as wide as high" in report.shortcuts[0].text


def test_a_balanced_folder_has_no_shortcut(tmp_path):
    both = [(48, 36), (40, 40), (64, 48)]
    root = _folder(tmp_path / "d", {"bird": both, "plane": both}, fmt={"bird": "PNG", "plane": "PNG"})
    report = find_shortcuts(scan_dataset(root))
    assert report.shortcuts == [] and report.checked >= 10
    assert max(report.scores.values()) < 0.9


def test_camera_format_and_time_of_day_from_the_headers(tmp_path):
    exif = {"owl": _exif("Canon", "EOS 5D", "2024:05:01 22:10:00"),
            "lark": _exif("Nikon", "D750", "2024:05:01 07:30:00")}
    root = _folder(tmp_path / "d", {"owl": [(32, 32)], "lark": [(32, 32)]},
                   fmt={"owl": "JPEG", "lark": "PNG"}, exif=exif)
    facts = read_facts(str(root / "owl" / "owl00.jpg"))
    assert (facts.camera, facts.hour, facts.format, facts.width) == ("Canon EOS 5D", 22, "JPEG", 32)
    assert read_facts(str(root / "lark" / "lark00.png")).camera == "Nikon D750"
    report = find_shortcuts(scan_dataset(root))
    names = {s.name for s in report.shortcuts}
    assert names == {"camera", "format", "hour"}
    text = {s.name: s.text for s in report.shortcuts}
    assert "'owl' photos are from a Canon EOS 5D" in text["camera"]
    assert "taken around 22:00" in text["hour"] and "'owl' comes out at night" in text["hour"]
    assert "no daytime photos of it can be added" in text["hour"]       # not asked for: it cannot be done
    assert "label night photos of the other classes too" in text["hour"]
    assert "photos of the other classes from that camera too" in text["camera"]
    assert read_facts(str(tmp_path / "missing.png")).width is None      # never raises


def test_the_file_time_stands_in_when_exif_has_no_time(tmp_path):
    root = _folder(tmp_path / "d", {"early": [(32, 32)], "late": [(32, 32)]})
    for cls, hour in (("early", 6), ("late", 21)):
        stamp = time.mktime(datetime(2024, 3, 4, hour, 15).timetuple())
        for name in os.listdir(root / cls):
            os.utime(root / cls / name, (stamp, stamp))
    warnings = shortcut_warnings(scan_dataset(root))
    assert len(warnings) == 1 and "time of day" in warnings[0]


def test_time_of_day_advice_for_a_camera_names_the_nocturnal_class_and_what_helps():
    at = [PhotoFacts(hour=h) for h in (23, 1, 2, 3, 22, 13, 14, 10, 15, 23)]
    labels = [0, 0, 0, 0, 0, 1, 1, 1, 1, 1]          # 'vole' only at night; 'empty' mostly by day
    text = hour_advice(at, labels, ["vole", "empty"])
    assert text.startswith("For a camera this is often simply true: 'vole' comes out at night")
    assert "empty night frames above all" in text and "check in Evaluate" in text
    both = hour_advice([PhotoFacts(hour=h) for h in (23, 1, 2, 22)], [0, 0, 1, 1], ["owl", "bat"])
    assert "nocturnal" not in both and "photos of the other classes taken at those same hours" in both
    assert "at other hours cannot be added" in both


def test_the_bar_is_high_and_well_above_guessing():
    assert is_shortcut(0.95, 0.5) and is_shortcut(0.9, 0.5)
    assert not is_shortcut(0.85, 0.5)              # not high enough
    assert not is_shortcut(0.93, 0.9)              # barely better than always the big class
    assert is_shortcut(0.99, 0.9)


def test_a_stop_and_too_few_photos_say_nothing(tmp_path):
    root = _folder(tmp_path / "d", {"bird": [(48, 36)], "plane": [(40, 40)]})
    assert find_shortcuts(scan_dataset(root), should_stop=lambda: True) is None
    small = tmp_path / "s"
    for cls, size in (("bird", (48, 36)), ("plane", (40, 40))):
        (small / cls).mkdir(parents=True)
        for i in range(4):
            _photo(small / cls / f"{i}.png", size, i)
    assert find_shortcuts(scan_dataset(small)).shortcuts == []


def test_training_warns_about_a_size_shortcut_at_the_start(tmp_path):
    root = _folder(tmp_path / "d", {"bird": [(48, 36)], "plane": [(40, 40)]})
    messages = []
    Trainer(TrainConfig(recipe="custom", epochs=1, arch="small_cnn", image_size=32, batch_size=16, workers=0),
            scan_dataset(root), run_dir=str(tmp_path / "run"),
            callbacks=[lambda ev: messages.append(ev) if type(ev).__name__ == "Message" else None]).fit()
    warned = [m.text for m in messages if m.level == "warning" and "alone tells the classes apart" in m.text]
    assert any("The size alone" in t for t in warned)

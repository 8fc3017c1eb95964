"""`fledge bench --camera` and the fixed camera it generates: the dump looks like one camera's (one
view, infrared nights, bursts, EXIF times, rare animals, planted copies), and the benchmark prints
its figures from the core functions the app calls."""
from __future__ import annotations

import os
import re
from collections import Counter

import numpy as np
from PIL import Image

from core.bench.burst_camera import COPY_KINDS, write_trap_folder
from core.cli.main import main
from core.data.duplicates import hash_photos
from core.data.shortcuts import read_facts


def test_the_dump_looks_like_one_fixed_cameras(tmp_path):
    planted = write_trap_folder(tmp_path / "dump", triggers=20, seed=2, size=(160, 90))
    frames = [p for p in planted if not p.copy_of]
    labels = Counter(p.label for p in frames)
    assert labels["shrew"] == 3 and labels["stoat"] == 2 and labels["empty"] > labels["vole"] > 0
    assert len({p.burst for p in frames if p.label == "stoat"}) == 2      # two visits, one frame each
    assert [p.copy_kind for p in planted if p.copy_of] == list(COPY_KINDS)
    for b in {p.burst for p in frames}:
        shots = [p for p in frames if p.burst == b]
        gaps = [(y.taken - x.taken).total_seconds() for x, y in zip(shots, shots[1:])]
        assert len(shots) == 3 and all(1 <= g <= 2 for g in gaps)
    for p in frames[:6]:
        facts = read_facts(p.path)
        assert facts.taken == p.taken and facts.taken_from_exif and facts.camera == "TrailCam TC-1"
        with Image.open(p.path) as im:
            rgb = np.asarray(im.convert("RGB"), dtype=int)
        grey = np.abs(rgb[..., 0] - rgb[..., 2]).mean() < 2
        assert grey == p.night                                            # infrared at night
    kept = {p.copy_kind: read_facts(p.path).taken_from_exif for p in planted if p.copy_of}
    assert kept == {"exact": True, "re-saved": True, "resized": False, "png": False, "re-saved, no EXIF": False}
    # A later dump of the same view (another seed and start) shows the same place.
    later = write_trap_folder(tmp_path / "later", triggers=3, seed=9, size=(160, 90), copies=0, rare=(),
                              animal_share=0.0, first_number=500)
    b = later[0]
    a = next(p for p in frames if p.label == b.label == "empty" and p.night == b.night)
    ha, hb = hash_photos([a.path, b.path])
    assert bin(ha.phash ^ hb.phash).count("1") <= 10
    assert os.path.basename(b.path) == "IMG_0500.JPG"


def test_fledge_bench_camera_prints_the_figures(capsys):
    assert main(["bench", "--camera", "--images", "12", "--device", "cpu", "--target", "0.9"]) == 0
    out = capsys.readouterr().out
    copies = re.search(r"copies: (\d+) photos flagged as extra copies, (\d+) planted \((\d+) found, (\d+) flagged "
                       r"wrongly\); the perceptual hash alone would flag (\d+)", out)
    assert copies, out
    flagged, planted, found, wrong, alone = map(int, copies.groups())
    assert planted == 5 and found == 5 and wrong == 0 and flagged == 5 and alone > 5
    bursts = re.search(r"bursts: (\d+) of (\d+) bursts kept on one side of the split \((\d+) across", out)
    assert bursts and bursts.group(1) == bursts.group(2) and bursts.group(3) == "0"
    assert re.search(r"labels before the first model: (\d+ \(labelling in the order taken\)|not reached)", out)
    rows = re.findall(r"^  (empty|vole|shrew|stoat) +(\d+) sorted, +(\d+) right: precision +(\S+) +"
                      r"(threshold [\d.]+|all to review) \((\w+), (\d+) validation photos\)", out, re.M)
    assert [r[0] for r in rows] == ["empty", "vole", "shrew", "stoat"]
    assert re.search(r"^  _review +\d+ photos to review", out, re.M)
    assert "precision asked 90%" in out

"""Review thresholds from evidence (core.photos.thresholds): curves and choices on a known confusion,
and the one place a sort applies them (core.photos.sorting.plan_sort, also through a watch).

The evaluation is built by hand, so every figure has a known answer. 27 photos:
  plane named: right at .99 .97 .95 .93 .91 .89 .87 .85 .83 .81; wrong (true bird) at .90 .60 .55 .50
  bird named:  right at .95 (8 photos); wrong (true plane) at .70 .65
  owl named:   right at .99 (3 photos: too few to choose from)
"""
from __future__ import annotations

import os

import pytest

from core.errors import FledgeError
from core.photos.classify import ClassifiedImage
from core.photos.evaluation import EvaluationResult, ImageResult
from core.photos.sorting import plan_sort
from core.photos.thresholds import (ReviewThresholds, choose_thresholds, model_thresholds, overall_curve,
                                    review_thresholds, threshold_curves)

CLASSES = ["bird", "plane", "owl"]
PLANE_RIGHT = [0.99, 0.97, 0.95, 0.93, 0.91, 0.89, 0.87, 0.85, 0.83, 0.81]


def result_of(rows, classes=CLASSES, model_classes=None) -> EvaluationResult:
    """An EvaluationResult from (true class, named class, confidence) rows."""
    index = {c: i for i, c in enumerate(classes)}
    confusion = [[0] * len(classes) for _ in classes]
    images = []
    for n, (true, named, conf) in enumerate(rows):
        confusion[index[true]][index[named]] += 1
        images.append(ImageResult(f"/val/{true}/{n}.jpg", index[true], index[named], conf, true, named))
    return EvaluationResult(classes=list(classes), confusion=confusion, images=images, total=len(rows),
                            model_classes=list(model_classes or classes), dataset_classes=list(classes))


def known():
    rows = [("plane", "plane", c) for c in PLANE_RIGHT]
    rows += [("bird", "plane", c) for c in (0.90, 0.60, 0.55, 0.50)]
    rows += [("bird", "bird", 0.95)] * 8 + [("plane", "bird", 0.70), ("plane", "bird", 0.65)]
    rows += [("owl", "owl", 0.99)] * 3
    return result_of(rows, model_classes=[*CLASSES, "cat"])


def test_curves_hold_precision_recall_and_review_share_at_each_threshold():
    curves = {c.name: c for c in threshold_curves(known())}
    plane = curves["plane"]
    assert (plane.support, plane.named, plane.photos) == (12, 14, 27)
    assert plane.thresholds == (0.0, 0.5, 0.55, 0.6, 0.81, 0.83, 0.85, 0.87, 0.89, 0.9, 0.91, 0.93, 0.95,
                                0.97, 0.99)
    i = plane.thresholds.index
    assert plane.precision[0] == 10 / 14 and plane.recall[0] == 10 / 12 and plane.review[0] == 0
    assert plane.precision[i(0.81)] == 10 / 11 and plane.review[i(0.81)] == 3 / 27
    assert plane.precision[i(0.83)] == 9 / 10 and plane.recall[i(0.83)] == 9 / 12
    assert plane.precision[i(0.9)] == 5 / 6 and plane.precision[i(0.91)] == 1.0
    assert plane.recall[i(0.99)] == 1 / 12 and plane.review[i(0.99)] == 13 / 27
    # Between two photos' confidences the figures are those of the next one up; above all: none sorted.
    assert plane.at(0.82).precision == 9 / 10
    top = plane.at(0.995)
    assert (top.precision, top.recall, top.review) == (None, 0.0, 14 / 27)
    bird = curves["bird"]
    assert bird.thresholds == (0.0, 0.65, 0.7, 0.95)
    assert bird.precision == (0.8, 0.8, 8 / 9, 1.0) and bird.recall == (8 / 12,) * 4
    overall = overall_curve(known())
    assert overall.at(0.70).precision == 21 / 23 and overall.at(0.65).precision == 21 / 24


def test_the_lowest_threshold_reaching_each_target_is_chosen_and_few_photos_use_the_global_one():
    choice = choose_thresholds(known(), 0.9)
    assert choice.default == 0.70 and choice.default_reached       # all photos together: 21/23 right
    assert choice.thresholds() == {"bird": 0.95, "plane": 0.81, "owl": 0.70, "cat": 0.70}
    by = {c.name: c for c in choice.classes}
    assert [by[n].source for n in ("bird", "plane", "owl", "cat")] == ["chosen", "chosen", "few", "few"]
    assert by["plane"].precision == 10 / 11 and by["plane"].recall == 10 / 12 and by["plane"].review == 3 / 27
    assert by["owl"].support == 3 and by["owl"].review == 0
    assert choice.review == pytest.approx(5 / 27)       # 3 unsure planes, 2 unsure birds

    stricter = choose_thresholds(known(), 0.95, {"bird": 0.8})
    assert stricter.thresholds() == {"bird": 0.0, "plane": 0.91, "owl": 0.81, "cat": 0.81}
    assert choose_thresholds(known(), 0.9, min_photos=2).thresholds()["owl"] == 0.0


def test_the_consequence_is_said_in_plain_words():
    lines = choose_thresholds(known(), 0.9).lines()
    assert lines[1] == ("At 90 % precision for 'plane' (sorted when the model is at least 81 % sure), about 11 % "
                        "of the photos go to review; 83 % of the 'plane' photos are sorted into it.")
    assert lines[2].startswith("'owl': only 3 validation photos, too few to choose from") and "70 % sure" in lines[2]
    assert lines[3] == ("'cat': no validation photos, too few to choose from, so it uses the threshold for all "
                        "classes: sorted when the model is at least 70 % sure.")
    # A threshold of 0 in words, not "(0.00)".
    anything = choose_thresholds(known(), 0.95, {"bird": 0.8}).lines()      # bird: 0.0
    assert not any("0.00" in line for line in anything)
    assert "its photos are sorted whatever the model's certainty" in anything[0]
    assert lines[-1] == "With these thresholds about 19 % of the photos go to review."


def test_a_target_no_threshold_reaches_sends_the_class_to_review():
    rows = [("bird", "plane", 0.99)] + [("plane", "plane", 0.9)] * 10 + [("bird", "bird", 0.9)] * 10
    choice = choose_thresholds(result_of(rows, ["bird", "plane"]), 0.95)
    plane = {c.name: c for c in choice.classes}["plane"]
    assert (plane.source, plane.threshold, plane.precision) == ("unreachable", 1.0, 10 / 11)
    assert "'plane' never reaches 95 % precision" in choice.lines()[1]
    with pytest.raises(FledgeError, match="from 0 to 1"):
        choose_thresholds(known(), 1.5)


def test_the_record_holds_plain_values_only():
    record = choose_thresholds(known(), 0.9).to_record()
    assert record["classes"] == {"bird": 0.95, "plane": 0.81, "owl": 0.70, "cat": 0.70}
    assert record["default"] == 0.70 and record["photos"] == 27 and record["split"] == "val"
    assert ReviewThresholds.from_record(record) == ReviewThresholds(0.70, record["classes"])


class _Model:
    classes = ["bird", "plane"]

    def __init__(self, info):
        self.info = info


def test_the_threshold_given_overrides_the_models_which_override_none():
    saved = _Model({"thresholds": {"classes": {"plane": 0.9}, "default": 0.5}})
    assert model_thresholds(saved) == ReviewThresholds(0.5, {"plane": 0.9})
    assert review_thresholds(None, saved) == ReviewThresholds(0.5, {"plane": 0.9})
    assert review_thresholds(0.8, saved) == 0.8
    assert review_thresholds(None, _Model({})) == 0.0 and model_thresholds(_Model({})) is None


def test_a_photo_above_the_global_threshold_but_below_its_class_threshold_goes_to_review(tmp_path):
    photos = [ClassifiedImage(str(tmp_path / "a.jpg"), (("plane", 0.85), ("bird", 0.15))),
              ClassifiedImage(str(tmp_path / "b.jpg"), (("bird", 0.6), ("plane", 0.4))),
              ClassifiedImage(str(tmp_path / "c.jpg"), (("plane", 0.95), ("bird", 0.05)))]
    limits = ReviewThresholds(0.5, {"plane": 0.9})
    ops = plan_sort(photos, tmp_path, tmp_path / "dest", threshold=limits)
    assert [op.category for op in ops] == ["_review", "bird", "plane"]
    assert [op.category for op in plan_sort(photos, tmp_path, tmp_path / "dest", threshold=0.8)] == \
        ["plane", "_review", "plane"]
    with pytest.raises(FledgeError, match="from 0 to 1"):
        plan_sort(photos, tmp_path, tmp_path / "dest", threshold=ReviewThresholds(0.5, {"plane": 1.5}))


def test_a_watch_applies_per_class_thresholds(tmp_path):
    from PIL import Image

    from core.photos.watch import FolderWatcher
    from tests.fakes import FakePredictor

    cam = tmp_path / "cam"
    cam.mkdir()
    for i in range(2):
        Image.new("RGB", (8, 8), (i, 0, 0)).save(cam / f"p{i}.png")
    fake = FakePredictor(["bird", "plane"], {"p0.png": ("plane", 0.85), "p1.png": ("bird", 0.85)})
    w = FolderWatcher(fake, cam, tmp_path / "sorted", settle=0.2,
                      threshold=ReviewThresholds(0.5, {"plane": 0.9}))
    w.start()
    try:
        assert w.wait_until(lambda s: len(s.sorted) >= 2, 8.0)
    finally:
        summary = w.stop()
    assert summary.counts() == {"_review": 1, "bird": 1}
    assert os.listdir(tmp_path / "sorted" / "_review") == ["p0.png"]


def test_thresholds_chosen_on_the_training_photos_come_with_a_warning():
    from dataclasses import replace

    assert choose_thresholds(known(), 0.9).lines()[0].startswith("At 90 %")
    assert choose_thresholds(replace(known(), split="train"), 0.9).lines()[0].startswith(
        "These figures come from the training photos")

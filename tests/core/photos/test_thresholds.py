"""Review thresholds from evidence (core.photos.thresholds): curves and choices on a known confusion,
and the one place a sort applies them (core.photos.sorting.plan_sort, also through a watch).

The evaluations are built by hand, so every figure has a known answer. known(), 27 photos:
  plane named: right at .99 .97 .95 .93 .91 .89 .87 .85 .83 .81; wrong (true bird) at .90 .60 .55 .50
  bird named:  right at .95 (8 photos); wrong (true plane) at .70 .65
  owl named:   right at .99 (3 photos)
and plenty() (below) for the choices, where the precision promised is a lower confidence bound.
"""
from __future__ import annotations

import os

import pytest

from core.errors import FledgeError
from core.photos.classify import ClassifiedImage
from core.photos.evaluation import EvaluationResult, ImageResult
from core.photos.sorting import plan_sort
from core.photos.thresholds import (ReviewThresholds, choose_thresholds, model_thresholds, more_needed,
                                    overall_curve, review_thresholds, threshold_curves, wilson_lower)

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


# -- choosing from evidence -------------------------------------------------------------------
#
# PLENTY: 40 planes named plane, right at .99 .98 ... .60, and two birds taken for planes at .75 and
# .62; 30 birds named bird at .95 (right) and two planes taken for birds at .70; 3 lemmings named
# lemming at .99 (all right); one vole, named lemming at .97 (wrong). At 95 % confidence the precision
# promised at each threshold is Wilson's one-sided lower bound: for plane it is .866 from 0 (40 of 42
# right), .890 from .63 (37 of 38), .8987 from .76 (24 of 24): 85 % is promised from 0, 88 % from .63,
# and 90 % nowhere (25 right photos in a row would do: one more).

def plenty():
    rows = [("plane", "plane", round(0.99 - 0.01 * i, 2)) for i in range(40)]
    rows += [("bird", "plane", 0.75), ("bird", "plane", 0.62)]
    rows += [("bird", "bird", 0.95)] * 30 + [("plane", "bird", 0.70)] * 2
    rows += [("lemming", "lemming", 0.99)] * 3 + [("vole", "lemming", 0.97)]
    return result_of(rows, ["bird", "plane", "lemming", "vole"])


def test_the_wilson_bound_and_the_photos_still_needed():
    assert wilson_lower(10, 10) == pytest.approx(10 / (10 + 1.6448536 ** 2))      # all right: n / (n + z^2)
    assert wilson_lower(50, 100) == pytest.approx(0.41885, abs=1e-5)
    assert wilson_lower(0, 0) == 0.0 and wilson_lower(0, 5) == 0.0
    assert wilson_lower(10, 10, confidence=0.975) < wilson_lower(10, 10)          # surer promise: lower
    # 98 % needs 133 right photos in a row at 95 % confidence; 90 % needs 25.
    assert more_needed(0, 0, 0.98) == 133 and more_needed(3, 3, 0.98) == 130 and more_needed(0, 0, 0.9) == 25
    assert wilson_lower(133, 133) >= 0.98 > wilson_lower(132, 132)
    assert more_needed(24, 24, 0.9) == 1 and more_needed(25, 25, 0.9) == 0
    assert more_needed(5, 5, 1.0) is None                                     # 100 % is never promised


def test_the_lowest_threshold_whose_promise_reaches_the_target_is_chosen():
    choice = choose_thresholds(plenty(), 0.85)
    by = {c.name: c for c in choice.classes}
    assert by["plane"].threshold == 0.0 and by["plane"].promised == pytest.approx(0.8659, abs=1e-4)
    assert by["plane"].precision == 40 / 42 and by["plane"].recall == 40 / 42
    assert by["bird"].threshold == 0.95 and by["bird"].review == 2 / 78        # the two at .70 go to review
    assert choose_thresholds(plenty(), 0.88).thresholds()["plane"] == 0.63
    # 90 %: the planes are right every time from .76 up, but 24 photos cannot promise it.
    plane = {c.name: c for c in choose_thresholds(plenty(), 0.9).classes}["plane"]
    assert (plane.threshold, plane.source, plane.needed) == (None, "evidence", 1)
    assert plane.review == 42 / 78 and plane.recall == 0.0


def test_a_class_with_one_to_four_validation_photos_gets_no_promise():
    choice = choose_thresholds(plenty(), 0.85)
    lemming = {c.name: c for c in choice.classes}["lemming"]
    # 3 right of 4 named lemming, all right from .99: the measured precision is 100 %, the promise 53 %.
    assert (lemming.threshold, lemming.source, lemming.support, lemming.precision) == (None, "evidence", 3, 1.0)
    assert lemming.needed == more_needed(3, 3, 0.85) == 13
    vole = {c.name: c for c in choice.classes}["vole"]        # its one photo was named lemming: none named vole
    assert (vole.threshold, vole.source, vole.named) == (None, "evidence", 0)
    assert choice.thresholds() == {"bird": 0.95, "plane": 0.0}
    assert choice.to_review() == {"lemming": "evidence", "vole": "evidence"}
    for n in range(1, 5):               # whatever they show, 1 to 4 photos of a class never promise 85 %
        rows = [("bird", "bird", 0.9)] * 40 + [("owl", "owl", 0.99)] * n
        assert choose_thresholds(result_of(rows, ["bird", "owl"]), 0.85).thresholds() == {"bird": 0.0}


def test_a_class_whose_answers_are_wrong_is_not_reached_at_all():
    rows = [("plane", "plane", 0.9)] * 40 + [("bird", "bird", 0.9)] * 40 + [("bird", "plane", 0.99)] * 3
    plane = {c.name: c for c in choose_thresholds(result_of(rows, ["bird", "plane"]), 0.95).classes}["plane"]
    assert (plane.source, plane.threshold, plane.precision, plane.needed) == ("unreachable", None, 40 / 43, None)
    with pytest.raises(FledgeError, match="from 0 to 1"):
        choose_thresholds(plenty(), 1.5)
    with pytest.raises(FledgeError, match="confidence"):
        choose_thresholds(plenty(), 0.9, confidence=1.0)


def test_the_consequence_is_said_in_plain_words():
    lines = choose_thresholds(plenty(), 0.85).lines()
    assert lines[0] == ("At 85 % precision for 'bird' (sorted when the model is at least 95 % sure), about 2.6 % of "
                        "the photos go to review; "
                        "94 % of the 'bird' photos are sorted into it.")
    assert lines[2] == ("'lemming': 3 of the 4 validation photos the model named 'lemming' were right, too little "
                        "evidence to promise 85 % precision (it could be as low as 52.5 %), so its photos go to "
                        "review. With about 13 more validation photos of 'lemming' that the model gets right, it "
                        "could be promised.")
    assert lines[3].startswith("'vole': the model named no validation photo 'vole', too little evidence to promise "
                               "85 % precision, so its photos go to review.")
    # A threshold of 0 in words, not "(0.00)".
    assert "'plane' (its photos are sorted whatever the model's certainty)" in lines[1] and "0.00" not in lines[1]
    assert lines[-1] == "With these thresholds about 7.7 % of the photos go to review."
    none = choose_thresholds(plenty(), 0.98).lines()
    assert none[0] == "No class has the validation photos to promise 98 % precision, so every photo would go to review."
    assert "No number of photos can promise 100 %" in choose_thresholds(plenty(), 1.0).lines()[2]
    wrong = [("plane", "plane", 0.9)] * 40 + [("bird", "bird", 0.9)] * 40 + [("bird", "plane", 0.99)] * 3
    assert "'plane' never reaches 95 % precision on the validation photos (at best 93 %)" in \
        choose_thresholds(result_of(wrong, ["bird", "plane"]), 0.95).lines()[2]


def test_the_record_holds_plain_values_and_sends_classes_without_evidence_to_review():
    record = choose_thresholds(plenty(), 0.85).to_record()
    assert record["classes"] == {"bird": 0.95, "plane": 0.0, "lemming": 1.0, "vole": 1.0}    # 1.0: older Fledge
    assert record["review"] == {"lemming": "evidence", "vole": "evidence"}
    assert record["default"] == 1.0 and record["photos"] == 78 and record["confidence"] == 0.95
    limits = ReviewThresholds.from_record(record)
    assert limits == ReviewThresholds(1.0, {"bird": 0.95, "plane": 0.0}, {"lemming": "evidence", "vole": "evidence"})
    assert limits.sends_to_review("lemming", 1.0) and not limits.sends_to_review("plane", 0.3)
    assert limits.describe() == ("bird 0.95, plane 0.00, lemming to review (too little evidence), vole to review "
                                 "(too little evidence)")
    older = ReviewThresholds.from_record({"classes": {"plane": 0.9}, "default": 0.5})     # before "review"
    assert older == ReviewThresholds(0.5, {"plane": 0.9}) and older.describe() == "plane 0.90; any other class 0.50"


def test_asking_for_98_percent_on_a_tiny_set_never_sorts_a_wrong_photo_in(tmp_path):
    """Issue 20: 60 validation photos, 98 % asked; a class whose one validation photo was wrong got
    the global 0.00 and 3 voles of 4 went into the lemming folder."""
    rows = [("empty", "empty", 0.99)] * 60 + [("vole", "lemming", 0.95), ("lemming", "lemming", 0.9)]
    record = choose_thresholds(result_of(rows, ["empty", "lemming", "vole"]), 0.98).to_record()
    camera = [ClassifiedImage(str(tmp_path / f"vole{i}.jpg"), (("lemming", 0.96), ("vole", 0.04))) for i in range(4)]
    camera += [ClassifiedImage(str(tmp_path / "empty.jpg"), (("empty", 0.999), ("vole", 0.001)))]
    ops = plan_sort(camera, tmp_path, tmp_path / "dest", threshold=ReviewThresholds.from_record(record))
    assert [op.category for op in ops] == ["_review"] * 5       # 60 of 60 promise 95.7 %, not 98 %


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

    assert choose_thresholds(plenty(), 0.85).lines()[0].startswith("At 85 %")
    assert choose_thresholds(replace(plenty(), split="train"), 0.85).lines()[0].startswith(
        "These figures come from the training photos")

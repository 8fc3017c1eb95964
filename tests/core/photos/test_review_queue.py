"""What the review grid lists: photos with known or asked-for answers, least certain first."""
from __future__ import annotations

import os

import pytest
from PIL import Image

from core.photos.review_queue import (ReviewItem, ask_model, evaluated_items, folder_items, has_photos,
                                      legend_order, review_order)
from core.progress import JobProgress
from tests.fakes import FakePredictor, Pred


def test_review_order_least_certain_first():
    items = [Pred("a", [("bird", 0.9), ("plane", 0.1)]), Pred("b", [("bird", 0.5), ("plane", 0.49)]),
             Pred("c", [], "damaged"), Pred("d", [("plane", 0.6), ("bird", 0.2), ("cat", 0.2)]),
             Pred("e", [("bird", 0.55), ("plane", 0.05)])]
    assert [p.source for p in review_order(items)] == ["b", "e", "d", "a", "c"]
    assert [p.source for p in review_order(items, by="margin")] == ["b", "d", "e", "a", "c"]
    with pytest.raises(ValueError):
        review_order(items, by="size")


def test_folder_items_keep_the_answers_already_known(tmp_path):
    for name in ("a.png", "b.png", "sub/c.png"):
        os.makedirs(os.path.dirname(tmp_path / name), exist_ok=True)
        Image.new("RGB", (4, 4)).save(tmp_path / name)
    known = [ReviewItem(str(tmp_path / "b.png"), (("owl", 0.4),)),
             ReviewItem(str(tmp_path / "x.png"), (("cat", 1.0),))]
    items = folder_items(str(tmp_path), known=known)
    assert [(os.path.basename(it.path), it.suggestion, it.predicted) for it in items] == [
        ("a.png", None, False), ("b.png", "owl", True)]
    assert len(folder_items(str(tmp_path), recursive=True)) == 3
    assert has_photos(str(tmp_path / "sub")) and not has_photos(str(tmp_path / "nowhere"))


def test_ask_model_answers_each_photo_until_stopped():
    predictor = FakePredictor(["cat", "dog", "owl", "bat"], {"a": ("cat", 0.7), "b": "damaged", "c": ("dog", 0.6)})
    events = []
    answers = ask_model(predictor, ["a", "b", "c"], report=events.append,
                        should_stop=lambda: len(predictor.asked) >= 2)
    assert answers["a"][0][0] == ("cat", 0.7) and len(answers["a"][0]) == 3 and answers["a"][1] is None
    assert answers["b"] == ((), "damaged") and "c" not in answers
    assert predictor.calls == [(64, 3)]          # the suggestion and the next two
    assert events[0] == JobProgress("predicting", 0, 3)


def test_legend_numbers_stay_put_when_classes_come_and_go():
    order = legend_order([], ["cat", "dog"])
    assert order == ["cat", "dog"]
    assert legend_order(order, ["ant", "cat", "dog"]) == ["cat", "dog", "ant"]    # ant gets the next key
    assert legend_order(["cat", "dog", "ant"], ["ant", "dog"]) == ["dog", "ant"]


def test_evaluated_photos_suggest_the_models_answer():
    from core.photos.evaluation import ImageResult

    [item] = evaluated_items([ImageResult("/v/cat/1.jpg", 0, 1, 0.8, "cat", "dog")])
    assert (item.path, item.suggestion, item.confidence, item.true_class) == ("/v/cat/1.jpg", "dog", 0.8, "cat")

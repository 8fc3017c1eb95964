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


def test_the_queue_hunts_for_the_thin_classes_first():
    """237 empty frames and a rare lemming: the frames the model thinks may be a lemming come first,
    likeliest first, ahead of the merely unsure ones."""
    items = [Pred("sure empty", [("empty", 0.97), ("lemming", 0.02)]),
             Pred("unsure", [("empty", 0.5), ("vole", 0.45), ("lemming", 0.05)]),
             Pred("maybe lemming", [("empty", 0.8), ("lemming", 0.15)]),
             Pred("damaged", [], "damaged"),
             Pred("lemming", [("lemming", 0.6), ("empty", 0.4)])]
    assert [p.source for p in review_order(items, hunt=["lemming"])] == [
        "lemming", "maybe lemming", "unsure", "sure empty", "damaged"]
    assert [p.source for p in review_order(items)][0] == "unsure"       # nothing thin: least certain first


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


def test_class_mismatch_says_how_the_models_classes_differ_from_the_datasets():
    from core.photos.review_queue import class_mismatch

    assert class_mismatch(["ants", "bees"], ["bees", "ants"]) == ""
    assert class_mismatch([], ["ants"]) == "" and class_mismatch(["ants"], []) == ""
    none = class_mismatch(["circles", "squares"], ["ants", "bees"], "the dataset pets")
    assert "circles, squares" in none and "ants, bees" in none and "none of them match" in none
    assert "pets" in none
    extra = class_mismatch(["ants", "bees", "wasps"], ["ants", "bees"])
    assert "also knows wasps" in extra
    missing = class_mismatch(["ants"], ["ants", "bees"])
    assert "not trained on bees" in missing and "never suggests it" in missing


def test_only_a_model_whose_every_class_is_the_datasets_may_show_its_guesses():
    from core.photos.review_queue import guesses_unusable

    assert guesses_unusable(["ants", "bees"], ["bees", "ants"]) == ""
    assert guesses_unusable(["ants"], ["ants", "bees"]) == ""              # a class added since: still fits
    assert guesses_unusable([], ["ants"]) == ""                            # not known yet
    camera = guesses_unusable(["ants", "bees"], ["empty", "vole", "lemming"], "the dataset tunnel")
    assert "knows ants, bees, but the dataset tunnel has empty, vole, lemming" in camera
    assert "its guesses are not shown" in camera
    assert "also knows wasps" in guesses_unusable(["ants", "bees", "wasps"], ["ants", "bees"])
    empty = guesses_unusable(["ants", "bees"], [], "the dataset tunnel")
    assert empty.startswith("The dataset tunnel has no classes yet") and "does not show its guesses" in empty


def test_keys_enter_and_accept_all_choose_the_photos_to_label():
    from core.photos.review_queue import accepted, number_problem, sure_enough

    items = [ReviewItem("/r/a.png", (("cat", 0.9),)), ReviewItem("/r/b.png"),
             ReviewItem("/r/c.png", (("owl", 0.99),)), ReviewItem("/r/d.png", (), "damaged")]
    assert number_problem(2, ["cat", "dog"]) == ""
    assert "no class number 3" in number_problem(3, ["cat", "dog"]) and "1 to 2" in number_problem(3, ["cat", "dog"])
    assert "Choose a dataset first" in number_problem(1, [])
    pairs, why = accepted(items[:1], ["cat", "dog"], "/pets")
    assert pairs == [(items[0], "cat")] and why == ""
    pairs, why = accepted(items, ["cat", "dog"], "/pets")
    assert pairs == [(items[0], "cat")] and why == "b.png has no suggestion yet: press a number to label it."
    assert "“owl”, which is not a class of /pets" in accepted(items[2:3], ["cat"], "/pets")[1]
    assert "could not be read" in accepted(items[3:], ["cat"], "/pets")[1]
    assert sure_enough(items, ["cat", "dog", "owl"], 0.95) == [(items[2], "owl")]


def test_labelled_away_follows_the_labelling_journals_of_the_datasets(tmp_path):
    from core.photos.labelling import Labeller
    from core.photos.review_queue import labelled_away, labelled_lines

    review = tmp_path / "sorted" / "_review"
    review.mkdir(parents=True)
    names = ["a.png", "b.png", "c.png", "d.png"]
    for name in names:
        Image.new("RGB", (4, 4), (len(name) * 9, 0, ord(name[0]))).save(review / name)
    data = tmp_path / "pets"
    for cls in ("cat", "dog"):
        (data / "train" / cls).mkdir(parents=True)
    labeller = Labeller(str(data), move=True)
    labeller.assign(str(review / "a.png"), "cat")
    labeller.assign(str(review / "b.png"), "cat")
    labeller.assign(str(data / "train" / "cat" / "b.png"), "dog")     # relabelled later
    labeller.assign(str(review / "c.png"), "dog")
    os.remove(data / "train" / "dog" / "c.png")                        # deleted by hand since
    copies = Labeller(str(data), move=False)
    copies.assign(str(review / "d.png"), "cat")                        # a copy: d.png stays
    os.remove(review / "d.png")

    missing = [str(review / n) for n in names]
    found = labelled_away(missing, [str(data), str(tmp_path / "not-a-dataset")])
    cat, dog = str(data / "train" / "cat"), str(data / "train" / "dog")
    assert found == {cat: [(str(review / "a.png"), os.path.join(cat, "a.png"))],
                     dog: [(str(review / "b.png"), os.path.join(dog, "b.png"))]}
    assert labelled_lines(found) == [f"1 photo you labelled is now in {cat}, so it stays there.",
                                     f"1 photo you labelled is now in {dog}, so it stays there."]
    assert labelled_away(missing, []) == {}
    # Reading the journals changes nothing.
    assert sorted(os.listdir(data / "train" / "cat")) == ["a.png", "d.png"]

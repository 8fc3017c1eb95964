"""Evaluation figures on a dataset whose confusion is known exactly (a fake predictor)."""
from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from core.data.dataset import Sample
from core.errors import FledgeError
from core.photos.evaluation import (EvaluationResult, cell_advice, evaluate, evaluate_folder, relabel,
                                    relabel_summary)
from core.photos.evaluation_wording import advice_text, move_question, moved_note, result_notes
from tests.fakes import FakePredictor


CLASSES = ["cat", "dog", "owl"]
# (true class, predicted class, confidence) -> confusion [[3,1,0],[1,2,0],[0,1,2]]
TABLE = [
    ("cat", "cat", 0.9), ("cat", "cat", 0.8), ("cat", "cat", 0.6), ("cat", "dog", 0.7),
    ("dog", "dog", 0.95), ("dog", "dog", 0.55), ("dog", "cat", 0.65),
    ("owl", "owl", 0.99), ("owl", "dog", 0.51), ("owl", "owl", 0.7),
]


def make(table=TABLE, model_classes=("owl", "dog", "cat"), extra=()):
    samples, answers = [], {}
    for n, (t, p, conf) in enumerate(table):
        path = f"/data/val/{t}/img{n:02d}.jpg"
        samples.append(Sample(path, CLASSES.index(t)))
        answers[path] = (p, conf)
    for n, (t, reason) in enumerate(extra):
        path = f"/data/val/{t}/broken{n}.jpg"
        samples.append(Sample(path, CLASSES.index(t)))
        answers[path] = reason
    ds = SimpleNamespace(root="/data", classes=list(CLASSES), train=[], val=samples, test=[])
    return ds, FakePredictor(list(model_classes), answers)


def test_figures_match_a_known_confusion():
    ds, pred = make(extra=[("cat", "file is truncated or damaged")])
    r = evaluate(pred, ds, "val", batch_size=7)
    assert pred.calls == [(7, 1)]
    assert r.classes == CLASSES                      # dataset order, though the model's differs
    assert r.confusion == [[3, 1, 0], [1, 2, 0], [0, 1, 2]]
    assert r.total == 11 and r.evaluated == 10 and not r.stopped
    assert r.errors == [("/data/val/cat/broken0.jpg", "file is truncated or damaged")]
    assert r.accuracy == pytest.approx(0.7)
    figs = {f.name: f for f in r.per_class()}
    assert figs["cat"].precision == pytest.approx(3 / 4) and figs["cat"].recall == pytest.approx(3 / 4)
    assert figs["dog"].precision == pytest.approx(2 / 4) and figs["dog"].recall == pytest.approx(2 / 3)
    assert figs["owl"].precision == pytest.approx(1.0) and figs["owl"].recall == pytest.approx(2 / 3)
    assert figs["dog"].f1 == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))
    assert figs["owl"].f1 == pytest.approx(0.8)
    assert [f.support for f in r.per_class()] == [4, 3, 3]
    avg = r.averages()
    assert avg["macro"]["precision"] == pytest.approx((0.75 + 0.5 + 1.0) / 3)
    assert avg["weighted"]["recall"] == pytest.approx(0.7)     # weighted recall == accuracy
    norm = r.confusion_normalized()
    assert norm[1] == pytest.approx([1 / 3, 2 / 3, 0.0])
    assert all(sum(row) == pytest.approx(1.0) for row in norm)


def test_cells_sorted_most_confident_mistake_first():
    table = [("cat", "dog", 0.6), ("cat", "dog", 0.9), ("cat", "dog", 0.75),
             ("cat", "cat", 0.8), ("cat", "cat", 0.55), ("dog", "dog", 0.9), ("owl", "owl", 0.9)]
    ds, pred = make(table)
    r = evaluate(pred, ds)
    wrong = r.cell(0, 1)
    assert [x.confidence for x in wrong] == [0.9, 0.75, 0.6]
    assert all(x.true_class == "cat" and x.pred_class == "dog" and not x.correct for x in wrong)
    right = r.cell(0, 0)
    assert [x.confidence for x in right] == [0.55, 0.8]        # least sure right answers first
    assert r.cell(2, 0) == []
    assert [x.confidence for x in r.mistakes()] == [0.9, 0.75, 0.6]


def test_unknown_dataset_class_is_a_clear_error():
    ds, pred = make(model_classes=("cat", "dog"))
    with pytest.raises(FledgeError, match="owl") as exc:
        evaluate(pred, ds)
    assert "Train a new model" in str(exc.value)


def test_model_only_class_gets_a_column():
    table = TABLE + [("owl", "fox", 0.8)]
    ds, pred = make(table, model_classes=("fox", "owl", "dog", "cat"))
    r = evaluate(pred, ds)
    assert r.classes == CLASSES + ["fox"]
    assert r.confusion[2] == [0, 1, 2, 1] and r.confusion[3] == [0, 0, 0, 0]
    fox = r.per_class()[3]
    assert (fox.precision, fox.recall, fox.support) == (0.0, 0.0, 0)


def test_empty_split_and_bad_split_name():
    ds, pred = make()
    with pytest.raises(FledgeError, match="test split .* no images"):
        evaluate(pred, ds, "test")
    with pytest.raises(FledgeError, match="Unknown split"):
        evaluate(pred, ds, "holdout")


def test_stop_returns_partial_consistent_result():
    ds, pred = make()
    seen = []

    def progress(done, total):
        seen.append((done, total))

    r = evaluate(pred, ds, progress=progress, should_stop=lambda: len(seen) >= 4)
    assert r.stopped and r.evaluated == 4 and r.total == 10
    assert sum(map(sum, r.confusion)) == 4
    assert seen[-1] == (4, 10)
    assert "Stopped early" in r.format_text()


def test_dict_is_json_and_round_trips():
    ds, pred = make(extra=[("owl", "empty file (0 bytes)")])
    r = evaluate(pred, ds)
    d = json.loads(json.dumps(r.to_dict()))
    assert d["accuracy"] == pytest.approx(0.7)
    assert d["confusion"] == [[3, 1, 0], [1, 2, 0], [0, 1, 2]]
    assert d["per_class"][0] == {"name": "cat", "precision": 0.75, "recall": 0.75, "f1": 0.75, "support": 4}
    assert d["errors"] == [{"path": "/data/val/owl/broken0.jpg", "reason": "empty file (0 bytes)"}]
    back = EvaluationResult.from_dict(d)
    assert back.confusion == r.confusion and back.images == r.images and back.errors == r.errors
    assert back.cell(0, 1) == r.cell(0, 1)


def test_format_text_has_table_and_matrix_with_names():
    ds, pred = make()
    text = evaluate(pred, ds).format_text()
    assert "Accuracy: 70.0% (7 of 10 right)" in text
    lines = text.splitlines()
    cat_row = next(line for line in lines if line.startswith("cat ") and "0.750" in line)
    assert cat_row.split() == ["cat", "0.750", "0.750", "0.750", "4"]
    header = next(i for i, line in enumerate(lines) if line.startswith("Confusion matrix"))
    assert lines[header + 1].split() == CLASSES
    assert lines[header + 2].split() == ["cat", "3", "1", "0"]
    assert lines[header + 4].split() == ["owl", "0", "1", "2"]
    assert "67%" in text        # dog row: 2 of 3 right


def test_relabel_counts_moved_photos_in_their_new_class_and_back():
    ds, pred = make()
    r = evaluate(pred, ds)
    cat_as_dog = r.cell(0, 1)[0]                    # img03: labelled cat, the model says dog
    new_path = "/data/val/dog/img03.jpg"
    moved = relabel(r, [(cat_as_dog.path, new_path, "dog"), ("/not/evaluated.jpg", "/x.jpg", "dog"),
                        (r.images[0].path, "/y.jpg", "no such class")])
    assert moved.confusion == [[3, 0, 0], [1, 3, 0], [0, 1, 2]] and moved.accuracy == pytest.approx(0.8)
    assert new_path in [x.path for x in moved.cell(1, 1)] and cat_as_dog.path not in [x.path for x in moved.images]
    assert moved.images[0].path == r.images[0].path
    # The result relabelled is left as it was (the window may still show it).
    assert r.confusion == [[3, 1, 0], [1, 2, 0], [0, 1, 2]] and r.cell(0, 1)[0].path == cat_as_dog.path
    back = relabel(moved, [(new_path, cat_as_dog.path, "cat")])
    assert back.confusion == r.confusion and back.images == r.images


def test_evaluate_folder_splits_the_way_the_model_was_trained(tmp_path):
    from PIL import Image

    from core.data.dataset import scan_dataset
    from core.progress import JobProgress

    root = tmp_path / "pets"
    for cls in ("cat", "dog"):
        for i in range(10):
            (root / cls).mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (8, 8), (25 * i, 100 * (cls == "dog"), 0)).save(root / cls / f"{cls}{i}.png")
    split = {"seed": 7, "val_fraction": 0.5, "test_fraction": 0.0}
    pred = FakePredictor(["cat", "dog"], {f"{c}{i}.png": (c, 0.9) for c in ("cat", "dog") for i in range(10)})
    pred.info = {"split": split, "config": dict(split)}
    events = []
    r = evaluate_folder(pred, str(root), "val", report=events.append)
    expected = sorted(s.path for s in scan_dataset(str(root), verify=False, **split).val)
    assert expected != sorted(s.path for s in scan_dataset(str(root), verify=False).val)   # the seed matters
    assert sorted(x.path for x in r.images) == expected
    n = len(expected)
    assert r.total == n and r.accuracy == 1.0
    assert events[0] == JobProgress("scanning") and events[1] == JobProgress("evaluating", 0, n)
    assert events[-1] == JobProgress("evaluating", n, n)


# -- when do mistakes point at wrong labels? (issue 14, item 10) ---------------------------------

def _two_class(right_a: int, right_b: int, n: int = 20, wrong_conf: float = 0.9, classes=("cat", "dog")):
    """n photos of each of two classes; right_a / right_b of them recognised, the rest taken for the
    other class at wrong_conf."""
    table = []
    for true, right in zip(classes, (right_a, right_b)):
        other = classes[1] if true == classes[0] else classes[0]
        table += [(true, true, 0.85)] * right + [(true, other, wrong_conf)] * (n - right)
    samples, answers = [], {}
    for i, (t, p, conf) in enumerate(table):
        path = f"/data/val/{t}/img{i:02d}.jpg"
        samples.append(Sample(path, classes.index(t)))
        answers[path] = (p, conf)
    ds = SimpleNamespace(root="/data", classes=list(classes), train=[], val=samples, test=[])
    return evaluate(FakePredictor(list(classes), answers), ds)


def test_baseline_is_always_answering_the_commonest_class():
    ds, pred = make()                                 # 4 cats, 3 dogs, 3 owls
    assert evaluate(pred, ds).baseline() == ("cat", pytest.approx(0.4))
    empty = EvaluationResult(classes=["a"], confusion=[[0]], images=[])
    assert empty.baseline() is None and not empty.is_strong() and cell_advice(empty, 0, 0) is None


def test_only_a_strong_sure_model_blames_the_labels():
    weak = _two_class(20, 5)                          # 62.5 %: weaker than the rule asks
    advice = cell_advice(weak, 1, 0)
    assert not weak.is_strong() and advice.verdict == "weak" and not advice.labels_suspect
    assert advice.accuracy == pytest.approx(0.625) and advice.baseline == pytest.approx(0.5)
    assert advice.confidence == pytest.approx(0.9)

    strong = _two_class(20, 19)                       # 97.5 % against a 50 % baseline
    assert strong.is_strong() and cell_advice(strong, 1, 0).labels_suspect
    assert cell_advice(strong).labels_suspect         # all mistakes together
    assert cell_advice(strong, 0, 0) is None          # right answers: nothing to advise on
    unsure = _two_class(20, 19, wrong_conf=0.6)
    assert cell_advice(unsure, 1, 0).verdict == "unsure"
    assert cell_advice(strong, 0, 1).verdict == "unsure"     # an empty cell: nothing sure in it

    few = _two_class(5, 4, n=5)                       # 90 %, but on 10 photos
    assert few.accuracy == pytest.approx(0.9) and cell_advice(few, 1, 0).verdict == "few"


def test_strong_means_well_above_the_majority_class_not_just_a_high_accuracy():
    # 90 % right where always saying "cat" gets 80 %, finding only half the dogs: not strong.
    table = [("cat", "cat", 0.9)] * 40 + [("dog", "cat", 0.95)] * 5 + [("dog", "dog", 0.9)] * 5
    samples = [Sample(f"/d/val/{t}/{i}.jpg", ["cat", "dog"].index(t)) for i, (t, _p, _c) in enumerate(table)]
    answers = {s.path: (p, c) for s, (_t, p, c) in zip(samples, table)}
    ds = SimpleNamespace(root="/d", classes=["cat", "dog"], train=[], val=samples, test=[])
    r = evaluate(FakePredictor(["cat", "dog"], answers), ds)
    assert r.accuracy == pytest.approx(0.9) and r.baseline() == ("cat", pytest.approx(0.8))
    assert not r.is_strong() and cell_advice(r, 1, 0).verdict == "weak"


def test_relabel_summary_groups_moves_and_drops_non_moves():
    moves = [("cat", "dog"), ("cat", "dog"), ("owl", "dog"), ("dog", "dog")]
    assert relabel_summary(moves) == [("cat", "dog", 2), ("owl", "dog", 1)]


def test_an_answer_that_is_not_a_number_is_not_evaluated():
    ds, pred = make(table=[("cat", "cat", 0.9), ("dog", "dog", float("nan"))])
    r = evaluate(pred, ds)
    assert r.evaluated == 1 and r.total == 2 and r.accuracy == 1.0
    assert r.errors == [("/data/val/dog/img01.jpg", "the model gave no usable answer (its output is not a number)")]


def test_the_result_keeps_the_model_s_and_the_dataset_s_classes():
    ds, pred = make(model_classes=("owl", "dog", "cat", "fox"))
    r = evaluate(pred, ds)
    assert r.model_classes == ["owl", "dog", "cat", "fox"] and r.dataset_classes == CLASSES
    back = EvaluationResult.from_dict(json.loads(json.dumps(r.to_dict())))
    assert back.model_classes == r.model_classes and back.dataset_classes == r.dataset_classes


def test_advice_and_the_move_question_in_words():
    weak = _two_class(20, 5, classes=("ants", "bees"))
    text = advice_text(cell_advice(weak, 1, 0))
    assert "only 62.5% right" in text and "'ants' would get 50.0%" in text and "its own mistakes" in text
    assert "often the label is wrong" in advice_text(cell_advice(_two_class(20, 19), 1, 0))
    assert "too few" in advice_text(cell_advice(_two_class(5, 4, n=5), 1, 0))
    assert advice_text(None) == ""

    lines = move_question([("bees", "ants")], cell_advice(weak, 1, 0))
    assert lines[0] == "Move 1 photo labelled bees into the ants class folder?"
    assert "its own mistakes" in lines[-1]            # the caution, as the model is weak
    strong = cell_advice(_two_class(20, 19), 1, 0)
    lines = move_question([("cat", "dog"), ("cat", "dog"), ("cat", "owl")], strong)
    assert lines[:3] == ["Move 3 photos to other classes?", "  • 2 photos from cat to dog",
                         "  • 1 photo from cat to owl"]
    assert not any("own mistakes" in line for line in lines)


def test_notes_keep_the_evaluated_score_apart_from_the_relabelled_one():
    ds, pred = make()
    r = evaluate(pred, ds)
    wrong = r.cell(0, 1)[0]
    placed = relabel(r, [(wrong.path, "/data/val/dog/img03.jpg", "dog")])
    assert moved_note(r, r, 0) == ""
    note = moved_note(r, placed, 1)
    assert note.startswith("1 photo moved to another class") and "gives 80.0%; that is not the model's score" in note
    notes = result_notes(r, placed, 1, "best.pt")
    assert notes[:2] == ["Dataset: /data", "Model: best.pt"] and notes[-1] == note

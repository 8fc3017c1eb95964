"""`fledge thresholds` and the thresholds it saves, used by `fledge classify` unless --threshold is given.

End to end through subprocesses with the real checkpoint of test_photo_commands (it answers
"bird" at 0.8 for every picture), and in this process with a fake model for exact figures.
"""
from __future__ import annotations

import argparse
import json
import os

import pytest
import torch

from core.cli import photos, thresholds
from tests.core.cli.test_photo_commands import fledge, fledge_together, model, picture  # noqa: F401 (fixture)
from tests.fakes import FakePredictor


def val_dataset(root, per_class=10):
    for split in ("train", "val"):
        for cls, colour in (("bird", (200, 10, 10)), ("plane", (10, 10, 200))):
            for i in range(per_class if split == "val" else 2):
                picture(root / split / cls / f"{cls}{i}.png", colour)
    return root


def test_saved_thresholds_send_photos_to_review_unless_threshold_overrides(model, tmp_path):
    data, cam, cam2 = val_dataset(tmp_path / "data"), tmp_path / "cam", tmp_path / "cam2"
    for i in range(3):      # two folders: two sorts of one folder at once are refused (source lock)
        picture(cam / f"IMG_{i}.jpg", (200, 10, 10))
        picture(cam2 / f"IMG_{i}.jpg", (200, 10, 10))
    # Every answer is "bird" at 0.8 and half are wrong: 90 % precision is out of reach for both classes.
    done = fledge("thresholds", model, data, "--precision", "0.9", "--save")
    assert done.returncode == 0, done.stderr
    assert "'bird' never reaches 90 % precision on the validation photos (at best 50 %)" in done.stdout
    assert f"Saved in {model}" in done.stdout
    assert torch.load(model, weights_only=True)["thresholds"]["classes"] == {"bird": 1.0, "plane": 1.0}
    saved, overridden = fledge_together(("classify", model, cam, "--sort-into", tmp_path / "a"),
                                        ("classify", model, cam2, "--sort-into", tmp_path / "b", "--threshold", "0.5"))
    assert saved.returncode == 0 and overridden.returncode == 0, saved.stderr + overridden.stderr
    assert ("Using the review thresholds saved in the model (bird to review (not right often enough), plane to "
            "review (too little evidence))") in saved.stderr
    assert "The model's own thresholds: bird to review (not right often enough)" in saved.stdout
    assert sorted(os.listdir(tmp_path / "a" / "_review")) == ["IMG_0.jpg", "IMG_1.jpg", "IMG_2.jpg"]
    assert sorted(os.listdir(tmp_path / "b" / "bird")) == ["IMG_0.jpg", "IMG_1.jpg", "IMG_2.jpg"]
    assert "review thresholds" not in overridden.stderr
    cleared = fledge("thresholds", model, "--clear")
    assert cleared.returncode == 0 and "thresholds" not in torch.load(model, weights_only=True)


@pytest.fixture
def command(tmp_path, monkeypatch):
    """Run a subcommand in this process with a fake model (answers from run.predictor.answers)."""
    fake = FakePredictor(["bird", "plane"])
    fake.info = {"config": {}}
    monkeypatch.setattr(photos, "_load_predictor", lambda path, device: fake)
    monkeypatch.setattr(thresholds, "_load_predictor", lambda path, device: fake)
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    photos.register(sub)
    thresholds.register(sub)

    def run(*args):
        parsed = parser.parse_args([*map(str, args)])
        return parsed.func(parsed)
    run.predictor = fake
    return run


def test_thresholds_prints_the_table_and_saves_exact_values(command, model, tmp_path, capsys):
    data = val_dataset(tmp_path / "data", per_class=30)
    # bird: 27 right at .95, 3 taken for planes at .60 .65 .72; plane: 30 right at .99, .98 ... .70.
    answers = {f"bird{i}.png": ("bird", 0.95) for i in range(27)}
    answers.update({"bird27.png": ("plane", 0.60), "bird28.png": ("plane", 0.65), "bird29.png": ("plane", 0.72)})
    answers.update({f"plane{i}.png": ("plane", round(0.99 - i * 0.01, 2)) for i in range(30)})
    command.predictor.answers = answers
    assert command("thresholds", model, data, "--precision", "0.9", "--precision", "bird=0.99", "--save") == 0
    out = capsys.readouterr().out
    saved = torch.load(model, weights_only=True)["thresholds"]
    # plane: 30 of 33 right from 0 (91 %) promise only 79 %; the 27 of 27 from .73 promise 90.9 %.
    assert saved["classes"] == {"bird": 1.0, "plane": 0.73} and saved["review"] == {"bird": "evidence"}
    assert saved["targets"] == {"bird": 0.99, "plane": 0.9} and saved["photos"] == 60
    assert ("At 90 % precision for 'plane' (sorted when the model is at least 73 % sure), about 10 % of the photos go "
            "to review") in out
    assert ("'bird': 27 of the 27 validation photos the model named 'bird' were right, too little evidence to "
            "promise 99 % precision (it could be as low as 90.8 %), so its photos go to review. With about 241 "
            "more validation photos of 'bird'") in out
    table = out.splitlines()
    assert table[1].split() == ["class", "target", "threshold", "precision", "promised", "recall", "to", "review",
                                "photos"]
    assert table[2].split()[:3] == ["bird", "99.0%", "review"] and "(all to review: too little evidence)" in table[2]
    assert table[3].split()[:5] == ["plane", "90.0%", "0.730", "100.0%", "90.9%"]


def test_a_tiny_camera_set_asking_98_percent_sorts_no_wrong_photo_in(command, model, tmp_path, capsys):
    """Issue 20: 62 validation photos, --precision 0.98: every class got the global 0.00, including
    one whose only validation photo was wrong, and 3 voles of 4 were filed as lemmings."""
    data = tmp_path / "dump"
    counts = {"empty": 60, "lemming": 1, "vole": 1}
    for cls, n in counts.items():
        picture(data / "train" / cls / f"t_{cls}.png", (10, 10, 10))
        for i in range(n):
            picture(data / "val" / cls / f"{cls}{i}.png", (10 + i, 10, 10))
    answers = {f"empty{i}.png": ("empty", 0.99) for i in range(60)}
    answers.update({"vole0.png": ("lemming", 0.95), "lemming0.png": ("lemming", 0.9)})
    cam = tmp_path / "cam"
    for i in range(4):
        picture(cam / f"vole_{i}.jpg", (80, 40, 20))
        answers[f"vole_{i}.jpg"] = ("lemming", 0.96)
    picture(cam / "empty.jpg", (10, 10, 10))
    answers["empty.jpg"] = ("empty", 0.999)
    command.predictor.classes = list(counts)
    command.predictor.answers = answers
    assert command("thresholds", model, data, "--precision", "0.98", "--save") == 0
    out = capsys.readouterr().out
    assert "No class has the validation photos to promise 98 % precision" in out
    assert "With about 73 more validation photos of 'empty' that the model gets right" in out
    assert "'lemming' never reaches 98 % precision on the validation photos (at best 50 %)" in out
    command.predictor.info = {"thresholds": torch.load(model, weights_only=True)["thresholds"]}
    assert command("classify", model, cam, "--sort-into", tmp_path / "sorted") == 0
    assert not (tmp_path / "sorted" / "lemming").exists()
    assert sorted(os.listdir(tmp_path / "sorted" / "_review")) == ["empty.jpg"] + [f"vole_{i}.jpg" for i in range(4)]
    out = capsys.readouterr().out
    assert ("The model's own thresholds: empty to review (too little evidence), lemming to review (not right often "
            "enough), vole to review (too little evidence).") in out
    # As JSON, and with a looser promise (90 % confidence): 60 of 60 right now promise 97.3 %, still short of 98 %.
    assert command("thresholds", model, data, "--precision", "0.98", "--confidence", "0.9", "--json") == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["review"] == {"empty": "evidence", "lemming": "unreachable", "vole": "evidence"}
    assert doc["confidence"] == 0.9 and doc["saved"] is False
    empty = next(c for c in doc["per_class"] if c["name"] == "empty")
    assert empty["threshold"] is None and empty["needed"] == 21


def test_classify_uses_the_models_thresholds_and_threshold_overrides_them(command, tmp_path, capsys):
    cam, model_file = tmp_path / "cam", tmp_path / "model.pt"
    model_file.write_bytes(b"not read: the predictor is a fake")
    for name in ("a.jpg", "b.jpg"):
        picture(cam / name, (200, 10, 10))
    command.predictor.answers = {"a.jpg": ("plane", 0.85), "b.jpg": ("bird", 0.85)}
    command.predictor.info = {"thresholds": {"classes": {"plane": 0.9}, "default": 0.5}}
    assert command("classify", model_file, cam, "--sort-into", tmp_path / "one") == 0
    assert os.listdir(tmp_path / "one" / "_review") == ["a.jpg"] and os.listdir(tmp_path / "one" / "bird") == ["b.jpg"]
    assert command("classify", model_file, cam, "--sort-into", tmp_path / "two", "--threshold", "0.8") == 0
    assert not os.path.exists(tmp_path / "two" / "_review")
    assert os.listdir(tmp_path / "two" / "plane") == ["a.jpg"]
    assert command("thresholds", model_file, tmp_path, "--precision", "2") == 2
    assert "--precision must be above 0 and at most 1" in capsys.readouterr().err


@pytest.mark.parametrize("mode", [0o444, 0o644], ids=["0444", "0644"])
def test_save_refuses_a_read_only_model_and_keeps_a_shared_ones_mode(command, model, tmp_path, capsys, mode):
    from core.cli.main import main

    data, copy = val_dataset(tmp_path / "data"), tmp_path / f"model-{mode:o}.pt"
    copy.write_bytes(open(model, "rb").read())
    os.chmod(copy, mode)
    before = copy.read_bytes()
    command.predictor.answers = {f"{c}{i}.png": (c, 0.9) for c in ("bird", "plane") for i in range(10)}
    code = main(["thresholds", str(copy), str(data), "--precision", "0.9", "--save"])
    assert os.stat(copy).st_mode & 0o777 == mode
    if mode == 0o444:
        assert code == 1 and copy.read_bytes() == before
        assert f"{copy} is read-only, so Fledge left it as it is" in capsys.readouterr().err
    else:
        assert code == 0 and "thresholds" in torch.load(copy, weights_only=True)


def test_a_precision_for_a_class_the_model_lacks_is_refused_before_evaluating(command, tmp_path, capsys):
    data, model_file = val_dataset(tmp_path / "data"), tmp_path / "model.pt"
    model_file.write_bytes(b"not read: the predictor is a fake")
    assert command("thresholds", model_file, data, "--precision", "cat=0.9", "--save") == 2
    assert capsys.readouterr().err == ("fledge: --precision cat=...: the model has no class 'cat'. Its classes "
                                       "are: bird, plane.\n")
    assert command.predictor.asked == []                 # no photo was evaluated
    assert model_file.read_bytes() == b"not read: the predictor is a fake"

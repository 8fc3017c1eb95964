"""The review thresholds saved in a model travel into its export: export.json holds them, Fledge
sorts with them from the export folder and says so, the stand-alone predict.py marks the photos
a sort would send to review, and damaged thresholds in export.json are refused."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from core.errors import FledgeError
from core.model.checkpoints import save_thresholds
from core.model.export import export_model
from core.model.export.loading import load_predictor
from core.photos.answers_csv import decode_path
from core.photos.thresholds import ReviewThresholds, model_thresholds
from tests.core.conftest import draw_class_image, save_image
from tests.core.model.export_support import csv_rows, fledge, run_model, small_cnn, standalone, tricky_photos

SIZE = 64
# bird: always sorted; plane: only from 0.9; cat: no threshold (too little evidence), always to review.
RECORD = {"classes": {"bird": 0.0, "cat": 1.0, "plane": 0.9}, "review": {"cat": "evidence"}, "default": 1.0,
          "targets": {"bird": 0.9, "cat": 0.9, "plane": 0.9}, "target": 0.9, "confidence": 0.95, "split": "val",
          "photos": 120}


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> tuple[Path, Path]:
    model_path = run_model(tmp_path_factory.mktemp("thresholds"), small_cnn(SIZE), "small_cnn", SIZE)
    save_thresholds(model_path, RECORD)
    result = export_model(model_path, "onnx")
    assert result.ok, result.reason
    return model_path, Path(result.folder)


def _camera(folder: Path) -> Path:
    tricky_photos(folder)
    for i in range(9):
        save_image(draw_class_image(i % 3, (90, 70), seed=60 + i), folder / f"cam_{i}.jpg")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    return folder


def test_the_thresholds_travel_into_export_json_and_load_back(exported):
    _, folder = exported
    meta = json.loads((folder / "export.json").read_text(encoding="utf-8"))
    assert meta["thresholds"] == RECORD
    predictor = load_predictor(str(folder), device="cpu")
    assert model_thresholds(predictor) == ReviewThresholds(1.0, {"bird": 0.0, "plane": 0.9}, {"cat": "evidence"})
    assert "plane 0.90" in (folder / "README.md").read_text(encoding="utf-8")


def test_a_sort_from_the_export_and_predict_py_alone_decide_alike(exported, tmp_path, capsys):
    _, folder = exported
    cam, dest, ours = _camera(tmp_path / "cam"), tmp_path / "sorted", tmp_path / "predict.csv"
    code, out, err = fledge(capsys, "classify", folder, cam, "--sort-into", dest)
    assert code == 0, err
    assert "The model's own thresholds: bird 0.00, plane 0.90, cat to review (too little evidence)." in out
    assert "Using the review thresholds saved in the model" in err
    sorted_into = {name: category for category in os.listdir(dest) if os.path.isdir(dest / category)
                   for name in os.listdir(dest / category)}
    proc = standalone(tmp_path, folder / "predict.py", cam, "--csv", ours)
    assert proc.returncode == 0, proc.stderr
    _cols, rows = csv_rows(ours)
    decided = {os.path.basename(decode_path(r["path"])): r["decision"] for r in rows}
    assert decided == sorted_into and len(decided) == 14
    assert "cat" not in decided.values() and decided["broken.jpg"] == "_unreadable"
    cats = [r for r in rows if r["class"] == "cat"]
    assert cats and all(r["decision"] == "_review" for r in cats)
    one = standalone(tmp_path, folder / "predict.py", cam / cats[0]["path"].rsplit("/", 1)[-1])
    assert one.returncode == 0 and "to review: no threshold could promise the precision asked for 'cat'" in one.stderr
    assert [line.split("\t")[0] for line in one.stdout.splitlines()][0] == "cat"     # the answers, as before


def test_damaged_thresholds_in_export_json_are_refused(exported, tmp_path):
    _, folder = exported
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    meta = json.loads((copy / "export.json").read_text(encoding="utf-8"))
    meta["thresholds"]["classes"]["plane"] = "high"
    (copy / "export.json").write_text(json.dumps(meta), encoding="utf-8")
    with pytest.raises(FledgeError, match="review thresholds are unusable"):
        load_predictor(str(copy), device="cpu")

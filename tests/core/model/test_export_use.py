"""fledge classify and fledge predict from an ONNX export folder: the same answers, sorting,
journal and undo as from the .pt it was made from; files that are not a Fledge export are
refused with what is wrong and what to do."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper

from core.errors import FledgeError
from core.model.export import export_model
from core.model.export.loading import load_predictor, resolve_model_path
from core.model.export.onnx_predictor import OnnxPredictor
from core.model.predictor import Predictor
from core.photos.sorting import JOURNAL_NAME
from tests.core.conftest import draw_class_image, save_image
from tests.core.model.export_support import (CLASSES, assert_same_answers, fledge, fledge_predict_top,
                                             run_model, small_cnn, tricky_photos)

SIZE = 64


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> tuple[Path, Path]:
    """(the .pt, its ONNX export folder): one export for the whole module."""
    model_path = run_model(tmp_path_factory.mktemp("use"), small_cnn(SIZE), "small_cnn", SIZE)
    result = export_model(model_path, "onnx")
    assert result.ok, result.reason
    return model_path, Path(result.folder)


def _photos(folder: Path) -> Path:
    tricky_photos(folder)
    for i in range(6):
        save_image(draw_class_image(i % 3, (90, 70), seed=40 + i), folder / f"cam_{i}.jpg")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    return folder


# -- the same answers -----------------------------------------------------------------------

def test_the_loader_gives_an_onnx_predictor_for_an_export_and_answers_as_the_pt(exported, tmp_path):
    model_path, folder = exported
    photos = [str(p) for p in sorted(_photos(tmp_path / "p").iterdir())]
    pt = load_predictor(resolve_model_path(model_path.parent), device="cpu")
    assert type(pt) is Predictor
    want = pt.probabilities(photos)
    for given in (folder, folder / "model.onnx"):
        onnx = load_predictor(resolve_model_path(given), device="cpu")
        assert isinstance(onnx, OnnxPredictor) and onnx.classes == CLASSES
        got = onnx.probabilities(photos, batch_size=3)
        assert np.isnan(got[-1]).all() == np.isnan(want[-1]).all()         # broken.jpg, unread by both
        np.testing.assert_allclose(got, want, atol=1e-4)
        assert onnx.predict(photos[0]).label == pt.predict(photos[0]).label


def test_classify_from_the_export_writes_the_csv_of_the_pt(exported, tmp_path, capsys):
    model_path, folder = exported
    photos = _photos(tmp_path / "birdcam")
    csvs = {}
    for name, model in (("pt", model_path), ("folder", folder), ("onnx", folder / "model.onnx")):
        csvs[name] = tmp_path / f"{name}.csv"
        code, out, err = fledge(capsys, "classify", model, photos, "--csv", csvs[name], "--top-k", 3)
        assert code == 0, err
    rows = assert_same_answers(csvs["pt"], csvs["folder"])
    assert_same_answers(csvs["pt"], csvs["onnx"])
    assert len(rows) == 11 and sum(1 for r in rows if r["error"]) == 1


def test_fledge_predict_from_the_export_gives_the_top_classes_of_the_pt(exported, tmp_path, capsys):
    model_path, folder = exported
    for photo in tricky_photos(tmp_path / "p"):
        want = fledge_predict_top(capsys, model_path, photo)
        got = fledge_predict_top(capsys, folder, photo)
        assert [c for c, _ in got] == [c for c, _ in want], photo.name
        assert [p for _, p in got] == pytest.approx([p for _, p in want], abs=1e-4), photo.name


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.name.startswith(".")}      # the journal and its lock aside


def _journal(source: Path, dest: Path) -> list[tuple]:
    """What the journal says was done to which photo, where to and why (the model's class)."""
    out = []
    for line in (dest / JOURNAL_NAME).read_text().splitlines():
        rec = json.loads(line)
        if rec["t"] == "intent":
            out.append((rec["kind"], str(Path(rec["src"]).relative_to(source)),
                        str(Path(rec["dst"]).relative_to(dest)), rec["meta"]["category"]))
        else:
            out.append((rec["t"], rec.get("mode"), rec.get("total"), rec.get("size"), rec.get("sha256")))
    return out


def _threshold(probabilities: np.ndarray) -> float:
    """A threshold that sends some photos to _review and is nowhere near any photo's answer."""
    tops = np.sort(probabilities[~np.isnan(probabilities).any(axis=1)].max(axis=1))
    gaps = np.diff(tops)
    i = int(np.argmax(gaps))
    assert gaps[i] > 1e-3
    return float((tops[i] + tops[i + 1]) / 2)


def test_sort_and_undo_from_the_export_do_exactly_what_they_do_from_the_pt(exported, tmp_path, capsys):
    model_path, folder = exported
    original = _photos(tmp_path / "original")
    paths = [str(p) for p in sorted(original.iterdir())]
    threshold = _threshold(Predictor.from_checkpoint(model_path, device="cpu").probabilities(paths))
    before = _tree(original)
    trees, journals = {}, {}
    for name, model in (("pt", model_path), ("export", folder)):
        source, dest = tmp_path / name / "birdcam", tmp_path / name / "sorted"
        shutil.copytree(original, source)
        code, out, err = fledge(capsys, "classify", model, source, "--sort-into", dest, "--move",
                                "--threshold", f"{threshold:.6f}")
        assert code == 0, err
        assert _tree(source) == {}                                    # every photo was moved
        trees[name], journals[name] = _tree(dest), _journal(source, dest)
    assert trees["export"] == trees["pt"]
    places = {p.split("/")[0] for p in trees["pt"]}
    assert {"_review", "_unreadable"} < places <= {"_review", "_unreadable", *CLASSES}
    assert journals["export"] == journals["pt"] and journals["pt"]
    for name in ("pt", "export"):
        code, out, err = fledge(capsys, "undo", tmp_path / name / "sorted")
        assert code == 0, err + out
        assert _tree(tmp_path / name / "birdcam") == before          # everything back, unchanged
        assert _tree(tmp_path / name / "sorted") == {}


# -- what is refused ------------------------------------------------------------------------

def _graph(nodes, input_shape, output_shape) -> bytes:
    """A valid ONNX model that is no Fledge export, built by hand."""
    graph = helper.make_graph(nodes, "foreign",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, input_shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, output_shape)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]).SerializeToString()


IDENTITY = _graph([helper.make_node("Identity", ["x"], ["y"])], ["N", 10], ["N", 10])
# The right input and one number per class, but no probabilities: the mean of each channel.
CHANNEL_MEANS = _graph([helper.make_node("GlobalAveragePool", ["x"], ["m"]),
                        helper.make_node("Flatten", ["m"], ["y"], axis=1)],
                       ["N", 3, SIZE, SIZE], ["N", 3])


def _edit_meta(folder: Path, change) -> None:
    meta = json.loads((folder / "export.json").read_text())
    change(meta)
    (folder / "export.json").write_text(json.dumps(meta))


def _set(path: list[str], value):
    def change(meta):
        target = meta
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return change


DEEP = '{"format": ' * 100_000 + "1" + "}" * 100_000     # Python's JSON parser recurses once per level

# name: (how the copied export is spoiled, what is given, words the refusal must hold)
SPOILED = {
    "truncated": (lambda f: (f / "model.onnx").write_bytes((f / "model.onnx").read_bytes()[:5000]),
                  "", "is damaged or is not an ONNX model"),
    "random bytes": (lambda f: (f / "model.onnx").write_bytes(np.random.default_rng(0).bytes(4096)),
                     "model.onnx", "is damaged or is not an ONNX model"),
    "empty": (lambda f: (f / "model.onnx").write_bytes(b""), "", "is damaged or is not an ONNX model"),
    "foreign, no json": (lambda f: ((f / "model.onnx").write_bytes(IDENTITY), (f / "export.json").unlink()),
                         "", "has no export.json beside it"),
    "foreign .onnx, no json": (lambda f: ((f / "other.onnx").write_bytes(IDENTITY), (f / "export.json").unlink()),
                               "other.onnx", "has no export.json beside it"),
    "foreign, fledge json": (lambda f: (f / "model.onnx").write_bytes(IDENTITY),
                             "", "takes (any, 10) tensor(float) where a Fledge export takes photos"),
    "not probabilities": (lambda f: (f / "model.onnx").write_bytes(CHANNEL_MEANS),
                          "", "are not one probability for each of its 3 classes"),
    "other input size": (lambda f: _edit_meta(f, _set(["preprocessing", "crop"], 32)),
                         "", "takes (any, 3, 64, 64) tensor(float) where a Fledge export takes photos as "
                             "(any, 3, 32, 32)"),
    "other classes": (lambda f: _edit_meta(f, _set(["classes"], ["a", "b", "c", "d"])),
                      "", "answers (any, 3) where a Fledge export answers one probability for each of its 4"),
    "json damaged": (lambda f: (f / "export.json").write_text('{"format": "fledge-exp'),
                     "", "export.json is damaged (it is not readable JSON)"),
    "json foreign": (lambda f: (f / "export.json").write_text('{"labels": ["a", "b"]}'),
                     "", "was not written by 'fledge export'"),
    "json incomplete": (lambda f: _edit_meta(f, lambda m: m.pop("preprocessing")),
                        "", "export.json is damaged (it does not say how photos are prepared)"),
    "model missing": (lambda f: (f / "model.onnx").unlink(), "", "is missing from the export folder"),
    "json nested 100,000 deep": (lambda f: (f / "export.json").write_text(DEEP),
                                 "", "export.json is damaged (it is nested far deeper than an export's)"),
    "a class named ..": (lambda f: _edit_meta(f, _set(["classes"], [CLASSES[0], "..", CLASSES[2]])),
                         "", "export.json is damaged (the class name '..' would be a folder name"),
    "a class with a slash": (lambda f: _edit_meta(f, _set(["classes"], [CLASSES[0], "a/b", CLASSES[2]])),
                             "", "export.json is damaged (the class name 'a/b' holds a slash"),
    "a class twice": (lambda f: _edit_meta(f, _set(["classes"], [CLASSES[0], CLASSES[0], CLASSES[2]])),
                      "", f"export.json is damaged (its list of classes names '{CLASSES[0]}' twice)"),
}


@pytest.mark.parametrize("case", list(SPOILED))
def test_a_spoiled_or_foreign_export_is_refused_with_what_to_do(exported, tmp_path, capsys, case):
    spoil, given, words = SPOILED[case]
    folder = tmp_path / "export"
    shutil.copytree(exported[1], folder)
    spoil(folder)
    photos = tricky_photos(tmp_path / "photos")
    with pytest.raises(FledgeError) as caught:
        load_predictor(resolve_model_path(folder / given), device="cpu")
    assert words in str(caught.value)
    code, out, err = fledge(capsys, "classify", folder / given, photos[0].parent, "--sort-into", tmp_path / "dest")
    assert code == 1 and out == ""
    assert words in err and "export the model again with 'fledge export MODEL.pt'" in err, err
    assert "Traceback" not in err and not (tmp_path / "dest").exists()
    code, out, err = fledge(capsys, "predict", folder / given, photos[0])
    assert code == 1 and words in err


def test_a_torchscript_or_newer_export_is_refused_with_the_reason(exported, tmp_path, capsys):
    folder = tmp_path / "export"
    shutil.copytree(exported[1], folder)
    _edit_meta(folder, _set(["model", "format"], "torchscript"))
    code, _, err = fledge(capsys, "predict", folder, tricky_photos(tmp_path / "p")[0])
    assert code == 1 and "TorchScript export" in err and "--format onnx" in err
    _edit_meta(folder, _set(["format_version"], 99))
    code, _, err = fledge(capsys, "predict", folder, tricky_photos(tmp_path / "p")[0])
    assert code == 1 and "newer version of Fledge" in err


def test_an_export_is_not_exported_or_evaluated_again(exported, tmp_path, capsys):
    model_path, folder = exported
    for command in (("export", folder), ("evaluate", folder, tmp_path)):
        code, _, err = fledge(capsys, *command)
        assert code == 1 and "is an exported model" in err and str(model_path) in err, err
    deep = tmp_path / "deep"
    shutil.copytree(folder, deep)
    (deep / "export.json").write_text(DEEP)
    code, _, err = fledge(capsys, "evaluate", deep, tmp_path)
    assert code == 1 and "is an exported model; this needs the Fledge model file (.pt) it was made from." in err


# -- fledge bench --export's measurements ---------------------------------------------------

def test_the_export_bench_times_each_runner_in_its_own_process(exported, tmp_path):
    from core.bench import export as bench

    model_path, folder = exported
    photos = _photos(tmp_path / "photos")
    for runner, model in (("predict.py", folder), ("fledge", model_path), ("fledge-export", folder)):
        figures = bench._measure_in_process(runner, str(model), str(photos / "plain.jpg"), str(photos), 3)
        assert figures["folder_photos"] == 11 and figures["folder_photos_per_s"] > 0
        assert figures["photo_ms_median"] > 0
        assert figures["torch_loaded"] is (runner != "predict.py")   # predict.py runs without torch
    wall, out = bench._run(bench._commands("predict.py", str(model_path), str(folder),
                                           str(photos / "plain.jpg"), None), "answer")
    assert wall > 0 and out.split("\t")[0] in CLASSES

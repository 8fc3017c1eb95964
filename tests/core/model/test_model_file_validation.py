"""A model file's fields are checked before anything is built from them; odd files never hang."""
from __future__ import annotations

import os
import threading

import pytest
import torch

from core.errors import CheckpointError
from core.model.checkpoints import atomic_save, load_checkpoint, model_from_checkpoint
from core.model.predictor import Predictor
from tests.core.model.test_checkpoints import CLASSES, _edited, _save, _trained_looking


@pytest.mark.parametrize("size", [1, 15, 20000, 10**6, -3, 32.0, True])
def test_absurd_image_sizes_are_refused_in_plain_words(tmp_path, size):
    path = _edited(tmp_path, image_size=size)
    with pytest.raises(CheckpointError, match="image size"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="image size"):
        Predictor.from_checkpoint(path, device="cpu")


@pytest.mark.parametrize("changes,words", [
    ({"classes": ["only"]}, "classes"),
    ({"classes": ["a", "a", "b"]}, "twice"),
    ({"classes": ["bird", ".."]}, "the class name '..' would be a folder name that means another folder"),
    ({"classes": [".", "bird"]}, "the class name '.' would be"),
    ({"classes": ["bird", ""]}, "a class name is empty"),
    ({"classes": ["bird", "../../etc"]}, "holds a slash"),
    ({"classes": ["bird", "a\\b"]}, "holds a slash"),
    ({"classes": ["bird", "a\0b"]}, "no folder name can have"),
    ({"mean": [0.5, 0.5]}, "mean"),
    ({"std": [0.5, 0.0, 0.5]}, "std"),
    ({"std": [float("nan"), 0.5, 0.5]}, "std"),
    ({"state_dict": {}}, "weights"),
])
def test_broken_fields_are_named(tmp_path, changes, words):
    with pytest.raises(CheckpointError, match=words):
        load_checkpoint(_edited(tmp_path, **changes))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_weights_run_in_fp32(tmp_path, dtype):
    model = _trained_looking()
    path = tmp_path / "m.pt"
    _save(path, model)
    ckpt = torch.load(path, weights_only=True)
    ckpt["state_dict"] = {k: v.to(dtype) if v.is_floating_point() else v for k, v in ckpt["state_dict"].items()}
    torch.save(ckpt, path)
    loaded = model_from_checkpoint(load_checkpoint(path))
    x = torch.randn(2, 3, 32, 32)
    with torch.inference_mode():
        assert torch.allclose(loaded(x), model(x), atol=0.1)       # same model, rounded weights
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    predictor = Predictor.from_checkpoint(path, device="cpu")
    assert predictor.classes == CLASSES


def test_a_fifo_as_model_file_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "model.pt"
    os.mkfifo(fifo)
    result = {}

    def load():
        try:
            load_checkpoint(fifo)
        except CheckpointError as exc:
            result["error"] = str(exc)

    t = threading.Thread(target=load, daemon=True)
    t.start()
    t.join(timeout=20)
    if t.is_alive():                 # unblock the reader so the test process can end
        with open(fifo, "wb"):
            pass
        pytest.fail("loading a FIFO blocked")
    assert "not an ordinary file" in result["error"]


def test_zip_writer_failure_is_the_full_disk_message(tmp_path, monkeypatch):
    def failing(obj, f, *a, **k):
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 64 vs 0")

    monkeypatch.setattr(torch, "save", failing)
    with pytest.raises(CheckpointError, match="disk is not full"):
        atomic_save({"v": 1}, tmp_path / "x.pt")
    assert os.listdir(tmp_path) == []


def test_weights_that_are_not_numbers_are_refused(tmp_path):
    path = tmp_path / "m.pt"
    _save(path, _trained_looking())
    ckpt = torch.load(path, weights_only=True)
    name = next(k for k, v in ckpt["state_dict"].items() if v.is_floating_point())
    ckpt["state_dict"][name] = torch.full_like(ckpt["state_dict"][name], float("nan"))
    torch.save(ckpt, path)
    with pytest.raises(CheckpointError, match="not numbers"):
        load_checkpoint(path)


def test_a_model_output_that_is_not_a_number_is_no_answer(tmp_path):
    """A photo the model gives NaN for gets no class (sorting then never files it as one)."""
    from tests.core.conftest import draw_class_image

    path = tmp_path / "m.pt"
    _save(path, _trained_looking())
    predictor = Predictor.from_checkpoint(path, device="cpu")
    predictor.model.register_forward_hook(lambda m, i, out: out * float("nan"))
    photos = [draw_class_image(0), draw_class_image(1)]
    for pred in [predictor.predict(photos[0]), *predictor.predict_many(photos)]:
        assert pred.top == [] and pred.label is None and "not a number" in pred.error

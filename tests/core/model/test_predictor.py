"""Predictor: same preprocessing as validation, one photo or many, never raising on a bad file."""
from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from core.data.decoder import decode_square
from core.data.transforms import cache_size_for, eval_batch
from core.model.checkpoints import save_checkpoint
from core.model.predictor import FEW_PHOTOS, Prediction, Predictor
from core.model.architectures import IMAGENET_MEAN, IMAGENET_STD
from core.model.networks import build_model

CLASSES = ["circle", "square", "stripe"]
SIZE = 32


def _picture(path, kind: int, seed: int, size=(57, 41)):
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 120, (size[1], size[0], 3), dtype=np.uint8)
    im = Image.fromarray(arr)
    d = ImageDraw.Draw(im)
    if kind == 0:
        d.ellipse((10, 8, 40, 35), fill=(250, 240, 20))
    elif kind == 1:
        d.rectangle((12, 10, 38, 32), fill=(20, 200, 250))
    else:
        d.rectangle((0, 18, size[0], 24), fill=(240, 30, 30))
    im.save(path)
    return str(path)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(3)
    m, _ = build_model("small_cnn", len(CLASSES), image_size=SIZE)
    m.train()
    with torch.no_grad():                 # move BatchNorm statistics off their defaults
        m(torch.randn(16, 3, SIZE, SIZE))
    return m.eval()


@pytest.fixture
def ckpt_path(tmp_path, model):
    path = tmp_path / "best.pt"
    save_checkpoint(path, model, arch="small_cnn", classes=CLASSES, image_size=SIZE,
                    mean=IMAGENET_MEAN, std=IMAGENET_STD, config={}, metrics={"val_acc": 0.9})
    return path


@pytest.fixture
def photos(tmp_path):
    return [_picture(tmp_path / f"p{i}.{'png' if i % 2 else 'jpg'}", i % 3, i) for i in range(7)]


def _reference(model, path) -> np.ndarray:
    """What validation computes: the pipeline's decode + eval transform, then the model."""
    arr = decode_square(path, cache_size_for(SIZE))
    x = eval_batch(torch.from_numpy(arr[None]), SIZE, IMAGENET_MEAN, IMAGENET_STD)
    with torch.inference_mode():
        return model(x).softmax(1)[0].numpy()


def test_checkpoint_predicts_like_the_original_model(ckpt_path, model, photos):
    p = Predictor.from_checkpoint(ckpt_path, device="cpu")
    assert p.classes == CLASSES and p.image_size == SIZE and p.arch == "small_cnn"
    assert p.device == torch.device("cpu")
    assert p.info["metrics"] == {"val_acc": 0.9} and "state_dict" not in p.info
    assert not p.model.training
    for path in photos:
        pred = p.predict(path, top_k=3)
        ref = _reference(model, path)
        got = dict(pred.top)
        assert pred.error is None and pred.source == path
        assert [c for c, _ in pred.top] == [CLASSES[i] for i in np.argsort(-ref)]
        assert np.allclose([got[c] for c in CLASSES], ref, atol=1e-5)
        assert pred.label == pred.top[0][0] and pred.probability == pred.top[0][1]


def test_predict_accepts_path_bytes_and_pil(ckpt_path, photos):
    p = Predictor.from_checkpoint(ckpt_path, device="auto")
    path = photos[0]
    data = open(path, "rb").read()
    with Image.open(path) as im:
        pil = im.copy()
    a, b, c = p.predict(path), p.predict(data), p.predict(pil)
    assert a.source == path and b.source == "<image data>" and c.source == "<image>"
    for other in (b, c):
        assert other.error is None
        assert [k for k, _ in other.top] == [k for k, _ in a.top]
        assert np.allclose([v for _, v in other.top], [v for _, v in a.top], atol=1e-6)


def _has_batchnorm(predictor) -> bool:
    return any(isinstance(m, torch.nn.BatchNorm2d) for m in predictor.model.modules())


def test_a_known_number_of_photos_starts_without_warm_up_and_a_few_without_folding(
        ckpt_path, model, photos, monkeypatch):
    warmed = []
    monkeypatch.setattr(Predictor, "warmup", lambda self: warmed.append(self))
    few = Predictor.from_checkpoint(ckpt_path, device="cpu", photos=FEW_PHOTOS)
    many = Predictor.from_checkpoint(ckpt_path, device="cpu", photos=FEW_PHOTOS + 1)
    assert warmed == [] and _has_batchnorm(few) and not _has_batchnorm(many)
    window = Predictor.from_checkpoint(ckpt_path, device="cpu")      # how many is not known
    assert warmed == [window] and not _has_batchnorm(window)
    for path in photos:             # unfolded, the answers are still the model's
        assert np.allclose([dict(few.predict(path, top_k=3).top)[c] for c in CLASSES],
                           _reference(model, path), atol=1e-5)


def test_top_k_is_clipped_to_the_classes(ckpt_path, photos):
    p = Predictor.from_checkpoint(ckpt_path, device="cpu")
    assert len(p.predict(photos[0], top_k=10).top) == 3
    assert len(p.predict(photos[0], top_k=1).top) == 1
    assert len(p.predict(photos[0], top_k=0).top) == 1
    assert abs(sum(v for _, v in p.predict(photos[0], top_k=99).top) - 1) < 1e-5


def test_unreadable_images_give_errors_not_exceptions(ckpt_path, tmp_path):
    p = Predictor.from_checkpoint(ckpt_path, device="cpu")
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    text = tmp_path / "notes.jpg"
    text.write_text("not a picture")
    for src in (str(empty), str(text), str(tmp_path / "missing.png"), b"garbage bytes"):
        pred = p.predict(src)
        assert isinstance(pred, Prediction)
        assert pred.error and pred.top == [] and pred.label is None and pred.probability == 0.0


def test_predict_many_keeps_order_and_reports_broken_files(ckpt_path, photos, tmp_path):
    p = Predictor.from_checkpoint(ckpt_path, device="cpu")
    broken = tmp_path / "broken.jpg"
    good = open(photos[1], "rb").read()
    broken.write_bytes(good[: len(good) // 3])     # a truncated file
    items = photos[:3] + [str(broken)] + photos[3:]
    seen = []
    preds = p.predict_many(items, batch_size=3, top_k=2, workers=2,
                           progress=lambda done, total: seen.append((done, total)))
    assert [x.source for x in preds] == items
    assert preds[3].error and preds[3].top == []
    for path, pred in zip(items, preds):
        if path == str(broken):
            continue
        single = p.predict(path, top_k=2)
        assert pred.error is None and len(pred.top) == 2
        assert [k for k, _ in pred.top] == [k for k, _ in single.top]
        assert np.allclose([v for _, v in pred.top], [v for _, v in single.top], atol=1e-5)
    assert seen[-1] == (len(items), len(items))
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_predict_many_stops_when_asked(ckpt_path, photos):
    p = Predictor.from_checkpoint(ckpt_path, device="cpu")
    stop = threading.Event()

    def progress(done, total):
        stop.set()

    preds = p.predict_many(photos, batch_size=2, progress=progress, should_stop=stop.is_set)
    assert [x.source for x in preds] == photos[:2]
    assert p.predict_many([], batch_size=2) == []


def test_probabilities(ckpt_path, model, photos, tmp_path):
    p = Predictor.from_checkpoint(ckpt_path, device="cpu")
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG broken")
    probs = p.probabilities(photos[:2] + [str(bad)], batch_size=2)
    assert probs.shape == (3, 3) and probs.dtype == np.float32
    assert np.isnan(probs[2]).all()
    assert np.allclose(probs[0], _reference(model, photos[0]), atol=1e-5)
    assert np.allclose(probs[:2].sum(1), 1, atol=1e-5)


def test_from_model_and_big_photos(model, tmp_path):
    path = _picture(tmp_path / "big.jpg", 0, 1, size=(1600, 1200))
    p = Predictor.from_model(model, CLASSES, SIZE, IMAGENET_MEAN, IMAGENET_STD, "cpu")
    pred = p.predict(path)
    assert pred.error is None and len(pred.top) == 3


def test_inception_predictor_at_its_minimum_size(tmp_path):
    torch.manual_seed(0)
    m, _ = build_model("inception_v3", 2, image_size=80)
    save_checkpoint(tmp_path / "i.pt", m, arch="inception_v3", classes=["a", "b"], image_size=80,
                    mean=IMAGENET_MEAN, std=IMAGENET_STD, config={}, metrics={})
    p = Predictor.from_checkpoint(tmp_path / "i.pt", device="cpu")
    pred = p.predict(_picture(tmp_path / "x.png", 1, 0))
    assert pred.error is None and {c for c, _ in pred.top} == {"a", "b"}


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_predictions_match_cpu(ckpt_path, photos):
    cpu = Predictor.from_checkpoint(ckpt_path, device="cpu")
    gpu = Predictor.from_checkpoint(ckpt_path, device="cuda")
    assert gpu.device.type == "cuda"
    a = cpu.predict_many(photos, batch_size=4)
    b = gpu.predict_many(photos, batch_size=4)
    for x, y in zip(a, b):                         # bf16 autocast: close, not equal
        assert abs(dict(x.top)["circle"] - dict(y.top)["circle"]) < 0.03

"""Heat maps (core.model.explain): where the model looked, for every architecture."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from core.data.transforms import cache_size_for, eval_batch
from core.errors import FledgeError
from core.model.explain import NEEDS_PT, HeatMapper, explain, feature_layer
from core.model.networks import ARCHITECTURES, build_model
from core.model.predictor import Predictor

SIZE = 64
SQUARE = 14


def _square_photo(rng, with_square: bool):
    """A noisy grey 64x64 photo; the 'square' class has a bright square somewhere in it."""
    arr = rng.integers(60, 140, (SIZE, SIZE, 3), dtype=np.uint8)
    where = None
    if with_square:
        x, y = (int(v) for v in rng.integers(4, SIZE - SQUARE - 4, 2))
        arr[y:y + SQUARE, x:x + SQUARE] = 245
        where = (x, y)
    return arr, where


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """On a busy 2-core machine more torch threads only wait for each other (ten times slower)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def square_predictor():
    """A small CNN trained (a few seconds) to tell photos with a bright square from plain noise."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    photos, labels = [], []
    for i in range(240):
        arr, _ = _square_photo(rng, i % 2 == 1)
        photos.append(arr)
        labels.append(i % 2)
    spec = ARCHITECTURES["small_cnn"]
    x = eval_batch(torch.from_numpy(np.stack(photos)), SIZE, spec.mean, spec.std)
    y = torch.tensor(labels)
    model, _ = build_model("small_cnn", 2, SIZE)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for _epoch in range(5):
        for idx in torch.randperm(len(y)).split(32):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
    return Predictor.from_model(model, ["plain", "square"], SIZE, spec.mean, spec.std, "cpu", arch="small_cnn")


def test_heat_map_peaks_on_the_drawn_square_not_the_background(square_predictor, tmp_path):
    rng = np.random.default_rng(123)
    mapper = HeatMapper(square_predictor)
    assert mapper.method == "Grad-CAM"
    inside, outside, hits = [], [], 0
    for i in range(8):
        arr, (x, y) = _square_photo(rng, True)
        path = tmp_path / f"square{i}.png"
        Image.fromarray(arr).save(path)
        assert square_predictor.predict(str(path)).label == "square"
        hm = mapper.explain(str(path))
        assert hm.class_name == "square" and hm.probability > 0.5
        assert hm.heat.shape == (SIZE, SIZE) and hm.overlay.size == (SIZE, SIZE)
        mask = np.zeros((SIZE, SIZE), bool)
        mask[y:y + SQUARE, x:x + SQUARE] = True
        inside.append(hm.heat[mask].mean())
        outside.append(hm.heat[~mask].mean())
        py, px = np.unravel_index(np.argmax(hm.heat), hm.heat.shape)
        hits += abs(px - (x + SQUARE / 2)) <= SQUARE and abs(py - (y + SQUARE / 2)) <= SQUARE
    assert hits >= 7, f"the heat map peaked on the square in only {hits} of 8 photos"
    assert np.mean(inside) > 2.5 * np.mean(outside), (np.mean(inside), np.mean(outside))


def test_heat_map_has_the_photo_size_and_dims_what_the_model_never_saw(square_predictor):
    photo = Image.fromarray(np.full((60, 150, 3), 120, np.uint8))    # wide: the sides are cut off
    hm = explain(square_predictor, photo)
    assert hm.heat.shape == (60, 150) and hm.overlay.size == (150, 60)
    assert hm.heat.dtype == np.float32 and 0.0 <= hm.heat.min() and hm.heat.max() <= 1.0
    edge = np.asarray(hm.overlay)[:, :30]
    assert (hm.heat[:, :30] == 0).all() and edge.max() < 120           # unseen: zero heat, dimmed
    small = explain(square_predictor, photo, max_side=75)
    assert small.overlay.size == (75, 30) and small.heat.shape == (30, 75)


def test_the_predictor_is_left_as_it_was(square_predictor):
    photo = Image.fromarray(np.random.default_rng(5).integers(0, 255, (64, 64, 3), dtype=np.uint8))
    before = square_predictor.predict(photo).top
    params = [p.detach().clone() for p in square_predictor.model.parameters()]
    mapper = HeatMapper(square_predictor)
    mapper.explain(photo)
    assert square_predictor.predict(photo).top == before
    assert all(torch.equal(a, b) for a, b in zip(params, square_predictor.model.parameters()))
    assert not any(isinstance(m, type(mapper._probe)) for m in square_predictor.model.modules())


def test_a_chosen_class_and_an_unknown_class(square_predictor):
    photo = Image.fromarray(np.full((64, 64, 3), 100, np.uint8))
    assert explain(square_predictor, photo, class_name="plain").class_name == "plain"
    with pytest.raises(FledgeError, match="no class 'cat'"):
        explain(square_predictor, photo, class_name="cat")


def _stand_in(arch: str, size: int):
    """A Predictor's face over a freshly built network, without the BatchNorm folding (which
    the tests above and test_folded_predictors cover), so that all sixteen fit in a minute."""
    spec = ARCHITECTURES[arch]
    model, _ = build_model(arch, 2, size)
    return SimpleNamespace(model=model.eval(), classes=["a", "b"], image_size=size, mean=spec.mean,
                           std=spec.std, cache_size=cache_size_for(size))


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_every_architecture_gives_a_heat_map_the_photo_size(arch):
    torch.manual_seed(0)
    size = ARCHITECTURES[arch].min_size
    predictor = _stand_in(arch, size)
    photo = Image.fromarray(np.random.default_rng(1).integers(0, 255, (45, 70, 3), dtype=np.uint8))
    hm = HeatMapper(predictor).explain(photo)
    assert hm.heat.shape == (45, 70) and hm.overlay.size == (70, 45) and hm.overlay.mode == "RGB"
    assert np.isfinite(hm.heat).all() and hm.heat.min() >= 0 and hm.heat.max() <= 1
    assert hm.method == ("saliency" if arch == "simplenet" else "Grad-CAM")


@pytest.mark.parametrize("arch", ["resnet18", "mobilenet_v3_small"])
def test_folded_predictors_use_the_last_feature_map(arch):
    """The Predictor folds BatchNorm into a torch.fx copy; the map is still found and flows."""
    torch.manual_seed(0)
    size = 64
    spec = ARCHITECTURES[arch]
    model, _ = build_model(arch, 2, size)
    predictor = Predictor.from_model(model, ["a", "b"], size, spec.mean, spec.std, "cpu", arch=arch)
    mapper = HeatMapper(predictor)
    assert type(predictor.model).__name__ == "GraphModule"             # folded indeed
    assert mapper.layer == "avgpool"                                   # the last block's 2x2 map
    assert feature_layer(model.eval(), size) == "avgpool"              # the unfolded network agrees
    photo = Image.fromarray(np.random.default_rng(2).integers(0, 255, (64, 64, 3), dtype=np.uint8))
    hm = mapper.explain(photo)
    assert hm.heat.shape == (64, 64) and hm.heat.max() > 0             # gradients flowed


def test_an_onnx_export_is_refused_plainly():
    from core.model.export.onnx_predictor import OnnxPredictor

    onnx = OnnxPredictor.__new__(OnnxPredictor)
    onnx.model, onnx.classes = None, ["a", "b"]                        # as OnnxPredictor sets it
    with pytest.raises(FledgeError) as err:
        HeatMapper(onnx)
    assert str(err.value) == NEEDS_PT and "heat maps need the .pt model file" in NEEDS_PT.lower()

"""bf16 where the hardware computes it, BatchNorm folded for every network the Predictor runs,
and answers that stay those of fp32."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from core.model import devices
from core.model import offline_backbone as ob
from core.model.predictor import Predictor
from core.training.features import Backbone
from tests.core.conftest import draw_class_image


@pytest.fixture
def fresh_probe(monkeypatch):
    monkeypatch.delenv("FLEDGE_CPU_BF16", raising=False)
    devices.cpu_has_fast_bf16.cache_clear()
    yield
    devices.cpu_has_fast_bf16.cache_clear()


def test_bf16_is_chosen_only_where_the_cpu_has_it(monkeypatch, fresh_probe):
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False, raising=False)
    assert devices.inference_dtype(torch.device("cpu")) is None
    devices.cpu_has_fast_bf16.cache_clear()
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True, raising=False)
    assert devices.inference_dtype(torch.device("cpu")) == torch.bfloat16


def test_bf16_can_be_turned_off(monkeypatch, fresh_probe):
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True, raising=False)
    monkeypatch.setenv("FLEDGE_CPU_BF16", "0")
    assert devices.inference_dtype(torch.device("cpu")) is None


def test_a_broken_probe_means_fp32(monkeypatch, fresh_probe):
    def broken():
        raise RuntimeError("changed")
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", broken, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", broken, raising=False)
    assert devices.inference_dtype(torch.device("cpu")) is None


def test_precision_is_part_of_the_feature_cache_key():
    net = torch.nn.Identity()
    fp32 = Backbone("b-1", net, 32, (0.5,) * 3, (0.5,) * 3, 3)
    bf16 = Backbone("b-1", net, 32, (0.5,) * 3, (0.5,) * 3, 3, precision="bf16")
    assert fp32.variant != bf16.variant
    # fp32 features cached before precision was part of the key stay valid.
    assert Backbone("b-1", net, 32, (0.5,) * 3, (0.5,) * 3, 3).variant == fp32.variant


@pytest.fixture(scope="module")
def quick_model():
    torch.manual_seed(0)
    model = ob.imagenet_model()
    model.reset_classifier(3)
    return model.eval()


def _photos(n: int = 6) -> list:
    return [draw_class_image(i % 3, 96, seed=i) for i in range(n)]


def test_the_quick_model_is_predicted_with_batchnorm_folded(quick_model, monkeypatch):
    monkeypatch.setattr(devices, "inference_dtype", lambda device: None)
    monkeypatch.setattr("core.model.predictor.inference_dtype", lambda device: None)
    p = Predictor.from_model(quick_model, ["a", "b", "c"], 224, ob.MEAN, ob.STD, "cpu")
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in p.model.modules())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in quick_model.modules())   # a copy was folded
    x = torch.randn(2, 3, 224, 224)
    with torch.inference_mode():
        assert torch.allclose(quick_model(x), p.model(x.contiguous(memory_format=torch.channels_last)),
                              atol=1e-3)


def test_bf16_answers_are_the_fp32_answers(quick_model, monkeypatch):
    photos = _photos()
    monkeypatch.setattr("core.model.predictor.inference_dtype", lambda device: None)
    fp32 = Predictor.from_model(quick_model, ["a", "b", "c"], 224, ob.MEAN, ob.STD, "cpu")
    monkeypatch.setattr("core.model.predictor.inference_dtype", lambda device: torch.bfloat16)
    bf16 = Predictor.from_model(quick_model, ["a", "b", "c"], 224, ob.MEAN, ob.STD, "cpu")
    a, b = fp32.probabilities(photos), bf16.probabilities(photos)
    assert np.abs(a - b).max() < 0.05
    assert (a.argmax(1) == b.argmax(1)).mean() >= 5 / 6


def test_export_parity_is_measured_against_fp32(quick_model, monkeypatch):
    monkeypatch.setattr("core.model.predictor.inference_dtype", lambda device: torch.bfloat16)
    p = Predictor(quick_model, ["a", "b", "c"], 224, ob.MEAN, ob.STD, "cpu", precision="fp32")
    assert p._amp_dtype is None

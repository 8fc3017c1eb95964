"""Fledge's EfficientNet-Lite is timm's tf_efficientnet_lite, layer for layer: the same tensors
under the same names, the same answers, and BatchNorm folding changes only the rounding."""
from __future__ import annotations

import pytest
import torch

from core.model.efficientnet_lite import VARIANTS, EfficientNetLite, fold_batchnorm, make_divisible

timm = pytest.importorskip("timm")


def _with_varied_statistics(sd: dict) -> dict:
    """Random weights leave BatchNorm's running statistics at 0 and 1, which a folding mistake
    would not show: give them values."""
    gen = torch.Generator().manual_seed(0)
    out = {}
    for key, value in sd.items():
        if key.endswith("running_var"):
            value = torch.rand(value.shape, generator=gen) + 0.5
        elif key.endswith("running_mean"):
            value = torch.randn(value.shape, generator=gen) * 0.1
        out[key] = value
    return out


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_same_tensors_and_answers_as_timm(variant):
    reference = timm.create_model(f"tf_efficientnet_{variant}", pretrained=False, num_classes=7).eval()
    own = EfficientNetLite(variant, 7).eval()
    sd = _with_varied_statistics(reference.state_dict())
    assert {k: v.shape for k, v in own.state_dict().items()} == {k: v.shape for k, v in sd.items()}
    reference.load_state_dict(sd)
    own.load_state_dict(sd, strict=True)
    torch.manual_seed(1)
    for size in (VARIANTS[variant][2], 97):          # odd sizes exercise the asymmetric padding
        x = torch.randn(2, 3, size, size)
        with torch.inference_mode():
            assert torch.equal(own(x), reference(x))


def test_folding_changes_only_the_rounding():
    model = EfficientNetLite("lite2", 5)
    model.load_state_dict(_with_varied_statistics(model.state_dict()))
    model.eval()
    x = torch.randn(2, 3, 131, 131)
    with torch.inference_mode():
        want = model(x)
        folded = fold_batchnorm(model)
        got = folded(x)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    assert torch.allclose(got, want, atol=1e-3 * float(want.abs().max()))
    assert fold_batchnorm(folded) is folded          # folding twice changes nothing


def test_classifier_resets_and_features_are_1280_wide():
    model = EfficientNetLite("lite0", 3).eval()
    model.reset_classifier(0)
    with torch.inference_mode():
        assert model(torch.randn(1, 3, 64, 64)).shape == (1, 1280)
    model.reset_classifier(4)
    with torch.inference_mode():
        assert model(torch.randn(1, 3, 64, 64)).shape == (1, 4)
    with pytest.raises(ValueError):
        EfficientNetLite("lite9")


def test_channels_round_as_tensorflow_does():
    assert make_divisible(16 * 1.1) == 16 and make_divisible(40 * 1.1) == 48
    assert make_divisible(24 * 1.1) == 24 and make_divisible(4.0) == 8


def test_fresh_classifiers_start_as_timms_do():
    """Construction initializes as the EfficientNet code (uniform in 1/sqrt(classes)); a reset
    classifier as PyTorch's Linear (uniform in 1/sqrt(1280)): a head's first steps depend on it."""
    torch.manual_seed(0)
    built = EfficientNetLite("lite0", 4).classifier.weight.detach()
    assert 0.3 < float(built.abs().max()) <= 0.5
    model = EfficientNetLite("lite0", 4)
    model.reset_classifier(4)
    assert float(model.classifier.weight.detach().abs().max()) <= 1 / 1280 ** 0.5

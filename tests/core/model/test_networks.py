"""The architecture registry, head replacement, train mode and logits."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from core.errors import FledgeError
from core.model.architectures import IMAGENET_MEAN, IMAGENET_STD
from core.model.networks import (ARCHITECTURES, aux_logits, build_model, classifier_parameters,
                                 main_logits, set_train_mode)

EXPECTED = ["simplenet", "small_cnn", "resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
            "vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn", "vgg11", "vgg13", "vgg16", "vgg19",
            "densenet121", "densenet169", "densenet201", "squeezenet1_0", "squeezenet1_1", "alexnet",
            "inception_v3", "mobilenet_v3_small", "mobilenet_v3_large", "efficientnet_b0", "efficientnet_lite0",
            "efficientnet_lite1", "efficientnet_lite2", "convnext_tiny"]


def test_registry_order_and_facts():
    assert list(ARCHITECTURES) == EXPECTED
    for name, spec in ARCHITECTURES.items():
        assert spec.name == name
        assert len(spec.description) > 20 and "\n" not in spec.description
        assert spec.min_size <= spec.input_size
        # The EfficientNet-Lites' TensorFlow weights take pixels scaled to -1..1.
        lite = name.startswith("efficientnet_lite")
        imagenet = (IMAGENET_MEAN, IMAGENET_STD) if not lite else ((0.5,) * 3,) * 2
        assert (spec.mean, spec.std) == imagenet
        assert spec.pretrained_available == (name not in ("simplenet", "small_cnn"))
    assert ARCHITECTURES["inception_v3"].input_size == 299
    assert ARCHITECTURES["small_cnn"].input_size == 64
    assert ARCHITECTURES["simplenet"].input_size in (32, 48)


@pytest.mark.parametrize("arch", EXPECTED)
def test_every_arch_builds_and_gives_logits(arch):
    torch.manual_seed(0)
    size = ARCHITECTURES[arch].min_size
    model, warnings = build_model(arch, 3, image_size=size)
    assert warnings == []
    model.eval()
    with torch.inference_mode():
        out = model(torch.randn(1, 3, size, size))
    assert out.shape == (1, 3)
    assert torch.isfinite(out).all()
    head = classifier_parameters(model, arch)
    assert head and all(p.shape[0] == 3 for p in head)


@pytest.mark.parametrize("arch", ["small_cnn", "resnet18", "squeezenet1_0", "squeezenet1_1", "mobilenet_v3_small"])
def test_train_mode_forward_and_backward(arch):
    size = ARCHITECTURES[arch].min_size
    model, _ = build_model(arch, 3, image_size=size)
    set_train_mode(model, arch, False)
    out = main_logits(model(torch.randn(2, 3, size, size)))
    assert out.shape == (2, 3)
    out.sum().backward()
    assert all(p.grad is not None for p in classifier_parameters(model, arch))


def test_models_accept_sizes_above_the_minimum():
    model, _ = build_model("resnet18", 2, image_size=97)
    with torch.inference_mode():
        assert model.eval()(torch.randn(1, 3, 97, 97)).shape == (1, 2)


def test_image_size_limits_are_plain_errors():
    with pytest.raises(FledgeError, match="at least 75 pixels"):
        build_model("inception_v3", 3, image_size=64)
    with pytest.raises(FledgeError, match="at most 64 pixels"):
        build_model("simplenet", 3, image_size=224)
    with pytest.raises(FledgeError, match="Unknown architecture"):
        build_model("resnet9000", 3)


def test_simplenet_is_built_for_its_image_size():
    model, _ = build_model("simplenet", 4, image_size=48)
    assert model.features[1].in_features == 3 * 48 * 48
    with torch.inference_mode():
        assert model.eval()(torch.randn(2, 3, 48, 48)).shape == (2, 4)
    default, _ = build_model("simplenet", 4)
    assert default.features[1].in_features == 3 * 32 * 32


def test_small_cnn_size():
    model, _ = build_model("small_cnn", 2)
    n = sum(p.numel() for p in model.parameters())
    assert 50_000 <= n <= 300_000


def _discs_and_squares(n: int, seed: int, size: int = 32):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 3, size, size, generator=g) * 0.6
    y = torch.arange(n) % 2
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    for i in range(n):
        cx, cy = torch.randint(8, size - 8, (2,), generator=g).tolist()
        if y[i] == 0:
            x[i, :, (yy - cy) ** 2 + (xx - cx) ** 2 < 30] = 1.0     # bright disc
        else:
            x[i, :, cy - 5:cy + 5, cx - 5:cx + 5] = 0.0              # dark square
    return (x - 0.45) / 0.25, y


def test_small_cnn_learns_an_easy_task_quickly():
    x, y = _discs_and_squares(96, 0)
    xv, yv = _discs_and_squares(64, 1)
    torch.manual_seed(0)
    model, _ = build_model("small_cnn", 2, image_size=32)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    for _ in range(4):
        set_train_mode(model, "small_cnn", False)
        perm = torch.randperm(len(x))
        for b in range(0, len(x), 16):
            i = perm[b:b + 16]
            loss = nn.functional.cross_entropy(model(x[i]), y[i])
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    with torch.inference_mode():
        acc = (model(xv).argmax(1) == yv).float().mean().item()
    assert acc >= 0.8, acc


def test_inception_aux_head_in_train_mode_only():
    model, _ = build_model("inception_v3", 3, image_size=299)
    assert model.AuxLogits.fc.out_features == 3
    assert len(classifier_parameters(model, "inception_v3")) == 4   # fc + aux fc, weight + bias
    set_train_mode(model, "inception_v3", False)
    with torch.no_grad():
        out = model(torch.randn(2, 3, 299, 299))     # aux BatchNorm needs a batch > 1
    assert main_logits(out).shape == (2, 3)
    assert aux_logits(out).shape == (2, 3)
    assert aux_logits(torch.zeros(1, 3)) is None


def test_inception_below_299_has_no_aux_head():
    model, _ = build_model("inception_v3", 3, image_size=80)
    set_train_mode(model, "inception_v3", False)
    out = model(torch.randn(2, 3, 80, 80))
    assert main_logits(out).shape == (2, 3) and aux_logits(out) is None


def test_every_network_has_its_size_counted_without_building_its_weights():
    """The count agrees with torchvision's own figures for its ImageNet weights."""
    from torchvision import models as tvm

    from core.model.networks import network_size

    for arch, spec in ARCHITECTURES.items():
        size = network_size(arch)
        assert size.parameters > 0 and size.bytes >= 4 * size.parameters, arch
        if spec.pretrained_available and not arch.startswith("efficientnet_lite"):
            meta = tvm.get_model_weights(arch).DEFAULT.meta
            assert size.parameters == meta["num_params"], arch
            assert abs(size.bytes / 2**20 - meta["_file_size"]) < 0.02 * meta["_file_size"] + 0.1, arch
    assert network_size("resnet50").words == "25.6 M parameters, 98 MB"
    assert network_size("small_cnn", 2).words.endswith("k parameters, 0.4 MB")

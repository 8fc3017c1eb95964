"""The architecture registry, head replacement, pretrained weights (never downloaded)."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from core.model import networks as models
from core.errors import CheckpointError, FledgeError
from core.model.networks import (ARCHITECTURES, aux_logits, build_model, classifier_parameters,
                         main_logits, set_train_mode, weights_status)

EXPECTED = ["simplenet", "small_cnn", "resnet18", "resnet34", "resnet50", "vgg11_bn", "vgg16_bn",
            "densenet121", "squeezenet1_1", "alexnet", "inception_v3", "mobilenet_v3_small",
            "mobilenet_v3_large", "efficientnet_b0", "convnext_tiny"]
SMALL_PRETRAINED = "squeezenet1_1"     # 1.2M weights: cheap to save as a fake ImageNet file


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """An empty torch hub cache and no network; a download attempt fails the test."""
    hub = tmp_path / "hub"
    old = torch.hub.get_dir()
    torch.hub.set_dir(str(hub))
    monkeypatch.setattr(models, "_host_reachable", lambda url, timeout=1.5: False)

    def no_download(arch):
        raise AssertionError("tried to download without a network")

    monkeypatch.setattr(models, "_download_state_dict", no_download)
    yield hub
    torch.hub.set_dir(old)


def imagenet_state_dict(arch: str) -> dict:
    """What a torchvision ImageNet file holds: the architecture with 1000 classes."""
    from torchvision import models as tvm

    torch.manual_seed(123)
    return tvm.get_model(arch, weights=None).state_dict()


def test_registry_order_and_facts():
    assert list(ARCHITECTURES) == EXPECTED
    for name, spec in ARCHITECTURES.items():
        assert spec.name == name
        assert len(spec.description) > 20 and "\n" not in spec.description
        assert spec.min_size <= spec.input_size
        assert spec.mean == models.IMAGENET_MEAN and spec.std == models.IMAGENET_STD
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


@pytest.mark.parametrize("arch", ["small_cnn", "resnet18", "squeezenet1_1", "mobilenet_v3_small"])
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


def test_builtins_have_no_weights():
    assert weights_status("simplenet") == "none"
    assert weights_status("small_cnn") == "none"
    model, warnings = build_model("small_cnn", 2, pretrained=True)
    assert len(warnings) == 1 and "from scratch" in warnings[0]


def test_offline_without_cache_trains_from_scratch_and_says_so(offline):
    assert weights_status("resnet18") == "unavailable"
    model, warnings = build_model(SMALL_PRETRAINED, 3, pretrained=True)
    assert len(warnings) == 1
    w = warnings[0]
    assert "no internet" in w and "from scratch" in w and "weights file" in w
    assert models.weights_filename(SMALL_PRETRAINED) in w
    assert all(p.requires_grad for p in model.parameters())


def test_cached_weights_are_used(offline):
    path = models.cached_weights_path(SMALL_PRETRAINED)
    assert path.startswith(str(offline))
    sd = imagenet_state_dict(SMALL_PRETRAINED)
    (offline / "checkpoints").mkdir(parents=True)
    torch.save(sd, path)
    assert weights_status(SMALL_PRETRAINED) == "cached"
    model, warnings = build_model(SMALL_PRETRAINED, 3, pretrained=True)
    assert warnings == []
    assert torch.equal(model.state_dict()["features.0.weight"], sd["features.0.weight"])
    assert model.classifier[1].out_channels == 3


def test_download_is_used_when_reachable(offline, monkeypatch):
    sd = imagenet_state_dict(SMALL_PRETRAINED)
    monkeypatch.setattr(models, "_host_reachable", lambda url, timeout=1.5: True)
    monkeypatch.setattr(models, "_download_state_dict", lambda arch: sd)
    assert weights_status(SMALL_PRETRAINED) == "downloadable"
    model, warnings = build_model(SMALL_PRETRAINED, 3, pretrained=True)
    assert warnings == []
    assert torch.equal(model.state_dict()["features.3.squeeze.weight"],
                       sd["features.3.squeeze.weight"])


@pytest.mark.parametrize("error", [OSError("connection reset"), TimeoutError(),
                                   RuntimeError("invalid hash value")])
def test_failed_download_falls_back_to_scratch(offline, monkeypatch, error):
    def fail(arch):
        raise error

    monkeypatch.setattr(models, "_host_reachable", lambda url, timeout=1.5: True)
    monkeypatch.setattr(models, "_download_state_dict", fail)
    model, warnings = build_model(SMALL_PRETRAINED, 3, pretrained=True)
    assert len(warnings) == 1 and "Could not download" in warnings[0]
    assert "from scratch" in warnings[0]


def test_weights_path_from_same_arch(offline, tmp_path):
    src, _ = build_model(SMALL_PRETRAINED, 3)
    path = tmp_path / "mine.pth"
    torch.save({"state_dict": src.state_dict()}, path)
    model, warnings = build_model(SMALL_PRETRAINED, 3, pretrained=True, weights_path=str(path))
    assert warnings == []
    for k, v in src.state_dict().items():       # head too: its shape fits
        assert torch.equal(model.state_dict()[k], v), k


def test_weights_path_ignores_head_of_other_shape(offline, tmp_path):
    sd = imagenet_state_dict("resnet18")
    path = tmp_path / "resnet18-f37072fd.pth"
    torch.save({"model": {"module." + k: v for k, v in sd.items()}}, path)
    model, warnings = build_model("resnet18", 2, image_size=32, pretrained=True,
                                  weights_path=str(path))
    assert warnings == []
    assert torch.equal(model.layer4[1].conv2.weight, sd["layer4.1.conv2.weight"])
    assert model.fc.out_features == 2


def test_weights_path_of_another_arch_is_refused(offline, tmp_path):
    path = tmp_path / "other.pth"
    torch.save(imagenet_state_dict("squeezenet1_1"), path)
    with pytest.raises(CheckpointError, match="do not fit mobilenet_v3_small"):
        build_model("mobilenet_v3_small", 2, pretrained=True, weights_path=str(path))
    (tmp_path / "junk.pth").write_bytes(b"not weights at all")
    with pytest.raises(CheckpointError):
        build_model("mobilenet_v3_small", 2, pretrained=True, weights_path=str(tmp_path / "junk.pth"))


def test_weights_path_works_for_builtin_archs(tmp_path):
    from core.model.checkpoints import save_checkpoint

    src, _ = build_model("small_cnn", 2)
    save_checkpoint(tmp_path / "earlier.pt", src, arch="small_cnn", classes=["a", "b"],
                    image_size=64, mean=models.IMAGENET_MEAN, std=models.IMAGENET_STD,
                    config={}, metrics={})
    model, warnings = build_model("small_cnn", 4, pretrained=True,
                                  weights_path=str(tmp_path / "earlier.pt"))
    assert warnings == []
    assert torch.equal(model.features[0].weight, src.features[0].weight)
    assert model.fc.out_features == 4


def test_old_densenet_key_names_are_mapped():
    fixed = models._normalize_keys({"features.denseblock1.denselayer1.norm.1.weight": 1,
                                    "_orig_mod.features.conv0.weight": 2})
    assert fixed == {"features.denseblock1.denselayer1.norm1.weight": 1,
                     "features.conv0.weight": 2}


def test_freeze_backbone_trains_only_the_head(offline, tmp_path):
    path = tmp_path / "w.pth"
    torch.save(imagenet_state_dict("resnet18"), path)
    model, warnings = build_model("resnet18", 3, image_size=32, pretrained=True,
                                  weights_path=str(path), freeze_backbone=True)
    assert warnings == []
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"fc.weight", "fc.bias"}
    set_train_mode(model, "resnet18", True)
    assert model.training and model.fc.training
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bns and not any(m.training for m in bns)
    before = model.bn1.running_mean.clone()
    model(torch.randn(4, 3, 32, 32)).sum().backward()
    assert torch.equal(model.bn1.running_mean, before)
    set_train_mode(model, "resnet18", False)
    assert all(m.training for m in bns)


def test_freeze_without_weights_is_not_applied(offline):
    model, warnings = build_model("resnet18", 3, image_size=32, pretrained=True,
                                  freeze_backbone=True)
    assert any("not frozen" in w for w in warnings)
    assert all(p.requires_grad for p in model.parameters())
    set_train_mode(model, "resnet18", True)      # nothing frozen: BatchNorm keeps learning
    assert all(m.training for m in model.modules())


def test_host_check_is_cached(monkeypatch):
    calls = []

    def fake_connect(addr, timeout=None):
        calls.append(addr)
        raise OSError("unreachable")

    monkeypatch.setattr(models.socket, "create_connection", fake_connect)
    monkeypatch.setattr(models, "_reachable", {})
    monkeypatch.delenv("HTTPS_PROXY", raising=False)
    monkeypatch.delenv("https_proxy", raising=False)
    assert not models._host_reachable("https://download.example.org/x.pth")
    assert not models._host_reachable("https://download.example.org/y.pth")
    assert calls == [("download.example.org", 443)]

"""Pretrained ImageNet weights: cache, chosen file, download (never really downloaded)."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from core.errors import CheckpointError
from core.model import pretrained_weights as weights
from core.model.architectures import IMAGENET_MEAN, IMAGENET_STD
from core.model.networks import build_model, set_train_mode
from core.model.pretrained_weights import weights_status

SMALL_PRETRAINED = "squeezenet1_1"     # 1.2M weights: cheap to save as a fake ImageNet file


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """An empty torch hub cache and no network; a download attempt fails the test."""
    hub = tmp_path / "hub"
    old = torch.hub.get_dir()
    torch.hub.set_dir(str(hub))
    monkeypatch.setattr(weights, "_host_reachable", lambda url, timeout=1.5: False)

    def no_download(arch):
        raise AssertionError("tried to download without a network")

    monkeypatch.setattr(weights, "_download_state_dict", no_download)
    yield hub
    torch.hub.set_dir(old)


def imagenet_state_dict(arch: str) -> dict:
    """What a torchvision ImageNet file holds: the architecture with 1000 classes."""
    from torchvision import models as tvm

    torch.manual_seed(123)
    return tvm.get_model(arch, weights=None).state_dict()

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
    assert weights.weights_filename(SMALL_PRETRAINED) in w
    assert all(p.requires_grad for p in model.parameters())


def test_cached_weights_are_used(offline):
    path = weights.cached_weights_path(SMALL_PRETRAINED)
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
    monkeypatch.setattr(weights, "_host_reachable", lambda url, timeout=1.5: True)
    monkeypatch.setattr(weights, "_download_state_dict", lambda arch: sd)
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

    monkeypatch.setattr(weights, "_host_reachable", lambda url, timeout=1.5: True)
    monkeypatch.setattr(weights, "_download_state_dict", fail)
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
                    image_size=64, mean=IMAGENET_MEAN, std=IMAGENET_STD,
                    config={}, metrics={})
    model, warnings = build_model("small_cnn", 4, pretrained=True,
                                  weights_path=str(tmp_path / "earlier.pt"))
    assert warnings == []
    assert torch.equal(model.features[0].weight, src.features[0].weight)
    assert model.fc.out_features == 4


def test_old_densenet_key_names_are_mapped():
    fixed = weights._normalize_keys({"features.denseblock1.denselayer1.norm.1.weight": 1,
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

    monkeypatch.setattr(weights.socket, "create_connection", fake_connect)
    monkeypatch.setattr(weights, "_reachable", {})
    monkeypatch.delenv("HTTPS_PROXY", raising=False)
    monkeypatch.delenv("https_proxy", raising=False)
    assert not weights._host_reachable("https://download.example.org/x.pth")
    assert not weights._host_reachable("https://download.example.org/y.pth")
    assert calls == [("download.example.org", 443)]


NEW_NETWORKS = ["resnet101", "resnet152", "vgg13_bn", "vgg19_bn", "vgg11", "vgg13", "vgg16", "vgg19",
                "squeezenet1_0", "densenet169", "densenet201"]


@pytest.mark.parametrize("arch", NEW_NETWORKS)
def test_the_chapters_networks_download_from_torchvision(arch):
    """Their ImageNet weights come the way the others' do: torchvision's file, by name."""
    url = weights.weights_url(arch)
    assert url.startswith("https://download.pytorch.org/models/")
    assert weights.weights_filename(arch).startswith(arch)


@pytest.mark.parametrize("arch", ["squeezenet1_0", "densenet169"])
def test_the_chapters_networks_use_a_cached_imagenet_file(offline, arch):
    sd = imagenet_state_dict(arch)
    path = weights.cached_weights_path(arch)
    (offline / "checkpoints").mkdir(parents=True)
    torch.save(sd, path)
    assert weights_status(arch) == "cached"
    model, warnings = build_model(arch, 3, pretrained=True, freeze_backbone=True)
    assert warnings == []
    first = next(iter(sd))                    # the first convolution's weights
    assert torch.equal(model.state_dict()[first], sd[first])
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all(n.startswith("classifier") for n in trainable)


def test_a_new_network_without_weights_trains_from_scratch_and_says_so(offline):
    model, warnings = build_model("vgg11", 2, image_size=32, pretrained=True)
    assert len(warnings) == 1 and "from scratch" in warnings[0] and "vgg11-8a719046.pth" in warnings[0]

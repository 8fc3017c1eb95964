"""What each architecture is, in plain words. Torch-free, so the window can list
them at start-up; core.model.networks builds the networks from these entries."""
from __future__ import annotations

from dataclasses import dataclass

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# The network whose ImageNet weights come installed with Fledge (core.model.offline_backbone),
# so it needs no internet: the quick and thorough recipes train it.
OFFLINE_ARCH = "efficientnet_lite0"
# The "more accurate" installed network: about twice Lite0's computation for a point or two.
ACCURATE_ARCH = "efficientnet_lite2"


@dataclass(frozen=True)
class ArchInfo:
    name: str
    label: str
    description: str
    input_size: int           # the size it was designed for (the default image size)
    min_size: int             # smallest image size it accepts
    has_pretrained: bool      # ImageNet weights exist for it (torchvision's, or installed with Fledge)
    max_size: int | None = None   # only simplenet: its pixel count fixes its weight count
    mean: tuple = IMAGENET_MEAN
    std: tuple = IMAGENET_STD


_ALL = [
    ArchInfo("simplenet", "SimpleNet", "A plain fully connected network on the raw pixels: a teaching example, fast but not accurate.", 32, 16, False, 64),
    ArchInfo("small_cnn", "Small CNN", "A small convolutional network that trains in minutes on an ordinary CPU; a good first try.", 64, 32, False),
    ArchInfo("resnet18", "ResNet-18", "A solid, fast all-rounder; the best first choice with a GPU.", 224, 32, True),
    ArchInfo("resnet34", "ResNet-34", "A deeper ResNet: a little more accurate than ResNet-18, about twice as slow.", 224, 32, True),
    ArchInfo("resnet50", "ResNet-50", "A strong, widely used network; needs a GPU to train in reasonable time.", 224, 32, True),
    ArchInfo("resnet101", "ResNet-101", "A very deep ResNet: a little more accurate than ResNet-50, about twice as slow; needs a good GPU.", 224, 32, True),
    ArchInfo("resnet152", "ResNet-152", "The deepest ResNet: slightly more accurate again, slow to train; needs a good GPU.", 224, 32, True),
    ArchInfo("vgg11_bn", "VGG-11", "An older, large and slow network; mainly for comparison.", 224, 32, True),
    ArchInfo("vgg13_bn", "VGG-13", "An older, very large network with BatchNorm; slow and memory hungry.", 224, 32, True),
    ArchInfo("vgg16_bn", "VGG-16", "An older, very large network; slow and memory hungry.", 224, 32, True),
    ArchInfo("vgg19_bn", "VGG-19", "The largest VGG, with BatchNorm; slow and memory hungry, mainly for comparison.", 224, 32, True),
    ArchInfo("vgg11", "VGG-11 (no BatchNorm)", "The original VGG-11 without BatchNorm, as the book chapters use it; harder to train from scratch.", 224, 32, True),
    ArchInfo("vgg13", "VGG-13 (no BatchNorm)", "The original VGG-13 without BatchNorm; harder to train from scratch, slow.", 224, 32, True),
    ArchInfo("vgg16", "VGG-16 (no BatchNorm)", "The original VGG-16 without BatchNorm, the classic transfer-learning example; slow.", 224, 32, True),
    ArchInfo("vgg19", "VGG-19 (no BatchNorm)", "The original VGG-19 without BatchNorm; the largest and slowest VGG.", 224, 32, True),
    ArchInfo("densenet121", "DenseNet-121", "Accurate for its size, but slow to train and memory hungry.", 224, 32, True),
    ArchInfo("densenet169", "DenseNet-169", "A deeper DenseNet: a little more accurate, slower and more memory hungry.", 224, 32, True),
    ArchInfo("densenet201", "DenseNet-201", "The deepest DenseNet here: accurate, slow and memory hungry.", 224, 32, True),
    ArchInfo("squeezenet1_0", "SqueezeNet 1.0", "The original tiny SqueezeNet; SqueezeNet 1.1 is as accurate with less computation.", 224, 64, True),
    ArchInfo("squeezenet1_1", "SqueezeNet 1.1", "A tiny network for weak computers; lower accuracy.", 224, 64, True),
    ArchInfo("alexnet", "AlexNet", "The 2012 classic; fast but far less accurate than modern networks.", 224, 64, True),
    ArchInfo("inception_v3", "Inception v3", "Accurate, designed for 299-pixel images; slower to train.", 299, 75, True),
    ArchInfo("mobilenet_v3_small", "MobileNet v3 Small", "Very small and fast, made for phones; good on a CPU.", 224, 32, True),
    ArchInfo("mobilenet_v3_large", "MobileNet v3 Large", "Small and fast with good accuracy; a good CPU choice with pretrained weights.", 224, 32, True),
    ArchInfo("efficientnet_b0", "EfficientNet-B0", "Very accurate for its size; trains more slowly than ResNet-18.", 224, 32, True),
    ArchInfo(OFFLINE_ARCH, "EfficientNet-Lite0", "A small, accurate network whose ImageNet weights come installed with Fledge, so it needs no internet; quick to train on a CPU.", 224, 32, True,
             mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5)),
    ArchInfo("efficientnet_lite1", "EfficientNet-Lite1", "A deeper EfficientNet-Lite, designed for 240-pixel images; its ImageNet weights come installed with Fledge.", 240, 32, True,
             mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5)),
    ArchInfo(ACCURATE_ARCH, "EfficientNet-Lite2", "More accurate than Lite0 for about twice the computation, designed for 260-pixel images; its ImageNet weights come installed with Fledge.", 260, 32, True,
             mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5)),
    ArchInfo("convnext_tiny", "ConvNeXt Tiny", "A modern, very accurate network; needs a good GPU.", 224, 32, True),
]

@dataclass(frozen=True)
class NetworkSize:
    """How big a network is: its weights and what its file takes (core.model.networks.network_size)."""
    parameters: int
    bytes: int

    @property
    def words(self) -> str:
        """e.g. '25.6 M parameters, 98 MB' (MB of 2**20 bytes, as torchvision lists its files)."""
        count = (f"{self.parameters / 1e6:.1f} M" if self.parameters >= 1e6
                 else f"{self.parameters / 1e3:.0f} k")
        mb = self.bytes / 2**20
        return f"{count} parameters, {mb:.0f} MB" if mb >= 10 else f"{count} parameters, {mb:.1f} MB"


ARCH_INFO: dict[str, ArchInfo] = {a.name: a for a in _ALL}
ARCH_NAMES: list[str] = [a.name for a in _ALL]


def check_image_size(arch: str, image_size: int) -> str | None:
    """A readable problem with this image size for this architecture, or None."""
    info = ARCH_INFO.get(arch)
    if info is None:
        return None
    if image_size < info.min_size:
        return f"{info.label} needs images of at least {info.min_size} pixels; choose a larger image size."
    if info.max_size is not None and image_size > info.max_size:
        return (f"{info.label} works on images of at most {info.max_size} pixels; choose a smaller "
                f"image size or a convolutional network such as Small CNN.")
    return None

"""Why the model said so: a heat map of where in a photo the model looked for its answer.

    mapper = HeatMapper(predictor)             # a core.model.predictor.Predictor (.pt model)
    heat = mapper.explain("robin.jpg")         # HeatMap: .heat (H, W) 0..1, .overlay (PIL)

Grad-CAM (Selvaraju et al. 2017, through the grad-cam package, pytorch_grad_cam): the last
feature map of the network -- the one its classifier pools -- weighted channel by channel by
how much the answer's score grows with it, so the bright parts are those that made the model
name the class. The photo goes in exactly as the Predictor sees it (core.data.decoder then
core.data.transforms.eval_batch: the centre square, a little cropped), and the map is laid
back onto the photo at its own size; what the model never saw (the edges cut off to make it
square) gets 0 and is shown dimmed.

The feature map is found, for every architecture of core.model.networks, as the input of the
last layer that takes a spatial map (N, C, H, W) with H and W above 1: ResNet, VGG, AlexNet,
Inception, MobileNet, EfficientNet and ConvNeXt feed their last block to a pooling layer,
DenseNet to its last BatchNorm, SqueezeNet its class maps to its pooling. It works on the
Predictor's own model or its BatchNorm-folded copy alike, since it looks at what layers
receive rather than at their names. SimpleNet has no convolution, hence no feature map: its
heat map is the gradient of the answer with respect to each pixel, smoothed (a saliency map).
The registry has no transformer (ViT-like) network; one would need grad-cam's
reshape_transform for its token grid.

The HeatMapper works on its own copy of the network (kept in eval mode, with gradients on);
the Predictor is left exactly as it was. An exported ONNX model has no gradients: it is
refused with NEEDS_PT.
"""
from __future__ import annotations

import copy
import threading
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from torch import nn

from core.data.decoder import decode_or_reason
from core.data.imageio import load_rgb
from core.data.transforms import eval_batch
from core.errors import FledgeError
from core.model.networks import main_logits

NEEDS_PT = ("Heat maps need the .pt model file: an exported model (ONNX) cannot show where it looked. "
            "Open the run's best.pt model instead.")
OVERLAY_OPACITY = 0.45       # the heat map's share of each overlay pixel
UNSEEN_DIM = 0.45            # brightness of the parts of the photo the model never saw
_SALIENCY_BLUR = 0.03        # SimpleNet's pixel map is blurred by this share of the side


@dataclass(frozen=True)
class HeatMap:
    heat: np.ndarray             # (H, W) float32 0..1 at the photo's (shown) size
    overlay: object              # PIL.Image.Image (RGB): the photo with the heat map over it
    class_name: str              # the class the map explains
    probability: float           # the model's probability for it
    method: str                  # "Grad-CAM" or "saliency"


class _Probe(nn.Identity):
    """Hands on the feature map as a leaf that needs a gradient: the backward pass then stops
    here instead of running through the whole network (nothing upstream is needed)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.detach().requires_grad_(True) if torch.is_grad_enabled() else x


class _Tapped(nn.Module):
    """A layer with a _Probe on its first input."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.probe = _Probe()
        self.inner = inner

    def forward(self, x, *args, **kwargs):
        return self.inner(self.probe(x), *args, **kwargs)


def _leaf_inputs(model: nn.Module, x: torch.Tensor) -> list[tuple[str, tuple]]:
    """(module path, shape of its first input) of every leaf layer, in the order they run."""
    seen: list[tuple[str, tuple]] = []
    handles = []
    for path, m in model.named_modules():
        if path and not any(True for _ in m.children()):
            def hook(_m, args, _path=path):
                if args and isinstance(args[0], torch.Tensor):
                    seen.append((_path, tuple(args[0].shape)))
            handles.append(m.register_forward_pre_hook(hook))
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return seen


def feature_layer(model: nn.Module, image_size: int, device=None) -> str | None:
    """Path of the layer whose input is the network's last spatial feature map; None for a
    network without a convolution (SimpleNet)."""
    if not any(isinstance(m, nn.Conv2d) for m in model.modules()):
        return None
    x = torch.zeros(1, 3, image_size, image_size, device=device)
    spatial = [(p, s) for p, s in _leaf_inputs(model, x) if len(s) == 4]
    wide = [(p, s) for p, s in spatial if s[2] > 1 and s[3] > 1]
    chosen = (wide or spatial)
    return chosen[-1][0] if chosen else None


def _set_module(model: nn.Module, path: str, new: nn.Module) -> None:
    parent, _, name = path.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, name, new)


def _place(crop_map: np.ndarray, size: tuple[int, int], cache_size: int, image_size: int) -> np.ndarray:
    """The (S, S) map of the model's input laid onto a (W, H) photo: the Predictor takes the
    centre square of the photo, scales it to cache_size and crops the centre image_size."""

    w, h = size
    side = min(w, h) * image_size / float(cache_size)
    left, top = (w - side) / 2.0, (h - side) / 2.0
    x0, y0 = int(round(left)), int(round(top))
    px = max(1, int(round(side)))
    out = np.zeros((h, w), dtype=np.float32)
    resized = np.asarray(Image.fromarray(crop_map.astype(np.float32), mode="F")
                         .resize((px, px), Image.Resampling.BILINEAR), dtype=np.float32)
    x1, y1 = min(w, x0 + px), min(h, y0 + px)
    out[max(0, y0):y1, max(0, x0):x1] = resized[max(0, -y0):y1 - y0, max(0, -x0):x1 - x0]
    return np.clip(out, 0.0, 1.0)


def overlay_image(photo, heat: np.ndarray, seen: np.ndarray | None = None):
    """The photo (PIL RGB) with the heat map (0..1, the photo's size) coloured over it; where
    seen is False the photo is only dimmed."""
    # late: importing grad-cam takes seconds (it pulls in OpenCV); only when a heat map is asked for
    from pytorch_grad_cam.utils.image import show_cam_on_image

    rgb = np.asarray(photo.convert("RGB"), dtype=np.float32) / 255.0
    blended = show_cam_on_image(rgb, heat.astype(np.float32), use_rgb=True,
                                image_weight=1.0 - OVERLAY_OPACITY)
    if seen is not None:
        dim = (rgb * 255.0 * UNSEEN_DIM).astype(np.uint8)
        blended = np.where(seen[..., None], blended, dim)
    return Image.fromarray(blended.astype(np.uint8), mode="RGB")


class HeatMapper:
    """Heat maps for one Predictor's model; safe to share between threads (one at a time)."""

    def __init__(self, predictor) -> None:
        model = getattr(predictor, "model", None)
        if not isinstance(model, nn.Module):
            raise FledgeError(NEEDS_PT)
        self.predictor = predictor
        self.classes = list(predictor.classes)
        self._lock = threading.Lock()
        with torch.inference_mode(False):
            net = copy.deepcopy(model).eval().float()
            for p in net.parameters():
                p.requires_grad_(False)          # only the feature map needs a gradient
            self.device = next(net.parameters()).device
            self.layer = feature_layer(net, predictor.image_size, self.device)
            self._probe = None
            if self.layer is not None:
                tapped = _Tapped(net.get_submodule(self.layer))
                _set_module(net, self.layer, tapped)
                self._probe = tapped.probe
        self.model = net
        self.method = "Grad-CAM" if self.layer is not None else "saliency"

    # -- the maps of the model's input -----------------------------------------------------

    def _input(self, image) -> torch.Tensor:
        arr, err = decode_or_reason(image, self.predictor.cache_size)
        if err is not None:
            raise FledgeError(f"No heat map for this photo: it could not be read ({err}).")
        x = torch.from_numpy(arr[None]).to(self.device)
        return eval_batch(x, self.predictor.image_size, self.predictor.mean, self.predictor.std)

    def _class_index(self, logits: torch.Tensor, class_name: str | None) -> int:
        if class_name is None:
            return int(logits.argmax(dim=1)[0])
        if class_name not in self.classes:
            raise FledgeError(f"The model has no class '{class_name}'; its classes are "
                              f"{', '.join(self.classes)}.")
        return self.classes.index(class_name)

    def _grad_cam(self, x: torch.Tensor, class_name: str | None) -> tuple[np.ndarray, int, float]:
        # late: importing grad-cam takes seconds (it pulls in OpenCV); only when a heat map is asked for
        from pytorch_grad_cam import GradCAM
        from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

        with torch.no_grad():
            logits = self._logits(x)
        index = self._class_index(logits, class_name)
        with GradCAM(model=self.model, target_layers=[self._probe]) as cam:
            grey = cam(input_tensor=x, targets=[ClassifierOutputTarget(index)])[0]
        return grey, index, float(logits.softmax(dim=1)[0, index])

    def _saliency(self, x: torch.Tensor, class_name: str | None) -> tuple[np.ndarray, int, float]:
        from torchvision.transforms.functional import gaussian_blur

        x = x.detach().requires_grad_(True)
        logits = self._logits(x)
        index = self._class_index(logits.detach(), class_name)
        logits[0, index].backward()
        pixels = (x.grad * x).detach().abs().sum(dim=1, keepdim=True)
        sigma = max(1.0, _SALIENCY_BLUR * pixels.shape[-1])
        kernel = 2 * int(2 * sigma) + 1
        grey = gaussian_blur(pixels, [kernel, kernel], [sigma, sigma])[0, 0].cpu().numpy()
        top = float(grey.max())
        grey = grey / top if top > 0 else np.zeros_like(grey)
        return grey, index, float(logits.detach().softmax(dim=1)[0, index])

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        return main_logits(self.model(x)).float()

    # -- public ---------------------------------------------------------------------------

    def explain(self, image, class_name: str | None = None, max_side: int | None = None) -> HeatMap:
        """The heat map of the model's answer (or of class_name) for one photo (a path, bytes
        or a PIL image), at the photo's size, or scaled so that no side exceeds max_side."""
        x = self._input(image)
        with self._lock, torch.inference_mode(False), torch.enable_grad():
            grey, index, prob = (self._grad_cam if self.layer else self._saliency)(x, class_name)
        photo = load_rgb(image, draft_size=max_side)
        if max_side and max(photo.size) > max_side:
            photo = photo.copy()
            photo.thumbnail((max_side, max_side))
        s, c = self.predictor.image_size, self.predictor.cache_size
        heat = _place(np.nan_to_num(grey), photo.size, c, s)
        seen = _place(np.ones((s, s), dtype=np.float32), photo.size, c, s) > 0.5
        return HeatMap(heat, overlay_image(photo, heat, seen), self.classes[index], prob, self.method)


def explain(predictor, image, class_name: str | None = None, max_side: int | None = None) -> HeatMap:
    """One heat map (a HeatMapper for repeated use keeps its copy of the network)."""
    return HeatMapper(predictor).explain(image, class_name, max_side)

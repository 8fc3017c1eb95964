"""Pretrained ImageNet weights: where torch keeps them, whether they can be had, and
loading them (from that cache, a file the person chose, or a download) into a network.

Torch-free facts about each architecture come from core.model.architectures; the
network and its classifier head paths come from core.model.networks, which calls in here.
"""
from __future__ import annotations

import os
import re
import socket
import threading
import urllib.parse
from typing import TYPE_CHECKING

import torch
from torch import nn

from core.errors import CheckpointError, FledgeError
from core.model import offline_backbone
from core.model.architectures import ARCH_INFO

if TYPE_CHECKING:
    from core.model.networks import ArchSpec


def _weights_enum(arch: str):
    from torchvision import models as tvm

    return tvm.get_model_weights(arch).DEFAULT


def weights_url(arch: str) -> str | None:
    info = ARCH_INFO.get(arch)
    if info is None or not info.has_pretrained or offline_backbone.is_offline(arch):
        return None                   # installed with a package, never downloaded
    return _weights_enum(arch).url


def weights_filename(arch: str) -> str | None:
    """File name of the ImageNet weights, e.g. 'resnet18-f37072fd.pth' (what to look for)."""
    if offline_backbone.is_offline(arch):
        return offline_backbone.backbone(arch).weights_file
    url = weights_url(arch)
    return os.path.basename(urllib.parse.urlparse(url).path) if url else None


def cached_weights_path(arch: str) -> str | None:
    """Where torch keeps the downloaded ImageNet weights for arch (may not exist)."""
    if offline_backbone.is_offline(arch):
        return offline_backbone.weights_file(arch) if offline_backbone.weights_available(arch) else None
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
    if offline_backbone.is_offline(arch):
        return "cached" if offline_backbone.weights_available(arch) else "unavailable"
    url = weights_url(arch)
    if url is None:
        return "none"
    path = cached_weights_path(arch)
    if path and os.path.isfile(path) and os.path.getsize(path) > 0:
        return "cached"
    return "downloadable" if _host_reachable(url) else "unavailable"


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


def load_backbone(model: nn.Module, spec: ArchSpec, state_dict: dict, source: str) -> None:
    """Load weights strictly except for the head (skipped when its shape differs)."""
    arch = spec.name
    ignorable = tuple(h + "." for h in spec.head)
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


def load_chosen_file(model: nn.Module, spec: ArchSpec, weights_path: str) -> None:
    """The weights file the person chose: a bad file is an error to show, not to hide."""
    sd = load_weights_file(weights_path)
    if offline_backbone.is_offline(spec.name):  # e.g. the package's own file, under its key names
        sd = offline_backbone.to_timm_state_dict(sd, spec.name)
    load_backbone(model, spec, sd, os.fspath(weights_path))


def _load_installed(model: nn.Module, spec: ArchSpec, weights_path: str | None,
                    warnings: list[str]) -> bool:
    """The weights installed with a package (core.model.offline_backbone): no download."""
    try:
        sd = offline_backbone.imagenet_state_dict(spec.name)
        source = offline_backbone.weights_file(spec.name)
    except FledgeError as e:
        if weights_path:
            load_chosen_file(model, spec, weights_path)
            return True
        warnings.append(f"{e} Until then {spec.name} trains from scratch.")
        return False
    load_backbone(model, spec, sd, source)
    return True


def load_pretrained(model: nn.Module, spec: ArchSpec, weights_path: str | None,
                    warnings: list[str]) -> bool:
    """ImageNet weights from torch's cache, else weights_path, else a download.

    True when weights were loaded; otherwise a warning says the model trains from scratch.
    """
    arch = spec.name
    if offline_backbone.is_offline(arch):
        return _load_installed(model, spec, weights_path, warnings)
    cached = cached_weights_path(arch)
    if cached and os.path.isfile(cached):
        try:
            sd = torch.load(cached, map_location="cpu", weights_only=True)
            load_backbone(model, spec, _extract_state_dict(sd), cached)
            return True
        except Exception as e:  # noqa: BLE001 - a broken cache file: fall through
            warnings.append(f"The saved ImageNet weights for {arch} ({cached}) could not be "
                            f"used ({e}); trying other sources.")
    if weights_path:
        load_chosen_file(model, spec, weights_path)
        return True
    reason = None
    if _host_reachable(weights_url(arch)):
        try:
            load_backbone(model, spec, _extract_state_dict(_download_state_dict(arch)),
                          weights_url(arch))
            return True
        except CheckpointError as e:
            reason = str(e)
        except Exception as e:  # noqa: BLE001 - every network/disk failure means "no weights"
            reason = f"{type(e).__name__}: {e}"
    why = (f"Could not download the ImageNet weights for {arch} ({reason})" if reason else
           f"No ImageNet weights for {arch} on this computer and no internet")
    warnings.append(f"{why}: training from scratch, which needs far more photos and epochs. "
                    + where_to_get(arch))
    return False


def where_to_get(arch: str) -> str:
    """Where a person gets arch's ImageNet weights file and where to put it, in words."""
    name, url, cached = weights_filename(arch), weights_url(arch), cached_weights_path(arch)
    if not (name and url and cached):
        return "Or use the quick recipe: its pretrained network is installed with Fledge and needs no internet."
    return (f"To use them, download {name} from {url} on a computer with internet and put it in "
            f"{os.path.dirname(cached)} (Fledge finds it there), or choose the file as the weights file "
            f"(--weights FILE). Or use the quick recipe: its pretrained network is installed with Fledge "
            f"and needs no internet.")

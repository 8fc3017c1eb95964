"""One file format for a trained model, a resume file for training, safe loading.

Both files are dicts of plain Python values and tensors, read back with
torch.load(weights_only=True): a file from a stranger cannot run code.
"""
from __future__ import annotations

import collections
import datetime
import os
import random
from typing import Any

import numpy as np
import torch
from torch import nn

from core.errors import CheckpointError
from core.files.fileio import NotARegularFile, ReadOnlyFile, atomic_write, open_regular
from core.files.fileio import atomic_write_text as _write_text
from core.model.architectures import ARCH_INFO, check_image_size
from core.model.class_names import class_names_problem
from core.model.networks import ARCHITECTURES, build_for_checkpoint
from core.model.threshold_record import thresholds_problem

FORMAT = "fledge-checkpoint"
FORMAT_VERSION = 1
RESUME_FORMAT = "fledge-resume"
RESUME_FORMAT_VERSION = 1


# ---------------------------------------------------------------- atomic writes

def atomic_save(obj, path) -> None:
    """torch.save to a tmp file in the same folder, fsync, os.replace."""
    try:
        atomic_write(path, lambda f: torch.save(obj, f))
    except ReadOnlyFile:
        raise                             # its own words: the file is left as its owner made it
    except OSError as e:
        raise CheckpointError(_write_failed(path, e.strerror or str(e))) from e
    except RuntimeError as e:
        # A failed write inside torch's zip writer surfaces as "[enforce fail at inline_container.cc]".
        if "inline_container" not in str(e) and "PytorchStreamWriter" not in str(e):
            raise
        raise CheckpointError(_write_failed(path, "the write failed")) from e


def _write_failed(path, why: str) -> str:
    return (f"Could not write {os.fspath(path)} ({why}). Check that the disk is not full and that "
            "the folder can be written to.")


def atomic_write_text(path, text: str) -> None:
    try:
        _write_text(path, text)
    except ReadOnlyFile:
        raise
    except OSError as e:
        raise CheckpointError(_write_failed(path, e.strerror or str(e))) from e


# ---------------------------------------------------------------- plain values

def _plain(obj: Any, where: str = "value") -> Any:
    """obj with numpy/Path values made plain; TypeError naming anything weights_only can't load."""
    if obj is None:
        return obj
    if isinstance(obj, np.generic):       # before float: np.float64 subclasses float
        return obj.item()
    for kind in (bool, int, float, str, bytes):
        if isinstance(obj, kind):         # subclasses (IntEnum, StrEnum...) made exact
            return obj if type(obj) is kind else kind(obj)
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, (torch.Size, torch.dtype, torch.device)):
        return obj
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if isinstance(obj, collections.Counter):       # MultiStepLR milestones
        return collections.Counter({_plain(k, where): _plain(v, f"{where}[{k!r}]")
                                    for k, v in obj.items()})
    if isinstance(obj, collections.OrderedDict):
        return collections.OrderedDict((k, _plain(v, f"{where}[{k!r}]")) for k, v in obj.items())
    if isinstance(obj, dict):
        return {_plain(k, where): _plain(v, f"{where}[{k!r}]") for k, v in obj.items()}
    if isinstance(obj, list):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(obj)]
    if isinstance(obj, tuple):
        return tuple(_plain(v, f"{where}[{i}]") for i, v in enumerate(obj))
    raise TypeError(f"{where} has a {type(obj).__name__}, which a safe model file cannot hold")


def _clean_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    # Unwrap torch.compile / DataParallel so the keys are the plain architecture's.
    inner = getattr(model, "_orig_mod", model)
    inner = getattr(inner, "module", inner) if isinstance(inner, nn.DataParallel) else inner
    out = {}
    for k, v in inner.state_dict().items():
        v = v.detach().to("cpu")
        if v.is_floating_point():
            v = v.float()
        out[k] = v.contiguous().clone()
    return out


# ---------------------------------------------------------------- reading files safely

def _safe_torch_load(path, what: str = "model file") -> Any:
    """torch.load(weights_only=True) with a plain CheckpointError for every way it can fail."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise CheckpointError(f"There is no {what} at {path}. Check the path, or train a model "
                              "first.")
    if os.path.isdir(path):
        raise CheckpointError(f"{path} is a folder, not a {what}. Choose the .pt file inside it.")
    try:
        with open_regular(path, what) as f:
            head = f.read(4)
    except NotARegularFile as e:
        raise CheckpointError(f"{e}. Choose the .pt file saved by Fledge.") from None
    except OSError as e:
        raise CheckpointError(f"Could not open {path} ({e.strerror or e}). Check that you may "
                              "read it.") from e
    if not head:
        raise CheckpointError(f"{path} is empty (0 bytes): it was not saved completely. Choose "
                              "another file or train the model again.")
    is_zip = head.startswith(b"PK")
    is_pickle = head[0] == 0x80          # pickle PROTO opcode: legacy torch file or a pickle
    if not (is_zip or is_pickle):
        raise CheckpointError(f"{path} is not a PyTorch {what}. Choose a .pt file saved by "
                              "Fledge.")
    try:
        with open_regular(path, what) as f:
            return torch.load(f, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - classify every failure for the person
        msg = str(e)
        if "Weights only load failed" in msg or "Unsupported" in msg or "GLOBAL" in msg:
            raise CheckpointError(
                f"Refused to open {path}: this file tries to run code or holds objects other than "
                "model data, so opening it could be unsafe. Only use model files saved by Fledge "
                "or from someone you trust.") from None
        raise CheckpointError(f"{path} is damaged or incomplete and cannot be read. Choose "
                              "another file or train the model again.") from e


def _check_format(obj: Any, path: str, fmt: str, version: int, what: str) -> dict:
    if not isinstance(obj, dict) or obj.get("format") != fmt:
        raise CheckpointError(f"{path} is a PyTorch file but not a {what} saved by Fledge. "
                              "Choose a .pt file from a Fledge training run.")
    v = obj.get("format_version")
    if not isinstance(v, int):
        raise CheckpointError(f"{path} is damaged: it has no valid format version.")
    if v > version:
        raise CheckpointError(f"{path} was saved by a newer version of Fledge (format {v}). "
                              "Update Fledge to open it.")
    return obj


# ---------------------------------------------------------------- model checkpoints

def save_checkpoint(path, model: nn.Module, *, arch: str, classes, image_size: int, mean, std,
                    config: dict, metrics: dict, split: dict | None = None) -> None:
    """Write the model file atomically: plain values plus a CPU fp32 state_dict.
    split: how the dataset was split (core.data.split.SplitSettings.to_dict())."""
    ckpt = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "arch": str(arch),
        "classes": [str(c) for c in classes],
        "image_size": int(image_size),
        "mean": [float(x) for x in mean],
        "std": [float(x) for x in std],
        "config": _plain(dict(config or {}), "config"),
        "metrics": _plain(dict(metrics or {}), "metrics"),
        **({"split": _plain(dict(split), "split")} if split is not None else {}),
        "created": datetime.datetime.now().isoformat(timespec="seconds"),
        "torch_version": torch.__version__.split("+")[0],
        "state_dict": _clean_state_dict(model),
    }
    atomic_save(ckpt, path)


MAX_MODEL_IMAGE_SIZE = 1024          # as TrainConfig allows; larger would allocate gigabytes per photo
_WEIGHT_DTYPES = (torch.float32, torch.float16, torch.bfloat16, torch.float64, torch.int64)


def _model_fields_problem(ckpt: dict) -> str | None:
    """What makes a model file's fields unusable, in words; None when they are fine.

    Checked before anything is built from them: a file with image_size 10**6 must be refused,
    not make the predictor allocate terabytes.
    """
    if problem := class_names_problem(ckpt.get("classes")):
        return problem
    size = ckpt.get("image_size")
    if not isinstance(size, int) or isinstance(size, bool) or not 16 <= size <= MAX_MODEL_IMAGE_SIZE:
        return f"its image size ({size!r}) is not a whole number from 16 to {MAX_MODEL_IMAGE_SIZE}"
    if ckpt.get("arch") in ARCH_INFO and (why := check_image_size(ckpt["arch"], size)):
        return f"its image size does not fit its network ({why})"
    for key in ("mean", "std"):
        v = ckpt.get(key)
        if not (isinstance(v, (list, tuple)) and len(v) == 3
                and all(isinstance(x, (int, float)) and x == x and abs(x) < 1e3 for x in v)):
            return f"its normalisation ({key}) is not three numbers"
    if not all(x > 0 for x in ckpt["std"]):
        return "its normalisation (std) has a value that is not above zero"
    sd = ckpt.get("state_dict")
    if not isinstance(sd, dict) or not sd or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        return "its weights are missing"
    odd = sorted({str(v.dtype) for v in sd.values() if v.dtype not in _WEIGHT_DTYPES})
    if odd:
        return f"its weights are stored as {', '.join(odd)}, which Fledge cannot run"
    if any(v.is_floating_point() and not bool(torch.isfinite(v).all()) for v in sd.values()):
        return "some of its weights are not numbers (the training diverged before it was saved)"
    if "thresholds" in ckpt and thresholds_problem(ckpt["thresholds"]):
        return f"its review thresholds are unusable ({thresholds_problem(ckpt['thresholds'])})"
    return None


def save_thresholds(path, record: dict | None) -> None:
    """Store per-class review thresholds (core.photos.thresholds.ThresholdChoice.to_record()) in a
    model file, or remove them (None); the rest of the file is kept as it is, written atomically.

    An optional key: files without it load as before, and older Fledge versions ignore it, so the
    format version stays."""
    path = os.fspath(path)
    ckpt = _check_format(_safe_torch_load(path), path, FORMAT, FORMAT_VERSION, "model")
    if record is None:
        ckpt.pop("thresholds", None)
    else:
        record = _plain(dict(record), "thresholds")
        problem = thresholds_problem(record)
        if problem:
            raise CheckpointError(f"These review thresholds cannot be saved: {problem}.")
        ckpt["thresholds"] = record
    atomic_save(ckpt, path)


def load_checkpoint(path) -> dict:
    """The checkpoint dict; CheckpointError (plain words) for anything unusable."""
    path = os.fspath(path)
    ckpt = _check_format(_safe_torch_load(path), path, FORMAT, FORMAT_VERSION, "model")
    arch = ckpt.get("arch")
    if arch not in ARCHITECTURES:
        raise CheckpointError(f"{path} uses the architecture '{arch}', which this version of "
                              "Fledge does not know. Update Fledge to open it.")
    problem = _model_fields_problem(ckpt)
    if problem:
        raise CheckpointError(f"{path} is damaged or not usable: {problem}. Choose another file or "
                              "train the model again.")
    ckpt["state_dict"] = {k: v.float() if v.is_floating_point() else v
                          for k, v in ckpt["state_dict"].items()}      # fp16/bf16 files run in fp32
    ckpt.setdefault("config", {})
    ckpt.setdefault("metrics", {})
    ckpt["path"] = path
    return ckpt


def model_from_checkpoint(ckpt: dict) -> nn.Module:
    """The model with the checkpoint's weights, on the CPU, in eval mode (never downloads)."""
    try:
        model = build_for_checkpoint(ckpt["arch"], len(ckpt["classes"]), int(ckpt["image_size"]),
                                     ckpt["state_dict"])
    except Exception as e:  # noqa: BLE001 - shape/key mismatch means a broken file
        where = ckpt.get("path", "The model file")
        raise CheckpointError(f"{where} is damaged: its weights do not fit the "
                              f"{ckpt['arch']} architecture. Choose another file or train the "
                              "model again.") from e
    return model.eval()


def checkpoint_info(ckpt: dict) -> dict:
    """Everything except the weights (for showing what a model is)."""
    return {k: v for k, v in ckpt.items() if k != "state_dict"}


# ---------------------------------------------------------------- resume state

def get_rng_state() -> dict:
    """Torch, CUDA, numpy and Python RNG states as tensors and plain lists."""
    np_state = np.random.get_state()
    py_state = random.getstate()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": [np_state[0], np_state[1].tolist(), int(np_state[2]), int(np_state[3]),
                  float(np_state[4])],
        "python": [py_state[0], list(py_state[1]), py_state[2]],
    }
    # Only read CUDA's state when CUDA is already in use: reading it would initialize it.
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore what get_rng_state returned (missing parts are left alone)."""
    if "torch" in state:
        torch.set_rng_state(state["torch"])
    if "numpy" in state:
        name, keys, pos, has_gauss, cached = state["numpy"]
        np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    if "python" in state:
        version, internal, gauss = state["python"]
        random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        cuda_states = state["cuda"]
        if len(cuda_states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda_states)


def save_resume(path, *, epoch: int, optimizer_state: dict, scheduler_state: dict | None,
                scaler_state: dict | None = None, rng_state: dict, best_val_acc: float,
                best_epoch: int, extra: dict) -> None:
    """What the trainer needs to continue a run, written atomically (no model weights:
    those are in last.pt)."""
    state = {
        "format": RESUME_FORMAT,
        "format_version": RESUME_FORMAT_VERSION,
        "epoch": int(epoch),
        "optimizer_state": _plain(optimizer_state, "optimizer_state"),
        "scheduler_state": _plain(scheduler_state, "scheduler_state"),
        "scaler_state": _plain(scaler_state, "scaler_state"),
        "rng_state": _plain(rng_state, "rng_state"),
        "best_val_acc": float(best_val_acc),
        "best_epoch": int(best_epoch),
        "extra": _plain(dict(extra or {}), "extra"),
    }
    atomic_save(state, path)


def load_resume(path) -> dict:
    path = os.fspath(path)
    state = _check_format(_safe_torch_load(path, "resume file"), path, RESUME_FORMAT,
                          RESUME_FORMAT_VERSION, "resume file")
    if not isinstance(state.get("epoch"), int) or not isinstance(state.get("optimizer_state"),
                                                                  dict):
        raise CheckpointError(f"{path} is damaged: the training state in it is incomplete. "
                              "Start a new run instead.")
    return state

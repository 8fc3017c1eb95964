"""Which model a path means, and the predictor for it: a Fledge model file or an ONNX export.

    path = resolve_model_path("runs/20250101-small_cnn")   # -> .../best.pt
    path = resolve_model_path("best-onnx")                 # an export folder stays a folder
    predictor = load_predictor(path, device="cpu")         # a Predictor or an OnnxPredictor

Both predictors answer through the same interface (classes, predict, predict_many,
probabilities), so classify, sort, journal and undo run the same from either. An export
folder is recognised by its export.json; a .onnx file is used with the export.json beside
it. A TorchScript export is refused with the reason: it is for PyTorch programs, and the
.pt it was made from (or an ONNX export) does the same work in Fledge.

Nothing here imports torch until a predictor is made.
"""
from __future__ import annotations

import json
import os

from core.errors import FledgeError
from core.files.fileio import open_regular
from core.model.class_names import class_names_problem
from core.model.export.bundle import EXPORT_FORMAT, EXPORT_VERSION, META_FILE
from core.model.threshold_record import thresholds_problem

ONNX_SUFFIX = ".onnx"
ONNX_FILE = "model.onnx"             # model_files.MODEL_FILES["onnx"] (that module imports torch)
AGAIN = ("Copy the whole export folder again from the computer it was made on, or export the "
         "model again with 'fledge export MODEL.pt'.")
_RUN_MODELS = ("best.pt", "last.pt")


def is_export(path) -> bool:
    """Whether path is an export folder or a .onnx file (what load_predictor reads as an export)."""
    path = os.fspath(path)
    return (os.path.isdir(path) and os.path.isfile(os.path.join(path, META_FILE))) or \
        path.lower().endswith(ONNX_SUFFIX)


def resolve_model_path(path, exports: bool = True) -> str:
    """The absolute path of the model that path names: a .pt file, a run folder's best.pt,
    or (exports=True) an export folder or .onnx file as given. FledgeError if there is none."""
    path = os.path.abspath(os.path.expanduser(os.fspath(path)))
    if not os.path.exists(path):
        what = ("a .pt file saved by Fledge, such as best.pt in a training run folder ('fledge runs' "
                "lists them)") + (", or an export folder" if exports else "")
        raise FledgeError(f"The model file {path} does not exist. Give the path of {what}.")
    if is_export(path):
        if exports:
            return path
        source = export_source(path)
        raise FledgeError(f"{path} is an exported model; this needs the Fledge model file (.pt) it was "
                          "made from" + (f": {source}" if source else "") + ".")
    if os.path.isdir(path):
        for name in _RUN_MODELS:             # a training run folder: its best model
            if os.path.isfile(os.path.join(path, name)):
                return os.path.join(path, name)
        if os.path.isfile(os.path.join(path, ONNX_FILE)):
            raise FledgeError(_not_an_export(path, ONNX_FILE))
        raise FledgeError(f"{path} is a folder without a model file (best.pt). Give the path of a .pt "
                          "file saved by Fledge ('fledge runs' lists the training runs)"
                          + (" or of a folder made by 'fledge export'." if exports else "."))
    return path


def export_source(path) -> str | None:
    """The model file an export folder says it was made from, when it says so."""
    folder = path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path))
    try:
        source = _load_meta(os.path.join(folder, META_FILE))["provenance"]["source_model"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return source if isinstance(source, str) else None


def load_predictor(path, device: str = "auto", photos: int | None = None):
    """A ready predictor for a resolved path (resolve_model_path): an OnnxPredictor for an
    export (always on the CPU, with onnxruntime), else Fledge's Predictor on device.
    photos: how many photos it will classify, when known (Predictor.from_checkpoint)."""
    path = os.fspath(path)
    if is_export(path):
        from core.model.export.onnx_predictor import OnnxPredictor   # imports torch, onnxruntime

        folder, model_file = (path, None) if os.path.isdir(path) else (os.path.dirname(path), path)
        meta, model_file = read_export(folder, model_file)
        return OnnxPredictor.open(meta, model_file, folder)
    from core.model.predictor import Predictor                       # imports torch

    return Predictor.from_checkpoint(path, device=device, photos=photos)


# -- export.json ---------------------------------------------------------------------------

def _not_an_export(folder: str, model_name: str) -> str:
    return (f"{os.path.join(folder, model_name)} has no {META_FILE} beside it, so it is not a folder "
            f"made by 'fledge export': Fledge cannot know its class names or how to prepare photos "
            f"for it. {AGAIN}")


def read_export(folder: str, model_file: str | None = None) -> tuple[dict, str]:
    """(export.json checked, the model file's path) of an ONNX export folder; FledgeError
    with what is wrong and what to do otherwise. model_file: a .onnx file given itself."""
    folder = os.path.abspath(folder)
    meta_path = os.path.join(folder, META_FILE)
    if not os.path.isfile(meta_path):
        raise FledgeError(_not_an_export(folder, os.path.basename(model_file or ONNX_FILE)))
    try:
        meta = _load_meta(meta_path)
    except OSError as e:
        raise FledgeError(f"Fledge could not read {meta_path} ({e.strerror or e}).") from None
    except _TooDeep:
        raise FledgeError(f"{meta_path} is damaged (it is nested far deeper than an export's). {AGAIN}") from None
    except ValueError:
        raise FledgeError(f"{meta_path} is damaged (it is not readable JSON). {AGAIN}") from None
    if not isinstance(meta, dict) or meta.get("format") != EXPORT_FORMAT:
        raise FledgeError(f"{meta_path} was not written by 'fledge export', so {folder} is not a Fledge "
                          f"export. {AGAIN}")
    version = meta.get("format_version")
    if not isinstance(version, int) or version > EXPORT_VERSION:
        raise FledgeError(f"{folder} was exported by a newer version of Fledge. Update Fledge to use it.")
    fmt = (meta.get("model") or {}).get("format") if isinstance(meta.get("model"), dict) else None
    if fmt == "torchscript":
        raise FledgeError(f"{folder} is a TorchScript export, which is for PyTorch programs; Fledge "
                          "classifies with the .pt model file it was made from, or with an ONNX export "
                          "('fledge export MODEL.pt --format onnx').")
    problem = _meta_problem(meta)
    if problem:
        raise FledgeError(f"{meta_path} is damaged ({problem}). {AGAIN}")
    model_file = os.path.abspath(model_file) if model_file else \
        os.path.join(folder, os.path.basename(meta["model"]["file"]))
    if not os.path.isfile(model_file):
        raise FledgeError(f"The model file {model_file} is missing from the export folder. {AGAIN}")
    return meta, model_file


class _TooDeep(ValueError):
    """JSON nested deeper than Python's parser can follow (a hostile or broken file)."""


def _load_meta(meta_path: str):
    """export.json's contents: OSError when it cannot be read, ValueError when it is not JSON
    (_TooDeep when nested so deep that parsing it would raise RecursionError)."""
    with open_regular(meta_path, "file") as f:
        data = f.read()
    try:
        return json.loads(data)
    except RecursionError:
        raise _TooDeep(meta_path) from None


def _number_list(value, n: int) -> bool:
    return (isinstance(value, list) and len(value) == n
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value))


def _meta_problem(meta: dict) -> str | None:
    """What export.json lacks for classifying, in a few words, or None."""
    model, prep, classes = meta.get("model"), meta.get("preprocessing"), meta.get("classes")
    if not isinstance(model, dict) or model.get("format") != "onnx" or not isinstance(model.get("file"), str):
        return "it names no ONNX model file"
    if problem := class_names_problem(classes):
        return problem
    if not isinstance(prep, dict):
        return "it does not say how photos are prepared"
    crop, resize_to = prep.get("crop"), prep.get("resize_to")
    if not (isinstance(crop, int) and isinstance(resize_to, int) and 0 < crop <= resize_to <= 16384):
        return "its photo size is missing or impossible"
    if not (_number_list(prep.get("mean"), 3) and _number_list(prep.get("std"), 3)
            and all(s > 0 for s in prep["std"])):
        return "its normalisation (mean and std) is missing or impossible"
    if "thresholds" in meta and thresholds_problem(meta["thresholds"]):
        return f"its review thresholds are unusable ({thresholds_problem(meta['thresholds'])})"
    return None

"""The export folder: what goes in it, and how it appears only once it is proven.

    parent, name = destination(model_path, "onnx", out)   # never an existing folder's name
    staging = make_staging(parent)                        # hidden, beside the final place
    ... write the model, export.json, predict.py, parity.json, README.md into staging ...
    folder = publish(staging, parent, name)               # renamed into place: name, name-2, ...

A failed or stopped export removes its staging folder, so nothing half-made or unproven
looks like an export. A staging folder left by a killed process is removed by the next
export into the same place.
"""
from __future__ import annotations

import datetime
import errno
import json
import os
import shutil
import tempfile
from importlib import resources
from string import Template

from core.errors import FledgeError
from core.files.fileio import atomic_write_text, pid_alive

EXPORT_FORMAT = "fledge-export"      # must match predict.py's EXPORT_FORMAT
EXPORT_VERSION = 1
META_FILE = "export.json"
PARITY_FILE = "parity.json"
README_FILE = "README.md"
SCRIPT_FILE = "predict.py"
_STAGING = ".fledge-export-"         # staging folders: .fledge-export-<pid>-<random>
_REQUIREMENTS = {"onnx": "onnxruntime numpy pillow", "torchscript": "torch numpy pillow"}


def template_text(name: str) -> str:
    """A file shipped in core/model/export/template (predict.py, README.md)."""
    return resources.files(__package__).joinpath("template", name).read_text(encoding="utf-8")


# -- where ----------------------------------------------------------------------------------

def destination(model_path: str, fmt: str, out: str | None) -> tuple[str, str]:
    """(parent folder, preferred name) of the export folder.

    out None: beside the model file, named <model>-<format>. out an existing folder: inside
    it, with that name, unless it is an earlier export (then beside it: publish picks out-2).
    Otherwise out itself (its parent must exist)."""
    default = f"{os.path.splitext(os.path.basename(model_path))[0]}-{fmt}"
    if out is None:
        return os.path.dirname(os.path.abspath(model_path)), default
    out = os.path.abspath(os.path.expanduser(os.fspath(out)))
    if os.path.isdir(out) and not os.path.isfile(os.path.join(out, META_FILE)):
        return out, default
    if os.path.exists(out) and not os.path.isdir(out):
        raise FledgeError(f"{out} is a file. Give a folder to export into, or a new folder's name.")
    parent = os.path.dirname(out)
    if not os.path.isdir(parent):
        raise FledgeError(f"The folder {parent} does not exist. Create it first, or choose another "
                          "place for the export.")
    return parent, os.path.basename(out)


def make_staging(parent: str) -> str:
    """A new hidden folder in parent to build the export in (same disk: the rename is atomic)."""
    _remove_abandoned(parent)
    return tempfile.mkdtemp(prefix=f"{_STAGING}{os.getpid()}-", dir=parent)


def _remove_abandoned(parent: str) -> None:
    """Staging folders of exports whose process is gone (killed mid-export)."""
    try:
        names = os.listdir(parent)
    except OSError:
        return
    for name in names:
        pid = name[len(_STAGING):].split("-", 1)[0] if name.startswith(_STAGING) else ""
        if pid.isdigit() and int(pid) != os.getpid() and not pid_alive(int(pid)):
            shutil.rmtree(os.path.join(parent, name), ignore_errors=True)


def publish(staging: str, parent: str, name: str) -> str:
    """Rename staging to parent/name, or name-2, name-3... when taken; the final path."""
    for n in range(1, 1000):
        final = os.path.join(parent, name if n == 1 else f"{name}-{n}")
        if os.path.lexists(final):
            continue
        try:
            os.rename(staging, final)
        except (FileExistsError, IsADirectoryError, NotADirectoryError):
            continue                     # taken between the check and the rename
        except OSError as e:
            if e.errno in (errno.ENOTEMPTY, errno.EEXIST):     # taken meanwhile
                continue
            raise
        return final
    raise FledgeError(f"{parent} already holds a thousand exports named {name}. Choose another "
                      "place for the export.")


def discard(staging: str | None) -> None:
    if staging:
        shutil.rmtree(staging, ignore_errors=True)


# -- what -----------------------------------------------------------------------------------

def run_name(model_path: str) -> str | None:
    """The training run's folder name when the model sits in one."""
    folder = os.path.dirname(os.path.abspath(model_path))
    return os.path.basename(folder) if os.path.isfile(os.path.join(folder, "run.json")) else None


def data_root(ckpt: dict) -> str | None:
    """The dataset the model was trained on: from its config, else its run folder's run.json."""
    config = ckpt.get("config") or {}
    for key in ("data_root", "data"):
        if isinstance(config.get(key), str) and config[key]:
            return config[key]
    path = ckpt.get("path")
    run_file = os.path.join(os.path.dirname(os.path.abspath(path)), "run.json") if path else None
    try:
        with open(run_file, encoding="utf-8") as f:
            root = json.load(f).get("data_root")
    except (OSError, TypeError, ValueError, AttributeError, RecursionError):
        return None
    return root if isinstance(root, str) and root else None


def metadata(ckpt: dict, model_file, cache_size: int) -> dict:
    """export.json: the classes, the input, the preprocessing and the provenance."""
    metrics = ckpt.get("metrics") or {}
    size = int(ckpt["image_size"])
    # The per-class review thresholds saved in the model (fledge thresholds --save) travel with it.
    thresholds = {"thresholds": ckpt["thresholds"]} if isinstance(ckpt.get("thresholds"), dict) else {}
    return {
        "format": EXPORT_FORMAT, "format_version": EXPORT_VERSION,
        "classes": list(ckpt["classes"]),
        "model": {"file": os.path.basename(model_file.path), "format": model_file.format,
                  "opset": model_file.opset, "exporter": model_file.exporter,
                  "input": {"name": "image", "dtype": "float32", "shape": ["batch", 3, size, size]},
                  "output": {"name": "probabilities", "dtype": "float32",
                             "shape": ["batch", len(ckpt["classes"])]}},
        "preprocessing": {
            "steps": ["decode (JPEG at reduced size when the short side stays >= resize_to)",
                      "turn by the EXIF orientation", "8-bit RGB, transparency on white",
                      "centre square, resized to resize_to x resize_to (bilinear, antialiased)",
                      "centre crop of crop x crop", "x / 255, minus mean, divided by std, per channel",
                      "channels first: (3, crop, crop)"],
            "resize_to": int(cache_size), "crop": size,
            "mean": [float(v) for v in ckpt["mean"]], "std": [float(v) for v in ckpt["std"]]},
        "provenance": {
            "source_model": ckpt.get("path"), "run": run_name(ckpt.get("path") or ""),
            "architecture": ckpt.get("arch"), "trained": ckpt.get("created"),
            "exported": datetime.datetime.now().isoformat(timespec="seconds"),
            "validation_accuracy": metrics.get("val_acc"), "epoch": metrics.get("epoch"),
            "dataset": data_root(ckpt), "trained_with_torch": ckpt.get("torch_version"),
            "fledge_version": _fledge_version()},
        **thresholds,
    }


def _fledge_version() -> str | None:
    try:
        from importlib.metadata import version

        return version("fledge")
    except Exception:  # noqa: BLE001 - running from a source tree that is not installed
        return None


def readme(meta: dict, parity_summary: str) -> str:
    prov, model = meta["provenance"], meta["model"]
    acc = prov.get("validation_accuracy")
    fmt = model["format"]
    usage = ("" if fmt == "onnx" else
             "\nIn your own PyTorch code:\n\n    net = torch.jit.load(\"model.pt\")        "
             "# input and output as above\n")
    return Template(template_text(README_FILE)).substitute(
        title=f"{prov.get('architecture') or 'Model'} exported from Fledge",
        architecture=prov.get("architecture") or "?", image_size=meta["preprocessing"]["crop"],
        classes=", ".join(meta["classes"]),
        val_acc="unknown" if not isinstance(acc, (int, float)) else f"{100 * acc:.1f} %",
        exported=prov["exported"][:10], source=prov.get("run") or prov.get("source_model") or "?",
        without=" or PyTorch" if fmt == "onnx" else "",
        requirements=_REQUIREMENTS[fmt], model_file=model["file"],
        model_format="ONNX, opset %s" % model["opset"] if fmt == "onnx" else "TorchScript",
        resize_to=meta["preprocessing"]["resize_to"], parity=parity_summary, usage=usage,
        thresholds=_thresholds_text(meta.get("thresholds")))


def _thresholds_text(record) -> str:
    """What the README says of the review thresholds saved in the model ('' when there are none)."""
    if not record:
        return ""
    review = record.get("review") or {}
    sure = ", ".join(f"{c} {t:.2f}" for c, t in record["classes"].items() if c not in review)
    never = (f" and always for {', '.join(review)} (no threshold could promise the precision asked for)"
             if review else "")
    return ("\nThe review thresholds saved in the model travel in `export.json`: `decision` (for one photo, a "
            "sentence after the classes) says `_review` when the model is less sure than its class's threshold"
            + (f" ({sure})" if sure else "") + never + ", as `fledge classify --sort-into` would.\n")


def write_json(path: str, obj: dict) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, allow_nan=False) + "\n")


def write_text(path: str, text: str) -> None:
    atomic_write_text(path, text)

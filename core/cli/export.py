"""`fledge export MODEL [--format onnx|torchscript] [--out PATH]`: a model for another computer.

register(subparsers) adds the command; torch is imported only when it runs.
"""
from __future__ import annotations

import json
import os
import sys

from core.cli.console import StageProgress, command, ctrl_c_stops, fail
from core.cli.photos import _model_path
from core.model.export import FORMATS


@command
def cmd_export(args) -> int:
    from core.model.export import export_model     # imports torch

    model_path = _model_path(args.model, exports=False)
    label = {"onnx": "ONNX", "torchscript": "TorchScript"}.get(args.format, args.format)
    if not args.json:
        print(f"Exporting {model_path} to {label} and checking it on photos...", file=sys.stderr)
    progress = StageProgress({"checking": "Checking"})
    with ctrl_c_stops() as should_stop:
        try:
            result = export_model(model_path, args.format, args.out, progress=progress,
                                  should_stop=should_stop)
        finally:
            progress.close()
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    if not result.ok:
        return fail(result.summary(), 130 if result.stopped else 1)
    if not args.json:
        print(f"Exported to {result.folder}")
        print(f"  {', '.join(result.files)}")
        print(f"Parity {result.parity.summary()}")
        print(f"Use it without Fledge:  python {os.path.join(result.folder, 'predict.py')} PHOTO_OR_FOLDER")
    return 0


def register(subparsers) -> None:
    """Add the export command to an argparse subparsers object."""
    e = subparsers.add_parser(
        "export", help="export a model to ONNX or TorchScript, to use it without Fledge",
        description="Write MODEL as a folder another computer can use: the model file, export.json "
                    "(classes, input size, preprocessing, where it came from), a README and a "
                    "stand-alone predict.py that needs only onnxruntime, numpy and Pillow. The "
                    "export is checked on photos (the model's dataset when it is still there) "
                    "against Fledge's own answers and kept only when they agree; the figures are "
                    "in parity.json. An existing folder is never replaced.")
    e.add_argument("model", help="a model file (.pt) saved by fledge train, or a run folder")
    e.add_argument("--format", default="onnx", choices=FORMATS,
                   help="onnx (default; runs with onnxruntime, no PyTorch needed) or torchscript "
                        "(for PyTorch and LibTorch)")
    e.add_argument("--out", metavar="PATH",
                   help="the export folder to create, or an existing folder to create it in "
                        "(default: beside the model file, e.g. best-onnx)")
    e.add_argument("--json", action="store_true", help="print the result and the parity figures as JSON")
    e.set_defaults(func=cmd_export)

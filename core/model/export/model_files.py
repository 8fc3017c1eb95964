"""Writing a network as a file other programs run: ONNX (onnxruntime) or TorchScript.

Both take one input, "image": float32 (batch, 3, S, S), normalised as export.json says,
any batch size; and give one output, "probabilities": float32 (batch, classes), the
softmax Fledge shows. ONNX goes through torch.onnx's torch.export-based exporter (torch's
default since 2.9; the older TorchScript-based one is deprecated and fails on AlexNet and
VGG at sizes other than 224), at opset 18, the lowest it writes, so that onnxruntime
1.14 and later run the file.
"""
from __future__ import annotations

import io
import sys
import warnings
from dataclasses import dataclass

import torch
from torch import nn

from core.errors import FledgeError
from core.files.fileio import atomic_write
from core.model.export import FORMATS
from core.model.networks import main_logits

MODEL_FILES = {"onnx": "model.onnx", "torchscript": "model.pt"}
INPUT_NAME = "image"
OUTPUT_NAME = "probabilities"
ONNX_OPSET = 18
_PROTOBUF_LIMIT = 2 * 1024 ** 3      # one .onnx file holds at most 2 GB

# torch 2.14 marks TorchScript deprecated on every call; Fledge chose it knowingly
# (LibTorch and older torch versions load it), so the notice is silenced for these calls.
warnings.filterwarnings("ignore", message=r"`torch\.jit\.\w+` is deprecated", category=FutureWarning)


@dataclass(frozen=True)
class ModelFile:
    path: str
    format: str
    exporter: str                # how the file was made, for provenance
    opset: int | None = None     # ONNX only


class ProbabilitiesModel(nn.Module):
    """The network followed by softmax: what an exported file computes."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return torch.softmax(main_logits(self.net(image)), dim=1)


def refusal(fmt: str) -> str | None:
    """Why this Python/torch cannot write fmt, in plain words, or None."""
    if fmt not in FORMATS:
        return f"Unknown export format '{fmt}'. Choose one of: {', '.join(FORMATS)}."
    if fmt == "torchscript" and sys.version_info >= (3, 14):
        return ("TorchScript does not work with Python 3.14 or later. Export to ONNX instead "
                "(--format onnx); PyTorch users can run it with onnxruntime too.")
    if fmt == "onnx":
        for module in ("onnx", "onnxscript", "onnxruntime"):
            try:
                __import__(module)
            except ImportError:
                return (f"Exporting to ONNX needs the '{module}' package, which is missing. "
                        f"Install it with: pip install {module}")
    return None


def write_model_file(net: nn.Module, fmt: str, image_size: int, path: str) -> ModelFile:
    """Export net (eval mode, on the CPU) to path; FledgeError with the reason if it cannot be.
    OSError (a full disk...) is left to the caller, which knows where it was writing."""
    problem = refusal(fmt)
    if problem:
        raise FledgeError(problem)
    module = ProbabilitiesModel(net.cpu().eval()).eval()
    example = torch.rand(2, 3, int(image_size), int(image_size))
    if fmt == "onnx":
        data, opset = _onnx_bytes(module, example)
        exporter = f"torch.onnx.export (torch.export-based), torch {torch.__version__}"
    else:
        data, opset = _torchscript_bytes(module, example), None
        exporter = f"torch.jit.trace, torch {torch.__version__}"
    atomic_write(path, lambda f: f.write(data))
    return ModelFile(path, fmt, exporter, opset)


def _onnx_bytes(module: nn.Module, example: torch.Tensor) -> tuple[bytes, int]:
    import onnx

    batch = torch.export.Dim("batch", min=1, max=65536)
    try:
        program = torch.onnx.export(module, (example,), None, dynamo=True, opset_version=ONNX_OPSET,
                                    input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                                    dynamic_shapes=({0: batch},), verbose=False)
    except Exception as e:  # noqa: BLE001 - every exporter failure means "cannot export this"
        raise FledgeError(f"This model could not be converted to ONNX ({_first_line(e)}).") from e
    proto = program.model_proto
    if proto.ByteSize() >= _PROTOBUF_LIMIT:
        raise FledgeError("This model is larger than the 2 GB an ONNX file can hold. "
                          "Export it as TorchScript instead.")
    try:
        onnx.checker.check_model(proto, full_check=True)
    except Exception as e:  # noqa: BLE001 - onnx's ValidationError and shape-inference errors
        raise FledgeError(f"The ONNX file made from this model is not valid ({_first_line(e)}).") from e
    opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), ONNX_OPSET)
    return proto.SerializeToString(), int(opset)


def _torchscript_bytes(module: nn.Module, example: torch.Tensor) -> bytes:
    try:
        with torch.no_grad():
            # check_trace is off: parity (core.model.export.parity) checks the file itself.
            traced = torch.jit.trace(module, (example,), check_trace=False)
        buf = io.BytesIO()
        torch.jit.save(traced, buf)
    except Exception as e:  # noqa: BLE001 - every tracer failure means "cannot export this"
        raise FledgeError(f"This model could not be converted to TorchScript ({_first_line(e)}).") from e
    return buf.getvalue()


def _first_line(e: Exception) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0][:300]}" if text else type(e).__name__

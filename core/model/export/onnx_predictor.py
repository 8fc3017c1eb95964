"""An exported ONNX model used as Fledge uses its own: the same Predictor, another network.

    predictor = OnnxPredictor.open(meta, "best-onnx/model.onnx", "best-onnx")
    predictor.predict("robin.jpg").label        # as Predictor: predict_many, probabilities...

OnnxPredictor is a core.model.predictor.Predictor whose network is an onnxruntime session
on the CPU: photos are decoded, resized and normalised by the Predictor's own code with the
size, mean and std export.json gives, so classify, sort and undo cannot tell the two apart
(the export's parity check proved its answers within 1e-4 of the PyTorch model's).

A file that is not the model its export.json describes (damaged, not ONNX, another
network, other classes, answers that are not probabilities) is refused when it is opened,
with what is wrong and what to do. Use core.model.export.loading.load_predictor to get one.
"""
from __future__ import annotations

import os

import numpy as np
import torch

from core.data.transforms import eval_batch
from core.errors import FledgeError
from core.model.export.loading import AGAIN
from core.model.predictor import Predictor

_SUM_TOLERANCE = 1e-3          # softmax rows add up to 1 within float32 rounding


def _dims(shape) -> str:
    return "(" + ", ".join(str(d) if isinstance(d, int) else "any" for d in shape) + ")"


def _fits(dim, want: int) -> bool:
    """A fixed size equal to want, or a size left open (a name or None)."""
    return not isinstance(dim, int) or dim == want


def _session(model_file: str):
    try:
        import onnxruntime
    except ImportError:
        raise FledgeError("Using an ONNX export needs the 'onnxruntime' package, which is missing. "
                          "Install it with: pip install onnxruntime") from None
    try:
        return onnxruntime.InferenceSession(model_file, providers=["CPUExecutionProvider"])
    except Exception:  # noqa: BLE001 - InvalidProtobuf, Fail, ...: the file is not a usable model
        raise FledgeError(f"{model_file} is damaged or is not an ONNX model (onnxruntime could not "
                          f"read it). {AGAIN}") from None


def _signature(session, model_file: str, crop: int, classes: int) -> tuple[str, str]:
    """(input name, output name) of a session that takes photos as export.json says and
    answers once per class; FledgeError naming the mismatch otherwise."""
    inputs, outputs = session.get_inputs(), session.get_outputs()
    wrong = (f"{model_file} is not the model that the export.json beside it describes: ")
    fix = f" Keep the files of one export together. {AGAIN}"
    want = f"photos as (any, 3, {crop}, {crop}) float numbers"
    if len(inputs) != 1:
        raise FledgeError(f"{wrong}it takes {len(inputs)} inputs where a Fledge export takes {want}.{fix}")
    inp = inputs[0]
    shape = list(inp.shape or [])
    if (inp.type != "tensor(float)" or len(shape) != 4 or isinstance(shape[0], int)
            or not all(_fits(d, w) for d, w in zip(shape[1:], (3, crop, crop)))):
        raise FledgeError(f"{wrong}it takes {_dims(shape)} {inp.type} where a Fledge export takes "
                          f"{want}.{fix}")
    out = outputs[0] if outputs else None
    oshape = list(out.shape or []) if out is not None else []
    if out is None or len(oshape) != 2 or not _fits(oshape[1], classes):
        got = _dims(oshape) if out is not None else "nothing"
        raise FledgeError(f"{wrong}it answers {got} where a Fledge export answers one probability for "
                          f"each of its {classes} classes, (any, {classes}).{fix}")
    return inp.name, out.name


class OnnxPredictor(Predictor):
    """A Predictor whose network is an exported ONNX file, run by onnxruntime on the CPU."""

    def __init__(self, meta: dict, model_file: str, folder: str, session) -> None:
        prep, prov = meta["preprocessing"], meta.get("provenance") or {}
        info = {"export": {"folder": folder, "model_file": model_file}, "provenance": prov}
        if "thresholds" in meta:          # the review thresholds saved in the model: a sort uses them
            info["thresholds"] = meta["thresholds"]
        self._describe(torch.device("cpu"), meta["classes"], prep["crop"], prep["mean"], prep["std"],
                       str(prov.get("architecture") or ""), info, cache_size=prep["resize_to"])
        self.cuda, self._channels_last, self._amp_dtype, self.model = False, False, None, None
        self.model_file, self.folder = model_file, folder
        self._session = session
        self._input, self._output = _signature(session, model_file, self.image_size, len(self.classes))

    @classmethod
    def open(cls, meta: dict, model_file: str, folder: str) -> "OnnxPredictor":
        """The predictor for a checked export.json and its model file, tried on a blank photo."""
        predictor = cls(meta, model_file, os.path.abspath(folder), _session(model_file))
        predictor.warmup()
        return predictor

    def warmup(self) -> None:
        """A blank photo through the model: it must answer probabilities, one per class."""
        blank = np.zeros((2, self.cache_size, self.cache_size, 3), dtype=np.uint8)
        probs = self._forward(blank).numpy()
        sums = probs.sum(axis=1) if probs.ndim == 2 else None
        if (probs.shape != (2, len(self.classes)) or not np.isfinite(probs).all()
                or (probs < 0).any() or not np.allclose(sums, 1.0, atol=_SUM_TOLERANCE)):
            raise FledgeError(f"{self.model_file} is not the model that the export.json beside it "
                              f"describes: its answers (shape {probs.shape}) are not one probability "
                              f"for each of its {len(self.classes)} classes. Keep the files of one "
                              f"export together. {AGAIN}")

    def _forward(self, batch: np.ndarray) -> torch.Tensor:
        """(N, C, C, 3) uint8 -> (N, classes) float32 probabilities, prepared as Predictor does."""
        with torch.inference_mode():
            x = eval_batch(torch.from_numpy(batch), self.image_size, self.mean, self.std)
            x = np.ascontiguousarray(x.numpy(), dtype=np.float32)
        try:
            out = self._session.run([self._output], {self._input: x})[0]
        except Exception as e:  # noqa: BLE001 - onnxruntime's errors: the file cannot run
            first = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
            raise FledgeError(f"The exported model {self.model_file} failed on a photo ({first}). "
                              f"{AGAIN}") from None
        return torch.from_numpy(np.asarray(out, dtype=np.float32))

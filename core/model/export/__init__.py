"""Exporting a trained model to ONNX or TorchScript, with a stand-alone predict.py and a
parity check that proves the export answers as Fledge does.

    from core.model.export import export_model
    result = export_model("best.pt", "onnx")      # an ExportResult

Importing the package is cheap (FORMATS for option lists); torch is imported with
export_model.
"""
from __future__ import annotations

FORMATS = ("onnx", "torchscript")

__all__ = ["FORMATS", "ExportResult", "export_model"]


def __getattr__(name: str):
    if name in ("ExportResult", "export_model"):
        from core.model.export import exporter

        return getattr(exporter, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

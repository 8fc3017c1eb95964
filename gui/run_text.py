"""How a training run reads in the window: when it started, its network, its best score."""
from __future__ import annotations

import math
from datetime import datetime

from core.model.architectures import ARCH_INFO

STATUS_TEXT = {"completed": "Finished", "stopped": "Stopped", "failed": "Failed",
               "running": "Running", "interrupted": "Interrupted"}


def started_text(iso: str, fallback: str = "?") -> str:
    """'2025-01-01T12:00:00' -> '2025-01-01 12:00'."""
    try:
        return datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M")
    except (TypeError, ValueError):
        return iso or fallback


def accuracy_text(acc) -> str:
    """0.873 -> '87.3%'; '–' when there is none (yet)."""
    try:
        a = float(acc)
    except (TypeError, ValueError):
        return "–"
    return "–" if math.isnan(a) else f"{a:.1%}"


def network_text(arch: str) -> str:
    """The architecture's name for people ('ResNet-18'), or its key when unknown."""
    return ARCH_INFO[arch].label if arch in ARCH_INFO else arch


def run_label(info) -> str:
    """One line for a run (core.training.runs.RunInfo) in a list of models."""
    acc = accuracy_text(info.best_val_acc)
    return (f"{started_text(info.started, info.name)} · {network_text(info.arch)}"
            + (f", {acc} accuracy" if acc != "–" else ""))

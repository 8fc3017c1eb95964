"""Which hardware to train on: CUDA GPUs by index, Apple MPS, or the CPU."""
from __future__ import annotations

import functools
import os

import torch

from core.errors import FledgeError


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps and mps.is_available())


def resolve_device(name: str = "auto") -> torch.device:
    """Turn 'auto' | 'cpu' | 'cuda' | 'cuda:N' | 'mps' into a usable device."""
    name = (name or "auto").strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", 0)
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "mps":
        if not _mps_available():
            raise FledgeError("Apple's GPU (MPS) is not available on this computer. Choose 'auto' or 'cpu'.")
        return torch.device("mps")
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise FledgeError("No NVIDIA GPU (CUDA) is available on this computer. Choose 'auto' or 'cpu'.")
        index = 0
        if ":" in name:
            try:
                index = int(name.split(":", 1)[1])
            except ValueError:
                raise FledgeError(f"'{name}' is not a device name. Use cuda:0, cuda:1, ...") from None
        count = torch.cuda.device_count()
        if not 0 <= index < count:
            raise FledgeError(f"There is no GPU number {index}; this computer has {count} (cuda:0 to cuda:{count - 1}).")
        return torch.device("cuda", index)
    raise FledgeError(f"Unknown device '{name}'. Use auto, cpu, cuda, cuda:N or mps.")


def device_label(device: torch.device) -> str:
    if device.type == "cuda":
        index = device.index or 0
        props = torch.cuda.get_device_properties(index)
        return f"cuda:{index} ({props.name}, {props.total_memory / 2**30:.0f} GB)"
    if device.type == "mps":
        return "mps (Apple GPU)"
    return f"cpu ({os.cpu_count() or 1} cores)"


def list_devices() -> list[tuple[str, str]]:
    """(id, label) for every device present, best first; the CPU is always last."""
    out: list[tuple[str, str]] = []
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(i)
            out.append((f"cuda:{i}", f"GPU {i}: {props.name} ({props.total_memory / 2**30:.0f} GB)"))
    if _mps_available():
        out.append(("mps", "Apple GPU (MPS)"))
    out.append(("cpu", f"CPU ({os.cpu_count() or 1} cores)"))
    return out


@functools.cache
def cpu_has_fast_bf16() -> bool:
    """Whether this CPU computes bfloat16 in hardware (Intel AMX or AVX512-BF16): there bf16
    autocast ran EfficientNet-Lite0 2.2 times faster than fp32. Elsewhere bf16 is emulated and
    slower, so it is never chosen. FLEDGE_CPU_BF16=0 turns it off (e.g. to compare)."""
    if os.environ.get("FLEDGE_CPU_BF16", "").strip() == "0":
        return False
    cpu = getattr(torch, "cpu", None)
    for probe in ("_is_amx_tile_supported", "_is_avx512_bf16_supported"):
        check = getattr(cpu, probe, None)
        try:
            if check is not None and check():
                return True
        except Exception:  # noqa: BLE001 - a private probe that changed: treat as absent
            pass
    return False


def inference_dtype(device: torch.device) -> torch.dtype | None:
    """The autocast dtype for a frozen network's forward (features, prediction): bf16 where the
    hardware has it (a CUDA GPU that supports it, or a CPU with AMX / AVX512-BF16), else None."""
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else None
    if device.type == "cpu" and cpu_has_fast_bf16():
        return torch.bfloat16
    return None


def autocast_dtype(device: torch.device, precision: str) -> torch.dtype | None:
    """Training's autocast: bf16 on CUDA by default; fp32 elsewhere unless bf16 is asked for."""
    if precision == "fp32":
        return None
    if precision == "bf16":
        return torch.bfloat16
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return None

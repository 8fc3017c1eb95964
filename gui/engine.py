"""Loading the heavy half of core (torch, the networks) in the background after start-up."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable

from core.training.events import TrainControl


@dataclass(frozen=True)
class EngineInfo:
    """What the heavy half of core reports once it is imported."""
    devices: list            # [(id, label)] from core.model.devices.list_devices()
    architectures: dict      # name -> core.model.architectures.ArchInfo
    seconds: float
    sizes: dict = dataclasses.field(default_factory=dict)   # name -> core.model.architectures.NetworkSize


def load_engine(report: Callable[[Any], None], control: TrainControl) -> EngineInfo:
    """A job: import torch and the training modules, then list the devices.

    Run on a job thread after the window is shown, so start-up stays quick and
    the window stays responsive while PyTorch loads.
    """
    import time

    t0 = time.perf_counter()
    import core.model.devices
    import core.model.networks
    import core.training.trainer  # noqa: F401 - imported here so the first Start is quick
    from core.model.architectures import ARCH_INFO

    devices = core.model.devices.list_devices()
    gpus = sum(d.startswith("cuda:") for d, _ in devices)
    if gpus > 1:        # after the single GPUs (the default stays one): core.training.distributed_fit
        from core.training.config import ALL_GPUS_DEVICE

        devices.insert(gpus, (ALL_GPUS_DEVICE, f"All {gpus} GPUs"))
    known = {name: ARCH_INFO[name] for name in core.model.networks.ARCHITECTURES if name in ARCH_INFO}
    sizes = {name: core.model.networks.network_size(name) for name in known}    # the meta device: ~2 s for all
    return EngineInfo(devices=devices, architectures=known, seconds=time.perf_counter() - t0, sizes=sizes)


def warm_up(report: Callable[[Any], None], control: TrainControl) -> None:
    """A job: pay PyTorch's one-off lazy imports before the first Start.

    Creating the first optimizer imports torch._dynamo (seconds on a slow
    computer); doing it in the background makes pressing Start feel instant.
    """
    import torch

    import core.model.checkpoints  # noqa: F401
    import core.data.pipeline  # noqa: F401

    weight = torch.zeros(1, requires_grad=True)
    torch.optim.AdamW([weight], lr=1e-3)

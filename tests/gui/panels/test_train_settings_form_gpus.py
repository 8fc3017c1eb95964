"""The device list's "All N GPUs": CUDA on every GPU, as the gpus setting (core.training.distributed_fit)."""
from __future__ import annotations


from core.training.config import ALL_GPUS_DEVICE, TrainConfig
from gui.engine import EngineInfo
from gui.panels.train.train_panel import TrainingPanel
from gui.settings import Settings


def test_all_gpus_is_cuda_with_gpus_all_and_comes_back(qtbot):
    tp = TrainingPanel(Settings())
    qtbot.addWidget(tp)
    form = tp.form
    devices = [("cuda:0", "GPU 0"), ("cuda:1", "GPU 1"), (ALL_GPUS_DEVICE, "All 2 GPUs"), ("cpu", "CPU")]
    form.set_engine(EngineInfo(devices=devices, architectures={}, seconds=0.0))
    form.apply_config(TrainConfig(recipe="custom", arch="small_cnn", device="cuda", gpus="all"))
    assert form.device.currentData() == ALL_GPUS_DEVICE
    c = form.config()
    assert (c.device, c.gpus) == ("cuda", "all") and not c.errors().get("device")
    form.device.setCurrentIndex(form.device.findData("cuda:1"))
    c = form.config()
    assert (c.device, c.gpus) == ("cuda:1", "1")
    from gui.background import running_threads

    qtbot.waitUntil(lambda: not running_threads(), timeout=30000)     # set_engine's weights check

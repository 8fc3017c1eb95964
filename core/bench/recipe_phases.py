"""The recipe comparison's phases (`fledge bench --recipes`), each run in its own process by
core.bench.phases.run_phase.

Every phase trains on the same split: the parent scans the folder once and hands each phase
that scan (dataset.json, core.data.dataset.Dataset.to_dict) and, for the tutorial loop, the
same split laid out as train/ and val/ folders of links. Each returns its validation
accuracy after every epoch with the seconds since the phase started training (the model
built, the photos read, the learning rate found: everything a person waits for), so the
parent can tell the best accuracy and the time it took to reach it.
"""
from __future__ import annotations

import json
import os
import time

from core.errors import FledgeError

# The tutorial loop: PyTorch's transfer-learning tutorial ("Finetuning the ConvNet") as it is
# written: batches of 4, SGD with momentum 0.9 at 0.001, every layer trained. Measured on 50
# flowers per class it beat the same loop at batches of 32 with SGD at 0.01 or 0.001 and
# AdamW at 0.0001 (and, on 2 CPU cores, ran faster).
TUTORIAL_BATCH = 4
TUTORIAL_LR = 0.001
TUTORIAL_MOMENTUM = 0.9
TUTORIAL_WEIGHT_DECAY = 0.0
TUTORIAL_SIZE = 224                  # EfficientNet-Lite0's own size, as the quick recipe uses it


def _peak_rss_mb() -> float:
    from core.bench.phases import _peak_rss_mb as peak

    return peak()


def _preload() -> float:
    """Seconds to import the libraries every phase needs, before its clock starts: the app
    loads them once when it opens, so a run there does not wait for them."""
    t0 = time.perf_counter()
    import torch  # noqa: F401
    import torchvision  # noqa: F401

    import core.training.trainer  # noqa: F401
    return time.perf_counter() - t0


def recipe_config(p: dict):
    """The TrainConfig a recipe phase runs: what the app (or `fledge train DATA`) would use."""
    from core.training.config import TrainConfig

    epochs = {"epochs": p["epochs"]} if p.get("epochs") else {}
    recipe = p["recipe"]
    if recipe == "default":
        # The app's default before recipes existed (gui default_config on a CPU): a small CNN
        # from scratch at its own 64 px, every other setting as TrainConfig has it.
        return TrainConfig(recipe="custom", arch="small_cnn", pretrained=False, device=p["device"], **epochs)
    if recipe in ("quick", "thorough"):
        # A newcomer's run (`fledge train DATA`).
        return TrainConfig(recipe=recipe, device=p["device"], **epochs)
    raise FledgeError(f"Unknown recipe '{recipe}' in the benchmark.")


def _load_dataset(path: str):
    from core.data.dataset import Dataset

    with open(path, encoding="utf-8") as f:
        return Dataset.from_dict(json.load(f))


def phase_recipe(p: dict) -> dict:
    """One run of Fledge's Trainer, as the app runs it, on the parent's scan."""
    imports = _preload()
    from core.training import runs
    from core.training.events import EpochEnd, FitStarted, Message
    from core.training.trainer import Trainer

    dataset = _load_dataset(p["dataset"])
    cfg = recipe_config(p)
    curve: list[list[float]] = []          # [epoch, val_acc, seconds]
    marks: list[list] = []                 # [seconds, what started]: where the time goes
    t0 = time.perf_counter()

    def on_event(ev) -> None:
        now = time.perf_counter() - t0
        if isinstance(ev, EpochEnd):
            curve.append([ev.epoch, ev.val_acc, now])
            if marks and marks[-1][1] == "features" and ev.epoch == cfg.epochs:
                marks.append([now, "head done"])     # the head's last epoch
        elif isinstance(ev, FitStarted):
            marks.append([now, ev.pipeline])
        elif isinstance(ev, Message) and ev.text.startswith("Finding a learning rate"):
            marks.append([now, "lr sweep"])

    trainer = Trainer(cfg, dataset, run_dir=p["run_dir"], callbacks=[on_event])
    ended = trainer.fit()
    total = time.perf_counter() - t0
    if ended.reason != "completed":
        raise FledgeError(f"The {p['recipe']} recipe did not finish in the benchmark: {ended.message}")
    read = getattr(trainer, "extracted", None) if cfg.recipe != "custom" else None
    run = runs.read_json(os.path.join(p["run_dir"], runs.RUN_FILE))
    rates = {k: run[k] for k in ("lr_head", "lr_found", "lr_fine_tune") if k in run} or {"lr": trainer.config.lr}
    return {"curve": curve, "marks": marks, "total_s": total, "epochs": trainer.config.epochs,
            "photos_read": read, "lr": rates, "import_s": imports, "peak_rss_mb": _peak_rss_mb()}


def _tutorial_loaders(split_dir: str, workers: int, pin: bool):
    from torch.utils.data import DataLoader
    from torchvision import datasets
    from torchvision import transforms as T

    from core.model.offline_backbone import MEAN, STD

    norm = T.Normalize(MEAN, STD)
    s = TUTORIAL_SIZE
    train_tf = T.Compose([T.RandomResizedCrop(s), T.RandomHorizontalFlip(), T.ToTensor(), norm])
    val_tf = T.Compose([T.Resize(round(s * 8 / 7)), T.CenterCrop(s), T.ToTensor(), norm])

    def folder(name, tf):   # every linked file counts: the split is the scan's, not ImageFolder's
        return datasets.ImageFolder(os.path.join(split_dir, name), tf, is_valid_file=lambda _: True,
                                    allow_empty=True)

    train_ds, val_ds = folder("train", train_tf), folder("val", val_tf)
    if train_ds.classes != val_ds.classes:
        raise FledgeError("The benchmark's train and val folders name different classes.")
    train = DataLoader(train_ds, batch_size=TUTORIAL_BATCH, shuffle=True, num_workers=workers,
                       pin_memory=pin, persistent_workers=workers > 0)
    val = DataLoader(val_ds, batch_size=TUTORIAL_BATCH, num_workers=workers, pin_memory=pin,
                     persistent_workers=workers > 0)
    return train, val, len(train_ds.classes)


def _count(loader) -> int:
    return len(loader.dataset)


def phase_tutorial(p: dict) -> dict:
    """The fine-tuning loop every tutorial teaches: torchvision ImageFolder + DataLoader and
    PIL transforms, the same pretrained EfficientNet-Lite0, every layer trained by SGD."""
    imports = _preload()
    import torch

    from core.bench.phases import tutorial_accuracy, tutorial_epoch
    from core.model.devices import resolve_device
    from core.model.networks import build_model

    device = resolve_device(p["device"])
    torch.manual_seed(0)
    epochs = p.get("epochs") or 3
    curve: list[list[float]] = []
    t0 = time.perf_counter()
    train, val, classes = _tutorial_loaders(p["split_dir"], os.cpu_count() or 1, device.type == "cuda")
    model, _ = build_model("efficientnet_lite0", classes, pretrained=True)
    if not model.pretrained_loaded:
        raise FledgeError("The tutorial loop could not load EfficientNet-Lite0's ImageNet weights.")
    model = model.to(device)
    opt = torch.optim.SGD(model.parameters(), lr=TUTORIAL_LR, momentum=TUTORIAL_MOMENTUM,
                          weight_decay=TUTORIAL_WEIGHT_DECAY)
    loss_fn = torch.nn.CrossEntropyLoss()
    for epoch in range(1, epochs + 1):
        tutorial_epoch(model, train, opt, loss_fn, device)
        curve.append([epoch, tutorial_accuracy(model, val, device), time.perf_counter() - t0])
    return {"curve": curve, "marks": [], "total_s": time.perf_counter() - t0, "epochs": epochs,
            "photos_read": None, "lr": {"lr": TUTORIAL_LR}, "import_s": imports, "peak_rss_mb": _peak_rss_mb(),
            "train_photos": _count(train), "val_photos": _count(val)}


PHASES = {"recipe": phase_recipe, "tutorial": phase_tutorial}

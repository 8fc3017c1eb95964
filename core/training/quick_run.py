"""The quick recipe as a run: cached backbone features, a trained head, an ordinary model file.

The offline EfficientNet-Lite0 stays frozen; each photo's features come from the on-disk
feature cache (computed once per photo, so a retrain after a few corrections recomputes only
those photos), and only the classifier head trains, reporting an EpochEnd per epoch like any
run. The result is saved through the run folder as arch "efficientnet_lite0", so predict,
evaluate, classify, sort, review and export use it unchanged.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace

import numpy as np

from core.errors import FledgeError
from core.training import runs
from core.training.class_balance import class_balance, class_counts
from core.training.events import CheckpointSaved, FitStarted, Message
from core.training.loop import Stopped
from core.wording import plural

ARCH = "efficientnet_lite0"
HEAD_EPOCHS = 50        # full-batch steps of the head: well under a second in all (measured)


def recipe_config(cfg):
    """The settings a quick or thorough run really uses: the offline backbone, pretrained."""
    if cfg.recipe == "custom":
        return cfg
    return replace(cfg, arch=ARCH, pretrained=True, weights_path=None, freeze_backbone=False,
                   image_size=None)


@dataclass
class HeadResult:
    head: object                  # core.training.quick.TrainedHead
    model: object                 # the network with that head (CPU, eval mode)
    class_weights: list | None


def _features(trainer, samples, backbone, what: str):
    from core.training.features import extract_features

    paths = [s.path for s in samples]
    t0 = time.perf_counter()
    feats = extract_features(paths, backbone, should_stop=lambda: trainer.control.stop_requested)
    if feats.stopped:
        raise Stopped()
    trainer._emit(Message("info", f"Features of the {what} photos: {feats.computed} computed, "
                                  f"{feats.reused} from the cache ({time.perf_counter() - t0:.1f} s)."))
    for i, why in feats.errors.items():
        trainer.skipped.append((paths[i], why))
        trainer._warn(f"Skipped {paths[i]}: {why}")
    keep = np.flatnonzero(feats.usable)
    return feats.vectors[keep], np.asarray([samples[i].label for i in keep], dtype=np.int64)


def _class_weights(trainer, labels) -> list | None:
    cfg = trainer.config
    if cfg.class_weighting == "off":
        return None
    balance = class_balance(trainer.dataset.classes, class_counts(labels, len(trainer.dataset.classes)))
    if cfg.class_weighting == "on" or balance.uneven:
        if balance.message:
            trainer._emit(Message("info", balance.message))
        if balance.uneven:
            return list(balance.weights)
        total, k = len(labels), len(trainer.dataset.classes)
        return [total / (k * max(1, c)) for c in balance.counts]
    return None


def train_quick_head(trainer, folder, epochs: int) -> HeadResult:
    """Features (cached), then the head for `epochs` epochs; best.pt/last.pt written each epoch."""
    from core.training.features import default_backbone
    from core.training.quick import HeadSettings, quick_model, train_head

    ds = trainer.dataset
    trainer._emit(Message("info", f"Reading {plural(len(ds.train) + len(ds.val), 'photo')} with the "
                                  "pretrained network (once per photo; later runs reuse it)..."))
    backbone = default_backbone()
    train_x, train_y = _features(trainer, ds.train, backbone, "training")
    val_x, val_y = _features(trainer, ds.val, backbone, "validation")
    if len(train_y) == 0:
        raise FledgeError("None of the training photos could be read, so there is nothing to learn from.")
    val_x = val_x[:, 0] if len(val_x) else val_x          # the photo view, as the Predictor sees it
    weights = _class_weights(trainer, train_y)
    settings = HeadSettings(epochs=epochs, seed=trainer.config.seed)
    trainer._emit(FitStarted(
        run_dir=str(folder.path), classes=tuple(ds.classes), epochs=epochs, start_epoch=0,
        steps_per_epoch=1, total_steps=epochs, device="CPU", precision="fp32",
        pipeline="features", pipeline_reason="Only the last layer learns, from cached features."))

    def on_epoch(ev) -> None:
        trainer._epochs_done = ev.epoch
        folder.add_epoch(dict(epoch=ev.epoch, train_loss=ev.train_loss, train_acc=ev.train_acc,
                              val_loss=ev.val_loss, val_acc=ev.val_acc, lr=ev.lr, seconds=round(ev.seconds, 4)))
        if math.isnan(trainer._best_val_acc) or ev.val_acc > trainer._best_val_acc:
            trainer._best_val_acc, trainer._best_epoch = ev.val_acc, ev.epoch
        trainer._emit(ev)

    head = train_head(train_x, train_y, val_x, val_y, len(ds.classes), settings, class_weights=weights,
                      on_epoch=on_epoch, should_stop=lambda: trainer.control.stop_requested)
    model = quick_model(head)
    metrics = dict(epoch=head.best_epoch, val_acc=head.best_val_acc, recipe_phase="head")
    for name, kind in ((runs.BEST_MODEL, "best"), (runs.LAST_MODEL, "last")):
        path = folder.save_model(name, model, metrics)
        trainer._emit(CheckpointSaved(path, head.best_epoch, head.best_val_acc, kind))
    if head.stopped:
        raise Stopped()
    return HeadResult(head, model, weights)

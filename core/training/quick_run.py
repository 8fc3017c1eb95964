"""The quick recipe's phase of a run: cached backbone features, a trained head, an ordinary model file.

The installed network (EfficientNet-Lite0 or Lite2) stays frozen; each photo's features come from the on-disk
feature cache (computed once per photo, so a retrain after a few corrections recomputes only
those photos), and only the classifier head trains (core.training.quick: fit to convergence,
its regularization chosen on training photos held out in turn), reporting an EpochEnd per
epoch like any run. The result is saved through the run folder under the installed network's arch, so predict,
evaluate, classify, sort, review and export use it unchanged.

Reading the photos is reported as a phase of its own: a FitStarted whose pipeline is
"extract" (one step per photo) and BatchEnd events without a loss, so a progress bar moves.
The Trainer hands in what the phase needs (settings, photos, folder, control, emit) and reads
what came of it from the HeadResult.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from core.errors import FledgeError
from core.training import features, runs
from core.training.events import EXTRACT_PIPELINE, HEAD_PIPELINE, BatchEnd, CheckpointSaved, FitStarted, Message
from core.training.loop import Stopped
from core.training.quick import HeadSettings, quick_model, train_head
from core.training.recipes import class_weights_for
from core.training.run_folder import RunWriter
from core.wording import plural

REPORT_INTERVAL_S = 0.1


@dataclass
class HeadResult:
    """What the head phase leaves: the head, its model file's network and the run's figures."""
    head: object                  # core.training.quick.TrainedHead
    model: object                 # the network with that head (CPU, eval mode)
    class_weights: list | None
    l2: float                     # the head's regularization (core.training.quick.L2Choice)
    best_val_acc: float           # nan without validation photos
    best_epoch: int               # the epoch whose weights best.pt holds
    epochs_done: int
    test_acc: float | None        # None without test photos (or when stopped)
    extracted: int                # photos read by the pretrained network now, not from the cache
    stopped: bool = False         # stopped after an epoch: best.pt and last.pt keep what was learnt


def polling(control):
    """should_stop for code that polls between steps: sits out a pause, then says whether to stop."""
    def should_stop() -> bool:
        control.wait_while_paused()
        return control.stop_requested
    return should_stop


class _ExtractionReport:
    """progress(done, total) of extract_features -> BatchEnd events (no loss), a few a second."""

    def __init__(self, emit: Callable) -> None:
        self.emit = emit
        self.started = time.perf_counter()
        self.first: int | None = None
        self.last = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.perf_counter()
        if self.first is None:
            self.first = done                   # the photos found in the cache
        if now - self.last < REPORT_INTERVAL_S and done < total:
            return
        self.last = now
        rate = (done - self.first) / max(1e-9, now - self.started)
        eta = (total - done) / rate if rate > 0 else math.nan
        self.emit(BatchEnd(step=done, epoch=1, epoch_step=done, steps_per_epoch=max(1, total),
                                    loss=math.nan, accuracy=math.nan, images_per_s=rate, eta_s=eta))


def _read_features(cfg, dataset, folder: RunWriter, control, emit: Callable, on_skip: Callable) -> tuple[dict, int]:
    """Features of every train, val and test photo (one pass, cached): (split -> (x, y), the
    number of photos read now rather than from the cache)."""
    splits = {name: list(getattr(dataset, name, None) or []) for name in ("train", "val", "test")}
    samples = [s for name in ("train", "val", "test") for s in splits[name]]
    paths = [s.path for s in samples]
    emit(Message("info", f"Reading {plural(len(paths), 'photo')} with the pretrained network "
                         "(once per photo; later runs reuse what was read)..."))
    emit(FitStarted(
        run_dir=str(folder.path), classes=tuple(dataset.classes), epochs=1, start_epoch=0,
        steps_per_epoch=max(1, len(paths)), total_steps=max(1, len(paths)), device="CPU", precision="fp32",
        pipeline=EXTRACT_PIPELINE, pipeline_reason="Each photo is read once by the pretrained network."))
    t0 = time.perf_counter()
    feats = features.extract_features(paths, features.default_backbone(cfg.arch), progress=_ExtractionReport(emit),
                             should_stop=polling(control))
    if feats.stopped or control.stop_requested:
        raise Stopped()
    emit(Message("info", f"Photos read: {feats.computed} now, {feats.reused} from the cache "
                         f"({time.perf_counter() - t0:.1f} s)."))
    for i, why in feats.errors.items():
        on_skip(paths[i], why)
    out, start = {}, 0
    for name in ("train", "val", "test"):
        idx = np.arange(start, start + len(splits[name]))
        start += len(splits[name])
        keep = idx[feats.usable[idx]]
        out[name] = (feats.vectors[keep], np.asarray([samples[i].label for i in keep], dtype=np.int64))
    return out, feats.computed


def train_quick_head(cfg, dataset, folder: RunWriter, control, emit: Callable, on_skip: Callable,
                     total_epochs: int) -> HeadResult:
    """Features (cached), then the head, reported as cfg.epochs epochs; best.pt/last.pt written at the end.

    control: the run's TrainControl; emit(event) reports; on_skip(path, reason) for each photo
    that could not be read. total_epochs: the epochs of the whole run (thorough goes on after
    these), for EpochEnd.epochs. Raises Stopped when stopped before anything was learnt."""
    feats, extracted = _read_features(cfg, dataset, folder, control, emit, on_skip)
    train_x, train_y = feats["train"]
    if len(train_y) == 0:
        raise FledgeError("None of the training photos could be read, so there is nothing to learn from.")
    val_x, val_y = feats["val"]
    val_x = val_x[:, 0] if len(val_x) else val_x.reshape(0, train_x.shape[-1])   # the photo view only
    weights, note = class_weights_for(cfg, dataset.classes, train_y)
    if note:
        emit(Message("info", note))
    settings = HeadSettings(epochs=cfg.epochs, seed=cfg.seed)
    emit(Message("info", "Choosing how firmly to hold the last layer back (its regularization): a few strengths "
                         "tried on training photos held out in turn..."))
    emit(FitStarted(
        run_dir=str(folder.path), classes=tuple(dataset.classes), epochs=total_epochs, start_epoch=0,
        steps_per_epoch=1, total_steps=cfg.epochs, device="CPU", precision="fp32",
        pipeline=HEAD_PIPELINE, pipeline_reason="Only the last layer learns, from the photos' features."))

    def on_epoch(ev) -> None:
        folder.add_epoch(dict(epoch=ev.epoch, train_loss=ev.train_loss, train_acc=ev.train_acc,
                              val_loss=ev.val_loss, val_acc=ev.val_acc, lr=ev.lr, seconds=round(ev.seconds, 4)))
        emit(replace(ev, epochs=total_epochs))

    head = train_head(train_x, train_y, val_x, val_y, len(dataset.classes), settings, class_weights=weights,
                      on_epoch=on_epoch, should_stop=polling(control),
                      on_choice=lambda choice: emit(Message("info", choice.sentence)))
    if head.best_epoch == 0:              # stopped before the first epoch: nothing learnt to keep
        raise Stopped()
    model = quick_model(head, cfg.arch)
    metrics = dict(epoch=head.best_epoch, val_acc=head.best_val_acc, recipe_phase="head")
    for name, kind in ((runs.BEST_MODEL, "best"), (runs.LAST_MODEL, "last")):
        path = folder.save_model(name, model, metrics)
        emit(CheckpointSaved(path, head.best_epoch, head.best_val_acc, kind))
    test_x, test_y = feats["test"]
    test_acc = None
    if len(test_y) and not head.stopped:
        test_acc = float((head.logits(test_x[:, 0]).argmax(1).numpy() == test_y).mean())
    return HeadResult(head, model, weights, head.l2.l2, best_val_acc=head.best_val_acc, best_epoch=head.best_epoch,
                      epochs_done=len(head.history), test_acc=test_acc, extracted=extracted, stopped=head.stopped)

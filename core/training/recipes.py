"""How the quick and thorough recipes train, and the learning-rate finder's sweep for any
configuration (the Train tab's "Suggest" button, `--lr auto`, and the presets). What each
recipe means for a run's settings is core.training.recipe_rules.

- class_weights_for: the loss weights class_weighting asks for, and the sentence saying so.
- fine_tune_groups: thorough's second phase, every layer at a lower rate than the head.
- network_curve / suggest_lr: the finder's sweep on the whole network (custom runs,
  thorough's second phase); the quick head has no learning rate (core.training.quick).
"""
from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence

import numpy as np
import torch

from core.data.pipeline import build_sources
from core.errors import FledgeError
from core.model import networks
from core.model.devices import resolve_device
from core.model.networks import ARCHITECTURES, classifier_parameters, main_logits
from core.training import features
from core.training.class_balance import class_balance, class_counts, compare_with_guessing
from core.training.events import Message
from core.training.lr_finder import LrCurve, find_lr
from core.training.optimizers import make_optimizer
from core.training.quick import HeadSettings, quick_model, train_head
from core.training.recipe_rules import PRESETS, resolve

SWEEP_STEPS = 60                 # batches in one sweep of a whole network: a curve in seconds on a GPU
SWEEP_START_LR = 1e-6            # a pretrained network learns nothing below this; saves a tenth of the sweep
BACKBONE_LR_FACTOR = 0.1         # thorough: the pretrained layers move at a tenth of the head's rate


# ---------------------------------------------------------------- uneven classes

def class_weights_for(cfg, classes: Sequence[str], labels: Sequence[int]) -> tuple[list[float] | None, str]:
    """(loss weights per class or None, a sentence for the user or "") for class_weighting:
    auto weighs only uneven classes, on always, off never."""
    balance = class_balance(classes, class_counts(labels, len(classes)))
    if cfg.class_weighting == "off":
        if balance.uneven:
            return None, (f"The classes are uneven ({balance.ratio:.1f} times more photos in the largest "
                          "than in the smallest), but class weighting is off: the model may favour the "
                          "largest class.")
        return None, ""
    if balance.uneven:
        return list(balance.weights), balance.message
    if cfg.class_weighting == "on":
        present = [c for c in balance.counts if c > 0]
        total, k = sum(present), max(1, len(present))
        weights = [total / (k * c) if c > 0 else 0.0 for c in balance.counts]
        return weights, "Class weighting is on: each class counts the same in training."
    return None, ""


# ---------------------------------------------------------------- a whole network

def fine_tune_groups(model, arch: str, lr: float) -> list[dict]:
    """Thorough's second phase: the classifier at lr, the pretrained layers at a tenth of it
    (fastai's discriminative rates, in two groups). lr_mult lets a sweep keep the ratio."""
    head = classifier_parameters(model, arch)
    ids = {id(p) for p in head}
    body = [p for p in model.parameters() if p.requires_grad and id(p) not in ids]
    return [{"params": body, "lr": lr * BACKBONE_LR_FACTOR, "lr_mult": BACKBONE_LR_FACTOR},
            {"params": head, "lr": lr, "lr_mult": 1.0}]


def _endless(source):
    epoch = 0
    while True:
        empty = True
        for batch in source.batches(epoch):
            empty = False
            yield batch
        if empty:
            return
        epoch += 1


def network_curve(model, optimizer, source, criterion, progress: Callable[[int, int], None] | None = None,
                  should_stop: Callable[[], bool] | None = None, steps: int = SWEEP_STEPS) -> LrCurve:
    """The finder's sweep on a whole network from a batch source; every parameter group moves
    at the swept rate times its lr_mult. The weights and the optimizer are put back after."""
    weights = copy.deepcopy(model.state_dict())
    state = copy.deepcopy(optimizer.state_dict())
    batches = _endless(source)
    done = {"n": 0}

    def step(lr: float) -> float:
        for group in optimizer.param_groups:
            group["lr"] = lr * group.get("lr_mult", 1.0)
        x, y = next(batches)
        loss = criterion(main_logits(model(x)).float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        done["n"] += 1
        if progress is not None:
            progress(min(done["n"], steps), steps)
        return float(loss.detach())

    model.train()
    try:
        return find_lr(step, start_lr=SWEEP_START_LR, num_it=steps, should_stop=should_stop)
    finally:
        model.load_state_dict(weights)
        optimizer.load_state_dict(state)


def choose_network_lr(cfg, model, source, device, class_weights, groups, emit, should_stop):
    """A run's --lr auto on a whole network: (the rate, the parameter groups at that rate or
    None for one group), with Messages through emit (core.training.events)."""
    what = "every layer" if groups else "the network"
    emit(Message("info", f"Finding a learning rate for {what}: a short sweep of {SWEEP_STEPS} batches at "
                         "rising rates (the weights are put back after)..."))
    optimizer = make_optimizer(cfg.optimizer, groups or [p for p in model.parameters() if p.requires_grad],
                               cfg, device)
    shown = {"quarter": 0}

    def progress(done: int, total: int) -> None:
        if done * 4 >= (shown["quarter"] + 1) * total and done < total:
            shown["quarter"] = done * 4 // total
            emit(Message("info", f"Trying learning rates: {done} of {total} batches..."))

    curve = network_curve(model, optimizer, source, loss_function(class_weights, cfg.label_smoothing, device),
                          progress, should_stop)
    lr = min(max(float(curve.suggestion), 1e-6), 10.0) if curve.suggestion is not None else cfg.lr
    how = ("suggested by the sweep" if curve.suggestion is not None
           else "the configured one: the sweep gave nothing to go on")
    extra = " (the pretrained layers at a tenth of it)" if groups else ""
    emit(Message("info", f"Learning rate for {what}: {lr:.2g}{extra}, {how}."))
    return lr, (fine_tune_groups(model, cfg.arch, lr) if groups else None)


def score_in_context(accuracy: float, dataset, pretrained: bool | None):
    """compare_with_guessing on the validation photos; None when there is nothing to compare."""
    classes = list(dataset.classes)
    counts = dataset.counts()
    val = [counts["val"][c] for c in classes]
    if not sum(val) or math.isnan(accuracy):
        return None
    return compare_with_guessing(accuracy, val, classes, pretrained=pretrained,
                                 train_counts=[counts["train"][c] for c in classes])


# ---------------------------------------------------------------- the "Suggest" button

def suggest_lr(config, dataset, progress=None, should_stop=None) -> LrCurve:
    """The finder's curve and suggestion for this configuration on this dataset's training photos:
    thorough: every layer, starting from the quick head (the rate of its second phase); custom:
    the network as configured. The quick recipe has no rate to find (FledgeError).

    progress(done, total) as it goes (reading photos, then the sweep); should_stop() ends it
    early (the curve so far)."""
    cfg, _ = resolve(config)
    cfg.validate()
    if dataset is None or not dataset.train:
        raise FledgeError("Choose a dataset first: the learning rate is tried on its training photos.")
    stop = should_stop or (lambda: False)
    head = None
    if cfg.recipe == "quick":
        raise FledgeError("The quick recipe has no learning rate to find: its last layer is fit to convergence.")
    if cfg.recipe in PRESETS:
        x, y = _train_features(dataset, cfg.arch, progress, stop)
        weights, _ = class_weights_for(cfg, dataset.classes, y)
        head = train_head(x, y, x[:0, 0], y[:0], len(dataset.classes), HeadSettings(seed=cfg.seed),
                          class_weights=weights, should_stop=stop)
    return _sweep_network(cfg, dataset, head, progress, stop)


def _train_features(dataset, arch: str, progress, should_stop):
    paths = [s.path for s in dataset.train]
    feats = features.extract_features(paths, features.default_backbone(arch), progress=progress,
                                      should_stop=should_stop)
    if feats.stopped:
        raise FledgeError("Stopped before the photos were read: no learning rate was tried.")
    keep = np.flatnonzero(feats.usable)
    if not len(keep):
        raise FledgeError("None of the training photos could be read, so no learning rate can be tried.")
    return feats.vectors[keep], np.asarray([dataset.train[i].label for i in keep], dtype=np.int64)


def _sweep_network(cfg, dataset, head, progress, should_stop) -> LrCurve:
    spec = ARCHITECTURES[cfg.arch]
    size = cfg.image_size or spec.input_size
    device = resolve_device(cfg.device)
    model, _ = networks.build_model(cfg.arch, len(dataset.classes), image_size=size, pretrained=cfg.pretrained,
                           weights_path=cfg.weights_path, freeze_backbone=cfg.freeze_backbone)
    if head is not None:
        model.load_state_dict(quick_model(head, cfg.arch).state_dict())
    model = model.to(device)
    train, val, test, _plan = build_sources(dataset, image_size=size, mean=spec.mean, std=spec.std,
                                            batch_size=cfg.batch_size, augment=cfg.augmentation(), seed=cfg.seed,
                                            device=device, kind=cfg.pipeline, memory_budget_mb=cfg.memory_budget_mb,
                                            workers=cfg.workers, should_stop=should_stop)
    try:
        weights, _ = class_weights_for(cfg, dataset.classes, [s.label for s in dataset.train])
        groups = (fine_tune_groups(model, cfg.arch, cfg.lr) if cfg.recipe == "thorough"
                  else [p for p in model.parameters() if p.requires_grad])
        optimizer = make_optimizer(cfg.optimizer, groups, cfg, device)
        criterion = loss_function(weights, cfg.label_smoothing, device)
        return network_curve(model, optimizer, train, criterion, progress, should_stop)
    finally:
        for src in (train, val, test):
            if src is not None:
                src.close()


def loss_function(class_weights, label_smoothing: float, device) -> torch.nn.Module:
    """Cross-entropy, weighted by class when weights are given."""
    w = torch.tensor(class_weights, dtype=torch.float32, device=device) if class_weights is not None else None
    return torch.nn.CrossEntropyLoss(weight=w, label_smoothing=label_smoothing)



# ---------------------------------------------------------------- several processes

def can_run_on(config, processes: int) -> str | None:
    """What keeps `config` from training on `processes` processes (torchrun, one per GPU), in
    plain words; None when nothing does. The one rule: the window then trains on one process and
    says why, `fledge train --gpus` refuses, and the distributed trainer fails with it."""
    if processes <= 1:
        return None
    if config.recipe != "custom":
        return (f"Several processes are for the custom recipe: the {config.recipe} recipe starts from a "
                "pretrained network's cached features and takes seconds to minutes on one device.")
    if config.auto_lr:
        return ("Finding the learning rate works on one device only: several processes need a learning "
                "rate given.")
    return None

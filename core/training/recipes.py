"""A learning rate without guesswork: the finder's sweep on the network a configuration trains.

Used by the Train tab's "Suggest" button. The sweep trains the very network, data pipeline
and optimizer the run would use for a few dozen batches at rising rates, then puts the
weights back (core.training.lr_finder). The quick recipe's head keeps its own measured rate.
"""
from __future__ import annotations

import torch.nn.functional as F

from core.errors import FledgeError
from core.training.lr_finder import LrCurve, find_lr_for_network

SWEEP_STEPS = 60            # batches in one sweep: enough for a curve, seconds on a small network


def suggest_lr(config, dataset, progress=None, should_stop=None) -> LrCurve:
    """The finder's curve and suggestion for this configuration on this dataset's training photos.

    progress(done, total) after each step; should_stop() ends the sweep early (the curve so far).
    """
    from core.data.pipeline import build_sources
    from core.model.devices import resolve_device
    from core.model.networks import ARCHITECTURES, build_model, main_logits
    from core.training.optimizers import make_optimizer
    from core.training.quick_run import recipe_config

    cfg = recipe_config(config)
    cfg.validate()
    if dataset is None or not dataset.train:
        raise FledgeError("Choose a dataset first: the learning rate is tried on its training photos.")
    spec = ARCHITECTURES[cfg.arch]
    size = cfg.image_size or spec.input_size
    device = resolve_device(cfg.device)
    model, _ = build_model(cfg.arch, len(dataset.classes), image_size=size, pretrained=cfg.pretrained,
                           weights_path=cfg.weights_path, freeze_backbone=cfg.freeze_backbone)
    model = model.to(device)
    train, val, test, _plan = build_sources(dataset, image_size=size, mean=spec.mean, std=spec.std,
                                            batch_size=cfg.batch_size, augment=cfg.augment, seed=cfg.seed,
                                            device=device, kind=cfg.pipeline, memory_budget_mb=cfg.memory_budget_mb,
                                            workers=cfg.workers, should_stop=should_stop)
    try:
        optimizer = make_optimizer(cfg.optimizer, [p for p in model.parameters() if p.requires_grad], cfg, device)
        steps = {"done": 0}

        def batches():
            epoch = 0
            while True:
                for batch in train.batches(epoch):
                    yield batch
                epoch += 1

        def loss_fn(output, target):
            steps["done"] += 1
            if progress is not None:
                progress(min(steps["done"], SWEEP_STEPS), SWEEP_STEPS)
            return F.cross_entropy(main_logits(output), target)

        return find_lr_for_network(model, optimizer, batches(), loss_fn, num_it=SWEEP_STEPS,
                                   should_stop=should_stop)
    finally:
        for src in (train, val, test):
            if src is not None:
                src.close()

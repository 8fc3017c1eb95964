"""The head the quick recipe trained before the converged one (core.training.quick), kept to
compare against: 50 full-batch AdamW steps at 1e-2 (weight decay 0.05, the rate lowered along a
cosine) on standardized features, and the weights of the step with the best validation accuracy.
That choice is made on the photos it is scored on, so its figure flatters it a little."""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from core.model.threads import paced

STEPS = 50
LR = 1e-2
WEIGHT_DECAY = 0.05


def train_adamw_head(train_x, train_y, val_x, val_y, num_classes: int, class_weights=None,
                     seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(weight, bias) on raw features. train_x (N, views, dim) or (N, dim); val_x (M, dim) or empty."""
    a = np.asarray(train_x, dtype=np.float32)
    views = a.shape[1] if a.ndim == 3 else 1
    rows = torch.from_numpy(a.reshape(-1, a.shape[-1]))
    y = torch.from_numpy(np.repeat(np.asarray(train_y, dtype=np.int64), views))
    mean, scale = rows.mean(0), rows.std(0).clamp_min(1e-3)
    x = (rows - mean) / scale
    vx = torch.as_tensor(np.asarray(val_x, dtype=np.float32)).reshape(-1, x.shape[1])
    vy = torch.as_tensor(np.asarray(val_y, dtype=np.int64))
    w = torch.tensor(class_weights, dtype=torch.float32) if class_weights is not None else None
    torch.manual_seed(seed)
    layer = nn.Linear(x.shape[1], int(num_classes))
    opt = torch.optim.AdamW(layer.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, STEPS) / STEPS)))
    best = (-1.0, math.inf, None)
    for _ in paced(range(STEPS), "cpu"):       # threads as the quick head's fit takes them: times compare
        loss = F.cross_entropy(layer(x), y, weight=w)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        with torch.no_grad():
            wr = layer.weight / scale
            br = layer.bias - wr @ mean
            if not len(vx):
                best = (0.0, 0.0, (wr.clone(), br.clone()))
                continue
            logits = vx @ wr.T + br
            acc, vloss = float((logits.argmax(1) == vy).float().mean()), float(F.cross_entropy(logits, vy))
            if (acc, -vloss) > (best[0], -best[1]):
                best = (acc, vloss, (wr.clone(), br.clone()))
    return best[2]

"""Learning rate without guesswork: a short sweep with an exponentially growing rate.

The method of fastai's `lr_find`: one training step per rate from start_lr to end_lr,
the loss smoothed (exponential average, debiased), the sweep stopped once the loss is
four times its best, and the suggestion fastai calls "valley": a point in the middle of
the longest stretch where the loss keeps falling. It works for anything given a step
function (the head on cached features, or a whole network through network_step).
"""
from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
from torch import nn

START_LR = 1e-7
END_LR = 10.0
NUM_IT = 100
BETA = 0.98          # smoothing of the loss, as fastai's Recorder
DIVERGED = 4.0       # stop once the smoothed loss exceeds this many times its best


@dataclass(frozen=True)
class LrCurve:
    lrs: tuple[float, ...]            # the rate of each step
    losses: tuple[float, ...]         # the smoothed loss after each step
    suggestion: float | None          # None when the sweep gave nothing to go on
    suggestion_index: int | None      # where the suggestion sits on the curve (for a plot)
    diverged: bool                    # the loss blew up before end_lr


def find_lr(step: Callable[[float], float], start_lr: float = START_LR, end_lr: float = END_LR,
            num_it: int = NUM_IT, stop_div: bool = True,
            should_stop: Callable[[], bool] | None = None) -> LrCurve:
    """Sweep step(lr) -> loss over num_it rates growing exponentially; the curve and the
    valley suggestion. step trains one batch at lr; restoring the weights is the caller's."""
    num_it = max(6, int(num_it))
    lrs: list[float] = []
    losses: list[float] = []
    avg, best, diverged = 0.0, math.inf, False
    for i in range(num_it):
        if should_stop is not None and should_stop():
            break
        lr = start_lr * (end_lr / start_lr) ** (i / num_it)
        try:
            loss = float(step(lr))
        except StopIteration:         # the step function ran out of batches
            break
        avg = BETA * avg + (1 - BETA) * loss
        smooth = avg / (1 - BETA ** (i + 1))
        lrs.append(lr)
        losses.append(smooth)
        if not math.isfinite(smooth) or (stop_div and smooth > DIVERGED * best):
            diverged = True
            break
        best = min(best, smooth)
    index = suggestion_index(lrs, losses, num_it)
    return LrCurve(tuple(lrs), tuple(losses), lrs[index] if index is not None else None,
                   index, diverged)


def suggestion_index(lrs: list[float], losses: list[float], num_it: int) -> int | None:
    """Index of fastai's suggestion: the valley, on the curve without its first tenth and
    last five steps (noise at the start, blow-up at the end) and cut at the first NaN."""
    lo, hi = num_it // 10, len(losses) - 5
    window = []
    for i in range(lo, hi):
        if not math.isfinite(losses[i]):
            break
        window.append(losses[i])
    if len(window) >= 3:
        return lo + valley(window)
    finite = [i for i, v in enumerate(losses) if math.isfinite(v)]
    if not finite:
        return None
    # Too short a sweep for a valley: a tenth of the rate at the lowest loss.
    best = min(finite, key=lambda i: losses[i])
    target = lrs[best] / 10
    return min(range(len(lrs)), key=lambda i: abs(math.log(lrs[i]) - math.log(target)))


def valley(losses: list[float]) -> int:
    """fastai's "valley": find the longest run of steps (not necessarily adjacent) along
    which the loss only falls, and answer a point about halfway into it, where the loss
    falls fast but has not yet levelled off."""
    n = len(losses)
    falling = [1] * n            # length of the longest falling run that ends at i
    end = 0
    for i in range(1, n):
        for j in range(i):
            if losses[i] < losses[j] and falling[i] < falling[j] + 1:
                falling[i] = falling[j] + 1
        if falling[i] > falling[end]:
            end = i
    start = max(0, end - falling[end])
    third = (end - start) / 3
    return min(n - 1, start + int(third) + int(third / 2))


# ---------------------------------------------------------------- a whole network

def _endless(batches: Iterable):
    """The batches over and over (a DataLoader starts a new epoch); a one-shot iterator ends."""
    while True:
        empty = True
        for batch in batches:
            empty = False
            yield batch
        if empty or iter(batches) is batches:
            return


def network_step(model: nn.Module, optimizer: torch.optim.Optimizer,
                 batches: Iterable, loss_fn: Callable) -> Callable[[float], float]:
    """A step function for find_lr: the next (inputs, targets) batch (starting over when
    they run out), one optimizer step at the given rate, the loss."""
    source = _endless(batches)

    def step(lr: float) -> float:
        for group in optimizer.param_groups:
            group["lr"] = lr
        x, y = next(source)
        loss = loss_fn(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return float(loss.detach())

    return step


def find_lr_for_network(model: nn.Module, optimizer: torch.optim.Optimizer, batches: Iterable,
                        loss_fn: Callable, **sweep) -> LrCurve:
    """find_lr on a whole network; its weights and the optimizer state are put back after."""
    weights = copy.deepcopy(model.state_dict())
    state = copy.deepcopy(optimizer.state_dict())
    was_training = model.training
    model.train()
    try:
        return find_lr(network_step(model, optimizer, batches, loss_fn), **sweep)
    finally:
        model.load_state_dict(weights)
        optimizer.load_state_dict(state)
        model.train(was_training)

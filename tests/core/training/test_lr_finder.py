"""The learning-rate finder: fastai's exponential sweep and its "valley" suggestion."""
from __future__ import annotations

import math

import torch
from torch import nn

from core.training.lr_finder import find_lr, find_lr_for_network, valley


def _separable(n: int = 256, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 10, generator=g)
    y = (x[:, :3].sum(1) > 0).long()
    return x, y


def test_valley_lies_in_the_longest_fall():
    losses = [2.0] * 10 + [2.0 - 0.05 * i for i in range(30)] + [0.6 + 0.3 * i for i in range(10)]
    i = valley(losses)
    assert 15 <= i <= 35                      # within the falling stretch (10..39), not its ends
    assert losses[i] < losses[10] and losses[i] > min(losses)


def test_sweep_grows_exponentially_and_stops_when_the_loss_blows_up():
    seen = []

    def step(lr):
        seen.append(lr)
        return 1.0 if lr < 1e-2 else 1.0 + 1e4 * lr     # explodes above 0.01

    curve = find_lr(step, start_lr=1e-6, end_lr=10, num_it=60)
    assert curve.diverged and len(curve.lrs) < 60 and curve.lrs[-1] > 1e-2
    ratios = [b / a for a, b in zip(seen, seen[1:])]
    assert max(ratios) - min(ratios) < 1e-9       # the same factor every step
    assert math.isclose(seen[0], 1e-6)


def test_network_sweep_suggests_a_sane_rate_and_puts_the_weights_back():
    x, y = _separable()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(10, 16), nn.ReLU(), nn.Linear(16, 2))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    opt = torch.optim.SGD(model.parameters(), lr=0.123, momentum=0.9)
    batches = [(x[i:i + 32], y[i:i + 32]) for i in range(0, len(x), 32)]
    curve = find_lr_for_network(model, opt, batches, nn.functional.cross_entropy)
    assert len(curve.lrs) == len(curve.losses) > 20      # the batches were cycled through
    assert 1e-4 <= curve.suggestion <= 1.0
    assert curve.lrs[curve.suggestion_index] == curve.suggestion
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k])
    assert opt.param_groups[0]["lr"] == 0.123 and not opt.state    # optimizer restored too
    # The suggested rate actually trains the network.
    opt = torch.optim.SGD(model.parameters(), lr=curve.suggestion, momentum=0.9)
    for _ in range(5):
        for xb, yb in batches:
            loss = nn.functional.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
    assert float((model(x).argmax(1) == y).float().mean()) > 0.85

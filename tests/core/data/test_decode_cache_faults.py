"""The decoded pictures kept between runs are only a cache: when they do not fit beside a new run's
after all, they are let go (and decoded again), said in one line, and the run goes on."""
from __future__ import annotations

import logging

import numpy as np
import torch

from core.data import decode_cache
from core.data.decode_cache import PENDING, READY, assign_rows, release_cache, retain
from core.files import cache_faults

CPU = torch.device("cpu")


def test_kept_pictures_that_do_not_fit_beside_a_new_runs_are_let_go(monkeypatch, caplog):
    caplog.set_level(logging.WARNING, logger=cache_faults.__name__)
    keys = [(f"/photos/{i}.jpg", 100 + i, 1, 8) for i in range(10)]
    old, _ = assign_rows(keys[:3], 8, CPU, False, budget_bytes=1 << 30)
    old.data[:] = 7
    old.state[:] = READY
    retain(old)
    real, sizes = decode_cache.Store, []

    class Tight(real):
        """The first store asked for does not fit while the kept one is still held."""

        def __init__(self, capacity, *args, **kwargs):
            sizes.append(capacity)
            if len(sizes) == 1:
                raise RuntimeError("CUDA out of memory. Tried to allocate 1.88 GiB")
            super().__init__(capacity, *args, **kwargs)

    monkeypatch.setattr(decode_cache, "Store", Tight)
    try:
        store, rows = assign_rows(keys, 8, CPU, False, budget_bytes=1 << 30)
    finally:
        release_cache()
    assert sizes == [10, 10] and store.capacity == 10
    assert (store.state == PENDING).all() and sorted(rows.tolist()) == list(range(10))
    assert old.data.numel() == 0                         # the kept pictures were freed
    assert [r.getMessage() for r in caplog.records if r.name == cache_faults.__name__] == [
        "Fledge let go of the decoded pictures kept from the last run (they did not fit beside this run's); "
        "they are worked out again."]


def test_kept_pictures_that_fit_are_still_copied_over():
    keys = [(f"/photos/{i}.jpg", 100 + i, 1, 8) for i in range(10)]
    old, _ = assign_rows(keys[:3], 8, CPU, False, budget_bytes=1 << 30)
    old.data[:] = torch.arange(3, dtype=torch.uint8).view(3, 1, 1, 1)
    old.state[:] = READY
    retain(old)
    try:
        store, rows = assign_rows(keys, 8, CPU, False, budget_bytes=1 << 30)
    finally:
        release_cache()
    assert (store.state[rows[:3]] == READY).all() and (store.state[rows[3:]] == PENDING).all()
    np.testing.assert_array_equal(store.data[rows[:3], 0, 0, 0].numpy(), [0, 1, 2])

"""The data pipeline: the cached and stream sources a run's batches come from."""
from __future__ import annotations

import multiprocessing
import os
import threading
from collections import Counter

import numpy as np
import pytest
import torch
from PIL import Image

from core.data import decoder
from core.data.batch_sources import CachedSource, StreamSource, epoch_generators
from core.data.dataset import Dataset, Sample, scan_dataset
from core.data.decode_cache import release_cache
from core.data.pipeline import build_sources

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
SIZE = 32                       # training size in these tests; cache size 37


@pytest.fixture(autouse=True)
def _fresh_cache():
    release_cache()
    yield
    release_cache()


def _levels(n: int) -> list[int]:
    return [int(v) for v in np.linspace(10, 245, n).round()]


def flat_dataset(tmp_path, n_train: int = 20, n_val: int = 6, n_test: int = 0, size=(40, 34)) -> Dataset:
    """PNG pictures of one flat grey level each: any crop, flip or resize keeps the level,
    so a batch tells which pictures it holds."""
    levels = _levels(n_train + n_val + n_test)
    samples = []
    for i, v in enumerate(levels):
        p = tmp_path / "flat" / f"img_{i:03d}.png"
        p.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", size, (v, v, v)).save(p)
        samples.append(Sample(str(p), i % 2))
    return Dataset(root=str(tmp_path / "flat"), classes=["a", "b"], train=samples[:n_train],
                   val=samples[n_train:n_train + n_val], test=samples[n_train + n_val:],
                   skipped=[], layout="class-folders", warnings=[])


def levels_of(x: torch.Tensor) -> list[int]:
    """The grey level of each (flat) picture in a normalized batch."""
    v = x[:, 0].mean(dim=(1, 2)) * STD[0] + MEAN[0]
    return [int(round(float(t) * 255)) for t in v]


def build(ds, kind="cached", **kw):
    args = dict(image_size=SIZE, mean=MEAN, std=STD, batch_size=4, augment=True, seed=3,
                device="cpu", kind=kind, workers=2)
    args.update(kw)
    return build_sources(ds, **args)


def close_all(*sources):
    for s in sources:
        if s is not None:
            s.close()


def collect(src, epoch):
    xs, ys = [], []
    for x, y in src.batches(epoch):
        xs.append(x)
        ys.append(y)
    return xs, ys


def test_build_sources_follows_the_plan(tmp_path):
    ds = flat_dataset(tmp_path, n_train=8, n_val=4, n_test=3)
    tr, va, te, plan = build(ds, "auto", memory_budget_mb=0.001)
    try:
        assert plan.kind == "stream" and isinstance(tr, StreamSource)
        assert te is not None and te.num_images == 3
    finally:
        close_all(tr, va, te)
    tr, va, te, plan = build(flat_dataset(tmp_path / "b", n_test=0), "auto")
    try:
        assert plan.kind == "cached" and isinstance(tr, CachedSource) and te is None
    finally:
        close_all(tr, va, te)


# -- sources ------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["cached", "stream"])
def test_every_image_once_per_epoch_shuffled_and_deterministic(tmp_path, kind):
    ds = flat_dataset(tmp_path, n_train=21, n_val=5)   # 21 = 5 batches of 4 + 1: the 1 is left out
    levels = _levels(26)
    tr, va, te, plan = build(ds, kind)
    try:
        assert (tr.num_images, tr.steps_per_epoch, va.steps_per_epoch) == (21, 5, 2)
        seen = []
        for epoch in range(2):
            xs, ys = collect(tr, epoch)
            assert len(xs) == 5 and all(x.shape == (4, 3, SIZE, SIZE) for x in xs)
            got = [v for x in xs for v in levels_of(x)]
            assert len(set(got)) == 20 and set(got) <= set(levels[:21])
            labels = [int(v) for y in ys for v in y]
            assert labels == [levels.index(v) % 2 for v in got]
            seen.append(got)
        assert seen[0] != seen[1]                           # shuffled per epoch
        xs, _ = collect(va, 0)
        assert [v for x in xs for v in levels_of(x)] == levels[21:]   # fixed order, all of them
    finally:
        close_all(tr, va, te)
    tr2, va2, te2, _ = build(ds, kind)
    try:
        again = [v for x in collect(tr2, 1)[0] for v in levels_of(x)]
        assert again == seen[1]                             # same (seed, epoch), same order
    finally:
        close_all(tr2, va2, te2)


def test_cached_and_stream_give_the_same_batches(make_image_folder):
    root = make_image_folder(classes={"bird": 9, "plane": 9}, size=(44, 36), fmt="jpg")
    ds = scan_dataset(root, val_fraction=0.3, seed=0)
    c = build(ds, "cached", batch_size=5)
    s = build(ds, "stream", batch_size=5)
    try:
        for a, b in ((c[1], s[1]), (c[0], s[0])):
            for epoch in (0, 1):
                xa, ya = collect(a, epoch)
                xb, yb = collect(b, epoch)
                assert len(xa) == len(xb) > 0
                for p, q in zip(xa, xb):
                    assert torch.equal(p, q)
                for p, q in zip(ya, yb):
                    assert torch.equal(p, q) and p.dtype == torch.int64
    finally:
        close_all(*c[:3], *s[:3])


@pytest.mark.parametrize("kind", ["cached", "stream"])
def test_a_file_broken_after_the_scan_is_reported_and_skipped(tmp_path, kind):
    ds = flat_dataset(tmp_path, n_train=12, n_val=4)
    broken, gone, broken_val = ds.train[3].path, ds.train[7].path, ds.val[1].path
    with open(broken, "wb") as f:
        f.write(b"this is not a picture")
    os.remove(gone)
    with open(broken_val, "r+b") as f:
        f.truncate(60)
    skipped = []
    tr, va, te, _ = build(ds, kind, on_skip=lambda p, r: skipped.append((p, r)))
    try:
        counts = []
        for epoch in range(3):
            xs, _ = collect(tr, epoch)
            counts.append(sum(len(x) for x in xs))
        assert counts == [10, 10, 10]
        xs, ys = collect(va, 0)
        assert sum(len(x) for x in xs) == 3 and sum(len(y) for y in ys) == 3
        reasons = dict(skipped)
        assert len(skipped) == 3 and set(reasons) == {broken, gone, broken_val}
        assert reasons[gone] == "file not found"
        assert all(r for r in reasons.values())
        assert sorted(p for p, _ in tr.skipped) == sorted([broken, gone])
    finally:
        close_all(tr, va, te)


def test_a_batch_shrunk_to_one_picture_is_not_trained_on(tmp_path):
    ds = flat_dataset(tmp_path, n_train=6, n_val=2)
    for s in ds.train[:3]:          # batches of 2 shrink to 1 (or 0) picture when files are gone
        os.remove(s.path)
    tr, va, te, _ = build(ds, batch_size=2)
    try:
        for epoch in range(2):
            sizes = [len(x) for x, _ in tr.batches(epoch)]
            assert 1 not in sizes and sum(sizes) <= 3
    finally:
        close_all(tr, va, te)


def test_first_batch_arrives_while_the_rest_is_still_decoding(tmp_path, monkeypatch):
    ds = flat_dataset(tmp_path, n_train=16, n_val=4)
    gate = threading.Event()
    real = decoder.decode_or_reason
    first_paths: set[str] = set()

    def gated(path, size):
        if path not in first_paths:
            gate.wait(10)
        return real(path, size)

    # The first epoch's first batch, from the same seeded order the source uses.
    order = torch.randperm(16, generator=epoch_generators(3, 0, torch.device("cpu"))[0]).tolist()
    first_paths.update(ds.train[i].path for i in order[:4])
    monkeypatch.setattr(decoder, "decode_or_reason", gated)
    monkeypatch.setattr(decoder.Decoder, "CHUNK", 1)   # no blocked picture shares a task
    tr, va, te, _ = build(ds)
    try:
        it = tr.batches(0)
        x, y = next(it)                     # would hang if decoding had to finish first
        assert not gate.is_set()
        assert sorted(levels_of(x)) == sorted(_levels(20)[i] for i in order[:4])
        gate.set()
        assert sum(len(x) for x, _ in it) == 12
    finally:
        gate.set()
        close_all(tr, va, te)


def test_should_stop_ends_a_wait_for_decoding(tmp_path, monkeypatch):
    ds = flat_dataset(tmp_path, n_train=8, n_val=2)
    gate, stop = threading.Event(), threading.Event()
    real = decoder.decode_or_reason

    def blocked(path, size):
        gate.wait(30)
        return real(path, size)

    monkeypatch.setattr(decoder, "decode_or_reason", blocked)
    tr, va, te, _ = build(ds, should_stop=stop.is_set)
    try:
        stop.set()
        assert list(tr.batches(0)) == []
    finally:
        gate.set()
        close_all(tr, va, te)


def test_changed_file_is_decoded_again_and_unchanged_ones_are_reused(tmp_path, monkeypatch):
    ds = flat_dataset(tmp_path, n_train=8, n_val=4)
    levels = _levels(12)
    calls = Counter()
    real = decoder.decode_or_reason

    def counting(path, size):
        calls[path] += 1
        return real(path, size)

    monkeypatch.setattr(decoder, "decode_or_reason", counting)
    tr, va, te, _ = build(ds)
    assert sum(len(x) for x, _ in tr.batches(0)) == 8
    assert [v for x in collect(va, 0)[0] for v in levels_of(x)] == levels[8:]
    close_all(tr, va, te)
    assert sum(calls.values()) == 12

    changed = ds.val[2].path
    st = os.stat(changed)
    Image.new("RGB", (40, 34), (3, 3, 3)).save(changed)
    os.utime(changed, ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))
    calls.clear()
    tr, va, te, _ = build(ds)
    try:
        got = [v for x in collect(va, 0)[0] for v in levels_of(x)]
        assert got == levels[8:10] + [3] + levels[11:]
        assert sum(len(x) for x, _ in tr.batches(0)) == 8
        assert calls == {changed: 1}                        # only the changed file was decoded
    finally:
        close_all(tr, va, te)


@pytest.mark.parametrize("kind", ["cached", "stream"])
def test_close_leaves_no_threads_or_processes(tmp_path, kind):
    ds = flat_dataset(tmp_path, n_train=24, n_val=4)
    before = set(threading.enumerate())
    tr, va, te, _ = build(ds, kind, workers=2)
    next(iter(tr.batches(0)))               # an epoch abandoned half-way
    next(iter(va.batches(0)))
    close_all(tr, va, te)
    assert multiprocessing.active_children() == []
    left = [t for t in threading.enumerate() if t not in before and t.is_alive()]
    assert left == []
    assert list(tr.batches(1)) == []        # a closed source yields nothing


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_sources_match_and_are_channels_last(tmp_path):
    ds = flat_dataset(tmp_path, n_train=13, n_val=5)
    c = build(ds, "cached", device="cuda")
    s = build(ds, "stream", device="cuda")
    try:
        assert c[3].where == "gpu"
        for a, b in ((c[0], s[0]), (c[1], s[1])):
            for (xa, ya), (xb, yb) in zip(a.batches(1), b.batches(1)):
                assert xa.is_cuda and xa.is_contiguous(memory_format=torch.channels_last)
                assert torch.equal(xa, xb) and torch.equal(ya, yb)
    finally:
        close_all(*c[:3], *s[:3])

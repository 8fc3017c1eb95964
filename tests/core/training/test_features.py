"""Backbone features: computed once per photo, kept on disk, recomputed when a photo changes."""
from __future__ import annotations

import os
import threading

import numpy as np
import pytest
import torch
from torch import nn

from core.data.decoder import decode_square
from core.data.transforms import eval_batch
from core.training.feature_store import FeatureStore, store_for
from core.training.features import Backbone, extract_features
from tests.core.conftest import draw_class_image, save_image


class CountingNet(nn.Module):
    """A tiny fixed backbone that counts the images it sees."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 5, stride=4)
        g = torch.Generator().manual_seed(0)            # the same weights in every thread
        with torch.no_grad():
            self.conv.weight.copy_(torch.randn(self.conv.weight.shape, generator=g) * 0.1)
            self.conv.bias.copy_(torch.randn(6, generator=g) * 0.1)
        self.images = 0

    def forward(self, x):
        self.images += len(x)
        return torch.relu(self.conv(x)).mean((2, 3))


def backbone(id_: str = "counting-1", size: int = 32) -> Backbone:
    return Backbone(id_, CountingNet().eval(), size, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25), 6)


@pytest.fixture
def photos(make_image_folder):
    root = make_image_folder(classes={"bird": 5, "plane": 4}, size=40, fmt="jpg")
    return sorted(str(p) for p in root.rglob("*.jpg"))


@pytest.fixture
def store(tmp_path):
    return FeatureStore(tmp_path / "features" / "b" / "v", root=tmp_path / "features")


def test_second_call_computes_nothing(photos, store):
    bb = backbone()
    calls = []
    first = extract_features(photos, bb, store=store, progress=lambda d, t: calls.append((d, t)))
    assert first.usable.all() and first.computed == len(photos) and first.reused == 0
    assert bb.network.images == 2 * len(photos)          # the photo and its mirror
    assert calls[-1] == (len(photos), len(photos))
    second = extract_features(photos, bb, store=store)
    assert bb.network.images == 2 * len(photos)          # nothing went through the network
    assert second.computed == 0 and second.reused == len(photos)
    np.testing.assert_array_equal(second.vectors, first.vectors)
    # Another process (a new store object on the same folder) finds them too.
    again = extract_features(photos, bb, store=FeatureStore(store.folder, root=store.root))
    assert again.computed == 0


def test_changed_photo_is_computed_again(photos, store):
    bb = backbone()
    before = extract_features(photos, bb, store=store)
    save_image(draw_class_image(3, 40, seed=99), photos[2])
    st = os.stat(photos[2])
    os.utime(photos[2], ns=(st.st_atime_ns, st.st_mtime_ns + 10_000_000))
    bb.network.images = 0
    after = extract_features(photos, bb, store=store)
    assert after.computed == 1 and bb.network.images == 2
    assert not np.allclose(after.vectors[2], before.vectors[2])
    np.testing.assert_array_equal(np.delete(after.vectors, 2, 0), np.delete(before.vectors, 2, 0))


def test_another_backbone_or_image_size_has_its_own_features(photos, tmp_path):
    one, other, bigger = backbone("a-1"), backbone("b-1"), backbone("a-1", size=48)
    assert one.variant != bigger.variant
    for bb in (one, other, bigger):
        result = extract_features(photos, bb, store=store_for(bb.id, bb.variant, root=tmp_path))
        assert result.computed == len(photos)


def test_features_see_the_photo_as_the_predictor_does(photos, store):
    bb = backbone()
    got = extract_features(photos[:2], bb, store=store)
    x = eval_batch(torch.from_numpy(np.stack([decode_square(p, bb.cache_size) for p in photos[:2]])),
                   bb.image_size, bb.mean, bb.std)
    with torch.inference_mode():
        photo, mirror = bb.network(x), bb.network(x.flip(3))
    np.testing.assert_allclose(got.vectors[:, 0], photo.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got.vectors[:, 1], mirror.numpy(), rtol=1e-5, atol=1e-6)
    one_view = extract_features(photos[:2], bb, views=("photo",), store=store)
    assert one_view.computed == 0 and one_view.vectors.shape == (2, 1, 6)


def test_unreadable_photo_is_reported_not_raised(photos, store, tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 not really a jpeg")
    paths = photos[:3] + [str(broken), str(tmp_path / "gone.jpg")]
    result = extract_features(paths, backbone(), store=store)
    assert result.usable.tolist() == [True, True, True, False, False]
    assert set(result.errors) == {3, 4} and all(result.errors.values())


def test_stop_keeps_what_was_computed(photos, store):
    bb = backbone()
    stop = threading.Event()
    first = extract_features(photos, bb, store=store, batch_size=2,
                             progress=lambda d, t: stop.set() if d >= 2 else None,
                             should_stop=stop.is_set)
    assert first.stopped and 0 < first.computed < len(photos)
    rest = extract_features(photos, bb, store=store, batch_size=2)
    assert not rest.stopped and rest.reused == first.computed
    assert rest.computed == len(photos) - first.computed


def test_threads_share_a_store_safely(photos, store):
    results, errors = [], []
    shared = backbone()

    def work():
        try:
            results.append(extract_features(photos, shared, store=store, batch_size=2))
        except Exception as e:  # noqa: BLE001 - reported by the assertion below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 3
    for r in results[1:]:
        np.testing.assert_allclose(r.vectors, results[0].vectors, rtol=1e-4, atol=1e-5)
    assert extract_features(photos, backbone(), store=store).computed == 0


def test_store_drops_stale_rows_and_keeps_its_budget(tmp_path):
    files = []
    for i in range(6):
        p = tmp_path / f"f{i}.bin"
        p.write_bytes(b"x" * (i + 1))
        files.append(p)
    keys = []
    for p in files:
        st = p.stat()
        keys.append(f"photo|{st.st_size}|{st.st_mtime_ns}|{p}")
    root = tmp_path / "features"
    store = FeatureStore(root / "b" / "v", root=root, max_bytes=10**9)
    store.put(keys[:3], np.ones((3, 4)))
    store.put(keys[3:5], np.ones((2, 4)))
    assert len(store) == 5
    files[0].unlink()                          # deleted photos: their rows are stale
    files[1].write_bytes(b"changed")
    store.put(keys[5:], np.ones((1, 4)))       # writing drops a chunk's rows once most are stale
    assert len(store) == 4
    vectors, found = store.get(keys, 4)
    assert found.tolist() == [False, False, True, True, True, True]
    assert (vectors[found] == 1).all() and (vectors[~found] == 0).all()
    # A budget smaller than the store: the least recently used chunks go.
    small = FeatureStore(root / "b" / "v", root=root, max_bytes=1)
    small.prune()
    assert len(small) == 0 and not list((root / "b" / "v").glob("chunk-*.npz"))

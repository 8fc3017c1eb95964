"""Watching a folder (core.photos.watch): photos sorted as they arrive, none lost or taken twice.

The predictor is tests.fakes.ColorPredictor (bird when red, plane when blue, unsure in
between; it decodes each file as the real one does), so every test runs in a second or
two. Waiting is on the watcher's own condition (wait_until), never a sleep; the only
sleeps are a slow writer's pauses between its chunks, which are what is being tested.
"""
from __future__ import annotations

import io
import os
import threading
import time
from collections import Counter

import pytest
from PIL import Image

from core.errors import FledgeError
from core.photos.sort_undo import undo
from core.photos.watch import FolderWatcher, PhotoSorted, PhotoWaiting
from core.photos.watch_arrivals import Arrivals
from tests.fakes import BIRD, PLANE, UNSURE, ColorPredictor, FakePredictor
from tests.file_trees import digest, tree

SETTLE = 0.3
WAIT = 8.0


def jpeg_bytes(color, size=64) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (size, size), color).save(buf, "JPEG", quality=95)
    return buf.getvalue()


def photo(path, i: int, color=BIRD) -> str:
    """A small PNG of colour `color` whose content is unique to i (green channel and size)."""
    r, _g, b = color
    Image.new("RGB", (8 + i % 5, 8), (r, i % 256, b)).save(path)
    return str(path)


def photos_under(folder) -> Counter:
    """The multiset of picture contents under folder (the journal is hidden: left out)."""
    return Counter(tree(folder).values()) if os.path.isdir(folder) else Counter()


@pytest.fixture
def cam(tmp_path):
    folder = tmp_path / "cam"
    folder.mkdir()
    return folder


@pytest.fixture
def started(cam, tmp_path):
    """A function that starts a watcher on cam into tmp_path/sorted; every one is stopped at the end."""
    watchers = []

    def start(predictor=None, **options):
        options.setdefault("settle", SETTLE)
        w = FolderWatcher(predictor or ColorPredictor(), cam, tmp_path / "sorted", **options)
        w.start()
        watchers.append(w)
        return w
    yield start
    for w in watchers:
        try:
            w.stop()
        except FledgeError:
            pass


def sorted_n(n):
    return lambda s: len(s.sorted) >= n


def test_a_file_is_ready_only_once_its_size_and_time_have_not_changed_for_the_settle_time(tmp_path):
    now = [100.0]
    arrivals = Arrivals(settle=1.0, clock=lambda: now[0])
    path = tmp_path / "a.jpg"
    path.write_bytes(b"x" * 10)
    arrivals.saw(str(path))
    assert arrivals.ready() == []            # first look: nothing known about it yet
    now[0] += 0.6
    with open(path, "ab") as f:              # still growing
        f.write(b"y" * 10)
    assert arrivals.ready() == []
    now[0] += 0.9
    assert arrivals.ready() == []            # 0.9 s since it last changed
    now[0] += 0.2
    (ready,) = arrivals.ready()
    assert ready == (str(path), (20, os.stat(path).st_mtime_ns))
    arrivals.hold(*ready)                    # taken: not offered again while it stays the same
    arrivals.saw(str(path))
    now[0] += 5
    assert arrivals.ready() == [] and len(arrivals) == 0
    with open(path, "ab") as f:              # changed afterwards: a new photo under that name
        f.write(b"z")
    arrivals.saw(str(path))
    arrivals.ready()
    now[0] += 1.1
    assert [p for p, _ in arrivals.ready()] == [str(path)]


def test_photos_that_arrive_are_sorted_by_class_with_unsure_ones_to_review(started, cam, tmp_path):
    w = started(threshold=0.8)
    for i, color in enumerate([BIRD, PLANE, UNSURE]):
        photo(cam / f"p{i}.png", i, color)
    (cam / "notes.txt").write_text("not a picture: never touched")
    (cam / "broken.jpg").write_bytes(b"not a picture at all")
    assert w.wait_until(sorted_n(4), WAIT)
    summary = w.stop()
    assert summary.counts() == {"bird": 1, "plane": 1, "_review": 1, "_unreadable": 1}
    dest = tmp_path / "sorted"
    assert os.listdir(dest / "_review") == ["p2.png"] and os.listdir(dest / "_unreadable") == ["broken.jpg"]
    assert sorted(os.listdir(cam)) == ["broken.jpg", "notes.txt", "p0.png", "p1.png", "p2.png"]   # copies


def test_a_slowly_written_photo_is_taken_only_once_complete(started, cam, tmp_path):
    w = started(move=True)
    data = jpeg_bytes(BIRD, size=256)
    chunks = [data[i:i + len(data) // 8 + 1] for i in range(0, len(data), len(data) // 8 + 1)]
    finished = []

    def camera():
        with open(cam / "slow.jpg", "wb") as f:
            for chunk in chunks:
                f.write(chunk)
                f.flush()
                time.sleep(SETTLE / 3)       # a slow card or network link, not a wait for a thread
        finished.append(time.time())
    writer = threading.Thread(target=camera)
    writer.start()
    try:
        assert w.wait_until(sorted_n(1), WAIT)
    finally:
        writer.join()
    (done,) = w.stop().sorted
    assert done.sorted_at >= finished[0]
    assert digest(done.dst) == digest_of(data) and not os.path.exists(cam / "slow.jpg")


def digest_of(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def test_a_partial_file_is_left_alone_until_it_is_complete(started, cam, tmp_path):
    events = []
    w = started(move=True, on_event=events.append)
    data = jpeg_bytes(PLANE)
    (cam / "half.jpg").write_bytes(data[: len(data) // 2])
    assert w.wait_until(lambda s: s.waiting, WAIT)
    photo(cam / "whole.png", 1)               # the watch goes on with the others meanwhile
    assert w.wait_until(sorted_n(1), WAIT)
    assert [e.path for e in events if isinstance(e, PhotoWaiting)] == [str(cam / "half.jpg")]
    assert (cam / "half.jpg").read_bytes() == data[: len(data) // 2]        # not taken, not lost
    with open(cam / "half.jpg", "ab") as f:                                 # the rest arrives
        f.write(data[len(data) // 2:])
    assert w.wait_until(sorted_n(2), WAIT)
    summary = w.stop()
    half = [p for p in summary.sorted if p.src.endswith("half.jpg")][0]
    assert half.category == "plane" and digest(half.dst) == digest_of(data)
    assert len(summary.waiting) == 1


def test_a_burst_of_200_photos_is_sorted_in_batches_none_lost_or_taken_twice(started, cam, tmp_path):
    staging = tmp_path / "staging"
    staging.mkdir()
    for i in range(200):
        photo(staging / f"IMG_{i:04d}.png", i, BIRD if i % 2 else PLANE)
    before = photos_under(staging)
    predictor = ColorPredictor()
    w = started(predictor, move=True, batch_size=32)
    for name in sorted(os.listdir(staging)):
        os.rename(staging / name, cam / name)        # all at once, as a card reader's copy lands
    assert w.wait_until(sorted_n(200), 20)
    summary = w.stop()
    assert summary.counts() == {"bird": 100, "plane": 100}
    assert photos_under(tmp_path / "sorted") == before and os.listdir(cam) == []
    assert len(predictor.asked) == 200 and len(set(predictor.asked)) == 200
    assert len(predictor.calls) <= 20 and all(b == 32 for b, _k in predictor.calls)   # batched


@pytest.mark.parametrize("move", [False, True], ids=["copy", "move"])
def test_a_restart_sorts_what_arrived_meanwhile_and_nothing_twice(started, cam, tmp_path, move):
    for i in range(3):
        photo(cam / f"first{i}.png", i)
    originals = photos_under(cam)
    first = started(move=move)
    assert first.wait_until(sorted_n(3), WAIT)
    first.stop()
    for i in range(3, 7):                            # while Fledge was closed
        photo(cam / f"later{i}.png", i, PLANE)
    originals += photos_under(cam) - (Counter() if move else originals)
    predictor = ColorPredictor()
    second = started(predictor, move=move)
    assert second.wait_until(sorted_n(4), WAIT)
    summary = second.stop()
    assert sorted(predictor.asked) == [f"later{i}.png" for i in range(3, 7)]
    assert summary.counts() == {"plane": 4}
    assert photos_under(tmp_path / "sorted") == originals    # every photo once, none twice
    assert (os.listdir(cam) == []) if move else (photos_under(cam) == originals)


def test_undo_puts_back_everything_a_watch_session_did(started, cam, tmp_path):
    for i in range(3):
        photo(cam / f"early{i}.png", i, UNSURE)
    (cam / "broken.jpg").write_bytes(b"not a picture")
    w = started(move=True, threshold=0.8)
    for i in range(3, 8):
        photo(cam / f"new{i}.png", i, BIRD if i % 2 else PLANE)
    everything = {f"early{i}.png" for i in range(3)} | {f"new{i}.png" for i in range(3, 8)} | {"broken.jpg"}
    assert w.wait_until(sorted_n(9), WAIT)
    summary = w.stop()
    assert {os.path.basename(p.src) for p in summary.sorted} == everything
    originals = {os.path.basename(p.src): digest(p.dst) for p in summary.sorted}
    report = undo(tmp_path / "sorted")
    assert len(report.restored) == 9 and not report.failed
    assert tree(cam) == originals
    assert photos_under(tmp_path / "sorted") == Counter()


def test_stop_returns_at_once_and_polling_works_without_events(started, cam):
    events = []
    w = started(poll=True, poll_interval=0.1, on_event=events.append)
    photo(cam / "a.png", 0)
    assert w.wait_until(sorted_n(1), WAIT)
    t0 = time.monotonic()
    summary = w.stop()
    assert time.monotonic() - t0 < 1.0
    assert summary.polling and isinstance(events[-1], PhotoSorted)


def test_a_folder_that_goes_away_ends_the_watch_with_a_message(started, cam, tmp_path):
    w = started()
    cam.rename(tmp_path / "elsewhere")
    assert not w.wait_until(sorted_n(1), WAIT)       # ends: it does not wait the whole time out
    with pytest.raises(FledgeError, match="not there any more"):
        w.stop()


def test_a_model_that_fails_ends_the_watch_and_leaves_the_photo(started, cam):
    class Broken(FakePredictor):
        def predict_many(self, *args, **kwargs):
            raise RuntimeError("CUDA out of memory")

    w = started(Broken(["bird", "plane"]), move=True)
    photo(cam / "a.png", 0)
    assert not w.wait_until(sorted_n(1), WAIT)
    with pytest.raises(FledgeError, match="could not classify .*CUDA out of memory"):
        w.stop()
    assert os.listdir(cam) == ["a.png"]


def test_bad_settings_are_refused_before_watching(cam, tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(FledgeError, match="is a file"):
        FolderWatcher(ColorPredictor(), cam, tmp_path / "file").start()
    with pytest.raises(FledgeError, match="threshold"):
        FolderWatcher(ColorPredictor(), cam, tmp_path / "d", threshold=2).start()
    with pytest.raises(FledgeError, match="_review"):
        FolderWatcher(FakePredictor(["bird", "_review"]), cam, tmp_path / "d").start()

"""Random sort / crash / resume / undo sequences never lose or duplicate a photo.

Each seed builds a small random source tree (colliding names, unreadable files,
pre-existing files in DEST), sorts it with random settings, simulates a crash at a
random file-system step (sometimes after the step took effect, sometimes mid-way
through a journal append), then resumes or undoes -- sometimes crashing the undo
too -- and checks the invariants:

* at every point each original photo's content exists somewhere (no loss);
* after a resume: copy leaves the source untouched and puts exactly one copy of each
  photo into DEST; move leaves no photo in the source and each one exactly once in DEST;
* after undo: the source and DEST are exactly as before (a photo whose old name was
  taken in the meantime comes back next to it under a " (n)" name);
* no part files are left behind.
"""
from __future__ import annotations

import errno
import os
import random
from collections import Counter

import pytest

from core.files import file_transfer
from core.files import fsops
from core.files import journal as jmod
from core.photos.classify import classify_folder
from core.photos.sort_undo import undo
from core.photos.sorting import JOURNAL_NAME, apply_sort, plan_sort
from tests.core.photos.fault_kit import CLASSES, BytePredictor
from tests.file_trees import digest, tree

SEEDS = range(30)


class Crash(BaseException):
    pass


class Faults:
    """Wraps the file-system steps and the journal's appends; raises Crash on the n-th when armed."""

    STEPS = ("link", "rename", "unlink")

    def __init__(self, monkeypatch):
        self.at = None
        self.after = False
        self.count = 0
        self.fired = False
        self.no_links = False
        self.cross_device = False
        orig = {name: getattr(fsops, name) for name in self.STEPS}
        for name in self.STEPS:
            monkeypatch.setattr(fsops, name, self._wrap(name, orig[name]))
        monkeypatch.setattr(file_transfer, "_copy_data", self._wrap("_copy_data", file_transfer._copy_data))
        monkeypatch.setattr(file_transfer, "_same_device", lambda a, b: not self.cross_device)
        orig_append = jmod.FileJournal.append
        faults = self

        def append(journal, rec, sync=True):
            if faults._tick():
                if faults.after:          # tear the line half-way, like a crash mid-write
                    with open(journal.path, "ab") as f:
                        f.write(b'{"t": "' + rec["t"].encode()[:3])
                raise Crash("append")
            return orig_append(journal, rec, sync)

        monkeypatch.setattr(jmod.FileJournal, "append", append)

    def _tick(self) -> bool:
        if self.at is None or self.fired:
            return False
        self.count += 1
        if self.count == self.at:
            self.fired = True
            return True
        return False

    def _wrap(self, name, fn):
        def step(*args, **kwargs):
            if name == "link" and self.no_links:
                raise OSError(errno.EPERM, "no hard links on this file system")
            if self._tick():
                if self.after:
                    fn(*args, **kwargs)
                raise Crash(name)
            return fn(*args, **kwargs)
        return step

    def arm(self, rng, limit):
        self.at, self.after, self.count, self.fired = rng.randint(1, limit), rng.random() < 0.5, 0, False

    def disarm(self):
        self.at = None


def parts(*roots) -> list[str]:
    return [os.path.join(d, f) for r in roots for d, _, files in os.walk(r) for f in files
            if f.startswith(file_transfer.PART_PREFIX)]


def build(rng, root):
    src, dest = os.path.join(root, "src"), os.path.join(root, "dest")
    subdirs = ["", "", "a", "a/b", "c"]
    for i in range(rng.randint(2, 10)):
        rel = os.path.join(rng.choice(subdirs), f"IMG_{rng.randint(1, 4):04d}.jpg")
        path = os.path.join(src, rel)
        if os.path.exists(path):
            continue
        os.makedirs(os.path.dirname(path), exist_ok=True)
        body = b"BAD" if rng.random() < 0.15 else bytes([rng.randrange(256), rng.randrange(256)])
        with open(path, "wb") as f:
            f.write(body + f"-{i}-".encode() + os.urandom(rng.randint(0, 64)))
    for _ in range(rng.randint(0, 3)):          # files already in DEST with colliding names
        path = os.path.join(dest, rng.choice(CLASSES + ["_review"]), f"IMG_{rng.randint(1, 4):04d}.jpg")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(b"pre-existing " + os.urandom(8))
    os.makedirs(dest, exist_ok=True)
    return src, dest


def run_sort(src, dest, settings):
    results = classify_folder(BytePredictor(), src, recursive=settings["recursive"])
    ops = plan_sort(results, src, dest, settings["threshold"], keep_structure=settings["keep"])
    return apply_sort(ops, dest, move=settings["move"])


def assert_nothing_lost(expected: Counter, src, dest):
    now = Counter(tree(src).values()) + Counter(tree(dest).values())
    missing = expected - now
    assert not missing, f"contents lost: {missing}"


@pytest.mark.parametrize("seed", SEEDS)
def test_random_sort_crash_resume_undo(tmp_path, monkeypatch, seed):
    rng = random.Random(seed)
    src, dest = build(rng, str(tmp_path))
    settings = {"move": rng.random() < 0.5, "recursive": rng.random() < 0.7,
                "keep": rng.random() < 0.5, "threshold": rng.choice([0.0, rng.random(), 1.0])}
    src0, dest0 = tree(src), tree(dest)
    everything = Counter(src0.values()) + Counter(dest0.values())
    faults = Faults(monkeypatch)
    faults.no_links = rng.random() < 0.25
    faults.cross_device = rng.random() < 0.4

    # 1. A sort that crashes at a random step (or, if the step count is past the end, finishes).
    faults.arm(rng, 4 * len(src0) + 4)
    try:
        run_sort(src, dest, settings)
    except Crash:
        pass
    faults.disarm()
    assert_nothing_lost(everything, src, dest)

    # 2. Resume (the same command again), or undo straight away.
    resumed = rng.random() < 0.6
    if resumed:
        report = run_sort(src, dest, settings)
        assert not report.failed, report.failed
        assert parts(src, dest) == []
        sorted_now = Counter(tree(dest).values()) - Counter(dest0.values())
        walked = {k: v for k, v in src0.items() if settings["recursive"] or os.sep not in k}
        assert sorted_now == Counter(walked.values()), "each photo exactly once in DEST"
        if settings["move"]:
            assert set(tree(src)) == set(src0) - set(walked)
        else:
            assert tree(src) == src0
        assert Counter(tree(src).values()) + Counter(tree(dest).values()) == \
            everything + (Counter() if settings["move"] else Counter(walked.values()))

    # Sometimes a new file appears where a moved photo used to be.
    squatters = {}
    if settings["move"] and rng.random() < 0.5:
        gone = [k for k in src0 if not os.path.exists(os.path.join(src, k))]
        if gone:
            rel = rng.choice(gone)
            with open(os.path.join(src, rel), "wb") as f:
                f.write(b"newcomer " + os.urandom(8))
            squatters[rel] = digest(os.path.join(src, rel))

    # 3. Undo, possibly crashing part-way and undoing again.
    if not os.path.exists(os.path.join(dest, JOURNAL_NAME)):    # crashed before the first record
        assert tree(src) == src0 and tree(dest) == dest0
        return
    if rng.random() < 0.4:
        faults.arm(rng, 3 * len(src0) + 3)
        try:
            undo(dest)
        except Crash:
            pass
        faults.disarm()
        assert_nothing_lost(everything, src, dest)
    u = undo(dest)
    assert not u.failed, u.failed
    assert parts(src, dest) == []
    assert tree(dest) == dest0, "DEST holds only what was there before"
    now = tree(src)
    for rel, h in squatters.items():
        assert now.pop(rel) == h                     # the newcomer is untouched
        stem, ext = os.path.splitext(rel)
        displaced = [k for k in now if k.startswith(stem + " (") and k.endswith(ext) and k not in src0]
        assert len(displaced) == 1 and now.pop(displaced[0]) == src0[rel]
        now[rel] = src0[rel]
    assert now == src0, "every photo back at its original path"
    again = undo(dest)
    assert again.nothing_to_do

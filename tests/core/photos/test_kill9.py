"""kill -9 at random moments of a sort or an undo, then rerun and undo: nothing lost or misplaced.

A child process sorts (or undoes) a small tree of odd names and is killed with SIGKILL:
either by the clock, at a random moment while it works, or by itself at a random call of
core.files.fsops (before the call, after it, or half-way through a write -- moments the
clock rarely hits). Then the parent runs the same sort again (which recovers what the
child left half-done) and undoes everything; the multiset of (path, content) of every
file must be exactly what it was, with no part file left.

CI runs a few kills; FLEDGE_FAULT_ROUNDS=N runs N rounds of several kills each
(FLEDGE_FAULT_REPORT=FILE.kill.json: what ran, as JSON).
"""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest

from tests.core.photos import fault_kit as kit

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
ROUNDS = int(os.environ.get("FLEDGE_FAULT_ROUNDS", "0") or 0)
SETTINGS = ("copy", "move", "copying-move", "bind-mount", "no-links")

CHILD = r"""
import os, signal, sys
root, setting, via_csv, phase, kind, n, when = sys.argv[1:8]
from core.files import file_transfer
from core.files import fsops
from tests.core.photos import fault_kit as kit

class MP:
    def setattr(self, obj, name, value):
        setattr(obj, name, value)

inj = kit.Injector(MP(), root)
inj.copying_moves = setting == "copying-move"
inj.cross_device = setting == "bind-mount"
inj.no_links = setting == "no-links"
if kind != "clock":
    def die(*_):
        os.kill(os.getpid(), signal.SIGKILL)
    name = kit._FSOPS_NAME.get(kind, kind)
    wrapped = getattr(fsops, name)
    count = [0]
    def call(*args):
        count[0] += 1
        if count[0] == int(n):
            if when == "half" and kind == "write":
                kit.fsops_write_half(*args)
            elif when == "after":
                wrapped(*args)
            die()
        return wrapped(*args)
    setattr(fsops, name, call)
print("ready", flush=True)
src, dest = os.path.join(root, "src"), os.path.join(root, "dest")
if phase == "sort":
    kit.sort_once(src, dest, setting != "copy", via_csv == "1")
else:
    kit.undo_all(dest)
print("finished", flush=True)
"""


class Kills:
    def __init__(self, monkeypatch, base):
        self.base = str(base)
        self.inj = kit.Injector(monkeypatch, self.base)   # the parent's own runs: no faults armed
        self.ran = 0
        self.killed = 0
        self.problems: list[str] = []
        self.names: set[bytes] = set()

    def _fresh(self, names, setting, tag: str) -> tuple[str, str, str]:
        root = os.path.join(self.base, f"{tag}{self.ran}")
        self.inj.root = root
        self.inj.copying_moves = setting == "copying-move"
        self.inj.cross_device = setting == "bind-mount"
        self.inj.no_links = setting == "no-links"
        src, dest = kit.build(root, names, random.Random(len(names)))
        return root, src, dest

    def census(self, names, setting, via_csv, phase) -> tuple[dict, float]:
        """The calls of each kind a clean run of phase makes here, and how long it takes."""
        _, src, dest = self._fresh(names, setting, "census")
        if phase == "undo":
            kit.sort_once(src, dest, setting != "copy", via_csv)
        self.inj.reset()
        start = time.monotonic()
        kit.sort_once(src, dest, setting != "copy", via_csv) if phase == "sort" else kit.undo_all(dest)
        return dict(self.inj.counts), time.monotonic() - start

    def sequence(self, names, setting, via_csv, phase, kind, n, when, delay=0.0) -> None:
        root, src, dest = self._fresh(names, setting, "kill")
        self.ran += 1
        self.names.update(names)
        before = kit.snapshot(root)
        move = setting != "copy"
        if phase == "undo":
            kit.sort_once(src, dest, move, via_csv)
        where = f"{setting} csv={via_csv} {phase} kill at {kind} #{n} {when} {delay:.3f}s"
        died = self._child(root, setting, via_csv, phase, kind, n, when, delay)
        self.killed += died
        try:
            now = kit.snapshot(root)
            lost = Counter(before.values()) - Counter(now.values())
            assert not lost, f"content lost right after the kill: {lost}"
            if phase == "sort":
                again = kit.sort_once(src, dest, move, via_csv)
                assert again is None or not again.failed, f"the rerun failed: {again.failed}"
            if os.path.exists(os.path.join(dest, ".fledge-journal.jsonl")):
                u = kit.undo_all(dest)
                assert not u.failed, f"undo failed: {u.failed}"
                assert kit.undo_all(dest).nothing_to_do
        except AssertionError as exc:
            self.problems.append(f"{where}: {exc}")
            return
        self.problems += [f"{where}: {p}" for p in kit.check_restored(before, root)]

    def _child(self, root, setting, via_csv, phase, kind, n, when, delay) -> bool:
        env = dict(os.environ, PYTHONPATH=ROOT, CUDA_VISIBLE_DEVICES="")
        proc = subprocess.Popen([sys.executable, "-c", CHILD, root, setting, "1" if via_csv else "0", phase,
                                 kind, str(n), when], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
        if kind == "clock":
            time.sleep(delay)
            proc.send_signal(signal.SIGKILL)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode in (0, -signal.SIGKILL), err
        return proc.returncode == -signal.SIGKILL


def test_kill_9_at_chosen_and_random_moments_then_rerun_and_undo(tmp_path, monkeypatch):
    k = Kills(monkeypatch, tmp_path)
    names = [kit.NASTY_NAMES[0], kit.NASTY_NAMES[3]]
    for setting, phase, kind, n, when in [("move", "sort", "link", 2, "after"),
                                          ("copying-move", "sort", "unlink", 1, "before"),
                                          ("copy", "sort", "write", 3, "half"),
                                          ("move", "undo", "link", 3, "after"),
                                          ("bind-mount", "undo", "unlink", 2, "after")]:
        k.sequence(names, setting, setting == "move", phase, kind, n, when)
    k.sequence(names, "move", False, "sort", "clock", 0, "", delay=0.02)
    assert k.killed >= 5
    assert k.problems == [], "\n".join(k.problems)


@pytest.mark.skipif(not ROUNDS, reason="a longer campaign: set FLEDGE_FAULT_ROUNDS=N to run it")
def test_kill_campaign(tmp_path, monkeypatch):
    k = Kills(monkeypatch, tmp_path)
    rng = random.Random(int(os.environ.get("FLEDGE_FAULT_SEED", "1")))
    for _ in range(ROUNDS):
        names = kit.name_pool(rng, 4)
        setting, via_csv, phase = rng.choice(SETTINGS), rng.random() < 0.5, rng.choice(["sort", "undo"])
        counts, took = k.census(names, setting, via_csv, phase)
        if rng.random() < 0.3:        # by the clock, somewhere in the time the work takes
            k.sequence(names, setting, via_csv, phase, "clock", 0, "", delay=rng.uniform(0.0, 1.5 * took))
        else:                         # at a call it makes: before it, after it, half-way through a write
            kind = rng.choice([kind for kind, n in counts.items() if n])
            k.sequence(names, setting, via_csv, phase, kind, rng.randint(1, counts[kind]),
                       rng.choice(["before", "after", "half"]))
    report = os.environ.get("FLEDGE_FAULT_REPORT")
    kit.save_report(report and report + ".kill.json", k.names, sequences=k.ran, killed=k.killed,
                    problems=k.problems)
    assert k.problems == [], "\n".join(k.problems[:20])

"""Failing file-system calls at every call position of a small sort and of its undo.

Every call core.photos makes that changes the disk goes through core.files.fsops; the
Injector (tests/core/photos/fault_kit.py) makes the n-th call of one kind (open, write,
fsync, link, rename, replace, unlink, mkdir, rmdir) fail -- before it takes effect, or
after ("ghost": the disk did the work but reported an error; a ghost write writes half
its bytes). For every kind and every position n a clean run makes, one sequence:

    fault in the sort  -> rerun the sort -> undo        (phase "sort", every setting)
    clean sort -> fault in the undo -> undo again       (phase "undo", three settings in CI)

in five settings: copy, move, a move that must copy (another file system), a move
between bind mounts (links and renames refused with EXDEV) and a move where hard links
are refused (FAT cards: files are renamed). In CI each position fails once (before or
after taking effect, alternately); the longer campaign tries both at every position. After each sequence the
multiset of (path, content) of every file is exactly what it was, with no part file
left; right after the fault, no photo's content is missing, and a photo the report says
was "left where it was" is where it was.

The CI run uses one small tree of odd names. FLEDGE_FAULT_ROUNDS=N adds N rounds of
random trees (random names from all allowed bytes, random settings, also a crash in the
sort followed by a fault while the rerun recovers); FLEDGE_FAULT_REPORT=FILE writes what
ran as JSON.
"""
from __future__ import annotations

import os
import random
from collections import Counter

import pytest

from core.errors import FledgeError
from tests.core.photos import fault_kit as kit

ROUNDS = int(os.environ.get("FLEDGE_FAULT_ROUNDS", "0") or 0)
SETTINGS = ("copy", "move", "copying-move", "bind-mount", "no-links")
CI_NAMES = [kit.NASTY_NAMES[0], kit.NASTY_NAMES[3]]      # a CR name and a name that is not UTF-8


class Campaign:
    """Runs sequences in fresh folders under base, counting what ran and what went wrong."""

    def __init__(self, monkeypatch, base):
        self.base = str(base)
        self.inj = kit.Injector(monkeypatch, self.base)
        self.ran = 0
        self.faults_fired = 0
        self.problems: list[str] = []
        self.names: set[bytes] = set()

    def fresh(self, names, rng) -> tuple[str, str, str]:
        root = os.path.join(self.base, f"seq{self.ran}")
        self.inj.root = root
        src, dest = kit.build(root, names, rng)
        self.names.update(names)
        return root, src, dest

    def setting(self, name: str) -> bool:
        self.inj.copying_moves = name == "copying-move"
        self.inj.cross_device = name == "bind-mount"
        self.inj.no_links = name == "no-links"
        return name != "copy"

    def census(self, names, setting, via_csv, phase) -> dict[str, int]:
        """How many calls of each kind a clean run of phase makes."""
        root, src, dest = self.fresh(names, random.Random(1))
        move = self.setting(setting)
        if phase == "undo":
            kit.sort_once(src, dest, move, via_csv)
        self.inj.reset()
        kit.sort_once(src, dest, move, via_csv) if phase == "sort" else kit.undo_all(dest)
        counts = dict(self.inj.counts)
        self.ran += 1
        return counts

    def sequence(self, names, setting, via_csv, phase, fault, crash_first=None) -> None:
        """One fault sequence; fault = (kind, n, ghost, errno). crash_first = (kind, n): the
        sort dies there first, and the fault hits the rerun that recovers."""
        root, src, dest = self.fresh(names, random.Random(1))
        move = self.setting(setting)
        before = kit.snapshot(root)
        where = f"{setting} csv={via_csv} {phase} fault={fault} crash={crash_first}"
        try:
            self._steps(src, dest, move, via_csv, phase, fault, crash_first, before, root, where)
        except AssertionError as exc:
            self.problems.append(f"{where}: {exc}")
        else:
            for p in kit.check_restored(before, root):
                self.problems.append(f"{where}: {p}")
        finally:
            self.inj.disarm()
            self.ran += 1

    def _steps(self, src, dest, move, via_csv, phase, fault, crash_first, before, root, where):
        if crash_first:
            self.inj.arm(*crash_first, ghost=False, crash=True)
            try:
                kit.sort_once(src, dest, move, via_csv)
            except kit.Crash:
                pass
            self.inj.disarm()
        if phase == "undo":
            kit.sort_once(src, dest, move, via_csv)
        self.inj.arm(*fault)
        try:
            report = kit.sort_once(src, dest, move, via_csv) if phase == "sort" else kit.undo_all(dest)
        except FledgeError:
            report = None
        self.faults_fired += self.inj.fired
        self.inj.disarm()
        _no_content_lost(before, root)
        if phase == "sort" and report is not None:
            for path, why in report.failed:
                assert os.path.lexists(path), f"reported as left where it was, but gone: {path} ({why})"
            for f in report.done:
                assert os.path.lexists(f.dst), f"reported as sorted, but not there: {f.dst}"
        if phase == "sort":
            again = kit.sort_once(src, dest, move, via_csv)
            assert again is None or not again.failed, f"the rerun failed: {again.failed}"
        if not os.path.exists(os.path.join(dest, ".fledge-journal.jsonl")):
            return                       # nothing was ever done: the check below says so
        u = kit.undo_all(dest)
        assert not u.failed, f"undo failed: {u.failed}"
        assert kit.undo_all(dest).nothing_to_do


def _no_content_lost(before: dict, root: str) -> None:
    now = Counter(kit.snapshot(root).values())
    missing = Counter(before.values()) - now
    assert not missing, f"content lost right after the fault: {missing}"


def _every_position(c: Campaign, names, setting, via_csv, phase, ghosts=(None,)) -> None:
    """A sequence for every call position; ghosts (None: alternate by position) says whether
    the failing call takes effect first."""
    counts = c.census(names, setting, via_csv, phase)
    for kind in kit.KINDS:
        errnos = kit.ERRNOS[kind]
        for n in range(1, counts[kind] + 1):
            for ghost in ghosts:
                ghost = bool(n % 2) if ghost is None else ghost
                c.sequence(names, setting, via_csv, phase, (kind, n, ghost, errnos[(n + ghost) % len(errnos)]))


@pytest.mark.parametrize("setting,phase", [(s, "sort") for s in SETTINGS] + [("move", "undo"), ("copying-move", "undo"),
                                                                          ("copy", "undo")])
def test_a_fault_at_every_call_position_loses_and_misplaces_nothing(tmp_path, monkeypatch, setting, phase):
    c = Campaign(monkeypatch, tmp_path)
    _every_position(c, CI_NAMES, setting, via_csv=setting in ("move", "no-links"), phase=phase)
    assert c.faults_fired >= c.ran * 0.8, "the faults did not hit anything"
    assert c.problems == [], "\n".join(c.problems[:20])


@pytest.mark.skipif(not ROUNDS, reason="a longer campaign: set FLEDGE_FAULT_ROUNDS=N to run it")
def test_fault_campaign(tmp_path, monkeypatch):
    c = Campaign(monkeypatch, tmp_path)
    rng = random.Random(int(os.environ.get("FLEDGE_FAULT_SEED", "1")))
    for r in range(ROUNDS):
        names = kit.name_pool(rng, 6)
        setting, via_csv = rng.choice(SETTINGS), rng.random() < 0.5
        phase = rng.choice(["sort", "undo", "recover"])
        counts = c.census(names, setting, via_csv, "undo" if phase == "undo" else "sort")
        kinds = [k for k in kit.KINDS if counts[k]]
        for _ in range(8):
            kind = rng.choice(kinds)
            fault = (kind, rng.randint(1, counts[kind]), rng.random() < 0.5, rng.choice(kit.ERRNOS[kind]))
            crash = None
            if phase == "recover":
                ck = rng.choice(kinds)
                crash = (ck, rng.randint(1, counts[ck]))
                fault = (fault[0], rng.randint(1, 6), fault[2], fault[3])
            c.sequence(names, setting, via_csv, "sort" if phase == "recover" else phase, fault, crash)
    kit.save_report(os.environ.get("FLEDGE_FAULT_REPORT"), c.names, sequences=c.ran, faults_fired=c.faults_fired,
                    problems=c.problems)
    assert c.problems == [], "\n".join(c.problems[:20])

"""Any name a file system allows (any bytes but "/" and NUL) survives classify -> CSV -> sort -> undo.

A seeded random generator (no hypothesis here) draws names from every allowed byte --
CR, LF, control characters, bytes that are not UTF-8, "%", backslashes, 255-byte names
-- plus the odd names real cameras and zip files produce. For each batch: the photos are
classified, the answers written to a CSV and read back (every path byte for byte, none
refused), moved into class folders from the CSV, recorded in the journal byte for byte,
and undone: every file is back at its exact name with its exact content.
FLEDGE_FAULT_ROUNDS=N runs N more batches.
"""
from __future__ import annotations

import os
import random

from core.photos.answers_csv import decode_path, encode_path, read_answers, write_csv
from core.photos.classify import classify_folder
from core.photos.sort_undo import undo
from core.photos.sorting import open_journal, sort_classified
from tests.core.photos import fault_kit as kit

ROUNDS = int(os.environ.get("FLEDGE_FAULT_ROUNDS", "0") or 0)


def _batch(rng: random.Random, first: bool) -> list[bytes]:
    names = [kit.random_name(rng) for _ in range(10)] + (list(kit.NASTY_NAMES) if first else [])
    return list(dict.fromkeys(names))


def test_encoding_is_exact_for_random_strings():
    rng = random.Random(3)
    for _ in range(2000):
        raw = bytes(rng.choice([b for b in range(1, 256) if b != 0x2F]) for _ in range(rng.randint(1, 60)))
        path = "/x/" + os.fsdecode(raw)
        text = encode_path(path)
        assert not any(ch in text for ch in "\r\n\x00") and text.encode("utf-8")   # writable, one line
        assert os.fsencode(decode_path(text)) == os.fsencode(path)


def test_random_names_round_trip_through_csv_journal_sort_and_undo(tmp_path):
    rng = random.Random(11)
    for batch in range(4 + ROUNDS):
        root = os.path.join(str(tmp_path), f"b{batch}")
        src, dest = os.path.join(root, "src"), os.path.join(root, "dest")
        os.makedirs(os.path.join(src, "sub"))
        names = _batch(rng, batch == 0)
        expected = []
        for i, name in enumerate(names):
            folder = os.fsencode(src if i % 3 else os.path.join(src, "sub"))
            path = folder + b"/" + name
            kit.write(path, kit.body(i, i % 3))
            expected.append(path)
        before = kit.snapshot(root)

        results = classify_folder(kit.BytePredictor(), src, recursive=True)
        assert sorted(os.fsencode(r.path) for r in results) == sorted(expected)
        answers = read_answers(write_csv(results, os.path.join(str(tmp_path), f"answers{batch}.csv"), folder=src))
        assert answers.refused == [] and answers.folder == src
        assert [os.fsencode(r.path) for r in answers.results] == [os.fsencode(r.path) for r in results]

        report = sort_classified(answers.results, answers.folder, dest, threshold=0.0, move=True,
                                 keep_structure=bool(batch % 2))
        assert not report.failed and len(report.done) == len(names), report.failed
        journalled = {os.fsencode(op.src) for op in open_journal(dest).live_ops()}
        assert journalled == set(expected)
        assert not any(os.path.exists(p) for p in expected)

        u = undo(dest)
        assert not u.failed and not u.renamed and len(u.restored) == len(names)
        assert kit.snapshot(root) == before and kit.part_files(root) == []

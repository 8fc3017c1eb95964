"""Two Fledge processes labelling into one dataset (two windows, or the app opened twice):
the dataset is locked across processes, a process never recovers another live one's copy in
flight, each photo is put in once, and a label counts as done only when its own photo is there.

The labellers here are real processes (multiprocessing, spawn), paused at chosen moments by
events, never by sleeping.
"""
from __future__ import annotations

import multiprocessing
import os

import pytest

from core.errors import FledgeError
from core.files import fsops
from core.files.file_transfer import PART_PREFIX, file_digest
from core.files.journal import FileJournal
from core.photos.labelling import LABELS_JOURNAL, Labeller

WAIT_S = 60          # a generous limit for a child to reach a point; never a pause

_ctx = multiprocessing.get_context("spawn")


def _write(path, data: bytes) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    return str(path)


def _dataset(tmp_path) -> str:
    root = tmp_path / "birdcam (labelled)"
    for c in ("bird", "plane"):
        (root / c).mkdir(parents=True)
    return str(root)


def _files(folder) -> dict[str, bytes]:
    return {n: open(os.path.join(folder, n), "rb").read() for n in sorted(os.listdir(folder))
            if not n.startswith(".")}


def _live_ops_hold_their_photos(root: str) -> list:
    ops = FileJournal(os.path.join(root, LABELS_JOURNAL)).live_ops()
    for op in ops:
        assert file_digest(op.dst) == file_digest(op.src), f"{op.dst} is not the photo {op.src}"
    return ops


# -- children (run in their own process) ----------------------------------------------------

def _label_paused_after_copy(root, photo, copied, go, out) -> None:
    """Copy photo into 'bird', stopping once its bytes are written (before they get their name)
    until go is set; puts the result (or the error) on out."""
    from core.files import file_transfer

    real = file_transfer._copy_data

    def copy_then_wait(src, tmp):
        result = real(src, tmp)
        copied.set()
        go.wait(WAIT_S)
        return result

    file_transfer._copy_data = copy_then_wait
    try:
        op = Labeller(root, move=False).assign(photo, "bird")
        out.put(("done", op.dst))
    except Exception as exc:           # the parent asserts on it
        out.put(("failed", str(exc)))


def _open_and_label(root, photo, trying, out) -> None:
    try:
        lab = Labeller(root, move=False)      # opening must not touch the other process's copy
        trying.set()
        op = lab.assign(photo, "bird")
        out.put(("done", op.dst))
    except Exception as exc:
        trying.set()
        out.put(("failed", str(exc)))


def _label_all(root, photos, start, out) -> None:
    lab = Labeller(root, move=False)
    start.wait(WAIT_S)
    results = []
    for p in photos:
        try:
            op = lab.assign(p, "bird")
            results.append(("done" if op.changed else "already", op.dst))
        except FledgeError as exc:
            results.append(("failed", str(exc)))
    out.put(results)


def _run(target, *args):
    proc = _ctx.Process(target=target, args=args)
    proc.start()
    return proc


def _finish(*procs) -> None:
    for proc in procs:
        proc.join(WAIT_S)
        if proc.is_alive():
            proc.kill()
        assert proc.exitcode == 0


# -- tests ------------------------------------------------------------------------------------

def test_a_second_process_waits_for_a_copy_in_flight_and_never_recovers_it(tmp_path):
    """Two cards with equal file names: the first window's copy is in flight when the second
    window opens the dataset and labels its own IMG_0001.jpg. Both photos end up there, each
    under its own name, and each label in the journal holds its own photo."""
    root = _dataset(tmp_path)
    first = _write(tmp_path / "card1" / "IMG_0001.jpg", b"the vole from card 1")
    second = _write(tmp_path / "card2" / "IMG_0001.jpg", b"the lemming from card 2")
    copied, go, trying = _ctx.Event(), _ctx.Event(), _ctx.Event()
    out_a, out_b = _ctx.Queue(), _ctx.Queue()

    a = _run(_label_paused_after_copy, root, first, copied, go, out_a)
    assert copied.wait(WAIT_S)                      # A holds the dataset with its copy half-done
    b = _run(_open_and_label, root, second, trying, out_b)
    assert trying.wait(WAIT_S)                      # B has opened the dataset (and would recover now)
    go.set()
    got_a, got_b = out_a.get(timeout=WAIT_S), out_b.get(timeout=WAIT_S)
    _finish(a, b)

    bird = os.path.join(root, "bird")
    assert got_a == ("done", os.path.join(bird, "IMG_0001.jpg"))
    assert got_b == ("done", os.path.join(bird, "IMG_0001 (2).jpg"))
    assert _files(bird) == {"IMG_0001.jpg": b"the vole from card 1", "IMG_0001 (2).jpg": b"the lemming from card 2"}
    assert len(_live_ops_hold_their_photos(root)) == 2
    assert not [n for n in os.listdir(bird) if n.startswith(PART_PREFIX)]


def test_two_windows_labelling_the_same_folder_put_each_photo_in_once(tmp_path):
    root = _dataset(tmp_path)
    photos = [_write(tmp_path / "birdcam" / f"IMG_{i:04d}.jpg", f"photo {i}".encode()) for i in range(12)]
    start = _ctx.Event()
    outs = [_ctx.Queue(), _ctx.Queue()]
    procs = [_run(_label_all, root, photos, start, out) for out in outs]
    start.set()
    results = [out.get(timeout=WAIT_S) for out in outs]
    _finish(*procs)

    bird = _files(os.path.join(root, "bird"))
    assert sorted(bird.values()) == sorted(f"photo {i}".encode() for i in range(12))    # none twice
    for i in range(12):
        kinds = sorted(r[i][0] for r in results)
        assert kinds == ["already", "done"], kinds      # one window copied it, the other was told
    assert len(_live_ops_hold_their_photos(root)) == 12


def test_equal_file_names_from_two_cards_labelled_at_once_keep_every_photo(tmp_path):
    root = _dataset(tmp_path)
    cards = [[_write(tmp_path / f"card{c}" / f"IMG_{i:04d}.jpg", f"card {c} photo {i}".encode())
              for i in range(10)] for c in (1, 2)]
    start = _ctx.Event()
    outs = [_ctx.Queue(), _ctx.Queue()]
    procs = [_run(_label_all, root, photos, start, out) for photos, out in zip(cards, outs)]
    start.set()
    results = [out.get(timeout=WAIT_S) for out in outs]
    _finish(*procs)

    assert all(kind == "done" for r in results for kind, _dst in r)
    bird = _files(os.path.join(root, "bird"))
    assert sorted(bird.values()) == sorted(f"card {c} photo {i}".encode() for c in (1, 2) for i in range(10))
    assert len(_live_ops_hold_their_photos(root)) == 20


def test_a_name_taken_by_another_program_mid_copy_is_not_counted_as_labelled(tmp_path, monkeypatch):
    """Between choosing a free name and giving the copy that name, another program puts a file
    there: the label fails, that file is left alone, and nothing is recorded as labelled."""
    root = _dataset(tmp_path)
    photo = _write(tmp_path / "card2" / "IMG_0001.jpg", b"the lemming")
    target = os.path.join(root, "bird", "IMG_0001.jpg")
    real_link = fsops.link

    def someone_else_first(src, dst):
        if dst == target and not os.path.exists(dst):
            _write(dst, b"another program's photo")
        return real_link(src, dst)

    monkeypatch.setattr(fsops, "link", someone_else_first)
    lab = Labeller(root, move=False)
    with pytest.raises(FledgeError, match="left where it was"):
        lab.assign(photo, "bird")
    assert _files(os.path.join(root, "bird")) == {"IMG_0001.jpg": b"another program's photo"}
    assert FileJournal(os.path.join(root, LABELS_JOURNAL)).live_ops() == []
    assert open(photo, "rb").read() == b"the lemming"


def test_a_busy_dataset_is_said_in_words_when_the_other_process_does_not_let_go(tmp_path, monkeypatch):
    import core.photos.labelling as labelling

    root = _dataset(tmp_path)
    first = _write(tmp_path / "card1" / "IMG_0001.jpg", b"one")
    second = _write(tmp_path / "card2" / "IMG_0002.jpg", b"two")
    copied, go = _ctx.Event(), _ctx.Event()
    out = _ctx.Queue()
    a = _run(_label_paused_after_copy, root, first, copied, go, out)
    try:
        assert copied.wait(WAIT_S)
        monkeypatch.setattr(labelling, "LOCK_WAIT_S", 0.0)
        with pytest.raises(FledgeError, match="Another Fledge window is labelling photos into"):
            Labeller(root, move=False).assign(second, "bird")
    finally:
        go.set()
    assert out.get(timeout=WAIT_S)[0] == "done"
    _finish(a)
    assert os.path.exists(second) and _files(os.path.join(root, "bird")) == {"IMG_0001.jpg": b"one"}


def test_a_copy_left_half_done_by_a_killed_process_is_rolled_back_by_the_next_one(tmp_path):
    """kill -9 while the copy is in flight: the lock dies with the process, so the next labeller
    takes the journal's half-done copy for what it is -- a crash's leftover -- and rolls it back."""
    root = _dataset(tmp_path)
    first = _write(tmp_path / "card1" / "IMG_0001.jpg", b"the vole from card 1")
    copied, go, out = _ctx.Event(), _ctx.Event(), _ctx.Queue()
    a = _run(_label_paused_after_copy, root, first, copied, go, out)
    assert copied.wait(WAIT_S)
    a.kill()
    a.join(WAIT_S)
    bird = os.path.join(root, "bird")
    assert [n for n in os.listdir(bird) if n.startswith(PART_PREFIX)]          # its copy, cut short

    op = Labeller(root, move=False).assign(first, "bird")
    assert op.dst == os.path.join(bird, "IMG_0001.jpg")
    assert _files(bird) == {"IMG_0001.jpg": b"the vole from card 1"}
    assert not [n for n in os.listdir(bird) if n.startswith(PART_PREFIX)]
    assert len(_live_ops_hold_their_photos(root)) == 1

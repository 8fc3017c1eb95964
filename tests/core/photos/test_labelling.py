"""Review labels go into the dataset's training class folders, journalled and undoable."""
from __future__ import annotations

import os

import pytest

from core.errors import FledgeError
from core.files import fsops
from core.photos.labelling import LABELS_JOURNAL, Labeller, validate_class_name


def write(path, data: bytes = b"photo"):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    return str(path)


@pytest.fixture
def split_data(tmp_path):
    root = tmp_path / "data"
    for split in ("train", "val"):
        for c in ("bird", "plane"):
            write(root / split / c / f"{split}_{c}.jpg", f"{split}{c}".encode())
    return str(root)


@pytest.fixture
def review(tmp_path):
    r = tmp_path / "sorted" / "_review"
    return [write(r / f"IMG_{i}.jpg", f"review {i}".encode()) for i in range(3)]


def test_split_layout_labels_go_to_train_and_undo_moves_back(split_data, review):
    lab = Labeller(split_data, move=True)
    assert lab.layout == "split-folders" and lab.classes == ["bird", "plane"]
    op = lab.assign(review[0], "bird")
    assert op.dst == os.path.join(split_data, "train", "bird", "IMG_0.jpg") and op.moved
    assert not os.path.exists(review[0]) and open(op.dst, "rb").read() == b"review 0"
    op2 = lab.assign(review[1], "plane")
    assert os.path.exists(op.dst) and os.path.exists(op2.dst)
    assert os.path.exists(os.path.join(split_data, LABELS_JOURNAL))

    with pytest.raises(FledgeError, match="other labels were applied"):
        lab.undo_last(expected=op)          # not the latest: nothing changes
    assert os.path.exists(op.dst) and os.path.exists(op2.dst)
    undone = lab.undo_last(expected=op2)
    assert undone.dst == op2.dst and undone.restored_to == review[1]
    assert open(review[1], "rb").read() == b"review 1" and not os.path.exists(op2.dst)
    undone = lab.undo_last()
    assert undone.restored_to == review[0] and os.path.exists(review[0])
    assert lab.undo_last() is None
    # The class folders themselves stay (they belong to the dataset).
    assert os.path.isdir(os.path.join(split_data, "train", "bird"))


def test_class_folder_layout_and_copy_mode(tmp_path, review):
    root = tmp_path / "flat"
    write(root / "bird" / "a.jpg")
    write(root / "plane" / "b.jpg")
    lab = Labeller(root, move=False)
    assert lab.layout == "class-folders"
    op = lab.assign(review[2], "plane")
    assert op.dst == os.path.join(str(root), "plane", "IMG_2.jpg") and not op.moved
    assert os.path.exists(review[2])                      # copied: the original stays
    undone = lab.undo_last()
    assert undone.restored_to == review[2]
    assert not os.path.exists(op.dst) and os.path.exists(review[2])


def test_relabelling_a_dataset_photo_moves_it_even_in_copy_mode(split_data):
    lab = Labeller(split_data, move=False)
    photo = os.path.join(split_data, "train", "bird", "train_bird.jpg")
    op = lab.assign(photo, "plane")
    assert op.moved and not os.path.exists(photo)
    assert os.path.exists(os.path.join(split_data, "train", "plane", "train_bird.jpg"))
    same = lab.assign(op.dst, "plane")
    assert not same.changed and same.dst == op.dst
    lab.undo_last()
    assert os.path.exists(photo)


def test_collision_gets_a_new_name_and_undo_never_overwrites(split_data, tmp_path):
    existing = write(os.path.join(split_data, "train", "bird", "IMG_0.jpg"), b"already here")
    photo = write(tmp_path / "in" / "IMG_0.jpg", b"new one")
    lab = Labeller(split_data)
    op = lab.assign(photo, "bird")
    assert os.path.basename(op.dst) == "IMG_0 (2).jpg"
    assert open(existing, "rb").read() == b"already here"
    write(photo, b"someone put a file here meanwhile")
    undone = lab.undo_last()
    assert os.path.basename(undone.restored_to) == "IMG_0 (2).jpg"
    assert open(undone.restored_to, "rb").read() == b"new one"
    assert open(photo, "rb").read() == b"someone put a file here meanwhile"
    assert "restored as" in undone.note


def test_add_class_validates_names(split_data, review):
    lab = Labeller(split_data)
    path = lab.add_class("  robin ")
    assert path == os.path.join(split_data, "train", "robin") and os.path.isdir(path)
    assert "robin" in lab.classes
    lab.assign(review[0], "robin")
    for bad, words in [("", "empty"), ("   ", "empty"), ("a/b", "slash"), ("a\\b", "slash"),
                       (".hidden", "dot"), ("Robin", "already"), ("what?", "character"),
                       ("con", "reserved"), ("bird.", "ends with a dot")]:
        with pytest.raises(FledgeError, match=words):
            lab.add_class(bad)
    with pytest.raises(FledgeError, match="no class called 'owl'"):
        lab.assign(review[1], "owl")
    with pytest.raises(FledgeError, match="no longer there"):
        lab.assign(review[0], "bird")        # already moved away
    assert validate_class_name("great tit") == "great tit"


def test_split_folder_names_refused_as_classes_only_where_they_would_change_the_layout(tmp_path, split_data):
    flat = tmp_path / "flat"
    write(flat / "bird" / "a.jpg")
    with pytest.raises(FledgeError, match="train/val split folders"):
        Labeller(flat).add_class("train")
    assert os.path.isdir(Labeller(split_data).add_class("train"))   # inside train/: harmless


def test_interrupted_label_is_recovered(split_data, review, monkeypatch):
    class Crash(BaseException):
        pass

    orig = fsops.unlink

    def crash_after_link(path):      # move = link + unlink; die between them
        raise Crash()

    monkeypatch.setattr(fsops, "unlink", crash_after_link)
    lab = Labeller(split_data, move=True)
    with pytest.raises(Crash):
        lab.assign(review[0], "bird")
    monkeypatch.setattr(fsops, "unlink", orig)
    lab2 = Labeller(split_data, move=True)          # a new session finishes the move
    target = os.path.join(split_data, "train", "bird", "IMG_0.jpg")
    assert os.path.exists(target) and not os.path.exists(review[0])
    assert lab2.undo_last().dst == target
    assert os.path.exists(review[0]) and not os.path.exists(target)


def test_missing_dataset_folder(tmp_path):
    with pytest.raises(FledgeError, match="does not exist"):
        Labeller(tmp_path / "nope")


def test_a_second_labeller_waits_for_a_move_in_flight_instead_of_rolling_it_back(tmp_path, monkeypatch):
    """The Review tab may open the dataset again (a new Labeller, which recovers the journal)
    while a label is being applied on the worker thread: the move in flight must finish."""
    import threading

    import core.files.journal.file_journal as journal

    root = tmp_path / "pets"
    (root / "cat").mkdir(parents=True)
    (root / "dog").mkdir()
    photo = tmp_path / "inbox" / "a.jpg"
    write(photo, b"a cat photo")
    in_transfer, gate, order = threading.Event(), threading.Event(), []
    real_transfer = journal.transfer

    def slow_transfer(*args, **kwargs):
        in_transfer.set()
        gate.wait(30)
        out = real_transfer(*args, **kwargs)
        order.append("moved")
        return out
    monkeypatch.setattr(journal, "transfer", slow_transfer)
    real_recover = journal.FileJournal.recover
    monkeypatch.setattr(journal.FileJournal, "recover", lambda self: order.append("recovered") or real_recover(self))

    first = Labeller(str(root), move=True)
    order.clear()
    result = {}
    mover = threading.Thread(target=lambda: result.setdefault("op", first.assign(str(photo), "cat")))
    mover.start()
    assert in_transfer.wait(30)
    opener = threading.Thread(target=lambda: result.setdefault("second", Labeller(str(root), move=True)))
    opener.start()
    opener.join(1.0)                 # without the shared lock it recovers (and rolls back) right now
    gate.set()
    mover.join(30)
    opener.join(30)
    assert order == ["moved", "recovered"]
    assert result["op"].dst == str(root / "cat" / "a.jpg")
    assert (root / "cat" / "a.jpg").read_bytes() == b"a cat photo" and not photo.exists()

"""Labelling photos into a dataset without Qt: where each photo goes, steps applied and undone."""
from __future__ import annotations

import os

import pytest

from core.errors import FledgeError
from core.photos.dataset_labels import DatasetLabels
from core.photos.label_session import LabelSession
from core.photos.review_queue import ReviewItem
from tests.file_trees import tree


def write(path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


@pytest.fixture
def dataset(tmp_path):
    """pets/train/{cat,dog}, pets/val/cat, pets/test/dog, and three photos to label outside it."""
    root = tmp_path / "pets"
    for rel in ("train/cat/t0.jpg", "train/dog/t1.jpg", "val/cat/v0.jpg", "test/dog/s0.jpg"):
        write(root / rel, rel.encode())
    for i in range(3):
        write(tmp_path / "inbox" / f"new{i}.jpg", f"new {i}".encode())
    return root


SESSION = LabelSession()


def action(labels, *pairs):
    """A label step for (path, class) pairs."""
    return SESSION.label(labels, [(ReviewItem(str(p)), cls) for p, cls in pairs])


def apply_action(step):
    return SESSION.run(step)


def undo_action(step):
    return SESSION.run_undo(step)


def test_new_photos_go_to_training_and_a_split_photo_stays_in_its_split(dataset, tmp_path):
    labels = DatasetLabels(str(dataset))
    assert labels.layout == "split-folders" and labels.classes == ["cat", "dog"]
    assert labels.has_validation_folder
    done = apply_action(action(labels, (tmp_path / "inbox" / "new0.jpg", "dog"),
                               (dataset / "val" / "cat" / "v0.jpg", "dog"),
                               (dataset / "test" / "dog" / "s0.jpg", "cat")))
    assert done.failed == []
    assert [d.op.dst for d in done.done] == [str(dataset / "train" / "dog" / "new0.jpg"),
                                                str(dataset / "val" / "dog" / "v0.jpg"),
                                                str(dataset / "test" / "cat" / "s0.jpg")]
    # val/dog and test/cat did not exist: they were made for the photo, not the training folder.
    assert not os.path.exists(dataset / "train" / "dog" / "v0.jpg")
    assert all(d.op.moved for d in done.done)
    assert labels.labeller_for(str(dataset / "val" / "dog" / "v0.jpg")) is not labels.train
    assert labels.labeller_for(str(tmp_path / "inbox" / "new1.jpg")) is labels.train


def test_undoing_an_action_puts_every_photo_back(dataset, tmp_path):
    before = tree(tmp_path)
    labels = DatasetLabels(str(dataset))
    done = apply_action(action(labels, (tmp_path / "inbox" / "new0.jpg", "cat"),
                               (dataset / "val" / "cat" / "v0.jpg", "dog"),
                               (dataset / "train" / "cat" / "t0.jpg", "cat")))     # already a cat
    assert [d.op.changed for d in done.done] == [True, True, False]
    undone = undo_action(done)
    assert undone.problems == []
    # Newest first, each at the place it came from.
    assert [(item.path, where) for item, where in undone.restored] == [
        (str(dataset / "train" / "cat" / "t0.jpg"),) * 2, (str(dataset / "val" / "cat" / "v0.jpg"),) * 2,
        (str(tmp_path / "inbox" / "new0.jpg"),) * 2]
    assert tree(tmp_path) == before


def test_a_label_that_cannot_be_applied_is_reported_and_the_rest_go_on(dataset, tmp_path):
    labels = DatasetLabels(str(dataset))
    done = apply_action(action(labels, (tmp_path / "inbox" / "gone.jpg", "cat"),
                               (tmp_path / "inbox" / "new1.jpg", "owl"),
                               (tmp_path / "inbox" / "new2.jpg", "dog")))
    assert [(os.path.basename(item.path), "no longer there" in msg or "no class called 'owl'" in msg)
            for item, msg in done.failed] == [("gone.jpg", True), ("new1.jpg", True)]
    assert len(done.done) == 1 and os.path.isfile(dataset / "train" / "dog" / "new2.jpg")


def test_undo_refuses_when_later_labels_are_in_effect(dataset, tmp_path):
    labels = DatasetLabels(str(dataset))
    first = apply_action(action(labels, (tmp_path / "inbox" / "new0.jpg", "cat")))
    second = apply_action(action(labels, (tmp_path / "inbox" / "new1.jpg", "dog")))
    out_of_order = undo_action(first)
    assert out_of_order.restored == [] and "other labels were applied" in out_of_order.problems[0]
    assert os.path.isfile(dataset / "train" / "cat" / "new0.jpg")
    assert undo_action(second).restored
    assert undo_action(first).restored            # now it is the latest again
    assert os.path.isfile(tmp_path / "inbox" / "new0.jpg") and os.path.isfile(tmp_path / "inbox" / "new1.jpg")


def test_copy_mode_keeps_originals_but_never_duplicates_a_dataset_photo(dataset, tmp_path):
    labels = DatasetLabels(str(dataset), move=False)
    done = apply_action(action(labels, (tmp_path / "inbox" / "new0.jpg", "dog"),
                               (dataset / "train" / "cat" / "t0.jpg", "dog")))
    copied, relabelled = (d.op for d in done.done)
    assert not copied.moved and os.path.isfile(tmp_path / "inbox" / "new0.jpg")
    assert relabelled.moved and not os.path.exists(dataset / "train" / "cat" / "t0.jpg")
    undo_action(done)
    assert not os.path.exists(copied.dst) and os.path.isfile(dataset / "train" / "cat" / "t0.jpg")


def test_classes_are_added_to_the_training_folders(dataset):
    labels = DatasetLabels(str(dataset))
    assert labels.add_class("  great tit ") == "great tit"
    assert os.path.isdir(dataset / "train" / "great tit") and "great tit" in labels.classes
    with pytest.raises(FledgeError, match="slash"):
        labels.add_class("a/b")


def test_one_folder_per_class_datasets_label_in_place(tmp_path):
    write(tmp_path / "flat" / "cat" / "a.jpg", b"a")
    write(tmp_path / "flat" / "dog" / "b.jpg", b"b")
    labels = DatasetLabels(str(tmp_path / "flat"))
    assert labels.layout == "class-folders" and not labels.has_validation_folder
    done = apply_action(action(labels, (tmp_path / "flat" / "cat" / "a.jpg", "dog")))
    assert done.done[0].op.dst == str(tmp_path / "flat" / "dog" / "a.jpg")
    assert done.done[0].labeller is labels.train

"""Renaming, merging and removing classes of a labelled dataset: photos moved through the
journal, a removed class's photos back where they came from, the keys kept, undo to the byte."""
from __future__ import annotations

import errno
import os

import pytest

from core.data.dataset import scan_dataset
from core.errors import FledgeError
from core.files import fsops
from core.files.file_transfer import path_key
from core.photos.class_edits import (merge_classes, remove_class, removed_folder, rename_class,
                                     undo_class_edit)
from core.photos.dataset_labels import DatasetLabels
from core.photos.new_dataset import copied_in, readiness, start_dataset
from tests.core.conftest import draw_class_image, save_image
from tests.file_trees import tree


@pytest.fixture
def camera(tmp_path):
    """A camera dump labelled by copying into 'cam (labelled)': 4 empty, 2 vole, 2 lemming,
    1 bank vole; plus a lemming photo moved in from a sort's _review folder and one put in by hand."""
    dump = tmp_path / "cam"
    for i in range(9):
        save_image(draw_class_image(i % 4, 24, seed=i), dump / f"IMG_{i:04d}.jpg")
    root = start_dataset(str(dump), ["empty", "vole", "lemming", "bank vole"])
    labels = DatasetLabels(root, move=False)
    photos = sorted(str(p) for p in dump.iterdir())
    for path, cls in zip(photos, ["empty"] * 4 + ["vole"] * 2 + ["lemming"] * 2 + ["bank vole"]):
        labels.assign(path, cls)
    review = tmp_path / "sorted" / "_review"
    save_image(draw_class_image(2, 24, seed=50), review / "IMG_0050.jpg")
    DatasetLabels(root, move=True).assign(str(review / "IMG_0050.jpg"), "lemming")
    save_image(draw_class_image(2, 24, seed=60), os.path.join(root, "lemming", "by hand.jpg"))
    return dict(root=root, dump=str(dump), review=str(review), labels=DatasetLabels(root, move=False),
                lemmings=photos[6:8])


def test_rename_keeps_the_key_the_photos_and_what_was_copied_in_and_undo_restores_it(camera):
    root, labels = camera["root"], camera["labels"]
    before, known = tree(root), copied_in(root)
    edit = rename_class(labels, "lemming", "Norway lemming")
    assert labels.classes == ["empty", "vole", "Norway lemming", "bank vole"]        # key 3 still
    assert not os.path.exists(os.path.join(root, "lemming"))
    assert sorted(os.listdir(os.path.join(root, "Norway lemming"))) == [
        "IMG_0006.jpg", "IMG_0007.jpg", "IMG_0050.jpg", "by hand.jpg"]
    assert copied_in(root) == known               # the camera's lemmings still count as labelled
    assert edit.text == "Renamed 'lemming' to 'Norway lemming' (4 photos); it keeps its key."
    undo_class_edit(labels, edit)
    assert tree(root) == before and labels.classes == ["empty", "vole", "lemming", "bank vole"]
    assert edit.text == "'Norway lemming' is called 'lemming' again."


def test_merge_puts_the_photos_into_the_other_class_and_undo_takes_them_out(camera):
    root, labels = camera["root"], camera["labels"]
    before = tree(root)
    edit = merge_classes(labels, "bank vole", "vole")
    assert labels.classes == ["empty", "vole", "lemming"]
    assert len(os.listdir(os.path.join(root, "vole"))) == 3
    assert scan_dataset(root).classes == ["empty", "lemming", "vole"]
    assert edit.text == "Put 1 photo of 'bank vole' into 'vole'."
    undo_class_edit(labels, edit)
    assert tree(root) == before and labels.classes == ["empty", "vole", "lemming", "bank vole"]


def test_removing_a_class_sends_its_photos_back_where_they_came_from_and_undo_brings_them_in(camera):
    root, labels, dump, review = camera["root"], camera["labels"], camera["dump"], camera["review"]
    before, dump_before = tree(root), tree(dump)
    edit = remove_class(labels, "lemming")
    assert labels.classes == ["empty", "vole", "bank vole"] and not os.path.exists(os.path.join(root, "lemming"))
    assert tree(dump) == dump_before                                   # the camera's originals untouched
    assert not {path_key(p) for p in camera["lemmings"]} & copied_in(root)   # shown again to label
    assert os.listdir(review) == ["IMG_0050.jpg"]                      # moved in, moved back
    aside = removed_folder(root)
    assert aside == root + " (removed classes)" and os.listdir(os.path.join(aside, "lemming")) == ["by hand.jpg"]
    assert edit.text.startswith("Removed the class 'lemming'. 3 photos went back where they came from ")
    assert "1 photo that Fledge had not brought in (put there by hand, or relabelled from another class) is " \
           "now in " + aside in edit.text
    assert readiness(root).counts == {"empty": 4, "vole": 2, "bank vole": 1}

    undo_class_edit(labels, edit)
    assert tree(root) == before and tree(dump) == dump_before and os.listdir(review) == []
    assert labels.classes == ["empty", "vole", "lemming", "bank vole"]
    assert {path_key(p) for p in camera["lemmings"]} <= copied_in(root)
    assert not os.path.exists(aside)                                   # nothing left behind


def test_a_photo_that_cannot_be_moved_stays_and_is_said_and_undo_still_restores_all(camera, monkeypatch):
    root, labels = camera["root"], camera["labels"]
    before = tree(root)
    real_link = fsops.link

    def broken_disk(src, dst):
        if os.path.basename(dst) == "by hand.jpg":
            raise OSError(errno.EIO, "Input/output error")
        return real_link(src, dst)

    monkeypatch.setattr(fsops, "link", broken_disk)
    edit = remove_class(labels, "lemming")
    assert os.listdir(os.path.join(root, "lemming")) == ["by hand.jpg"]     # left where it was, not lost
    assert "lemming" in labels.classes                                       # so the class is still there
    assert "1 photo could not be moved: Could not move" in edit.text and "by hand.jpg" in edit.text
    monkeypatch.setattr(fsops, "link", real_link)
    undo_class_edit(labels, edit)
    assert tree(root) == before and edit.problems == []


def test_names_are_checked_before_anything_moves(camera):
    labels, root = camera["labels"], camera["root"]
    before = tree(root)
    for bad, why in [("vole", "already a class"), ("a/b", "slash"), ("", "cannot be empty"),
                     ("Lemming", "only in capital letters")]:
        with pytest.raises(FledgeError, match=why):
            rename_class(labels, "lemming", bad)
    with pytest.raises(FledgeError, match="no class called 'owl'"):
        remove_class(labels, "owl")
    with pytest.raises(FledgeError, match="another class"):
        merge_classes(labels, "vole", "vole")
    assert tree(root) == before and labels.classes == ["empty", "vole", "lemming", "bank vole"]


def test_a_class_is_renamed_in_every_split_folder(make_image_folder):
    root = make_image_folder(layout="split", classes={"bird": 3, "plane": 3}, size=16)
    labels = DatasetLabels(str(root))
    before = tree(root)
    edit = rename_class(labels, "plane", "aircraft")
    for split in ("train", "val"):
        assert sorted(n for n in os.listdir(root / split) if not n.startswith(".")) == ["aircraft", "bird"]
    assert scan_dataset(root).classes == ["aircraft", "bird"]
    undo_class_edit(labels, edit)
    assert tree(root) == before
    with pytest.raises(FledgeError, match="undone already"):
        undo_class_edit(labels, edit)

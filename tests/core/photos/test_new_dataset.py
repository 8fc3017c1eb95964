"""From an unsorted folder to a dataset that trains: class folders made next to it, photos
labelled into it (copied, journalled, undoable), and the count of photos still needed."""
from __future__ import annotations

import os

import pytest

from core.data.dataset import scan_dataset
from core.errors import FledgeError
from core.photos.dataset_labels import DatasetLabels, LabelAction, apply_action, undo_action
from core.photos.new_dataset import (READY_PER_CLASS, new_dataset_folder, parse_class_names, readiness,
                                     start_dataset, unsorted_photos)
from core.photos.review_queue import ReviewItem
from tests.file_trees import tree
from tests.core.conftest import draw_class_image, save_image


@pytest.fixture
def unsorted(tmp_path):
    """A camera dump: 12 photos (odd names among them) and a note, no class folders."""
    folder = tmp_path / "birdcam"
    names = [f"IMG_{i:04d}.jpg" for i in range(10)] + ["two  spaces.jpg", "new\nline.png"]
    for i, name in enumerate(names):
        save_image(draw_class_image(i % 3, 24, seed=i), folder / name)
    (folder / "notes.txt").write_text("not a photo")
    return folder


def _visible(folder) -> list[str]:
    """The names in folder a person sees (Fledge's own hidden files left out)."""
    return sorted(n for n in os.listdir(folder) if not n.startswith("."))


def test_start_dataset_makes_empty_class_folders_next_to_the_unsorted_folder(unsorted):
    assert len(unsorted_photos(str(unsorted))) == 12
    root = start_dataset(str(unsorted), ["bird", "plane"])
    assert root == str(unsorted.parent / "birdcam (labelled)")
    assert _visible(root) == ["bird", "plane"]
    assert new_dataset_folder(str(unsorted)) == str(unsorted.parent / "birdcam (labelled 2)")
    # Starting again with the same folder keeps what it holds and adds a class.
    (unsorted.parent / "birdcam (labelled)" / "bird" / "kept.jpg").write_bytes(b"x")
    assert start_dataset(str(unsorted), ["bird", "plane", "squirrel"], dest=root) == root
    assert _visible(root) == ["bird", "plane", "squirrel"]
    assert os.path.exists(os.path.join(root, "bird", "kept.jpg"))


@pytest.mark.parametrize("text, why", [("bird", "at least two"), ("bird, Bird", "named twice"),
                                       ("bird, a/b", "slash")])
def test_class_names_are_checked(text, why):
    with pytest.raises(FledgeError, match=why):
        parse_class_names(text)


def test_parse_class_names_takes_commas_and_lines():
    assert parse_class_names(" bird ,plane\nsquirrel\n\n") == ["bird", "plane", "squirrel"]


def test_the_dataset_cannot_be_inside_the_unsorted_folder(unsorted):
    with pytest.raises(FledgeError, match="cannot be inside"):
        start_dataset(str(unsorted), ["bird", "plane"], dest=str(unsorted / "sorted"))


def test_labelling_until_ready_gives_a_dataset_that_scans_and_undo_loses_nothing(unsorted):
    before = tree(unsorted)
    root = start_dataset(str(unsorted), ["bird", "plane"])
    assert readiness(root).text == (f"{READY_PER_CLASS} more photos of 'bird' and "
                                    f"{READY_PER_CLASS} more photos of 'plane' and you can train.")
    labels = DatasetLabels(root, move=False)          # copies: the camera folder stays as it was
    photos = unsorted_photos(str(unsorted))
    pairs = [(p, "bird") for p in photos[:6]] + [(p, "plane") for p in photos[6:9]]
    done = apply_action(LabelAction(labels, [(ReviewItem(p), c, i) for i, (p, c) in enumerate(pairs)]))
    assert done.failed == []
    state = readiness(root)
    assert state.counts == {"bird": 6, "plane": 3} and not state.ready
    assert state.text == "2 more photos of 'plane' and you can train."
    last = apply_action(LabelAction(labels, [(ReviewItem(p), "plane", i) for i, p in enumerate(photos[9:11])]))
    assert readiness(root).ready and "you can train now" in readiness(root).text
    dataset = scan_dataset(root)
    assert dataset.classes == ["bird", "plane"] and len(dataset.train) + len(dataset.val) == 11
    assert tree(unsorted) == before                   # copied, not moved
    undo_action(last)
    assert readiness(root).missing == {"plane": 2}
    undo_action(done)
    assert readiness(root).counts == {"bird": 0, "plane": 0}
    assert tree(unsorted) == before


def test_photos_copied_in_are_known_until_their_copy_is_undone(unsorted):
    from core.files.file_transfer import path_key
    from core.photos.new_dataset import copied_in

    root = start_dataset(str(unsorted), ["bird", "plane"])
    assert copied_in(root) == set()
    photos = unsorted_photos(str(unsorted))
    labels = DatasetLabels(root, move=False)
    done = apply_action(LabelAction(labels, [(ReviewItem(photos[0]), "bird", 0), (ReviewItem(photos[1]), "plane", 1)]))
    assert copied_in(root) == {path_key(photos[0]), path_key(photos[1])}
    os.remove(os.path.join(root, "plane", os.path.basename(photos[1])))      # the person deleted that copy
    assert copied_in(root) == {path_key(photos[0])}
    undo_action(done)
    assert copied_in(root) == set() and copied_in(str(unsorted.parent / "nowhere")) == set()

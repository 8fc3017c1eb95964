"""From an unsorted folder to a dataset that trains: class folders made next to it, photos
labelled into it (copied, journalled, undoable), and the count of photos still needed."""
from __future__ import annotations

import os

import pytest

from core.data.dataset import scan_dataset
from core.errors import FledgeError
from core.photos.dataset_labels import DatasetLabels
from core.photos.label_session import LabelSession
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
    assert READY_PER_CLASS == 1
    assert readiness(root).text == "1 more photo of 'bird' and 1 more photo of 'plane' and you can train."
    labels = DatasetLabels(root, move=False)          # copies: the camera folder stays as it was
    photos = unsorted_photos(str(unsorted))
    pairs = [(p, "bird") for p in photos[:10]]
    session = LabelSession()
    done = session.run(session.label(labels, [(ReviewItem(p), c) for p, c in pairs]))
    assert done.failed == []
    state = readiness(root)
    assert state.counts == {"bird": 10, "plane": 0} and not state.ready
    assert state.text == "1 more photo of 'plane' and you can train."
    assert "remove it" in state.hint and "train without it" in state.hint
    last = session.run(session.label(labels, [(ReviewItem(p), "plane") for p in photos[10:12]]))
    state = readiness(root)
    assert state.ready and state.thin == {"plane": 2}
    assert state.text.startswith("You can train now. Few photos of 'plane' (2) yet: the model's answers for it "
                                 "will be rough guesses")
    dataset = scan_dataset(root)
    assert dataset.classes == ["bird", "plane"] and len(dataset.train) + len(dataset.val) == 12
    assert dataset.counts()["train"]["plane"] == 2           # both learnt from; none to check with
    assert tree(unsorted) == before                   # copied, not moved
    session.run_undo(last)
    assert readiness(root).missing == {"plane": 1}
    session.run_undo(done)
    assert readiness(root).counts == {"bird": 0, "plane": 0}
    assert tree(unsorted) == before


def test_readiness_names_every_thin_class_fewest_first_and_none_once_each_has_plenty(tmp_path):
    root = tmp_path / "cam (labelled)"
    for cls, n in {"empty": 12, "lemming": 2, "vole": 4}.items():
        for i in range(n):
            save_image(draw_class_image(i, 16, seed=i), root / cls / f"{i}.png")
    state = readiness(str(root))
    assert state.ready and list(state.thin) == ["lemming", "vole"]
    assert "Few photos of 'lemming' (2) and 'vole' (4) yet: the model's answers for them" in state.text
    assert state.summary == "You can train now. Few photos of 'lemming' (2) and 'vole' (4) yet."
    assert state.hunt == ["lemming", "vole"]                  # 'empty' has plenty: Review looks for these
    for i in range(4, 12):
        save_image(draw_class_image(i, 16, seed=i), root / "vole" / f"{i}.png")
        save_image(draw_class_image(i, 16, seed=i), root / "lemming" / f"{i}.png")
    assert readiness(str(root)).text == "Every class has at least 10 photos: you can train now."


def test_keys_follow_the_order_the_classes_were_typed(unsorted):
    root = start_dataset(str(unsorted), ["vole", "Empty", "lemming"])
    assert DatasetLabels(root).classes == ["vole", "Empty", "lemming"]
    assert readiness(root).counts == {"vole": 0, "Empty": 0, "lemming": 0}
    DatasetLabels(root).add_class("bank vole")                   # a class added later gets the next key
    os.makedirs(os.path.join(root, "aardvark"))                  # a folder made by hand: after them
    assert DatasetLabels(root).classes == ["vole", "Empty", "lemming", "bank vole", "aardvark"]


def test_a_class_order_that_cannot_be_kept_costs_the_order_not_the_class(unsorted, monkeypatch):
    from core.files import fileio

    root = start_dataset(str(unsorted), ["vole", "lemming"])
    (open(os.path.join(root, ".fledge-classes.json"), "w")).write('{"order": [[[[' * 5000)   # damaged
    assert DatasetLabels(root).classes == ["lemming", "vole"]           # read as no order: alphabetical

    def full_disk(*_a, **_k):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(fileio, "atomic_write", full_disk)
    labels = DatasetLabels(root)
    assert labels.add_class("bank vole") == "bank vole"
    assert "bank vole" in labels.classes and os.path.isdir(os.path.join(root, "bank vole"))


def test_photos_copied_in_are_known_until_their_copy_is_undone(unsorted):
    from core.files.file_transfer import path_key
    from core.photos.new_dataset import copied_in

    root = start_dataset(str(unsorted), ["bird", "plane"])
    assert copied_in(root) == set()
    photos = unsorted_photos(str(unsorted))
    labels = DatasetLabels(root, move=False)
    session = LabelSession()
    done = session.run(session.label(labels, [(ReviewItem(photos[0]), "bird"), (ReviewItem(photos[1]), "plane")]))
    assert copied_in(root) == {path_key(photos[0]), path_key(photos[1])}
    os.remove(os.path.join(root, "plane", os.path.basename(photos[1])))      # the person deleted that copy
    assert copied_in(root) == {path_key(photos[0])}
    session.run_undo(done)
    assert copied_in(root) == set() and copied_in(str(unsorted.parent / "nowhere")) == set()


def test_a_dataset_whose_rare_class_has_one_photo_trains_and_its_model_knows_every_class(tmp_path, monkeypatch):
    """The first training starts as soon as every class has a photo: the lone lemming is learnt
    from (none is kept to check with, and the scan says what that means)."""
    from core.model.predictor import Predictor
    from core.training.config import TrainConfig
    from core.training.trainer import Trainer

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    root = tmp_path / "cam (labelled)"
    for cls, k, n in (("empty", 0, 8), ("vole", 1, 4), ("lemming", 2, 1)):
        for i in range(n):
            save_image(draw_class_image(k, 40, seed=10 * k + i), root / cls / f"{cls}{i}.png")
    assert readiness(str(root)).ready
    ds = scan_dataset(root)
    assert ds.counts()["train"]["lemming"] == 1 and ds.counts()["val"]["lemming"] == 0
    assert any("'lemming' (1)" in w and "none is kept to check the model" in w for w in ds.warnings)
    ended = Trainer(TrainConfig(recipe="quick", epochs=3), ds, run_dir=str(tmp_path / "run")).fit()
    assert ended.reason == "completed", ended.message
    predictor = Predictor.from_checkpoint(ended.best_model, device="cpu")
    assert sorted(predictor.classes) == ["empty", "lemming", "vole"]

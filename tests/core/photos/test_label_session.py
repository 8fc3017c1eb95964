"""The one undo queue (core.photos.label_session): labels, keeps, Keep one copy and a sort's
undo, each taken back by the tab that made it, a failed undo kept for another try, and
`fledge undo` finding the photos labelled out of a sort as the Sort tab does."""
from __future__ import annotations

import errno
import os

import pytest

from core.data.duplicates_keep import SetAside, set_aside_folder
from core.errors import FledgeError
from core.files.journal import file_journal
from core.photos.check_labels import Suggestion
from core.photos.dataset_labels import DatasetLabels
from core.photos.kept_labels import KeptLabels
from core.photos.label_session import KeepStep, LabelSession, LabelStep, SetAsideStep
from core.photos.review_queue import ReviewItem
from core.photos.sort_undo import LABELLED_INTO, can_undo
from core.photos.sort_wording import undo_headline
from core.photos.sorting import sort_folder
from tests.core.photos import fault_kit as kit
from tests.file_trees import tree


def write(path, data: bytes) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    return str(path)


@pytest.fixture
def pets(tmp_path):
    """pets/{cat,dog} with a photo each, another dataset birds/{owl,tit}, and an inbox of four."""
    for rel in ("pets/cat/c0.jpg", "pets/dog/d0.jpg", "birds/owl/o0.jpg", "birds/tit/t0.jpg"):
        write(tmp_path / rel, rel.encode())
    for i in range(4):
        write(tmp_path / "inbox" / f"new{i}.jpg", f"new {i}".encode())
    return tmp_path


def items(folder, *names):
    return [ReviewItem(str(folder / n)) for n in names]


def test_undo_is_queued_at_once_and_each_tab_takes_back_its_own_latest(pets):
    session = LabelSession()
    pets_labels, birds = DatasetLabels(str(pets / "pets")), DatasetLabels(str(pets / "birds"))
    inbox = pets / "inbox"
    first = session.label(pets_labels, [(items(inbox, "new0.jpg")[0], "cat")], origin="review")
    assert session.can_undo("review", pets_labels.root)          # before a file has moved
    other_tab = session.label(pets_labels, [(items(inbox, "new1.jpg")[0], "dog")], origin="evaluate")
    other_set = session.label(birds, [(items(inbox, "new2.jpg")[0], "owl")], origin="review")
    for step in (first, other_tab, other_set):
        session.run(step)
    assert os.path.isfile(pets / "pets" / "cat" / "new0.jpg") and os.path.isfile(pets / "birds" / "owl" / "new2.jpg")

    assert session.take_undo("review", pets_labels.root) is first      # not the birds step, not Evaluate's
    assert not session.can_undo("review", pets_labels.root)
    assert session.can_undo("review", birds.root) and session.can_undo("evaluate", pets_labels.root)
    # Evaluate's move came later, so the journal refuses to take the first one back out of order ...
    session.run_undo(first)
    assert "other labels were applied" in first.problems[0] and first.restored == []
    assert session.can_undo("review", pets_labels.root)             # ... and it stays queued for later
    assert session.undo("evaluate", pets_labels.root).restored == [(other_tab.entries[0][0], str(inbox / "new1.jpg"))]
    back = session.undo("review", pets_labels.root)
    assert back is first and back.restored == [(first.entries[0][0], str(inbox / "new0.jpg"))]
    assert not session.can_undo("review", pets_labels.root) and session.undo("review", pets_labels.root) is None


def test_a_step_that_changed_nothing_leaves_the_queue(pets):
    session = LabelSession()
    labels = DatasetLabels(str(pets / "pets"))
    step = session.run(session.label(labels, [(ReviewItem(str(pets / "inbox" / "gone.jpg")), "cat"),
                                              (items(pets / "inbox", "new0.jpg")[0], "owl")], origin="review"))
    assert isinstance(step, LabelStep) and not step.done and len(step.failed) == 2
    assert "no longer there" in step.failed[0][1] and "no class called 'owl'" in step.failed[1][1]
    assert not session.can_undo("review")


def test_an_undo_that_fails_half_way_puts_back_what_it_can_and_stays_queued(pets, monkeypatch):
    session = LabelSession()
    labels = DatasetLabels(str(pets / "pets"))
    before = tree(pets)
    photos = items(pets / "inbox", "new0.jpg", "new1.jpg", "new2.jpg")
    step = session.run(session.label(labels, [(p, "cat") for p in photos], origin="review"))
    assert len(step.done) == 3
    real, calls = file_journal.transfer, []

    def eio_on_the_second(src, dst, *args, **kwargs):        # the first photo back goes fine, then the disk fails
        calls.append(src)
        if len(calls) == 2:
            raise OSError(errno.EIO, "Input/output error", dst)
        return real(src, dst, *args, **kwargs)
    monkeypatch.setattr(file_journal, "transfer", eio_on_the_second)
    session.run_undo(session.take_undo("review"))
    assert [it.path for it, _where in step.restored] == [photos[2].path]          # newest first
    assert "Could not put" in step.problems[0] and len(step.done) == 2
    assert session.can_undo("review")                                             # Undo can try again
    monkeypatch.undo()
    session.undo("review")
    assert [it.path for it, _where in step.restored] == [photos[1].path, photos[0].path]
    assert tree(pets) == before and not session.can_undo("review")


def test_keeping_a_label_and_undoing_it(pets, monkeypatch):
    session = LabelSession()
    kept = KeptLabels(str(pets / "pets"))
    s = Suggestion(str(pets / "pets" / "cat" / "c0.jpg"), "train", "cat", "dog", 0.9, 0.1)
    step = session.run(session.keep(kept, s, origin="check"))
    assert isinstance(step, KeepStep) and kept.is_kept(s.path, "cat") and session.can_undo("check")
    assert session.undo("check").restored == [(s, s.path)] and not kept.is_kept(s.path, "cat")

    import core.photos.kept_labels as kl

    def disk_full(path, text):
        raise OSError(errno.ENOSPC, "No space left on device", path)
    monkeypatch.setattr(kl, "atomic_write_text", disk_full)
    failed = session.run(session.keep(kept, s, origin="check"))
    assert "was not remembered" in failed.failed[0][1] and not session.can_undo("check")


def test_keep_one_copy_is_undone_here_or_from_an_earlier_session(pets):
    root = pets / "pets"
    extra = write(root / "dog" / "copy of d0.jpg", b"pets/dog/d0.jpg")
    before = tree(pets)
    session = LabelSession()
    step = session.run(session.set_aside(str(root), [extra], origin="data"))
    assert isinstance(step, SetAsideStep) and not os.path.exists(extra)
    assert os.path.isfile(os.path.join(set_aside_folder(str(root)), "dog", "copy of d0.jpg"))
    assert session.undo("data", str(root)).restored[0][1] == extra and tree(pets) == before

    SetAside(str(root)).set_aside([extra])                  # set aside in an earlier session of the app
    later = LabelSession()
    assert not later.can_undo("data", str(root))
    assert later.recall_set_aside(str(root), origin="data") and later.can_undo("data", str(root))
    later.undo("data", str(root))
    assert tree(pets) == before and not later.recall_set_aside(str(root), origin="data")


def test_a_copy_that_cannot_be_set_aside_keeps_the_ones_before_it_undoable(pets):
    root = pets / "pets"
    first = write(root / "dog" / "copy 1.jpg", b"one")
    session = LabelSession()
    step = session.run(session.set_aside(str(root), [first, str(root / "dog" / "gone.jpg")], origin="data"))
    assert "no longer there" in step.failed[0][1] and len(step.moves) == 1
    assert session.can_undo("data", str(root))
    session.undo("data", str(root))
    assert os.path.isfile(first)


@pytest.fixture
def sorted_with_review(tmp_path):
    """cam/ sorted (moved) into sorted/: the unsure photos in sorted/_review; a dataset pets/."""
    cam = tmp_path / "cam"
    for i in range(4):
        kit.write(str(cam / f"p{i}.jpg"), kit.body(i, 0, sure=250 if i < 2 else 10))
    for cls in kit.CLASSES:
        write(tmp_path / "pets" / cls / f"{cls}0.jpg", cls.encode())
    before = tree(cam)
    dest = tmp_path / "sorted"
    sort_folder(kit.BytePredictor(), cam, dest, threshold=0.5, move=True)
    assert sorted(os.listdir(dest / "_review")) == ["p2.jpg", "p3.jpg"]
    return cam, dest, tmp_path / "pets", before


def test_undoing_a_sort_finds_the_photos_labelled_out_of_it_in_a_later_session(sorted_with_review):
    cam, dest, pets, before = sorted_with_review
    session = LabelSession()
    labels = DatasetLabels(str(pets))
    session.run(session.label(labels, [(ReviewItem(str(dest / "_review" / "p2.jpg")), "plane")], origin="review"))
    assert os.path.isfile(pets / "plane" / "p2.jpg") and os.path.isfile(dest / LABELLED_INTO)

    assert can_undo(dest)
    report = LabelSession().undo_sort(dest)          # a new session (the command line) knows no datasets
    assert report.labelled == {str(pets / "plane"): [(str(dest / "_review" / "p2.jpg"), str(pets / "plane" / "p2.jpg"))]}
    assert "except 1 photo you labelled" in undo_headline(report)
    assert set(tree(cam)) == set(before) - {"p2.jpg"}
    assert str(dest / "_review" / "p3.jpg") in report.gone()
    assert not os.path.exists(dest / LABELLED_INTO)            # nothing sorted is left to look for
    assert not can_undo(dest) and not can_undo(cam)            # all undone; never sorted into


def test_fledge_undo_says_where_the_labelled_photos_are(sorted_with_review, capsys):
    from core.cli.main import main

    cam, dest, pets, _before = sorted_with_review
    session = LabelSession()
    session.run(session.label(DatasetLabels(str(pets)), [(ReviewItem(str(dest / "_review" / "p3.jpg")), "cat")],
                              origin="review"))
    assert main(["undo", str(dest)]) == 0
    out = capsys.readouterr().out
    assert f"1 photo you labelled is now in {pets / 'cat'}, so it stays there." in out
    assert "Could not restore" not in out and os.path.isfile(pets / "cat" / "p3.jpg")


def test_undo_sort_refuses_a_folder_without_a_sort(tmp_path):
    with pytest.raises(FledgeError, match="has no Fledge journal"):
        LabelSession().undo_sort(tmp_path)

"""The sort panel: sort on a worker thread, cancel part-way without losing a photo, undo."""
from __future__ import annotations

import os
import threading
from collections import Counter

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QPlainTextEdit

import core.photos.sorting
from core.progress import JobProgress
from gui.panels.sort.sort_panel import CSV_NAME, SortPanel
from gui.widgets.photo_grid import PhotoGrid
from tests.fakes import FakePredictor, full_disk_at, noise_photo
from tests.file_trees import digest


ANSWERS = {
    "a0.png": ("robin", 0.95), "a1.png": ("wren", 0.90), "a2.png": ("robin", 0.50),
    "a3.png": ("wren", 0.99), "a4.png": ("robin", 0.85), "a5.png": ("wren", 0.40),
    "a6.png": ("robin", 0.97), "a7.png": ("wren", 0.88), "broken.jpg": "not an image Pillow can read",
}


def _photos(folder) -> Counter:
    """The multiset of picture contents under folder (journals and CSVs left out)."""
    out = Counter()
    for dirpath, _dirs, files in os.walk(folder):
        for f in files:
            if f.endswith((".png", ".jpg")):
                out[digest(os.path.join(dirpath, f))] += 1
    return out


@pytest.fixture
def camera(tmp_path):
    src = tmp_path / "camera"
    src.mkdir()
    for i, name in enumerate(n for n in ANSWERS if n.endswith(".png")):
        noise_photo(src / name, i, size=20)
    (src / "broken.jpg").write_bytes(b"\xff\xd8\xff not really a photo")
    return src


@pytest.fixture
def panel(qtbot, tmp_path, camera):
    w = SortPanel()
    qtbot.addWidget(w)
    w.resize(900, 650)
    w.show()
    w.set_predictor(FakePredictor(["robin", "wren"], ANSWERS))
    w.set_folder(str(camera))
    w.set_destination(str(tmp_path / "sorted"))
    w.set_threshold(0.8)
    yield w
    w.shutdown()


def test_sort_copies_into_class_folders_with_a_report_and_undo_restores(qtbot, panel, camera, tmp_path):
    dest = tmp_path / "sorted"
    before = _photos(camera)
    panel.set_move(False)
    with qtbot.waitSignal(panel.sort_finished, timeout=20000) as blocker:
        assert panel.sort()
    out = blocker.args[0]
    assert out.report is not None and not out.stopped_while
    assert sorted(os.listdir(dest / "robin")) == ["a0.png", "a4.png", "a6.png"]
    assert sorted(os.listdir(dest / "wren")) == ["a1.png", "a3.png", "a7.png"]
    assert sorted(os.listdir(dest / "_review")) == ["a2.png", "a5.png"]
    assert os.listdir(dest / "_unreadable") == ["broken.jpg"]
    assert (dest / CSV_NAME).is_file()
    assert _photos(camera) == before                      # copies: the originals are untouched
    assert "3 robin, 3 wren. 2 to review, 1 unreadable" in panel.result.headline.text()
    rows = {panel.result.counts.item(r, 0).text(): panel.result.counts.item(r, 1).text() for r in range(panel.result.counts.rowCount())}
    assert rows == {"robin": "3", "wren": "3", "To review (unsure)": "2", "Could not be read": "1"}
    details = panel.result.details.toPlainText()            # in the tab's words: its buttons, not commands
    assert "To put everything back, press “Undo this sort”." in details and "fledge undo" not in details
    assert f"The model's answer for every photo is in {dest / CSV_NAME}." in details
    assert panel.undo_button.isEnabled() and panel.review_button.isEnabled()

    # "Review the unsure photos" hands over the _review folder with the answers already known.
    with qtbot.waitSignal(panel.review_requested) as review:
        qtbot.mouseClick(panel.review_button, Qt.MouseButton.LeftButton)
    folder, known, _model = review.args
    assert folder == str(dest / "_review")
    assert {os.path.basename(it.path): it.top[0] for it in known} == {"a2.png": ("robin", 0.5),
                                                                      "a5.png": ("wren", 0.4)}

    # A second sort into the same folder never replaces the first CSV.
    with qtbot.waitSignal(panel.sort_finished, timeout=20000) as again:
        panel.sort()
    assert os.path.basename(again.args[0].csv_path) == "fledge-predictions (2).csv"

    with qtbot.waitSignal(panel.undo_finished, timeout=20000) as undone:
        qtbot.mouseClick(panel.undo_button, Qt.MouseButton.LeftButton)
    assert not undone.args[0].failed
    assert panel.result.details.toPlainText() == "Removed 9 copies (the originals are where they were)."
    assert _photos(dest) == Counter() and _photos(camera) == before
    assert not panel.review_button.isEnabled()
    assert not panel.undo_button.isEnabled()                # nothing left to undo


def test_cancel_part_way_loses_no_photo_and_undo_restores(qtbot, panel, camera, tmp_path, monkeypatch):
    dest = tmp_path / "sorted"
    before = _photos(camera)
    real_apply = core.photos.sorting.apply_sort

    def apply_then_cancel(ops, dest_, *, progress=None, **options):
        def report(done, total):
            progress(done, total)
            if done == 3:
                panel.runner.stop()        # thread-safe: sets the job's stop event
        return real_apply(ops, dest_, progress=report, **options)
    monkeypatch.setattr(core.photos.sorting, "apply_sort", apply_then_cancel)

    shown = []
    panel.runner.progress.connect(
        lambda ev: shown.append((ev.stage, ev.done, panel.progress.isVisible())) if isinstance(ev, JobProgress) else None)
    panel.set_move(True)
    with qtbot.waitSignal(panel.sort_finished, timeout=20000) as blocker:
        assert panel.sort()
        assert panel.is_running() and panel.progress.cancel_button.isEnabled()
    out = blocker.args[0]
    assert out.stopped_while == "sorting" and out.report.stopped
    assert len(out.report.done) == 3
    # The progress bar showed the sorting (reports are throttled, so not necessarily every photo).
    assert any(stage == "sorting" for stage, *_ in shown) and all(visible for *_, visible in shown)
    assert not panel.progress.isVisible()
    assert "Stopped before the end" in panel.result.headline.text()
    assert "press “Start sorting” again to continue" in panel.result.details.toPlainText()
    # Nothing lost, nothing duplicated: the photos are in the camera folder or in DEST, once each.
    assert _photos(camera) + _photos(dest) == before
    assert sum(_photos(dest).values()) == 3
    with open(dest / core.photos.sorting.JOURNAL_NAME, encoding="utf-8") as f:
        assert sum('"t": "done"' in line for line in f) == 3

    with qtbot.waitSignal(panel.undo_finished, timeout=20000):
        assert panel.undo_sort()
    assert _photos(camera) == before and _photos(dest) == Counter()


def test_window_stays_usable_while_sorting_and_cancel_while_classifying(qtbot, panel, camera, tmp_path):
    gate = threading.Event()
    slow = FakePredictor(["robin", "wren"], ANSWERS, gate=gate)
    panel.set_predictor(slow)
    panel.set_move(True)
    before = _photos(camera)
    assert panel.sort()
    try:
        # The job waits in the model; meanwhile the panel handles events and clicks.
        qtbot.waitUntil(slow.entered.is_set, timeout=10000)
        assert panel.is_running() and not panel.sort_button.isEnabled()
        assert not panel.certainty.isEnabled()
        qtbot.mouseClick(panel.progress.cancel_button, Qt.MouseButton.LeftButton)
        assert panel.runner.control.stop_requested
        assert not panel.progress.cancel_button.isEnabled()
        assert panel.progress.format().startswith("Stopping")
    finally:
        gate.set()
    qtbot.waitUntil(lambda: not panel.is_running(), timeout=20000)
    assert panel.outcome.stopped_while == "classifying" and panel.outcome.report is None
    assert "No photo was copied or moved" in panel.result.headline.text()
    assert _photos(camera) == before and not (tmp_path / "sorted").exists()
    assert panel.sort_button.isEnabled()


def test_a_full_disk_is_explained_in_the_tabs_own_words(qtbot, panel, monkeypatch):
    full_disk_at(monkeypatch, 3)
    with qtbot.waitSignal(panel.sort_finished, timeout=20000) as blocker:
        assert panel.sort()
    assert blocker.args[0].report.disk_full and len(blocker.args[0].report.done) == 2
    for text in (panel.result.headline.text(), panel.result.details.toPlainText()):
        assert "is full; stopped. Free some space and press “Start sorting” again to continue." in text
        assert "command" not in text
    assert "could not be copied: the disk is full" in panel.message_bar.text()


def test_problems_are_explained_in_the_panel(qtbot, panel, tmp_path):
    panel.set_folder(str(tmp_path / "missing"))
    assert not panel.sort()
    assert "does not exist" in panel.message_bar.text()
    empty = tmp_path / "empty"
    empty.mkdir()
    panel.set_folder(str(empty))
    with qtbot.waitSignal(panel.runner.failed, timeout=20000):
        assert panel.sort()
    assert "There are no photos in" in panel.message_bar.text()
    assert "Include subfolders" in panel.message_bar.text()


def test_progress_reports_are_throttled_but_keep_the_first_and_last():
    from core.progress import Throttled

    now = [0.0]
    got = []
    progress = Throttled(got.append, "sorting", interval=0.0495, clock=lambda: now[0])
    for i in range(1, 101):
        now[0] = i * 0.001            # 1 ms per photo
        progress(i, 100)
    assert [(p.stage, p.done, p.total) for p in got] == [("sorting", 1, 100), ("sorting", 51, 100),
                                                         ("sorting", 100, 100)]


def test_loop_panels_import_without_torch():
    """Opening these tabs must not wait for PyTorch: it loads only when a model is used."""
    import subprocess
    import sys

    code = ("import sys; import gui.workflow, gui.widgets.photo_grid, gui.panels.evaluate.confusion_matrix; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_progress_shows_n_of_n_photos_on_a_real_bar_while_classifying(qtbot, panel):
    """Issue 14 item 16: not a moving stripe without "n of N"."""
    from PySide6.QtWidgets import QProgressBar

    gate = threading.Event()
    slow = FakePredictor(["robin", "wren"], ANSWERS, gate=gate)
    panel.set_predictor(slow)
    bar = panel.findChild(QProgressBar)
    try:
        assert panel.sort()
        qtbot.waitUntil(slow.entered.is_set, timeout=10000)       # the model is at work on the first batch
        qtbot.waitUntil(lambda: bar.maximum() == 9, timeout=10000)
        assert bar.value() == 0 and bar.format() == "Classifying: 0 of 9 photos"
    finally:
        gate.set()
    qtbot.waitUntil(lambda: not panel.is_running(), timeout=20000)


def _pets(root):
    for cls in ("robin", "wren"):
        (root / "train" / cls).mkdir(parents=True)
        noise_photo(root / "train" / cls / f"{cls}-0.png", 900 + len(cls))
    return root


def test_undo_says_where_the_photos_labelled_from_review_went(qtbot, panel, camera, tmp_path):
    """Issue 14 item 13: not "Could not restore a photo: not found" once per photo Fledge moved itself."""
    from core.photos.labelling import Labeller

    dest, dataset = tmp_path / "sorted", _pets(tmp_path / "birds")
    before = _photos(camera)
    panel.set_move(True)
    with qtbot.waitSignal(panel.sort_finished, timeout=20000):
        assert panel.sort()
    unsure = sorted(os.listdir(dest / "_review"))
    assert unsure == ["a2.png", "a5.png"]
    # Labelled in the Review tab (moved into the dataset's training folders).
    panel.remember_labelling(str(dataset))
    labeller = Labeller(str(dataset), move=True)
    for name in unsure:
        labeller.assign(str(dest / "_review" / name), "robin")

    with qtbot.waitSignal(panel.undo_finished, timeout=20000):
        assert panel.undo_sort()
    details = panel.result.details.toPlainText()
    assert "Could not restore" not in details
    assert f"2 photos you labelled are now in {dataset / 'train' / 'robin'}, so they stay there." in details
    assert "2 photos you labelled" in panel.result.headline.text()
    assert "exceptions" not in panel.result.headline.text()
    # Every photo is back in the camera folder, or in the dataset where it was labelled.
    assert sorted(os.listdir(dataset / "train" / "robin")) == ["a2.png", "a5.png", "robin-0.png"]
    assert _photos(camera) + _photos(dest) + Counter(digest(dataset / "train" / "robin" / n) for n in unsure) \
        == before


def test_undo_still_reports_photos_that_really_went_missing(qtbot, panel, tmp_path):
    dest, dataset = tmp_path / "sorted", _pets(tmp_path / "birds")
    panel.remember_labelling(str(dataset))
    with qtbot.waitSignal(panel.sort_finished, timeout=20000):
        assert panel.sort()
    os.remove(dest / "_review" / "a2.png")                 # deleted by hand, not labelled
    with qtbot.waitSignal(panel.undo_finished, timeout=20000):
        assert panel.undo_sort()
    assert "Undone, with exceptions" in panel.result.headline.text()
    assert "Could not restore a photo: not found" in panel.result.details.toPlainText()
    assert "you labelled" not in panel.result.details.toPlainText()


def test_a_model_for_other_classes_than_the_open_dataset_is_warned_about(qtbot, make_window, tmp_path):
    """Issue 14 item 14: a circles/squares model sorting ants and bees, in the Sort tab itself."""
    from gui.widgets.message_bar import MessageBar

    dataset = _pets(tmp_path / "birds")
    for cls in ("robin", "wren"):
        for i in range(1, 4):
            noise_photo(dataset / "train" / cls / f"{cls}-{i}.png", 950 + 10 * i + len(cls))
    w = make_window(engine=False)
    so = w.sort_panel
    with qtbot.waitSignal(w.dataset_panel.dataset_changed, timeout=20000):
        w.dataset_panel.open_folder(str(dataset))
    so.set_predictor(FakePredictor(["circles", "squares"], ANSWERS))

    def warned() -> str:
        return " ".join(b.text() for b in so.findChildren(MessageBar) if not b.isHidden())
    assert "circles, squares" in warned() and "robin, wren" in warned() and "birds" in warned()
    so.set_predictor(FakePredictor(["robin", "wren"], ANSWERS))
    assert "circles" not in warned()
    w.shutdown(10000)


def test_labelling_the_unsure_photos_in_review_then_undoing_the_sort_in_the_window(qtbot, make_window,
                                                                                     camera, tmp_path):
    """Issue 14 item 13, through the window: Sort -> Review (key 1) -> Undo this sort."""
    dataset = tmp_path / "birds"
    for split in ("train", "val"):
        for cls in ("robin", "wren"):
            (dataset / split / cls).mkdir(parents=True)
            for i in range(3):
                noise_photo(dataset / split / cls / f"{split}-{cls}-{i}.png", 700 + 10 * i + len(cls + split))
    w = make_window(engine=False)
    so, rv = w.sort_panel, w.review_panel
    with qtbot.waitSignal(w.dataset_panel.dataset_changed, timeout=20000):
        w.dataset_panel.open_folder(str(dataset))
    assert rv.dataset_root() == str(dataset)
    so.set_predictor(FakePredictor(["robin", "wren"], ANSWERS))
    so.set_folder(str(camera))
    so.set_destination(str(tmp_path / "sorted"))
    so.set_threshold(0.8)
    so.set_move(True)
    with qtbot.waitSignal(so.sort_finished, timeout=20000):
        assert so.sort()
    qtbot.mouseClick(so.review_button, Qt.MouseButton.LeftButton)
    assert w.tabs.currentWidget() is rv and len(rv.remaining_paths()) == 2
    grid = rv.findChild(PhotoGrid)
    for _ in range(2):
        qtbot.keyClick(grid, Qt.Key.Key_1)
    robin = dataset / "train" / "robin"
    qtbot.waitUntil(lambda: {"a2.png", "a5.png"} <= set(os.listdir(robin)) and not rv.is_busy(), timeout=10000)

    with qtbot.waitSignal(so.undo_finished, timeout=20000):
        assert so.undo_sort()
    details = so.findChild(QPlainTextEdit, "").toPlainText()
    assert "Could not restore" not in details
    assert f"2 photos you labelled are now in {robin}, so they stay there." in details
    w.shutdown(10000)


def test_undoing_the_sort_takes_the_photos_it_put_back_out_of_reviews_list(qtbot, make_window, camera, tmp_path):
    """Sort -> Review the unsure photos -> label one -> Undo this sort: the other unsure photo went
    back to the camera folder, so Review stops listing it (it used to show as "could not be read")."""
    dataset = tmp_path / "birds"
    for cls in ("robin", "wren"):
        (dataset / cls).mkdir(parents=True)
        for i in range(3):
            noise_photo(dataset / cls / f"{cls}-{i}.png", 800 + 10 * i + len(cls))
    w = make_window(engine=False)
    so, rv = w.sort_panel, w.review_panel
    with qtbot.waitSignal(w.dataset_panel.dataset_changed, timeout=20000):
        w.dataset_panel.open_folder(str(dataset))
    so.set_predictor(FakePredictor(["robin", "wren"], ANSWERS))
    so.set_folder(str(camera))
    so.set_destination(str(tmp_path / "sorted"))
    so.set_threshold(0.8)
    so.set_move(True)
    with qtbot.waitSignal(so.sort_finished, timeout=20000):
        assert so.sort()
    qtbot.mouseClick(so.review_button, Qt.MouseButton.LeftButton)
    grid = rv.findChild(PhotoGrid)
    first = os.path.basename(grid.current().path)
    qtbot.keyClick(grid, Qt.Key.Key_1)
    qtbot.waitUntil(lambda: (dataset / "robin" / first).exists() and not rv.is_busy(), timeout=10000)
    other = next(n for n in ("a2.png", "a5.png") if n != first)
    assert [os.path.basename(p) for p in rv.remaining_paths()] == [other]

    with qtbot.waitSignal(so.undo_finished, timeout=20000):
        assert so.undo_sort()
    assert (camera / other).exists() and rv.remaining_paths() == []
    assert not any("could not be read" in grid.item(r).text() for r in range(grid.count()))
    assert "no longer here to label" in rv.message_bar.text()
    assert "Nothing left to label" in rv.view.title.text()
    assert (dataset / "robin" / first).exists()                    # the labelled photo stays labelled
    w.shutdown(10000)


def test_the_models_own_thresholds_decide_unless_switched_off(qtbot, panel, camera, tmp_path):
    """A model file with per-class thresholds (saved in the Evaluate tab): robin must be 0.96 sure,
    wren 0.5; "Certainty needed" (0.8) counts only when the box is off."""
    predictor = FakePredictor(["robin", "wren"], ANSWERS)
    predictor.info = {"thresholds": {"classes": {"robin": 0.96, "wren": 0.5}, "default": 0.8}}
    panel.set_predictor(predictor)
    assert panel.own_box.isChecked()                       # on by default
    dest = tmp_path / "sorted"
    with qtbot.waitSignal(panel.sort_finished, timeout=20000):
        assert panel.sort()
    assert sorted(os.listdir(dest / "robin")) == ["a6.png"]                 # 0.97; a0 (0.95) and a4 are unsure
    assert sorted(os.listdir(dest / "wren")) == ["a1.png", "a3.png", "a7.png"]
    assert sorted(os.listdir(dest / "_review")) == ["a0.png", "a2.png", "a4.png", "a5.png"]

    panel.own_box.setChecked(False)
    other = tmp_path / "sorted again"
    panel.set_destination(str(other))
    with qtbot.waitSignal(panel.sort_finished, timeout=20000):
        assert panel.sort()
    assert sorted(os.listdir(other / "robin")) == ["a0.png", "a4.png", "a6.png"]
    assert sorted(os.listdir(other / "_review")) == ["a2.png", "a5.png"]


def _threshold_rows(panel) -> dict[str, tuple[str, str]]:
    table = panel.result.counts
    return {table.item(r, 0).text(): (table.item(r, 1).text(), table.item(r, 2).text())
            for r in range(table.rowCount())}


def test_the_result_names_the_threshold_each_class_used(qtbot, panel, camera, tmp_path):
    """A class whose validation photos promised too little (wren) has no threshold: all its photos go
    to review, and the result says so next to the threshold robin was held to."""
    predictor = FakePredictor(["robin", "wren"], ANSWERS)
    predictor.info = {"thresholds": {"classes": {"robin": 0.9, "wren": 1.0}, "review": {"wren": "evidence"},
                                     "default": 1.0}}
    panel.set_predictor(predictor)
    dest = tmp_path / "sorted"
    with qtbot.waitSignal(panel.sort_finished, timeout=20000):
        assert panel.sort()
    assert sorted(os.listdir(dest / "robin")) == ["a0.png", "a6.png"] and not (dest / "wren").exists()
    assert _threshold_rows(panel) == {"robin": ("2", "0.90"), "wren": ("0", "to review: too little evidence"),
                                      "To review (unsure)": ("6", ""), "Could not be read": ("1", "")}
    assert ("The model's own thresholds: robin 0.90, wren to review (too little evidence)."
            in panel.result.details.toPlainText())

    panel.own_box.setChecked(False)                        # "Certainty needed" (0.8) for every class
    panel.set_destination(str(tmp_path / "sorted again"))
    with qtbot.waitSignal(panel.sort_finished, timeout=20000):
        assert panel.sort()
    assert _threshold_rows(panel)["wren"] == ("3", "0.80")
    assert "Threshold 0.80 for every class" in panel.result.details.toPlainText()

"""The sort panel: sort on a worker thread, cancel part-way without losing a photo, undo."""
from __future__ import annotations

import os
import threading
from collections import Counter

import pytest
from PySide6.QtCore import Qt

import core.photos.sorting
from core.progress import JobProgress
from gui.panels.sort import CSV_NAME, SortPanel
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
    assert "3 robin, 3 wren. 2 to review, 1 unreadable" in panel.headline.text()
    rows = {panel.counts.item(r, 0).text(): panel.counts.item(r, 1).text() for r in range(panel.counts.rowCount())}
    assert rows == {"robin": "3", "wren": "3", "To review (unsure)": "2", "Could not be read": "1"}
    details = panel.details.toPlainText()            # in the tab's words: its buttons, not commands
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
    assert panel.details.toPlainText() == "Removed 9 copies (the originals are where they were)."
    assert _photos(dest) == Counter() and _photos(camera) == before
    assert not panel.review_button.isEnabled()


def test_cancel_part_way_loses_no_photo_and_undo_restores(qtbot, panel, camera, tmp_path, monkeypatch):
    dest = tmp_path / "sorted"
    before = _photos(camera)
    real_apply = core.photos.sorting.apply_sort

    def apply_then_cancel(ops, dest_, move=False, progress=None, should_stop=None):
        def report(done, total):
            progress(done, total)
            if done == 3:
                panel.runner.stop()        # thread-safe: sets the job's stop event
        return real_apply(ops, dest_, move=move, progress=report, should_stop=should_stop)
    monkeypatch.setattr(core.photos.sorting, "apply_sort", apply_then_cancel)

    shown = []
    panel.runner.progress.connect(
        lambda ev: shown.append((ev.stage, ev.done, panel.progress.isVisible())) if isinstance(ev, JobProgress) else None)
    panel.set_move(True)
    with qtbot.waitSignal(panel.sort_finished, timeout=20000) as blocker:
        assert panel.sort()
        assert panel.is_running() and panel.cancel_button.isEnabled()
    out = blocker.args[0]
    assert out.stopped_while == "sorting" and out.report.stopped
    assert len(out.report.done) == 3
    # The progress bar showed the sorting (reports are throttled, so not necessarily every photo).
    assert any(stage == "sorting" for stage, *_ in shown) and all(visible for *_, visible in shown)
    assert not panel.progress.isVisible()
    assert "Stopped before the end" in panel.headline.text()
    assert "press “Start sorting” again to continue" in panel.details.toPlainText()
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
        assert not panel.threshold_spin.isEnabled()
        qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
        assert panel.runner.control.stop_requested
        assert not panel.cancel_button.isEnabled()
        assert panel.progress.format().startswith("Stopping")
    finally:
        gate.set()
    qtbot.waitUntil(lambda: not panel.is_running(), timeout=20000)
    assert panel.outcome.stopped_while == "classifying" and panel.outcome.report is None
    assert "No photo was copied or moved" in panel.headline.text()
    assert _photos(camera) == before and not (tmp_path / "sorted").exists()
    assert panel.sort_button.isEnabled()


def test_a_full_disk_is_explained_in_the_tabs_own_words(qtbot, panel, monkeypatch):
    full_disk_at(monkeypatch, 3)
    with qtbot.waitSignal(panel.sort_finished, timeout=20000) as blocker:
        assert panel.sort()
    assert blocker.args[0].report.disk_full and len(blocker.args[0].report.done) == 2
    for text in (panel.headline.text(), panel.details.toPlainText()):
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

    code = ("import sys; import gui.workflow, gui.widgets.photo_grid, gui.widgets.confusion_matrix; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"

"""The dataset panel: open, drop and sample folders; counts, thumbnails, skipped files, errors."""
from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt

import core.data.sample_data as sample_data
import gui.panels.data.data_panel as dataset_panel
from gui.panels.data.data_panel import MAX_RECENT, THUMBS_PER_CLASS, DatasetPanel
from gui.settings import RECENT_DATASETS
from tests.gui.qt_drops import send_drop
from tests.gui.qt_show import shown

COLOURS = {"apple": (200, 30, 30), "banana": (230, 210, 40), "cherry": (120, 0, 40)}


def _write_png(path, colour, seed):
    rng = np.random.default_rng(seed)
    arr = np.clip(np.array(colour) + rng.integers(-20, 20, (32, 32, 3)), 0, 255).astype(np.uint8)
    Image.fromarray(arr).save(path)


@pytest.fixture
def image_folder(tmp_path):
    """tmp/fruit/<class>/*.png: 5, 4 and 3 tiny pictures, plus one broken file in apple/."""
    root = tmp_path / "fruit"
    for i, (cls, n) in enumerate(zip(COLOURS, (5, 4, 3))):
        (root / cls).mkdir(parents=True)
        for j in range(n):
            _write_png(root / cls / f"{cls}_{j}.png", COLOURS[cls], seed=10 * i + j)
    (root / "apple" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not really a picture")
    return root


@pytest.fixture
def panel(qtbot):
    w = shown(qtbot, DatasetPanel())
    yield w
    w.shutdown()




def test_open_folder_shows_classes_counts_thumbnails_and_skipped(qtbot, panel, image_folder):
    with qtbot.waitSignal(panel.dataset_changed, timeout=10000) as blocker:
        panel.open_folder(str(image_folder))
        assert panel.busy_bar.isVisibleTo(panel)       # scanning runs in the background
    ds = blocker.args[0]
    assert ds is panel.dataset
    assert ds.classes == ["apple", "banana", "cherry"]
    assert not panel.busy_bar.isVisibleTo(panel)

    counts = ds.counts()
    rows = panel.counts_table.rows()
    assert [r[0] for r in rows] == ds.classes
    for name, train, val, test in rows:
        assert (train, val, test) == (counts["train"][name], counts["val"][name], counts["test"][name])
    assert [r[1] + r[2] + r[3] for r in rows] == [5, 4, 3]   # the broken file is not counted
    total_row = panel.counts_table.rowCount() - 1
    assert panel.counts_table.item(total_row, 0).text() == "Total"
    assert int(panel.counts_table.item(total_row, 1).text()) == len(ds.train)

    # Thumbnails of the first class arrive from the worker pool.
    assert panel.class_combo.currentIndex() == 0
    qtbot.waitUntil(lambda: panel.thumb_list.loaded_count() == 5, timeout=10000)
    assert panel.thumb_list.count() == 5
    icon = panel.thumb_list.item(0).icon()
    assert not icon.isNull()
    # Choosing another class in the table shows its pictures instead.
    panel.counts_table.setCurrentCell(2, 0)
    assert panel.class_combo.currentIndex() == 2
    qtbot.waitUntil(lambda: panel.thumb_list.loaded_count() == 3, timeout=10000)
    assert panel.thumb_list.count() == 3
    assert all("cherry" in panel.thumb_list.item(i).toolTip() for i in range(3))

    # Few pictures per class -> a warning; the broken file is listed with a reason.
    assert panel.warnings_label.isVisibleTo(panel)
    assert "Very few" in panel.warnings_label.text()
    assert panel.skipped_button.isVisibleTo(panel)
    assert panel.skipped_button.text().startswith("1 file skipped")
    dialog = panel.show_skipped()
    qtbot.addWidget(dialog)
    rows = dialog.rows()
    assert len(rows) == 1
    assert rows[0][0] == str(image_folder / "apple" / "broken.png")
    assert rows[0][1]           # a reason, in words
    dialog.close()

    # The folder is remembered for next time.
    assert panel.settings.get(RECENT_DATASETS) == [str(image_folder)]
    assert panel.recent_combo.count() == 1
    assert panel.recent_combo.itemData(0) == str(image_folder)


def test_thumbnails_are_capped_per_class(qtbot, panel, tmp_path):
    root = tmp_path / "many"
    for cls in ("a", "b"):
        (root / cls).mkdir(parents=True)
        for j in range(THUMBS_PER_CLASS + 6):
            _write_png(root / cls / f"{j:03d}.png", (10 * j, 100, 100), seed=j)
    with qtbot.waitSignal(panel.dataset_changed, timeout=10000):
        panel.open_folder(str(root))
    assert panel.thumb_list.count() == THUMBS_PER_CLASS
    assert panel.thumbs_caption.text() == f"first {THUMBS_PER_CLASS} of {THUMBS_PER_CLASS + 6}"
    qtbot.waitUntil(lambda: panel.thumb_list.loaded_count() == THUMBS_PER_CLASS, timeout=10000)


def test_bad_folder_shows_message_and_panel_stays_usable(qtbot, panel, image_folder, tmp_path):
    lonely = tmp_path / "lonely"
    (lonely / "only").mkdir(parents=True)
    for j in range(3):
        _write_png(lonely / "only" / f"{j}.png", (0, 0, 200), seed=j)
    with qtbot.waitSignal(panel.dataset_changed, timeout=10000) as blocker:
        panel.open_folder(str(lonely))
    assert blocker.args == [None]
    assert panel.dataset is None
    assert panel.message_bar.isVisibleTo(panel)
    assert "only one class" in panel.message_bar.text()
    assert panel.counts_table.rowCount() == 0
    assert panel.recent_combo.count() == 0          # only folders that worked are remembered

    with qtbot.waitSignal(panel.dataset_changed, timeout=10000) as blocker:
        panel.open_folder(str(image_folder))
    assert blocker.args[0].classes == ["apple", "banana", "cherry"]
    assert not panel.message_bar.isVisibleTo(panel)


def test_missing_folder_message(qtbot, panel, tmp_path):
    with qtbot.waitSignal(panel.dataset_changed, timeout=10000) as blocker:
        panel.open_folder(str(tmp_path / "nowhere"))
    assert blocker.args == [None]
    assert "does not exist" in panel.message_bar.text()


def test_dropping_a_folder_opens_it(qtbot, panel, image_folder):
    with qtbot.waitSignal(panel.dataset_changed, timeout=10000) as blocker:
        drop = send_drop(panel, [image_folder])
    assert drop.isAccepted()
    assert blocker.args[0].root == str(image_folder)


def test_a_drop_proposed_as_a_move_is_taken_as_a_copy(qtbot, panel, image_folder):
    """Explorer deletes what it is told was moved: a dropped folder is only ever copied."""
    with qtbot.waitSignal(panel.dataset_changed, timeout=10000):
        drop = send_drop(panel, [image_folder], move=True)
    assert drop.isAccepted()
    assert drop.dropAction() == Qt.DropAction.CopyAction


def test_dropping_a_file_explains_what_is_needed(qtbot, panel, image_folder):
    with qtbot.assertNotEmitted(panel.dataset_changed, wait=100):
        send_drop(panel, [image_folder / "apple" / "apple_0.png"])
    text = panel.message_bar.text()
    assert "“apple_0.png” is a file, not a folder" in text
    assert "one subfolder per class" in text
    assert panel.dataset is None


def test_recent_folders_keep_the_newest_eight(qtbot, panel, image_folder):
    panel.settings.set(RECENT_DATASETS, [f"/old/{i}" for i in range(MAX_RECENT)])
    with qtbot.waitSignal(panel.dataset_changed, timeout=10000):
        panel.open_folder(str(image_folder))
    recent = panel.settings.get(RECENT_DATASETS)
    assert recent[0] == str(image_folder)
    assert len(recent) == MAX_RECENT
    assert "/old/7" not in recent
    # Choosing an entry of the dropdown opens it again.
    with qtbot.waitSignal(panel.dataset_changed, timeout=10000) as blocker:
        panel.recent_combo.activated.emit(0)
    assert blocker.args[0].root == str(image_folder)


def test_sample_data_is_written_once_then_reused(qtbot, panel, tmp_path, monkeypatch):
    dest = tmp_path / "appdata" / "sample-data"
    monkeypatch.setattr(dataset_panel, "sample_data_dir", lambda: str(dest))
    calls = []
    real_write = sample_data.write_sample_data

    def small_write(path):
        calls.append(path)
        return real_write(path, per_class=6, size=32)

    monkeypatch.setattr(sample_data, "write_sample_data", small_write)
    with qtbot.waitSignal(panel.dataset_changed, timeout=20000) as blocker:
        panel.use_sample_data()
    ds = blocker.args[0]
    assert ds.classes == ["bird", "plane"]
    assert ds.root == str(dest)
    assert len(calls) == 1
    with qtbot.waitSignal(panel.dataset_changed, timeout=20000) as blocker:
        panel.use_sample_data()
    assert blocker.args[0].classes == ["bird", "plane"]
    assert len(calls) == 1          # the finished set on disk was reused
    # A picture gone missing -> the set is written again rather than used half-complete.
    victim = next(p for p in os.scandir(dest / "train" / "bird"))
    os.remove(victim.path)
    with qtbot.waitSignal(panel.dataset_changed, timeout=20000):
        panel.use_sample_data()
    assert len(calls) == 2
    assert os.path.exists(victim.path)


def test_a_labelled_dataset_with_an_empty_and_a_one_photo_class_opens(qtbot, panel, image_folder):
    """The class folders "Start labelling" made: one still empty, one with a single photo."""
    (image_folder / "lemming").mkdir()
    for name in os.listdir(image_folder / "cherry")[1:]:
        os.remove(image_folder / "cherry" / name)
    with qtbot.waitSignal(panel.dataset_changed, timeout=10000) as blocker:
        panel.open_folder(str(image_folder))
    ds = blocker.args[0]
    assert ds is not None and ds.classes == ["apple", "banana", "cherry"]
    assert ds.counts()["train"]["cherry"] == 1
    text = panel.warnings_label.text()
    assert "'lemming'" in text and "left out until it has photos" in text
    assert "'cherry' (1)" in text and "none is kept to check the model" in text
    assert not panel.message_bar.text()

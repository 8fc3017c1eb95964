"""Review with bursts grouped: one card per burst, one key press labels every frame, undo
brings every frame back, and no photo is lost."""
from __future__ import annotations

import os

import pytest
from PySide6.QtCore import Qt

from core.photos.burst_cards import BurstCard
from gui.panels.review.review_panel import ReviewPanel
from gui.widgets.photo_grid import default_caption
from tests.core.photos.test_bursts import shot
from tests.fakes import FakePredictor, noise_photo
from tests.file_trees import tree

ANSWERS = {"a0.jpg": ("bird", 0.9), "a1.jpg": ("bird", 0.7), "a2.jpg": ("plane", 0.6), "a3.jpg": ("bird", 0.8),
           "b0.jpg": ("plane", 0.9), "b1.jpg": ("plane", 0.8), "lone.jpg": ("bird", 0.99)}


@pytest.fixture(autouse=True)
def own_hash_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "userdata"))


@pytest.fixture
def folders(tmp_path):
    dataset = tmp_path / "birdcam"
    for cls in ("bird", "plane"):
        (dataset / cls).mkdir(parents=True)
        for i in range(2):
            noise_photo(dataset / cls / f"{cls}{i}.png", hash(cls) % 1000 + i)
    review = tmp_path / "sorted" / "_review"
    for i in range(4):
        shot(review, f"a{i}.jpg", i, scene=1, step=i)                  # one burst of 4
    for i in range(2):
        shot(review, f"b{i}.jpg", 30 + i, scene=2, step=i)             # a gap, then another burst of 2
    shot(review, "lone.jpg", 90, scene=3)
    return dataset, review


@pytest.fixture
def panel(qtbot, folders):
    dataset, review = folders
    w = ReviewPanel()
    qtbot.addWidget(w)
    w.resize(1000, 700)
    w.show()
    w.set_dataset_folder(str(dataset))
    w.bursts.box.setChecked(True)
    w.set_predictor(FakePredictor(["bird", "plane"], ANSWERS))
    assert w.open_folder(str(review))
    qtbot.waitUntil(lambda: len(w.view.grid.items()) == 3 and not w.is_busy() and not w.bursts.busy()
                    and all(it.predicted for it in w.view.grid.items()), timeout=20000)
    w.view.grid.setFocus()
    yield w
    w.shutdown()


def _cards(panel) -> dict[str, int]:
    return {os.path.basename(it.path): len(getattr(it, "frames", [it])) for it in panel.view.grid.items()}


def test_one_card_per_burst_with_the_mean_answer_and_a_count(panel):
    assert _cards(panel) == {"a0.jpg": 4, "b0.jpg": 2, "lone.jpg": 1}
    card = next(it for it in panel.view.grid.items() if isinstance(it, BurstCard) and len(it.frames) == 4)
    assert card.suggestion == "bird" and card.confidence == pytest.approx((0.9 + 0.7 + 0.4 + 0.8) / 4)   # a2: plane 0.6, bird 0.4
    text, tip = default_caption(card)
    assert text.startswith("×4 a0.jpg") and "a3.jpg" in tip


def test_one_key_labels_the_whole_burst_and_undo_brings_every_photo_back(qtbot, panel, folders):
    dataset, review = folders
    before = {**tree(review), **tree(dataset)}
    grid = panel.view.grid
    card = next(it for it in grid.items() if isinstance(it, BurstCard) and len(it.frames) == 4)
    grid.select_row(grid.row_of(card))
    qtbot.keyClick(grid, Qt.Key.Key_1)                                  # "bird" for all four
    assert _cards(panel) == {"b0.jpg": 2, "lone.jpg": 1}
    assert panel.preview.path() in [f.path for f in grid.current().frames]   # the next key's photos are on show
    labelled = [dataset / "bird" / f"a{i}.jpg" for i in range(4)]
    qtbot.waitUntil(lambda: all(p.exists() for p in labelled) and not panel.view.queue.busy(), timeout=10000)
    assert not any((review / f"a{i}.jpg").exists() for i in range(4))
    assert sorted({**tree(review), **tree(dataset)}.values()) == sorted(before.values())    # moved, none lost

    qtbot.keyClick(grid, Qt.Key.Key_Backspace)
    qtbot.waitUntil(lambda: not panel.view.queue.busy() and "a0.jpg" in _cards(panel), timeout=10000)
    assert {**tree(review), **tree(dataset)} == before                    # every photo where it was
    assert _cards(panel)["a0.jpg"] == 4 and grid.current().path == str(review / "a0.jpg")
    assert panel.preview.path() in [f.path for f in grid.current().frames]
    assert not panel.view.undo_button.isEnabled()


def test_switching_bursts_off_shows_every_photo_again(qtbot, panel):
    panel.bursts.box.setChecked(False)
    assert sorted(_cards(panel)) == sorted(ANSWERS)
    panel.bursts.box.setChecked(True)
    qtbot.waitUntil(lambda: len(panel.view.grid.items()) == 3, timeout=20000)


def test_a_cards_frames_play_in_the_large_preview(qtbot, panel, folders):
    _dataset, review = folders
    grid = panel.view.grid
    card = next(it for it in grid.items() if isinstance(it, BurstCard) and len(it.frames) == 4)
    grid.select_row(grid.row_of(card))
    assert panel.preview.path() == str(review / "a0.jpg")
    qtbot.waitUntil(lambda: panel.preview.path() == str(review / "a1.jpg"), timeout=5000)
    assert panel.preview.name_label.text().startswith("Burst of 4: frame 2")


def test_the_sort_tab_keeps_bursts_together(qtbot, tmp_path, folders):
    from gui.panels.sort.sort_panel import SortPanel

    _dataset, camera = folders
    w = SortPanel()
    qtbot.addWidget(w)
    w.show()
    w.set_predictor(FakePredictor(["bird", "plane"], ANSWERS))
    w.set_folder(str(camera))
    w.set_destination(str(tmp_path / "sorted-out"))
    w.set_threshold(0.5)
    w.burst_box.setChecked(True)
    try:
        with qtbot.waitSignal(w.sort_finished, timeout=20000):
            assert w.sort()
    finally:
        w.shutdown()
    dest = tmp_path / "sorted-out"
    assert sorted(os.listdir(dest / "bird")) == ["a0.jpg", "a1.jpg", "a2.jpg", "a3.jpg", "lone.jpg"]   # a2 too
    assert sorted(os.listdir(dest / "plane")) == ["b0.jpg", "b1.jpg"]


def test_a_cards_thumbnail_carries_its_count(qtbot, panel):
    from PySide6.QtGui import QPixmap

    from gui.widgets.photo_grid import _with_count

    white = QPixmap(112, 112)
    white.fill(Qt.GlobalColor.white)
    badged = _with_count(white, 5).toImage()
    assert badged.pixelColor(104, 10).lightness() < 120                  # the dark badge, top right
    assert badged.pixelColor(10, 100).lightness() == 255                  # the rest of the photo as it was
    grid = panel.view.grid
    qtbot.waitUntil(lambda: grid.thumbnails_shown >= 3, timeout=20000)
    card = next(it for it in grid.items() if isinstance(it, BurstCard) and len(it.frames) == 4)
    shown = grid.item(grid.row_of(card)).icon().pixmap(grid.iconSize()).toImage()
    assert shown.pixelColor(shown.width() - 8, 10).lightness() < 80         # its badge over the photo

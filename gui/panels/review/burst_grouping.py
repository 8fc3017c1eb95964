"""Bursts in a labelling grid: one card per burst, one key press labels every frame.

BurstGrouping owns the "Group bursts" switch of a LabellingView: when on, the grid's photos
are grouped (core.photos.bursts.find_bursts, on a pool thread: it reads headers and hashes
photos) into core.photos.burst_cards cards. label_cards and put_back_cards are what
LabellingView labels and undoes with, so a card's frames go into the dataset in one step
(each photo journalled), and undo brings the whole card back. While a card is the current photo its
frames play in the large preview.
"""
from __future__ import annotations

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QCheckBox, QWidget

from core.photos.burst_cards import BurstCard, burst_cards, frames_of, open_cards, take_answers
from core.photos.bursts import find_bursts
from core.photos.review_queue import review_order
from gui.background import TaskPool, call
from gui.settings import REVIEW_BURSTS, Settings

FRAME_MS = 700            # each frame of a burst this long in the large preview


def label_cards(queue, grid, labels, pairs: list) -> tuple:
    """LabelQueue.label for (item, class) pairs where an item may be a card: it leaves the grid at
    once and each of its frames is labelled. Returns (the step, frame -> its card) for put_back_cards."""
    grid.take([item for item, _cls in pairs])
    cards = {id(f): item for item, _cls in pairs if isinstance(item, BurstCard) for f in item.frames}
    step = queue.label(labels, [(f, cls) for item, cls in pairs for f in frames_of(item)])
    return step, cards


def put_back_cards(grid, back: list, cards: dict, select: bool = False) -> int:
    """Show again, where they were, the photos that came back -- back: [(frame, its path now, or
    None when it did not move)] -- a card once, with the frames that came back; select: make the
    first current. Returns how many photos came back."""
    shown: dict[int, tuple] = {}
    for frame, where in back:
        if where is not None:
            frame.path = where
        card = cards.get(id(frame), frame)
        shown.setdefault(id(card), (card, []))[1].append(frame)
    rows = []
    for card, frames in shown.values():
        row = grid.taken_row(card)
        if isinstance(card, BurstCard):
            kept = {id(f) for f in frames}
            card.frames = [f for f in card.frames if id(f) in kept]
            card.refresh()
            if len(card.frames) == 1:
                card = card.frames[0]
        rows.append((row if row >= 0 else grid.count() + len(rows), card))
    rows.sort(key=lambda x: x[0])
    for row, card in rows:
        grid.insert(card, row)
    if select and rows:
        grid.select_row(grid.row_of(rows[0][1]))
    return len(back)


class BurstGrouping(QObject):
    """The "Group bursts" switch of a LabellingView and the grouping behind it."""

    grouped = Signal()                   # the grid now shows cards (or, switched off, every photo)
    failed = Signal(str)

    def __init__(self, settings: Settings, view, preview=None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings, self.view, self.preview = settings, view, preview
        self.box = QCheckBox("Group b&ursts", parent)
        self.box.setToolTip("Show the photos a camera took a few seconds apart that look alike as one card; "
                            "a key press labels the whole burst")
        self.box.setChecked(settings.get(REVIEW_BURSTS))
        self.box.toggled.connect(self._toggled)
        self._pool = TaskPool(self, threads=1)
        self._pool.finished.connect(self._on_grouped)
        self._pool.failed.connect(lambda _token, message: self.failed.emit(message))
        self._token = 0
        self._timer = QTimer(self)
        self._timer.setInterval(FRAME_MS)
        self._timer.timeout.connect(self._next_frame)
        self._playing: tuple = (None, 0, None)         # (card, frame shown, model)

    def regroup(self) -> None:
        """Group the photos shown now (when the switch is on)."""
        paths = [f.path for f in open_cards(self.view.grid.items())]
        if not self.box.isChecked() or len(paths) < 2:
            return
        self._token = self._pool.submit(call(find_bursts, paths))

    def busy(self) -> bool:
        return self._pool.is_busy()

    def take_answers(self, items, answers: dict) -> None:
        """The model's answers (path -> (top, error)) for the frames of the cards among items."""
        take_answers(items, answers)

    def play(self, item, model) -> None:
        """Play a card's frames in the preview (one photo: nothing to play)."""
        self._timer.stop()
        self._playing = (item, 0, model)
        if isinstance(item, BurstCard) and self.preview is not None and len(item.frames) > 1:
            self._timer.start()

    def shutdown(self, msecs: int = 10000) -> None:
        self._timer.stop()
        self._pool.shutdown(msecs)

    def _next_frame(self) -> None:
        card, n, model = self._playing
        if not isinstance(card, BurstCard) or not card.frames or self.view.grid.current() is not card:
            self._timer.stop()
            return
        n = (n + 1) % len(card.frames)
        self._playing = (card, n, model)
        self.preview.show_photo(card.frames[n].path, model)
        self.preview.name_label.setText(f"Burst of {len(card.frames)}: frame {n + 1} – "
                                        f"{self.preview.name_label.text()}")

    def _toggled(self, on: bool) -> None:
        self.settings.set(REVIEW_BURSTS, on)
        if on:
            self.regroup()
            return
        self._pool.cancel()
        grid = self.view.grid
        if any(isinstance(it, BurstCard) for it in grid.items()):
            grid.reorder(review_order(open_cards(grid.items())))
        self.view.changed.emit()
        self.grouped.emit()

    def _on_grouped(self, token: int, bursts) -> None:
        if token != self._token or not self.box.isChecked() or bursts is None:
            return
        grid = self.view.grid
        grid.reorder(review_order(burst_cards(grid.items(), bursts)))
        grid.refresh()
        self.view.changed.emit()
        self.grouped.emit()

"""Review cards for bursts: one card stands for every frame of a burst.

    cards = burst_cards(items, find_bursts([it.path for it in items]))
    frames_of(cards[0])          # the ReviewItems it stands for, in the order they were taken

A BurstCard is a ReviewItem (its path is the first frame's) so the review grid, the keys
and the certainty order treat it as one photo, while labelling it labels each of its
frames (core.photos.dataset_labels, one journalled step per photo). Its answers are the
mean of its frames' answers (core.photos.bursts.mean_answers). Nothing here imports Qt.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from core.photos.bursts import Burst, mean_answers
from core.files.file_transfer import path_key
from core.photos.review_queue import ReviewItem


@dataclass(eq=False)
class BurstCard(ReviewItem):
    """Several frames of one burst, shown and labelled as one."""
    frames: list = field(default_factory=list)        # [ReviewItem], in the order taken
    burst: str = ""

    def refresh(self) -> None:
        """Take the path and answers from the frames again (after they moved or were answered)."""
        self.path = self.frames[0].path
        answered = [f.top for f in self.frames if f.top and not f.error]
        self.top = mean_answers(answered) if len(answered) == len(self.frames) else ()
        self.error = None if answered or not all(f.error for f in self.frames) else self.frames[0].error


def frames_of(item: ReviewItem) -> list[ReviewItem]:
    return list(item.frames) if isinstance(item, BurstCard) else [item]


def burst_cards(items: Iterable[ReviewItem], bursts: Iterable[Burst]) -> list[ReviewItem]:
    """The items with each burst of two or more of them made into one card, at the place of
    its first item; items in no burst (or alone in theirs) stay as they are. Cards given
    are opened up first, so grouping again follows the bursts given."""
    items = [f for it in items for f in frames_of(it)]
    by_path = {path_key(it.path): it for it in items}
    card_of: dict[int, BurstCard] = {}
    for b in bursts:
        frames = [by_path[k] for k in (path_key(p) for p in b.paths) if k in by_path]
        if len(frames) > 1:
            card = BurstCard(frames[0].path, frames=frames, burst=b.id)
            card.refresh()
            for f in frames:
                card_of[id(f)] = card
    out, placed = [], set()
    for it in items:
        card = card_of.get(id(it))
        if card is None:
            out.append(it)
        elif id(card) not in placed:
            placed.add(id(card))
            out.append(card)
    return out


def open_cards(items: Iterable[ReviewItem]) -> list[ReviewItem]:
    """Every frame of the items, cards opened up."""
    return [f for it in items for f in frames_of(it)]


def take_answers(items: Iterable[ReviewItem], answers: dict) -> None:
    """Give the frames of the cards still without answers (their frames were asked about) the
    answers path -> (top, error), and the cards their mean."""
    for it in items:
        if isinstance(it, BurstCard) and not it.predicted:
            for f in it.frames:
                got = answers.get(f.path)
                if got is not None:
                    f.top, f.error = got
            it.refresh()

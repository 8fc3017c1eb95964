"""A grid of photo thumbnails with a caption each, loaded in the background.

Only the thumbnails of the rows on screen are requested (a review folder may hold
thousands of photos); they are decoded by gui.widgets.thumbnails on worker threads, so
scrolling never waits for a JPEG.
"""
from __future__ import annotations

import os
from collections.abc import Callable

from PySide6.QtCore import QRectF, QSize, Qt, QTimer
from PySide6.QtGui import QColor, QIcon, QPainter, QPalette, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QListView, QListWidget, QListWidgetItem, QStyle

from core.photos.review_queue import ReviewItem

from core.wording import rounded_percent as percent
from gui.widgets.thumbnails import ThumbnailLoader, pixmap_for

THUMB_PX = 112
_ROLE = Qt.ItemDataRole.UserRole


def default_caption(item: ReviewItem) -> tuple[str, str]:
    """(text under the picture, tooltip)."""
    count = len(getattr(item, "frames", None) or ())
    if count > 1:               # a burst card (core.photos.burst_cards): the first frame, and how many
        text, tip = default_caption(ReviewItem(item.path, item.top, item.error, item.true_class))
        names = ", ".join(os.path.basename(f.path) for f in item.frames)
        return f"×{count} {text}", f"{tip}\nA burst of {count} photos (a key labels them all): {names}"
    name = os.path.basename(item.path)
    if item.error:
        return f"{name}\ncould not be read", f"{item.path}\nCould not be read: {item.error}"
    if item.true_class is not None and item.suggestion is not None:
        text = f"{item.true_class} → {item.suggestion} {percent(item.confidence)}"
        tip = (f"{item.path}\nLabelled {item.true_class}; the model says {item.suggestion} "
               f"({percent(item.confidence)} sure)")
        return f"{name}\n{text}", tip
    if item.suggestion is not None:
        others = ", ".join(f"{c} {percent(p)}" for c, p in item.top[1:3])
        tip = f"{item.path}\nThe model suggests {item.suggestion} ({percent(item.confidence)} sure)"
        if others:
            tip += f"; then {others}"
        return f"{name}\n{item.suggestion} {percent(item.confidence)}", tip
    return f"{name}\n…", f"{item.path}\nNo suggestion yet"


def _with_count(pm: QPixmap, count: int) -> QPixmap:
    """The thumbnail with a "×count" badge in its top right corner (a burst's photos)."""
    pm = QPixmap(pm)
    p = QPainter(pm)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    font = p.font()
    font.setBold(True)
    p.setFont(font)
    text = f"×{count}"
    side = pm.width() / pm.devicePixelRatio()
    box_w, box_h = p.fontMetrics().horizontalAdvance(text) + 10, p.fontMetrics().height() + 4
    box = QRectF(side - box_w - 3, 3, box_w, box_h)
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(QColor(0, 0, 0, 170))
    p.drawRoundedRect(box, 6, 6)
    p.setPen(QColor("white"))
    p.drawText(box, Qt.AlignmentFlag.AlignCenter, text)
    p.end()
    return pm


class PhotoGrid(QListWidget):
    """Photos (ReviewItem) in reading order; the caller decides what each caption says."""

    def __init__(self, parent=None, thumb_px: int = THUMB_PX,
                 caption: Callable[[ReviewItem], tuple[str, str]] = default_caption) -> None:
        super().__init__(parent)
        self._px = thumb_px
        self._caption = caption
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setMovement(QListView.Movement.Static)
        self.setWrapping(True)
        self.setUniformItemSizes(True)
        self.setWordWrap(True)
        self.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.setIconSize(QSize(thumb_px, thumb_px))
        line = self.fontMetrics().height()
        self.setGridSize(QSize(thumb_px + 44, thumb_px + 2 * line + 16))
        self.setSpacing(4)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setMinimumSize(thumb_px + 60, thumb_px + 40)
        self.setAccessibleName("Photos")
        self._items: dict[int, QListWidgetItem] = {}       # id(ReviewItem) -> list item
        self._taken_rows: dict[int, int] = {}              # id(ReviewItem) -> its row when taken out
        self._requested: set[int] = set()
        self.thumbnails_shown = 0
        self._placeholder = self._make_placeholder()
        self._broken = self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning)
        self._loader = ThumbnailLoader(self)
        self._loader.loaded.connect(self._on_loaded)
        self._loader.failed.connect(self._on_failed)
        self._pending = QTimer(self)
        self._pending.setSingleShot(True)
        self._pending.setInterval(0)
        self._pending.timeout.connect(self._request_visible)
        self.verticalScrollBar().valueChanged.connect(lambda _v: self._pending.start())

    # -- content ------------------------------------------------------------------------
    def set_items(self, items: list[ReviewItem]) -> None:
        self._loader.cancel()
        self.clear()
        self._items.clear()
        self._requested.clear()
        self._taken_rows.clear()
        for item in items:
            self._add(item, self.count())
        if self.count():
            self.setCurrentRow(0)
        self._pending.start()

    def items(self) -> list[ReviewItem]:
        return [self.item(r).data(_ROLE) for r in range(self.count())]

    def paths(self) -> list[str]:
        return [it.path for it in self.items()]

    def item_at(self, row: int) -> ReviewItem | None:
        w = self.item(row)
        return w.data(_ROLE) if w is not None else None

    def current(self) -> ReviewItem | None:
        w = self.currentItem()
        return w.data(_ROLE) if w is not None else None

    def selected(self) -> list[ReviewItem]:
        """The selected photos in grid order (the current one if none is selected)."""
        rows = sorted(self.row(w) for w in self.selectedItems())
        if not rows and self.currentItem() is not None:
            rows = [self.currentRow()]
        return [self.item_at(r) for r in rows]

    def row_of(self, item: ReviewItem) -> int:
        w = self._items.get(id(item))
        return self.row(w) if w is not None else -1

    def take(self, items: list[ReviewItem]) -> list[int]:
        """Remove photos; returns the row each had, which put_back remembers. The selection
        moves to the next photo."""
        rows = [self.row_of(it) for it in items]
        self._taken_rows.update((id(it), r) for it, r in zip(items, rows) if r >= 0)
        first = min([r for r in rows if r >= 0], default=-1)
        for r in sorted((r for r in rows if r >= 0), reverse=True):
            w = self.takeItem(r)
            if w is not None:
                self._items.pop(id(w.data(_ROLE)), None)
                self._requested.discard(id(w.data(_ROLE)))
        if first >= 0 and self.count():
            self.select_row(min(first, self.count() - 1))
        self._pending.start()
        return rows

    def taken_row(self, item: ReviewItem) -> int:
        """The row a photo had when it was last taken out (-1: never)."""
        return self._taken_rows.get(id(item), -1)

    def put_back(self, items: list[ReviewItem], select: bool = False) -> int:
        """Show photos taken out again, each at the row it had (one never taken: at the end);
        select: make the first of them current. Returns how many."""
        rows = sorted(((self.taken_row(it), i, it) for i, it in enumerate(items)),
                      key=lambda x: (x[0] < 0, x[0], x[1]))
        for row, _i, it in rows:
            self.insert(it, row if row >= 0 else self.count())
        if select and rows:
            self.select_row(self.row_of(rows[0][2]))
        return len(rows)

    def insert(self, item: ReviewItem, row: int) -> None:
        self._requested.discard(id(item))        # its file may have moved: show it afresh
        self._add(item, max(0, min(row, self.count())))
        self._pending.start()

    def refresh(self, item: ReviewItem | None = None) -> None:
        """Write the caption(s) again after an item's answer changed."""
        targets = [item] if item is not None else self.items()
        for it in targets:
            w = self._items.get(id(it))
            if w is not None:
                text, tip = self._caption(it)
                w.setText(text)
                w.setToolTip(tip)

    def reorder(self, items: list[ReviewItem]) -> None:
        """Show the same photos in a new order, keeping the current one current.

        Each photo keeps its list item, so a thumbnail already shown (or still on its way)
        stays with it; a photo new to the grid gets a placeholder and is requested.
        """
        current = self.current()
        selected = {id(it) for it in self.selected()}
        self.blockSignals(True)
        taken: dict[int, QListWidgetItem] = {}
        while self.count():
            w = self.takeItem(0)
            taken[id(w.data(_ROLE))] = w
        self._items.clear()
        for it in items:
            w = taken.pop(id(it), None)
            if w is None:
                self._requested.discard(id(it))
                self._add(it, self.count())
            else:
                self.addItem(w)
                self._items[id(it)] = w
        for key in taken:                 # photos left out of the new order
            self._requested.discard(key)
        self.blockSignals(False)
        if current is not None and id(current) in self._items:
            self.setCurrentItem(self._items[id(current)])
            for it in items:
                if id(it) in selected:
                    self._items[id(it)].setSelected(True)
        elif self.count():
            self.setCurrentRow(0)
        self._pending.start()

    def select_row(self, row: int) -> None:
        w = self.item(row)
        if w is None:
            return
        self.clearSelection()
        self.setCurrentItem(w)
        w.setSelected(True)
        self.scrollToItem(w)

    def shutdown(self, msecs: int = 5000) -> None:
        self._loader.shutdown(msecs)

    # -- thumbnails ---------------------------------------------------------------------
    def _add(self, item: ReviewItem, row: int) -> None:
        text, tip = self._caption(item)
        w = QListWidgetItem(self._placeholder, text)
        w.setToolTip(tip)
        w.setData(_ROLE, item)
        w.setTextAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
        self.insertItem(row, w)
        self._items[id(item)] = w

    def _make_placeholder(self) -> QIcon:
        dpr = self.devicePixelRatioF()
        side = round(self._px * dpr)
        pm = QPixmap(side, side)
        pm.fill(Qt.GlobalColor.transparent)
        p = QPainter(pm)
        colour = QColor(self.palette().color(QPalette.ColorRole.Mid))
        colour.setAlphaF(0.35)
        p.fillRect(pm.rect().adjusted(4, 4, -4, -4), colour)
        p.end()
        pm.setDevicePixelRatio(dpr)
        return QIcon(pm)

    def _request_visible(self) -> None:
        view = self.viewport().rect()
        px = round(self._px * self.devicePixelRatioF())
        seen_visible = False
        for r in range(self.count()):
            w = self.item(r)
            rect = self.visualItemRect(w)
            if rect.intersects(view):
                seen_visible = True
                item = w.data(_ROLE)
                if id(item) not in self._requested:
                    self._requested.add(id(item))
                    self._loader.request(id(item), item.path, px)
            elif seen_visible and rect.top() > view.bottom():
                break

    def _on_loaded(self, key, path: str, image) -> None:
        w = self._items.get(key)
        if w is None or w.data(_ROLE).path != path:
            return
        pm = pixmap_for(image, self.devicePixelRatioF())
        count = len(getattr(w.data(_ROLE), "frames", None) or ())
        w.setIcon(QIcon(_with_count(pm, count) if count > 1 else pm))      # a burst card: "×5" on it
        self.thumbnails_shown += 1

    def _on_failed(self, key, path: str, reason: str) -> None:
        w = self._items.get(key)
        if w is None or w.data(_ROLE).path != path:
            return
        w.setIcon(self._broken)
        w.setToolTip(f"{w.toolTip()}\nCannot show it: {reason}")

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._pending.start()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self._pending.start()

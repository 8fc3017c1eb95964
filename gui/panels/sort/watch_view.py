"""What a folder watch is doing: a headline, the photos per class so far, the latest photos.

Fed the events of core.photos.watch (show_event, on the GUI thread); the pictures of
the latest photos are decoded off the main thread (gui.widgets.thumbnails).
"""
from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QCheckBox, QLabel, QSplitter, QVBoxLayout, QWidget

from core.data.split import SPLITS
from core.photos.sorting import REVIEW, UNREADABLE
from core.photos.watch import PhotoNotSorted, PhotoSorted, PhotoWaiting, WatchNote, WatchStarted, WatchSummary
from core.wording import plural
from gui.widgets.class_counts_table import ClassCountsTable
from gui.widgets.photo_strip import PhotoStrip
from gui.widgets.thumbnails import ThumbnailLoader

ICON_PX = 48
LATEST = 40                  # photos kept in the strip (the newest)
FOLDER_NAMES = {REVIEW: "To review (unsure)", UNREADABLE: "Could not be read"}


class WatchSwitch(QCheckBox):
    """"Keep watching this folder": on asks start() (False: it could not start, the switch goes
    back off); off calls stop(). show_off() turns it off once a watch has ended."""

    def __init__(self, start: Callable[[], bool], stop: Callable[[], object],
                 parent: QWidget | None = None) -> None:
        super().__init__("Keep &watching this folder", parent)
        self.setToolTip("Sort the photos in the folder now, then each new one as it arrives, until this "
                        "is turned off (subfolders are not watched)")
        self._start, self._stop = start, stop
        self.toggled.connect(self._toggled)

    def show_off(self) -> None:
        self.blockSignals(True)
        self.setChecked(False)
        self.blockSignals(False)

    def _toggled(self, on: bool) -> None:
        if not on:
            self._stop()
        elif not self._start():
            self.show_off()


class WatchView(QWidget):
    """The live account of a watch: photos per class and the latest photos, newest first."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.headline = QLabel(self)
        bold = QFont(self.headline.font())
        bold.setBold(True)
        self.headline.setFont(bold)
        self.headline.setWordWrap(True)
        self.headline.setAccessibleName("Watching")
        self.note = QLabel(self)            # the latest photo left waiting or not sorted
        self.note.setWordWrap(True)
        self.note.setAccessibleName("Watch notes")
        # The dataset's counts table, with one column: photos sorted per folder.
        self.counts = ClassCountsTable(self)
        self.counts.setHorizontalHeaderLabels(["Folder", "Photos", "", ""])
        self.counts.setColumnHidden(2, True)
        self.counts.setToolTip("How many photos went into each folder since watching began")
        self.counts.setAccessibleName("Photos per folder")
        self.strip = PhotoStrip(ICON_PX, self)
        self.strip.setToolTip("The latest photos sorted, newest first")
        self.strip.setAccessibleName("Latest photos")
        self.icons = ThumbnailLoader(self, threads=1)
        self.icons.loaded.connect(lambda key, _path, image: self.strip.set_icon(key, image))
        self.icons.failed.connect(lambda key, _path, _why: self.strip.mark_unreadable(key))
        split = QSplitter(Qt.Orientation.Horizontal, self)
        split.addWidget(self.counts)
        split.addWidget(self.strip)
        split.setStretchFactor(1, 1)
        split.setChildrenCollapsible(False)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.headline)
        lay.addWidget(self.note)
        lay.addWidget(split, 1)
        self._tally: Counter = Counter()
        self._keys: list[int] = []
        self._n = 0
        self._move = False
        self._folder = self._dest = ""

    def begin(self, folder: str, dest: str, move: bool) -> None:
        self._folder, self._dest, self._move = folder, dest, move
        self._tally.clear()
        self._keys.clear()
        self.icons.cancel()
        self.strip.clear()
        self.counts.clear_counts()
        self.note.clear()
        self.headline.setText(f"Starting to watch {folder}…")

    def show_event(self, event) -> None:
        """One event of core.photos.watch; anything else is ignored."""
        if isinstance(event, WatchStarted):
            first = f" First the {plural(event.found, 'photo')} already there." if event.found else ""
            self.headline.setText(f"Watching {event.folder}: each photo that arrives is {self._verb()} into "
                                  f"{event.dest}.{first}")
            if event.note:
                self.note.setText(event.note)
        elif isinstance(event, PhotoSorted):
            self._sorted(event)
        elif isinstance(event, PhotoWaiting):
            self.note.setText(f"Waiting for {os.path.basename(event.path)}: {event.reason}. It stays in the "
                              "folder until it is complete.")
        elif isinstance(event, PhotoNotSorted):
            self.note.setText(f"{os.path.basename(event.path)} could not be {self._verb()}: {event.reason}. "
                              "It stays in the folder.")
        elif isinstance(event, WatchNote):
            self.note.setText(event.text)

    def end(self, summary: WatchSummary | None, why: str = "") -> str:
        """The watch has ended (summary None: it failed, why says how); returns the headline."""
        n = sum(self._tally.values()) if summary is None else len(summary.sorted)
        head = f"Stopped watching. {self._verb().capitalize()} {plural(n, 'photo')} into {self._dest}"
        head += (": " + self._parts() + "." if n else ".") + (f" {why}" if why else "")
        self.headline.setText(head)
        return head

    def counts_shown(self) -> dict[str, int]:
        """The table as {folder name: photos}."""
        return {name: n for name, n, _val, _test in self.counts.rows()}

    def shutdown(self, msecs: int = 5000) -> None:
        self.icons.shutdown(msecs)

    def _sorted(self, event: PhotoSorted) -> None:
        self._tally[event.category] += 1
        names = sorted(c for c in self._tally if c not in FOLDER_NAMES)
        names += [c for c in FOLDER_NAMES if c in self._tally]
        shown = [FOLDER_NAMES.get(c, c) for c in names]
        self.counts.show_counts(shown, {SPLITS[0]: {FOLDER_NAMES.get(c, c): self._tally[c] for c in names}})
        self._n += 1
        key = self._n
        sure = f"{event.probability:.0%}" if event.category != UNREADABLE else "unreadable"
        self.strip.add(key, f"{os.path.basename(event.src)}\n{FOLDER_NAMES.get(event.category, event.category)} "
                            f"({sure})", event.dst)
        self.strip.insertItem(0, self.strip.takeItem(self.strip.count() - 1))    # newest first
        self._keys.append(key)
        if len(self._keys) > LATEST:
            self.strip.remove(self._keys.pop(0))
        self.icons.request(key, event.dst, self.strip.icon_device_px())
        self.headline.setText(f"Watching {self._folder}: {plural(sum(self._tally.values()), 'photo')} "
                              f"{self._verb()} so far ({self._parts()}).")

    def _parts(self) -> str:
        return ", ".join(f"{n} {FOLDER_NAMES.get(c, c).lower() if c in FOLDER_NAMES else c}"
                         for c, n in sorted(self._tally.items(), key=lambda kv: (kv[0] in FOLDER_NAMES, kv[0])))

    def _verb(self) -> str:
        return "moved" if self._move else "copied"

"""Files dropped or pasted on the window: local paths only, sorted into what they can be.

Every drop target accepts drags and drops through accept_copy: as a copy, whatever the
source proposed, since a source told that its files were *moved* (Windows Explorer,
for one) deletes the originals.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from PySide6.QtCore import QMimeData, Qt
from PySide6.QtGui import QDropEvent

from core.data.imageio import is_image_name
from core.wording import of_total, plural

READABLE = "JPEG, PNG, GIF, BMP, TIFF or WebP"
SHOWN_PROBLEMS = 3


def accept_copy(event: QDropEvent) -> bool:
    """Accept a drag-enter, drag-move or drop event as a copy; refuse one that cannot be.

    (Qt's acceptProposedAction would take the source's proposal, which may be a move.)
    """
    if not event.possibleActions() & Qt.DropAction.CopyAction:
        event.ignore()          # the source allows only a move (or a link): never that
        return False
    event.setDropAction(Qt.DropAction.CopyAction)
    event.accept()
    return True


def local_paths(mime: QMimeData | None) -> tuple[list[str], int]:
    """Local file paths from dropped or pasted data, and how many URLs were not local."""
    paths, remote = [], 0
    if mime is None or not mime.hasUrls():
        return paths, remote
    for url in mime.urls():
        if url.isLocalFile() and url.toLocalFile():
            paths.append(url.toLocalFile())
        else:
            remote += 1
    return paths, remote


@dataclass(frozen=True)
class Dropped:
    """What dropped paths are to the window: dataset folders, model files, pictures."""
    folders: list[str]
    models: list[str]
    pictures: list[str]

    def __bool__(self) -> bool:
        return bool(self.folders or self.models or self.pictures)


def sort_dropped(paths: list[str]) -> Dropped:
    return Dropped(
        folders=[p for p in paths if os.path.isdir(p)],
        models=[p for p in paths if p.lower().endswith(".pt") and os.path.isfile(p)],
        pictures=[p for p in paths if os.path.isfile(p) and is_image_name(os.path.basename(p))])


def photos_among(paths: list[str], limit: int) -> tuple[list[str], list[str]]:
    """The photo files among dropped paths (the first `limit`), and what to tell about the rest."""
    problems: list[str] = []
    photos: list[str] = []
    for p in paths:
        name = os.path.basename(os.path.normpath(p)) or p
        if os.path.isdir(p):
            problems.append(f"“{name}” is a folder. Drop the photo files themselves "
                            "(open the folder, select the photos, then drag them here).")
        elif not os.path.exists(p):
            problems.append(f"“{name}” no longer exists.")
        elif not is_image_name(p):
            problems.append(f"“{name}” is not a photo Fledge can read; use {READABLE} files.")
        else:
            photos.append(p)
    shown = problems[:SHOWN_PROBLEMS]
    if len(problems) > SHOWN_PROBLEMS:
        more = len(problems) - SHOWN_PROBLEMS
        shown.append(f"…and {plural(more, 'more item')} that {'is' if more == 1 else 'are'} not "
                     f"{'a photo' if more == 1 else 'photos'}.")
    if len(photos) > limit:
        shown.append(f"Only the first {of_total(limit, len(photos), 'photo')} are shown here.")
        photos = photos[:limit]
    return photos, shown

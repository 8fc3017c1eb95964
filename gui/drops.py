"""Files dropped or pasted on the window: local paths only."""
from __future__ import annotations

from PySide6.QtCore import QMimeData


def local_paths(mime: QMimeData) -> tuple[list[str], int]:
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


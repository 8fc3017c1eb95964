"""Drag-and-drop as a test sends it: file URLs in a QMimeData, enter then drop."""
from __future__ import annotations

from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

COPY_OR_MOVE = Qt.DropAction.CopyAction | Qt.DropAction.MoveAction
_alive: list[QMimeData] = []       # the last drop's data: the returned event points into it


def file_mime(paths) -> QMimeData:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    return mime


def send_drop(widget, paths, *, move: bool = False) -> QDropEvent:
    """Drag `paths` onto the middle of `widget` and drop them; returns the drop event.

    move: the source offers copy or move and proposes a *move*, as Windows Explorer
    does within one drive (Shift held, to Qt).
    """
    mime = file_mime(paths)
    _alive[:] = [mime]
    x, y = widget.width() // 2, widget.height() // 2
    mods = Qt.KeyboardModifier.ShiftModifier if move else Qt.KeyboardModifier.NoModifier
    # Qt 6 takes an integer point for the enter event and a float one for the drop.
    enter = QDragEnterEvent(QPoint(x, y), COPY_OR_MOVE, mime, Qt.MouseButton.LeftButton, mods)
    assert enter.proposedAction() == (Qt.DropAction.MoveAction if move else Qt.DropAction.CopyAction)
    QApplication.sendEvent(widget, enter)
    assert enter.isAccepted()
    drop = QDropEvent(QPointF(x, y), COPY_OR_MOVE, mime, Qt.MouseButton.LeftButton, mods)
    QApplication.sendEvent(widget, drop)
    return drop

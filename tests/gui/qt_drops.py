"""Drag-and-drop as a test sends it: file URLs in a QMimeData, enter then drop."""
from __future__ import annotations

from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication


def file_mime(paths) -> QMimeData:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    return mime


def send_drop(widget, paths) -> QDropEvent:
    """Drag `paths` onto the middle of `widget` and drop them; returns the drop event."""
    mime = file_mime(paths)
    x, y = widget.width() // 2, widget.height() // 2
    # Qt 6 takes an integer point for the enter event and a float one for the drop.
    enter = QDragEnterEvent(QPoint(x, y), Qt.DropAction.CopyAction, mime,
                            Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, enter)
    assert enter.isAccepted()
    drop = QDropEvent(QPointF(x, y), Qt.DropAction.CopyAction, mime,
                      Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, drop)
    return drop

"""The keys of the Check labels queue: K keeps, M or Enter moves to the suggested class, 1–9 to
the numbered class, Backspace undoes (Ctrl+Z is the view's own shortcut); arrows stay the table's."""
from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt

KEYS_HELP = "K keeps the label, M or Enter moves the photo to the class it looks like, 1–9 to that class, " \
            "Ctrl+Z undoes"
_DIGITS = {getattr(Qt.Key, f"Key_{n}"): n for n in range(1, 10)}
_NOT_PLAIN = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier | Qt.KeyboardModifier.MetaModifier


class CheckKeys(QObject):
    """The queue's keys on the table (arrows stay the table's own)."""

    def __init__(self, view) -> None:
        super().__init__(view)
        self.view = view

    def eventFilter(self, obj, ev) -> bool:
        if ev.type() != QEvent.Type.KeyPress or ev.modifiers() & _NOT_PLAIN:
            return False
        key, v = ev.key(), self.view
        actions = {Qt.Key.Key_K: v.keep_current, Qt.Key.Key_M: v.move_current, Qt.Key.Key_Return: v.move_current,
                   Qt.Key.Key_Enter: v.move_current, Qt.Key.Key_Backspace: v.undo}
        if key in _DIGITS:
            v.move_to_number(_DIGITS[key])
        elif key in actions:
            actions[key]()
        else:
            return False
        return True

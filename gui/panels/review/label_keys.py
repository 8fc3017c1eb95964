"""The labelling keys of a photo grid: 1–9 give a class, Enter accepts, Backspace or Ctrl+Z undoes."""
from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QKeySequence

_DIGITS = {getattr(Qt.Key, f"Key_{n}"): n for n in range(1, 10)}
_NOT_PLAIN = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier | Qt.KeyboardModifier.MetaModifier


class LabelKeys(QObject):
    """An event filter turning key presses into labelling actions (arrows stay the view's own).

        grid.installEventFilter(LabelKeys(panel, number=panel.label_number,
                                          accept=panel.accept_current, undo=panel.undo))
    """

    def __init__(self, parent: QObject, *, number: Callable[[int], object], accept: Callable[[], object],
                 undo: Callable[[], object]) -> None:
        super().__init__(parent)
        self._number, self._accept, self._undo = number, accept, undo

    def eventFilter(self, obj, ev) -> bool:
        if ev.type() != QEvent.Type.KeyPress:
            return False
        key = ev.key()
        plain = not (ev.modifiers() & _NOT_PLAIN)
        if plain and key in _DIGITS:
            self._number(_DIGITS[key])
            return True
        if plain and key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self._accept()
            return True
        if (plain and key == Qt.Key.Key_Backspace) or ev.matches(QKeySequence.StandardKey.Undo):
            self._undo()
            return True
        return False

"""An inline, dismissable message: errors stay in the panel instead of a blocking dialog.

A hidden bar keeps its place (one line high) in the layout, so nothing under it moves when a
message appears or goes: a click aimed at a photo or a button never lands on its neighbour.
A bar that only ever answers the person's own choice at once (the model chosen does not fit)
may give its place up (keep_place=False): a panel need not hold several empty lines.
"""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QStyle, QToolButton, QWidget


class MessageBar(QFrame):
    """An inline, dismissable message: errors stay in the panel instead of a blocking dialog."""

    _ICONS = {
        "error": QStyle.StandardPixmap.SP_MessageBoxCritical,
        "warning": QStyle.StandardPixmap.SP_MessageBoxWarning,
        "info": QStyle.StandardPixmap.SP_MessageBoxInformation,
    }

    def __init__(self, parent: QWidget | None = None, keep_place: bool = True) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAutoFillBackground(True)
        self.setBackgroundRole(QPalette.ColorRole.AlternateBase)
        self._icon = QLabel(self)
        self._label = QLabel(self)
        self._label.setWordWrap(True)
        self._label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._label.setTextFormat(Qt.TextFormat.PlainText)
        close = QToolButton(self)
        close.setText("✕")
        close.setAutoRaise(True)
        close.setToolTip("Hide this message")
        close.setAccessibleName("Hide message")
        close.clicked.connect(self.clear)
        # Hidden or showing one line, the bar is as high: the icon and one line of text.
        size = self.style().pixelMetric(QStyle.PixelMetric.PM_SmallIconSize)
        self._icon.setFixedSize(size, size)
        self._label.setMinimumHeight(self._label.fontMetrics().lineSpacing())
        policy = self.sizePolicy()
        policy.setRetainSizeWhenHidden(keep_place)
        self.setSizePolicy(policy)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(8, 6, 4, 6)
        lay.addWidget(self._icon, 0, Qt.AlignmentFlag.AlignTop)
        lay.addWidget(self._label, 1)
        lay.addWidget(close, 0, Qt.AlignmentFlag.AlignTop)
        self.level = ""
        self.hide()

    def show_message(self, text: str, level: str = "error") -> None:
        size = self.style().pixelMetric(QStyle.PixelMetric.PM_SmallIconSize)
        icon = self.style().standardIcon(self._ICONS.get(level, self._ICONS["info"]))
        self._icon.setPixmap(icon.pixmap(size, size))
        self._label.setText(text)
        self.setAccessibleDescription(text)
        self.level = level
        self.show()

    def clear(self) -> None:
        self._label.clear()
        self.level = ""
        self.hide()

    def text(self) -> str:
        return self._label.text() if self.level else ""


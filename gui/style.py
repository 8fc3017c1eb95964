"""Look-and-feel helpers: the app icon and colours taken from the palette.

Nothing here hard-codes a light or dark colour: text colours come from palette
roles, and the few accent colours are picked for the current background.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QColor, QIcon, QPalette
from PySide6.QtWidgets import QLabel, QWidget

RESOURCES = Path(__file__).resolve().parent.parent / "resources"
ICON_PNG = RESOURCES / "icon.png"
ICON_SVG = RESOURCES / "icon.svg"


def app_icon() -> QIcon:
    """The application icon: the SVG (sharp at any scale) plus the PNG fallback."""
    icon = QIcon()
    if ICON_SVG.is_file():
        icon.addFile(str(ICON_SVG))
    if ICON_PNG.is_file():
        icon.addFile(str(ICON_PNG))
    return icon


def is_dark(palette: QPalette) -> bool:
    return palette.color(QPalette.ColorRole.Window).lightness() < 128


def error_colour(palette: QPalette) -> QColor:
    """A red that keeps its contrast on the current background."""
    return QColor(255, 120, 110) if is_dark(palette) else QColor(176, 32, 24)


def warning_colour(palette: QPalette) -> QColor:
    return QColor(255, 196, 90) if is_dark(palette) else QColor(150, 90, 0)


def success_colour(palette: QPalette) -> QColor:
    return QColor(120, 220, 130) if is_dark(palette) else QColor(20, 120, 40)


def set_text_colour(label: QLabel, colour: QColor) -> None:
    pal = label.palette()
    pal.setColor(QPalette.ColorRole.WindowText, colour)
    pal.setColor(QPalette.ColorRole.Text, colour)
    label.setPalette(pal)


def make_muted(label: QLabel) -> None:
    """Secondary text: the palette's placeholder colour, readable in both themes."""
    pal = label.palette()
    pal.setColor(QPalette.ColorRole.WindowText, pal.color(QPalette.ColorRole.PlaceholderText))
    label.setPalette(pal)


class ErrorLabel(QLabel):
    """A hidden-when-empty, word-wrapped message shown next to a field."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWordWrap(True)
        self.hide()

    def set_error(self, text: str | None) -> None:
        set_text_colour(self, error_colour(self.palette()))
        self.setText(text or "")
        self.setVisible(bool(text))

"""A message appearing or going moves nothing under it (a click lands where it was aimed)."""
from __future__ import annotations

from PySide6.QtWidgets import QPushButton, QVBoxLayout, QWidget

from gui.widgets.message_bar import MessageBar
from tests.gui.qt_show import shown


def test_nothing_moves_when_a_message_appears_or_goes(qtbot):
    page = QWidget()
    lay = QVBoxLayout(page)
    top = QPushButton("Open", page)
    bar = MessageBar(page)
    below = QPushButton("Label as robin", page)
    lay.addWidget(top)
    lay.addWidget(bar)
    lay.addWidget(below)
    lay.addStretch(1)
    shown(qtbot, page, 600, 300)
    where = below.geometry()
    bar.show_message("The model could not be loaded.", "warning")
    qtbot.waitUntil(bar.isVisible)
    page.layout().activate()
    assert below.geometry() == where
    assert bar.geometry().bottom() < below.geometry().top()      # the message is not under the button
    bar.clear()
    page.layout().activate()
    assert not bar.isVisible() and below.geometry() == where


def test_a_bar_that_gives_its_place_up_takes_none_while_hidden(qtbot):
    page = QWidget()
    lay = QVBoxLayout(page)
    bar = MessageBar(page, keep_place=False)
    below = QPushButton("Evaluate", page)
    lay.addWidget(bar)
    lay.addWidget(below)
    lay.addStretch(1)
    shown(qtbot, page, 600, 300)
    top = below.y()
    bar.show_message("These figures are for another model.", "info")
    page.layout().activate()
    assert below.y() > top

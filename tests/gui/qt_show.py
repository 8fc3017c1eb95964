"""Widgets shown as a user sees them (offscreen): added to qtbot, sized, shown, exposed."""
from __future__ import annotations


def shown(qtbot, widget, width: int = 900, height: int = 600):
    """widget, closed by qtbot at the end of the test, at width x height and painted once."""
    qtbot.addWidget(widget)
    widget.resize(width, height)
    widget.show()
    qtbot.waitExposed(widget)
    return widget

"""What the window asks of every tab: a line for the status bar, and a clean stop."""
from __future__ import annotations

from typing import Protocol, runtime_checkable

from PySide6.QtCore import SignalInstance


@runtime_checkable
class Panel(Protocol):
    """A tab of the main window (gui/panels/*).

    status_message(str) carries a line for the window's status bar; shutdown(msecs)
    stops the tab's background work and joins its threads (the window is closing).
    """

    status_message: SignalInstance

    def shutdown(self, msecs: int = -1) -> object: ...

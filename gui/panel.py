"""What the window asks of every tab (a line for the status bar, and a clean stop), and what it
hands the tabs that work with models and labels."""
from __future__ import annotations

from typing import Protocol, runtime_checkable

from PySide6.QtCore import QObject, SignalInstance

from core.photos.label_session import LabelSession
from gui.model_store import ModelStore
from gui.settings import Settings


@runtime_checkable
class Panel(Protocol):
    """A tab of the main window (gui/panels/*).

    status_message(str) carries a line for the window's status bar; shutdown(msecs)
    stops the tab's background work and joins its threads (the window is closing).
    """

    status_message: SignalInstance

    def shutdown(self, msecs: int = -1) -> object: ...


def window_parts(owner: QObject, models: ModelStore | None, settings: Settings | None,
                 session: LabelSession | None) -> tuple[ModelStore, Settings, LabelSession]:
    """The window's one model store, settings and undo queue for a tab; a tab made on its own
    (a test, a tool) gets its own of each."""
    return (models if models is not None else ModelStore(owner),
            settings if settings is not None else Settings(),
            session if session is not None else LabelSession())

"""Small pieces shared by the panels: background calls, an inline message bar, drops.

Long work (scanning a folder, importing torch and loading a model, decoding a photo)
runs on a private QThreadPool; results come back to the GUI thread as queued
signals, so widgets are only ever touched on the GUI thread.
"""
from __future__ import annotations

import itertools
from collections.abc import Callable

from PySide6.QtCore import QMimeData, QObject, QRunnable, Qt, QThreadPool, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QStyle, QToolButton, QWidget


class _CallSignals(QObject):
    done = Signal(int, object)      # token, result
    failed = Signal(int, object)    # token, exception


class _Call(QRunnable):
    def __init__(self, signals: _CallSignals, token: int, fn: Callable, args: tuple) -> None:
        super().__init__()
        self._signals = signals     # kept alive by this reference even if the runner is gone
        self._token = token
        self._fn = fn
        self._args = args

    def run(self) -> None:
        try:
            result = self._fn(*self._args)
        except Exception as exc:    # reported to the GUI thread, never lost
            self._signals.failed.emit(self._token, exc)
            return
        self._signals.done.emit(self._token, result)


class BackgroundRunner(QObject):
    """Run callables on a private thread pool; done/failed arrive on the GUI thread.

    submit() returns a token; callers keep the token of the request they still care
    about and ignore answers carrying older ones. With threads=1 calls run one after
    another in submission order (used for the model: load first, then predict).
    """

    done = Signal(int, object)
    failed = Signal(int, object)

    _tokens = itertools.count(1)

    def __init__(self, parent: QObject | None = None, threads: int = 1) -> None:
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(threads)
        self._signals = _CallSignals()
        self._signals.done.connect(self.done)
        self._signals.failed.connect(self.failed)

    def submit(self, fn: Callable, *args) -> int:
        token = next(self._tokens)
        self._pool.start(_Call(self._signals, token, fn, args))
        return token

    def clear(self) -> None:
        """Drop calls that have not started yet."""
        self._pool.clear()

    def wait(self, msecs: int = -1) -> bool:
        """Block until every started call has finished (used when closing)."""
        return self._pool.waitForDone(msecs)


class MessageBar(QFrame):
    """An inline, dismissable message: errors stay in the panel instead of a blocking dialog."""

    _ICONS = {
        "error": QStyle.StandardPixmap.SP_MessageBoxCritical,
        "warning": QStyle.StandardPixmap.SP_MessageBoxWarning,
        "info": QStyle.StandardPixmap.SP_MessageBoxInformation,
    }

    def __init__(self, parent: QWidget | None = None) -> None:
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


def local_paths(mime: QMimeData) -> tuple[list[str], int]:
    """Local file paths from dropped or pasted data, and how many URLs were not local."""
    paths, remote = [], 0
    if mime is None or not mime.hasUrls():
        return paths, remote
    for url in mime.urls():
        if url.isLocalFile() and url.toLocalFile():
            paths.append(url.toLocalFile())
        else:
            remote += 1
    return paths, remote


def plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n} {word if n == 1 else (many or word + 's')}"

"""`fledge` with no arguments: the desktop window.

Only light modules are imported before the window shows; PyTorch and the
training modules are loaded behind it (see MainWindow.load_engine).
"""
from __future__ import annotations

import os
import sys

ORGANIZATION = "Fledge"
APPLICATION = "Fledge"

def create_app(argv: list[str] | None = None):
    """The QApplication, set up once (names, icon, high-DPI policy)."""
    from PySide6.QtCore import QCoreApplication, Qt
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QApplication

    from gui.settings import use_folder_from_environment
    from gui.style import app_icon

    app = QApplication.instance()
    if app is None:
        # Fractional scale factors (125 %, 150 %) drawn as they are, not rounded.
        QGuiApplication.setHighDpiScaleFactorRoundingPolicy(
            Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
        app = QApplication(list(argv if argv is not None else sys.argv))
    QCoreApplication.setOrganizationName(ORGANIZATION)
    QCoreApplication.setApplicationName(APPLICATION)
    QGuiApplication.setApplicationDisplayName(APPLICATION)
    QGuiApplication.setDesktopFileName("fledge")
    use_folder_from_environment()      # $FLEDGE_SETTINGS_DIR: settings kept there, not the user's
    app.setWindowIcon(app_icon())
    return app


def main(paths: list[str] | None = None) -> int:
    """Open the window; `paths` (from `fledge PATH...`) are opened as if dropped on it:
    a folder as the dataset, a .pt file as the model, pictures for prediction."""
    app = create_app(sys.argv[:1])
    from PySide6.QtCore import QTimer

    from gui.main_window import MainWindow
    from gui.settings import Settings

    window = MainWindow(Settings())         # the one settings object, handed to every tab
    window.show()
    if paths:
        QTimer.singleShot(0, lambda: window.open_paths([str(p) for p in paths]))
    # Ctrl+C in the terminal closes the window the normal way (asking about a running
    # training); the idle timer lets Python see the signal while Qt's loop runs.
    import signal

    signal.signal(signal.SIGINT, lambda *_: QTimer.singleShot(0, window.close))
    wake = QTimer(window)
    wake.timeout.connect(lambda: None)
    wake.start(300)
    # Belt and braces: whatever ends the event loop, no job thread outlives it.
    app.aboutToQuit.connect(window.shutdown)
    if os.environ.get(QUIT_AFTER_START_ENV):
        _quit_once_started(app, window)
    return app.exec()


# Set by CI: open the window, wait until the training engine (torch) has loaded
# behind it, report, and quit -- the README's start command checked end to end.
QUIT_AFTER_START_ENV = "FLEDGE_QUIT_AFTER_START"


def _quit_once_started(app, window) -> None:
    import time

    t0 = time.perf_counter()

    def ready(_engine) -> None:
        print(f"Fledge started: window shown, engine loaded in {time.perf_counter() - t0:.1f} s.", flush=True)
        window.close()
        app.exit(0)

    def failed(message: str) -> None:
        print(f"Fledge could not load its engine: {message}", file=sys.stderr, flush=True)
        window.close()
        app.exit(1)

    window.engine_ready.connect(ready)
    window.engine_failed.connect(failed)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

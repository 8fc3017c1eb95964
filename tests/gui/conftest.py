"""Qt tests run without a display: the offscreen platform must be chosen before any QApplication.

Every test also gets throwaway settings and runs folders, and fails if it leaves
a job thread running.
"""
import os
import sys

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402


@pytest.fixture(autouse=True)
def isolated_fledge(tmp_path, monkeypatch):
    """Settings (an INI file) and runs go under tmp_path, never the user's own."""
    from PySide6.QtCore import QStandardPaths

    from gui.settings import SETTINGS_DIR_ENV, use_folder

    settings_dir = tmp_path / "settings"
    monkeypatch.setenv(SETTINGS_DIR_ENV, str(settings_dir))
    monkeypatch.setenv("FLEDGE_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "user-data"))     # photo hashes, feature caches
    use_folder(str(settings_dir))
    QStandardPaths.setTestModeEnabled(True)
    yield settings_dir


@pytest.fixture(autouse=True)
def one_torch_thread(monkeypatch):
    """One intra-op thread while GUI tests train: on a busy 2-core machine (other test
    processes running) OpenMP threads that spin waiting for each other make the tiny
    models here ten times slower. Covers torch imported before (set_num_threads) or
    during the test (the environment variable, read when torch loads)."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    torch = sys.modules.get("torch")
    before = torch.get_num_threads() if torch is not None else None
    if torch is not None:
        torch.set_num_threads(1)
    yield
    if before is not None:
        torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def no_dialogs(monkeypatch):
    """A modal dialog would hang an offscreen test: answer 'stop' and collect errors."""
    errors: list[tuple[str, str]] = []
    try:
        import gui.main_window as mw
    except ImportError:
        yield errors
        return
    monkeypatch.setattr(mw, "_ask_stop", lambda parent: True)
    monkeypatch.setattr(mw.MainWindow, "_error_dialog", lambda self, title, text: errors.append((title, text)))
    yield errors


@pytest.fixture(autouse=True)
def no_thread_left_running():
    """Fail a test that leaves one of gui.background's job threads running."""
    yield
    from gui.background import running_threads

    left = running_threads()
    if left:
        names = [t.objectName() for t in left]
        for t in left:              # join them so the next test starts clean
            t.wait(30000)
        pytest.fail(f"test left job threads running: {names}")


def make_two_class_folder(root, per_class: int = 12, size: int = 32, seed: int = 0):
    """root/<disc|bar>/*.png: bright discs vs. dark bars on noise -- easy to learn."""
    rng = np.random.default_rng(seed)
    for cls in ("disc", "bar"):
        (root / cls).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            noise = rng.integers(60, 140, (size, size, 3), dtype=np.uint8)
            im = Image.fromarray(noise)
            d = ImageDraw.Draw(im)
            c = size // 2 + int(rng.integers(-3, 4))
            r = size // 4
            if cls == "disc":
                d.ellipse([c - r, c - r, c + r, c + r], fill=(250, 240, 60))
            else:
                d.rectangle([c - r, 2, c - r // 2, size - 3], fill=(10, 20, 160))
            im.save(root / cls / f"{cls}_{i:02d}.png")
    return root


@pytest.fixture
def two_class_folder(tmp_path):
    return make_two_class_folder(tmp_path / "shapes")


def open_window(qtbot, *, engine: bool = True):
    """A shown MainWindow with throwaway settings; waits for PyTorch to load when asked."""
    from gui.main_window import MainWindow
    from gui.settings import Settings

    w = MainWindow(Settings(), load_engine_on_show=engine)
    qtbot.addWidget(w)
    w.show()
    if engine:
        qtbot.waitUntil(lambda: w.engine is not None or bool(w.engine_error), timeout=60000)
        assert not w.engine_error
    return w


@pytest.fixture
def make_window(qtbot):
    """open_window for this test: make_window(engine=True) -> MainWindow."""
    return lambda engine=True: open_window(qtbot, engine=engine)

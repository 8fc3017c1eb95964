"""core must stay usable without a display: no module of it may pull in Qt."""
import pkgutil
import subprocess
import sys

import core


def test_importing_every_core_module_leaves_qt_out():
    modules = sorted(m.name for m in pkgutil.iter_modules(core.__path__, "core."))
    assert "core.training" in modules and "core.cli" in modules
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'shiboken6', 'pyqtgraph', 'PyQt5', 'PyQt6'))\n"
        "print('QT:' + ','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "QT:\n" in out.stdout, out.stdout

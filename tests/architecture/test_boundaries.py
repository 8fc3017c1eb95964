"""The layout's rules, checked by import-linter (contracts in pyproject.toml) and at run time."""
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import core

ROOT = Path(__file__).resolve().parents[2]


def test_import_contracts_hold():
    # In a process of its own: import-linter configures logging, which would silence the loggers
    # (core.files.cache_faults) that later tests listen to.
    code = ("import sys; from importlinter.cli import lint_imports; "
            "sys.exit(lint_imports(config_filename='pyproject.toml'))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize("module, line", [
    ("wording.py", "import gui.style\n"),                       # core never imports the GUI
    ("files/fileio.py", "import core.training.runs\n"),         # no arrow runs up core's layers
    ("data/split.py", "import core.photos.sorting\n"),
])
def test_contracts_catch_an_arrow_that_breaks_them(tmp_path, module, line):
    """The contracts can fail: a copy of the tree with one wrong import is refused."""
    import shutil

    for name in ("core", "gui", "pyproject.toml"):
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, tmp_path / name)
    target = tmp_path / "core" / module
    target.write_text(target.read_text(encoding="utf-8") + line, encoding="utf-8")
    code = ("import sys; from importlinter.cli import lint_imports; "
            "sys.exit(lint_imports(config_filename='pyproject.toml'))")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode != 0
    assert "core." + module[:-3].replace("/", ".") in out.stdout


def test_importing_every_core_module_leaves_qt_out():
    modules = sorted(m.name for m in pkgutil.walk_packages(core.__path__, "core."))
    assert "core.training.trainer" in modules and "core.cli.main" in modules
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    if not name.endswith('__main__'): importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'shiboken6', 'pyqtgraph', 'PyQt5', 'PyQt6'))\n"
        "print('QT:' + ','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "QT:\n" in out.stdout, out.stdout

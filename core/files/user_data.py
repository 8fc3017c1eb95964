"""Where Fledge keeps its own files for this user: runs, sample data and caches."""
from __future__ import annotations

import os
import sys
from pathlib import Path


def user_data_dir() -> Path:
    """The per-user folder Fledge keeps its runs and sample data in."""
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
        return base / "Fledge"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "Fledge"
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "fledge"

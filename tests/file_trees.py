"""What a folder holds, by content: for tests that must prove no photo was lost."""
from __future__ import annotations

import hashlib
import os


def digest(path) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def tree(root) -> dict[str, str]:
    """relative path -> sha256 of every non-hidden file under root."""
    out = {}
    for d, dirs, files in os.walk(root):
        dirs[:] = [x for x in dirs if not x.startswith(".")]
        for f in files:
            if not f.startswith("."):
                p = os.path.join(d, f)
                out[os.path.relpath(p, root)] = digest(p)
    return out

"""The order a person gave a dataset's classes, kept with the dataset: key 1 is the first.

    remember_order(root, ["empty", "vole", "lemming"])    # as typed when the dataset was started
    ordered(root, ["lemming", "owl", "empty", "vole"])     # ['empty', 'vole', 'lemming', 'owl']

DATA/.fledge-classes.json holds {"version": 1, "order": [...]}. A class with no place in it (a
folder made by hand) comes after the others, alphabetically. The order is only a preference:
a damaged file reads as none, and one that cannot be written costs the order, not the class.
"""
from __future__ import annotations

import json
import os

from core.files.fileio import atomic_write_text

CLASS_ORDER_FILE = ".fledge-classes.json"


def _path(root: str) -> str:
    return os.path.join(root, CLASS_ORDER_FILE)


def read_order(root: str) -> list[str]:
    """The classes in the order the person gave them ([] when none was kept or it is unreadable)."""
    try:
        with open(_path(root), "rb") as f:
            data = json.loads(f.read(1 << 20))
    except (OSError, ValueError, RecursionError):
        return []
    order = data.get("order") if isinstance(data, dict) else None
    if not isinstance(order, list):
        return []
    return list(dict.fromkeys(c for c in order if isinstance(c, str)))


def ordered(root: str, names) -> list[str]:
    """names in the kept order, then those it does not know, alphabetically."""
    names = list(names)
    kept = [c for c in read_order(root) if c in names]
    rest = sorted((c for c in names if c not in kept), key=lambda c: (c.casefold(), c))
    return kept + rest


def remember_order(root: str, order) -> bool:
    """Keep this order (atomically); False when it could not be written (the order is then lost)."""
    try:
        atomic_write_text(_path(root), json.dumps({"version": 1, "order": list(dict.fromkeys(order))}))
    except OSError:
        return False
    return True


def renamed_in_order(root: str, names, old: str, new: str) -> bool:
    """Keep the order of names (the classes now), with new in old's place."""
    order = [new if c == old else c for c in ordered(root, [c for c in names if c != new] + [old])]
    return remember_order(root, order)

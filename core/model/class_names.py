"""What a model's class names must be. Each becomes a folder name when photos are sorted
(DEST/<class>/), so a name that is empty, '.' or '..', or holds a slash, would send photos into
DEST itself, its parent or a folder elsewhere; two classes with one name would share a folder.

Checked once, when a model comes in (a model file, an export folder), and by sorting before it
makes a folder; the wording is a clause each caller puts in its own sentence.
"""
from __future__ import annotations

import os

_SEPARATORS = tuple(sep for sep in ("/", "\\", "\0", os.sep, os.altsep) if sep)


def class_name_problem(name) -> str:
    """What makes name unusable as a class (and folder) name, in words; '' when it is fine."""
    if not isinstance(name, str) or not name:
        return "a class name is empty"
    if name in (".", ".."):
        return f"the class name '{name}' would be a folder name that means another folder"
    if any(sep in name for sep in _SEPARATORS):
        shown = name.replace("\0", "\\0")
        return f"the class name '{shown}' holds a slash or a character no folder name can have"
    return ""


def class_names_problem(classes) -> str:
    """What makes a model's list of class names unusable, in words; '' when it is fine."""
    if not (isinstance(classes, list) and len(classes) >= 2):
        return "its list of classes is missing or has fewer than two names"
    for name in classes:
        problem = class_name_problem(name)
        if problem:
            return problem
    if len(set(classes)) != len(classes):
        twice = next(c for c in classes if classes.count(c) > 1)
        return f"its list of classes names '{twice}' twice"
    return ""

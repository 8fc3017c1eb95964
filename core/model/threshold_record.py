"""The per-class review thresholds as a model file and an export.json hold them: what makes such
a record usable. (core.photos.thresholds chooses and applies them; this checks the plain record,
without torch, so that an export can be checked before anything heavy is loaded.)

    {"classes": {"vole": 0.91, "lemming": 1.0}, "review": {"lemming": "evidence"}, "default": 1.0, ...}
"""
from __future__ import annotations


def _is_share(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and 0.0 <= x <= 1.0


def thresholds_problem(record) -> str:
    """What is wrong with a per-class review thresholds record ('' when nothing)."""
    if not isinstance(record, dict) or not isinstance(record.get("classes"), dict):
        return "they are not a table of classes"
    if not all(isinstance(k, str) and _is_share(v) for k, v in record["classes"].items()):
        return "each must be a class name with a number from 0 to 1"
    if not _is_share(record.get("default", 0.0)):
        return "the threshold for other classes is not a number from 0 to 1"
    review = record.get("review", {})       # classes whose photos all go to review -> why
    if not isinstance(review, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in review.items()):
        return "the classes sent to review are not a table of class names"
    return ""

"""A label check (core.photos.check_labels) as a CSV file a spreadsheet opens.

One row per suggestion (kind "label": the photo, its split, the class it is filed under,
the class suggested and both probabilities), then one row per extra copy of a photo
(kind "duplicate": same_as names the copy that would be kept). Paths are escaped as in
core.photos.answers_csv, so every file name round-trips.
"""
from __future__ import annotations

import csv
import io
import os

from core.errors import FledgeError
from core.files.fileio import atomic_write_text
from core.photos.answers_csv import decode_path, encode_path
from core.files.file_transfer import describe_os_error

COLUMNS = ["rank", "kind", "path", "split", "given_class", "suggested_class", "suggested_probability",
           "given_probability", "same_as", "exact_copy"]


def _text(value) -> str:
    return "" if value is None else str(value).encode("utf-8", "backslashreplace").decode("utf-8")


def csv_text(check) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(COLUMNS)
    for n, s in enumerate(check.suggestions, start=1):
        w.writerow([n, "label", encode_path(os.path.abspath(s.path)), s.split, _text(s.given),
                    _text(s.suggested), f"{s.confidence:.6f}", f"{s.given_probability:.6f}", "", ""])
    groups = check.duplicates.groups if check.duplicates is not None else []
    for g in groups:
        kept = g.keep()
        for c in g.extras():
            w.writerow(["", "duplicate", encode_path(os.path.abspath(c.path)), c.split, _text(c.class_name),
                        "", "", "", encode_path(os.path.abspath(kept.path)), "yes" if g.exact else "no"])
    return buf.getvalue()


def write_check_csv(check, path) -> str:
    """Write the check as CSV (UTF-8 with BOM, so spreadsheets read names right), atomically."""
    path = os.path.abspath(os.path.expanduser(os.fspath(path)))
    parent = os.path.dirname(path)
    if not os.path.isdir(parent):
        raise FledgeError(f"The folder {parent} for the CSV file does not exist. Create it or choose another place.")
    try:
        atomic_write_text(path, csv_text(check), encoding="utf-8-sig")
    except OSError as exc:
        raise FledgeError(f"Could not write {path} ({describe_os_error(exc)}). "
                          "Choose another place for the CSV file.") from None
    return path


def read_check_csv(path) -> list[dict]:
    """The rows of a CSV written by write_check_csv, paths decoded."""
    with open(path, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        for key in ("path", "same_as"):
            row[key] = decode_path(row.get(key) or "")
    return rows

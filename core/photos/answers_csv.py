"""The model's answers for a folder of photos as a CSV file, and back.

    write_csv(classify_folder(predictor, "~/birdcam"), "~/birdcam.csv")
    results = read_csv("~/birdcam.csv")       # re-threshold a sort without the model

Columns: path, class, probability, class_2, probability_2, ..., captured, error.
One row per photo; "class"/"probability" are the top answer, so filtering the
probability column in a spreadsheet re-thresholds without running the model.
"""
from __future__ import annotations

import csv
import io
import os

from core.errors import FledgeError
from core.fileio import atomic_write_text
from core.photos.classify import ClassifiedImage
from core.photos.file_transfer import describe_os_error, unique_path


def csv_header(top_k: int) -> list[str]:
    cols = ["path", "class", "probability"]
    for i in range(2, top_k + 1):
        cols += [f"class_{i}", f"probability_{i}"]
    return cols + ["captured", "error"]


def write_csv(results: list[ClassifiedImage], path, replace: bool = True) -> str:
    """Write results as CSV (UTF-8 with BOM, so spreadsheets read names right), atomically.

    replace=False never replaces an existing file: a free name next to it is used. Returns
    the path written.
    """
    path = os.path.abspath(os.path.expanduser(os.fspath(path)))
    k = max([len(r.top) for r in results] + [1])
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(csv_header(k))
    for r in results:
        row = [r.path]
        for i in range(k):
            if i < len(r.top) and not r.error:
                row += [r.top[i][0], f"{r.top[i][1]:.6f}"]
            else:
                row += ["", ""]
        row += [r.captured or "", r.error or ""]
        w.writerow(row)
    folder = os.path.dirname(path)
    if not os.path.isdir(folder):
        raise FledgeError(f"The folder {folder} for the CSV file does not exist. Create it or choose another place.")
    if not replace:
        path = unique_path(path)
    try:
        atomic_write_text(path, buf.getvalue(), encoding="utf-8-sig")
    except OSError as exc:
        raise FledgeError(f"Could not write {path} ({describe_os_error(exc)}). "
                          "Choose another place for the CSV file.") from None
    return path


def read_csv(path) -> list[ClassifiedImage]:
    """Read a CSV written by write_csv (columns may have been reordered or dropped in a spreadsheet)."""
    path = os.path.abspath(os.path.expanduser(os.fspath(path)))
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            rows = list(csv.DictReader(f))
    except FileNotFoundError:
        raise FledgeError(f"The CSV file {path} does not exist. Give a file written by 'fledge classify --csv'.") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise FledgeError(f"Could not read the CSV file {path} ({exc}).") from None
    if rows and not {"path", "class", "probability"} <= set(rows[0]):
        raise FledgeError(f"{path} is not a Fledge classification CSV: it needs the columns path, class "
                          "and probability. Write one with 'fledge classify MODEL FOLDER --csv OUT.csv'.")
    out = []
    for n, row in enumerate(rows, start=2):
        src = (row.get("path") or "").strip()
        if not src:
            continue
        error = (row.get("error") or "").strip() or None
        top = _answers(row, n, path)
        if not top and not error:
            error = "no class in the CSV row"
        out.append(ClassifiedImage(src, tuple(top) if not error else (), error,
                                   (row.get("captured") or "").strip() or None))
    return out


def _answers(row: dict, line: int, path: str) -> list[tuple[str, float]]:
    """The (class, probability) pairs of one CSV row, best first."""
    top = []
    for i in range(1, 1000):
        c_key, p_key = ("class", "probability") if i == 1 else (f"class_{i}", f"probability_{i}")
        if c_key not in row:
            break
        c, p = (row.get(c_key) or "").strip(), (row.get(p_key) or "").strip()
        if not c or (i > 1 and not p):
            continue
        prob = _parse_probability(p)
        if prob is None:
            raise FledgeError(f"Line {line} of {path}: '{p}' is not a probability. "
                              "Probabilities must be numbers from 0 to 1.")
        top.append((c, prob))
    return top


def _parse_probability(text: str) -> float | None:
    """A probability as a spreadsheet may have rewritten it: 0.8, 0,8 or 80%."""
    t = text.strip().replace(" ", "")
    scale = 1.0
    if t.endswith("%"):
        t, scale = t[:-1], 0.01
    if "," in t and "." not in t:
        t = t.replace(",", ".")
    try:
        v = float(t) * scale
    except ValueError:
        return None
    return v if 0.0 <= v <= 1.0 else None


def common_folder(results: list[ClassifiedImage]) -> str:
    """The folder that holds every photo in results (where a sort keeps their subfolders from)."""
    dirs = [os.path.dirname(os.path.abspath(r.path)) for r in results]
    try:
        return os.path.commonpath(dirs)
    except ValueError:          # different drives (Windows)
        return dirs[0]

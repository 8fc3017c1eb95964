"""The model's answers for a folder of photos as a CSV file, and back.

    write_csv(classify_folder(predictor, "~/birdcam"), "~/birdcam.csv", folder="~/birdcam")
    answers = read_answers("~/birdcam.csv")   # re-threshold a sort without the model
    answers.results, answers.folder

Columns: path, class, probability, class_2, probability_2, ..., captured, error, folder,
burst (the burst the photo belongs to, core.photos.bursts; empty when not known).
One row per photo; "class"/"probability" are the top answer, so filtering the
probability column in a spreadsheet re-thresholds without running the model.
"folder" is the folder that was classified: only paths inside it are read back (never
the folder itself, nothing outside it), so an edited or damaged CSV cannot make a sort
touch other files.

Paths are written so that every name a file system allows round-trips: "%", control
characters (CR, LF, tab...) and bytes that are not UTF-8 are written as %XX (the byte in
hex), like a web address; every other character is written as itself. A CSV without the
folder column (an older Fledge) is read as it is, absolute paths only.
"""
from __future__ import annotations

import csv
import io
import os
import re
from dataclasses import dataclass, field

from core.errors import FledgeError
from core.files.fileio import atomic_write_text
from core.photos.classify import ClassifiedImage
from core.files.file_transfer import describe_os_error, path_key, unique_path

FOLDER_COLUMN = "folder"
BURST_COLUMN = "burst"             # added last, so older readers of the columns before it still work
_ESCAPE = re.compile(r"[%\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_ESCAPED = re.compile(r"(?:%[0-9A-Fa-f]{2})+")


def encode_path(path: str) -> str:
    """path as text that any CSV reader or spreadsheet keeps intact (see the module docstring)."""
    def escape(m: re.Match) -> str:
        return "".join(f"%{b:02X}" for b in os.fsencode(m.group(0)))
    text = _ESCAPE.sub(escape, path)
    if text.endswith(" "):                 # spreadsheets and readers may strip a trailing space
        text = text[:-1] + "%20"
    return text


def decode_path(text: str) -> str:
    """The path encode_path wrote."""
    def unescape(m: re.Match) -> str:
        return os.fsdecode(bytes.fromhex(m.group(0).replace("%", "")))
    return _ESCAPED.sub(unescape, text)


def _text(value) -> str:
    """A field that any encoder can write (a message quoting a name that is not UTF-8)."""
    return "" if value is None else str(value).encode("utf-8", "backslashreplace").decode("utf-8")


def csv_header(top_k: int) -> list[str]:
    cols = ["path", "class", "probability"]
    for i in range(2, top_k + 1):
        cols += [f"class_{i}", f"probability_{i}"]
    return cols + ["captured", "error", FOLDER_COLUMN, BURST_COLUMN]


def write_csv(results: list[ClassifiedImage], path, replace: bool = True, folder=None) -> str:
    """Write results as CSV (UTF-8 with BOM, so spreadsheets read names right), atomically.

    folder: the folder that was classified (default: the one that holds every photo).
    replace=False never replaces an existing file: a free name next to it is used. Returns
    the path written.
    """
    path = os.path.abspath(os.path.expanduser(os.fspath(path)))
    folder = common_folder(results) if folder is None else os.path.abspath(os.path.expanduser(os.fspath(folder)))
    k = max([len(r.top) for r in results] + [1])
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(csv_header(k))
    for r in results:
        row = [encode_path(os.path.abspath(r.path))]
        for i in range(k):
            if i < len(r.top) and not r.error:
                row += [_text(r.top[i][0]), f"{r.top[i][1]:.6f}"]
            else:
                row += ["", ""]
        row += [_text(r.captured), _text(r.error), encode_path(folder), _text(getattr(r, "burst", None))]
        w.writerow(row)
    parent = os.path.dirname(path)
    if not os.path.isdir(parent):
        raise FledgeError(f"The folder {parent} for the CSV file does not exist. Create it or choose another place.")
    if not replace:
        path = unique_path(path)
    try:
        atomic_write_text(path, buf.getvalue(), encoding="utf-8-sig")
    except OSError as exc:
        raise FledgeError(f"Could not write {path} ({describe_os_error(exc)}). "
                          "Choose another place for the CSV file.") from None
    return path


@dataclass
class Answers:
    """What read_answers found in a CSV file."""
    results: list[ClassifiedImage]
    folder: str                                   # the folder that was classified
    refused: list[tuple[str, str]] = field(default_factory=list)   # (path, why) rows left out


def read_csv(path) -> list[ClassifiedImage]:
    """The photos of a CSV written by write_csv (see read_answers)."""
    return read_answers(path).results


def read_answers(path) -> Answers:
    """Read a CSV written by write_csv (columns may have been reordered or dropped in a spreadsheet).

    Rows whose path is not inside the classified folder (or is that folder) are left out
    and listed in .refused.
    """
    path = os.path.abspath(os.path.expanduser(os.fspath(path)))
    rows = _rows(path)
    if rows and not {"path", "class", "probability"} <= set(rows[0]):
        raise FledgeError(f"{path} is not a Fledge classification CSV: it needs the columns path, class "
                          "and probability. Write one with 'fledge classify MODEL FOLDER --csv OUT.csv'.")
    escaped = bool(rows) and FOLDER_COLUMN in rows[0]
    found, refused = [], []
    for n, row in enumerate(rows, start=2):
        raw = row.get("path") or ""
        if not raw.strip():
            continue
        src = decode_path(raw) if escaped else raw.strip()
        if not os.path.isabs(src):
            refused.append((src, "not a full path"))
            continue
        error = (row.get("error") or "").strip() or None
        top = _answers(row, n, path)
        if not top and not error:
            error = "no class in the CSV row"
        folder = decode_path(row.get(FOLDER_COLUMN) or "") if escaped else ""
        found.append((ClassifiedImage(os.path.normpath(src), tuple(top) if not error else (), error,
                                      (row.get("captured") or "").strip() or None,
                                      (row.get(BURST_COLUMN) or "").strip() or None), folder))
    return _inside_folder(found, refused, path)


def _rows(path: str) -> list[dict]:
    from core.files.fileio import open_regular

    try:
        with open_regular(path, "CSV file") as raw, io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as f:
            return list(csv.DictReader(f))
    except FileNotFoundError:
        raise FledgeError(f"The CSV file {path} does not exist. Give a file written by 'fledge classify --csv'.") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise FledgeError(f"Could not read the CSV file {path} ({exc}).") from None


def _inside_folder(found: list, refused: list, path: str) -> Answers:
    """Keep the rows strictly inside the folder the CSV names (or, for an older CSV, the folder
    that holds them all)."""
    folders = {path_key(f) for _, f in found if f}
    if len(folders) > 1:
        raise FledgeError(f"{path} names more than one classified folder in its '{FOLDER_COLUMN}' column. "
                          "Give a CSV written by one 'fledge classify' run.")
    named = next((f for _, f in found if f), "")
    folder = os.path.normpath(named) if named else common_folder([r for r, _ in found]) if found else ""
    results = []
    for r, _ in found:
        if path_key(r.path) == path_key(folder) or not path_key(r.path).startswith(
                path_key(folder).rstrip(os.sep) + os.sep):
            refused.append((r.path, f"not inside {folder}, the folder that was classified"))
        else:
            results.append(r)
    return Answers(results, folder, refused)


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
    if not dirs:
        return ""
    try:
        return os.path.commonpath(dirs)
    except ValueError:          # different drives (Windows)
        return dirs[0]

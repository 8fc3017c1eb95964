"""Classifying a folder of photos and sorting them into class folders, undoably.

    results = classify_folder(predictor, "~/birdcam", recursive=True)
    write_csv(results, "~/birdcam.csv")                  # re-threshold later: read_csv
    ops = plan_sort(results, "~/birdcam", "~/sorted", threshold=0.8)
    report = apply_sort(ops, "~/sorted", move=False)     # resumable after a crash
    undo("~/sorted")                                     # everything back where it was

Where files go: DEST/<class>/ when the model's top probability reaches the
threshold, DEST/_review/ when it does not, and DEST/_unreadable/ for files that
could not be read as pictures (so a --move run leaves nothing half-handled in the
source folder, and undo brings them back like every other file). Every copy or
move is journalled in DEST/.fledge-journal.jsonl first (see core.photos.journal).

Nothing here imports torch: the predictor is any object with `classes` and
predict_many(paths, batch_size=, top_k=, progress=, should_stop=).
"""
from __future__ import annotations

import csv
import errno
import io
import math
import os
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from core.errors import FledgeError
from core.fileio import atomic_write_text
from core.data.imageio import exif_datetime, iter_image_files
from core.photos.journal import (KEPT, MISSING, FileJournal, Op, UndoOutcome, _describe, is_inside,
                      path_key)

JOURNAL_NAME = ".fledge-journal.jsonl"
REVIEW = "_review"
UNREADABLE = "_unreadable"
RESERVED = (REVIEW, UNREADABLE)

Progress = Callable[[int, int], None] | None
ShouldStop = Callable[[], bool] | None


@dataclass(frozen=True)
class ClassifiedImage:
    """One photo's result: its top classes with probabilities, or why it could not be read."""
    path: str
    top: tuple[tuple[str, float], ...] = ()
    error: str | None = None
    captured: str | None = None      # EXIF capture time, ISO "YYYY-MM-DDTHH:MM:SS"

    @property
    def label(self) -> str | None:
        return self.top[0][0] if self.top and not self.error else None

    @property
    def probability(self) -> float:
        return float(self.top[0][1]) if self.top and not self.error else 0.0

    @property
    def margin(self) -> float:
        """Top-1 minus top-2 probability (how clearly the model chose)."""
        if not self.top or self.error:
            return 0.0
        second = float(self.top[1][1]) if len(self.top) > 1 else 0.0
        return float(self.top[0][1]) - second


def _check_folder(folder, what: str = "folder") -> str:
    if folder is None or os.fspath(folder) == "":
        raise FledgeError(f"No {what} was given. Choose the folder of photos to classify.")
    folder = os.path.abspath(os.path.expanduser(os.fspath(folder)))
    if not os.path.exists(folder):
        raise FledgeError(f"The {what} {folder} does not exist. Check the path and try again.")
    if not os.path.isdir(folder):
        raise FledgeError(f"{folder} is a file, not a folder. Give the folder that holds the photos.")
    return folder


def classify_folder(predictor, folder, recursive: bool = False, batch_size: int = 64, top_k: int = 3,
                    progress: Progress = None, should_stop: ShouldStop = None,
                    exclude: Iterable[str] = ()) -> list[ClassifiedImage]:
    """Run the model on every picture in folder (sorted by path).

    exclude: folders whose pictures are left out (e.g. the class folders of a sort
    destination inside folder). When should_stop() turns true, the pictures done so far
    are returned.
    """
    folder = _check_folder(folder)
    excluded = [os.path.abspath(e) for e in exclude]
    paths = [p for p in iter_image_files(folder, recursive=recursive)
             if not any(is_inside(p, e) for e in excluded)]
    if not paths:
        return []
    k = max(1, min(int(top_k), len(getattr(predictor, "classes", ())) or int(top_k)))
    preds = predictor.predict_many(paths, batch_size=batch_size, top_k=k,
                                   progress=progress, should_stop=should_stop)
    done = list(zip(paths, preds))
    readable = [path for path, pred in done if not pred.error and pred.top]
    # Capture times need one more header read per photo: overlap them on a few threads.
    with ThreadPoolExecutor(max_workers=4, thread_name_prefix="fledge-exif") as pool:
        captured = dict(zip(readable, pool.map(exif_datetime, readable)))
    out = []
    for path, pred in done:
        if pred.error or not pred.top:
            out.append(ClassifiedImage(path, (), pred.error or "the model gave no answer"))
            continue
        top = tuple((str(c), float(p)) for c, p in pred.top)
        out.append(ClassifiedImage(path, top, None, captured.get(path)))
    return out


# -- CSV ---------------------------------------------------------------------------------
# Columns: path, class, probability, class_2, probability_2, ..., captured, error.
# One row per photo; "class"/"probability" are the top answer, so filtering the
# probability column in a spreadsheet re-thresholds without running the model.

def csv_header(top_k: int) -> list[str]:
    cols = ["path", "class", "probability"]
    for i in range(2, top_k + 1):
        cols += [f"class_{i}", f"probability_{i}"]
    return cols + ["captured", "error"]


def write_csv(results: list[ClassifiedImage], path) -> str:
    """Write results as CSV (UTF-8 with BOM, so spreadsheets read names right), atomically."""
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
    try:
        atomic_write_text(path, buf.getvalue(), encoding="utf-8-sig")
    except OSError as exc:
        raise FledgeError(f"Could not write {path} ({_describe(exc)}). Choose another place for the CSV file.") from None
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
                raise FledgeError(f"Line {n} of {path}: '{p}' is not a probability. "
                                  "Probabilities must be numbers from 0 to 1.")
            top.append((c, prob))
        if not top and not error:
            error = "no class in the CSV row"
        out.append(ClassifiedImage(src, tuple(top) if not error else (), error,
                                   (row.get("captured") or "").strip() or None))
    return out


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


# -- planning ----------------------------------------------------------------------------

@dataclass(frozen=True)
class SortOp:
    """Where one photo should go. The final name may get ' (2)' if dst is taken."""
    src: str
    dst: str
    category: str          # a class name, "_review" or "_unreadable"
    probability: float
    label: str | None      # the model's top class (also for _review)


def _check_class_name(name: str) -> None:
    if name in RESERVED:
        raise FledgeError(f"The model has a class called '{name}', a folder name Fledge keeps for "
                          "photos it is unsure about or cannot read. Rename that class folder and retrain.")
    bad = (not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name
           or (os.altsep and os.altsep in name))
    if bad:
        raise FledgeError(f"The class name '{name}' cannot be used as a folder name.")


def plan_sort(results: Iterable, folder, dest, threshold: float = 0.0,
              keep_structure: bool = False) -> list[SortOp]:
    """Decide a destination for every result; photos already inside DEST's class folders
    (from an earlier sort into a folder inside the source) are left out."""
    if not isinstance(threshold, (int, float)) or math.isnan(threshold) or not (0.0 <= threshold <= 1.0):
        raise FledgeError(f"The threshold must be a number from 0 to 1 (for example 0.8), not {threshold}.")
    folder = os.path.abspath(os.path.expanduser(os.fspath(folder)))
    dest = os.path.abspath(os.path.expanduser(os.fspath(dest)))
    results = list(results)
    labels = {c for r in results for c, _ in r.top}
    for c in labels:
        _check_class_name(c)
    inside = [os.path.join(dest, c) for c in sorted(labels | set(RESERVED))]
    ops = []
    for r in results:
        # ClassifiedImage, or a core.model.predictor.Prediction (which names its file .source)
        src = os.path.abspath(getattr(r, "path", None) or r.source)
        if any(is_inside(src, d) for d in inside):
            continue
        label = r.top[0][0] if r.top and not r.error else None
        probability = float(r.top[0][1]) if label is not None else 0.0
        if label is None:
            category = UNREADABLE
        elif probability < threshold:
            category = REVIEW
        else:
            category = label
        if keep_structure and is_inside(src, folder):
            rel = os.path.relpath(src, folder)
        else:
            rel = os.path.basename(src)
        ops.append(SortOp(src, os.path.join(dest, category, rel), category, probability, label))
    return ops


# -- applying ----------------------------------------------------------------------------

@dataclass(frozen=True)
class SortedFile:
    src: str
    dst: str
    category: str
    renamed: bool          # the planned name was taken, so a " (n)" name was used


@dataclass
class SortReport:
    dest: str
    move: bool
    done: list[SortedFile] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)     # (src, reason)
    failed: list[tuple[str, str]] = field(default_factory=list)      # (src, reason)
    recovered: list[str] = field(default_factory=list)
    stopped: bool = False
    aborted: str | None = None       # why the run ended early (e.g. disk full)

    def counts(self) -> dict[str, int]:
        return dict(Counter(f.category for f in self.done))

    def to_dict(self) -> dict:
        return {"dest": self.dest, "move": self.move, "counts": self.counts(),
                "done": [f.__dict__ for f in self.done],
                "skipped": [{"path": p, "reason": r} for p, r in self.skipped],
                "failed": [{"path": p, "reason": r} for p, r in self.failed],
                "recovered": list(self.recovered), "stopped": self.stopped, "aborted": self.aborted}

    def format_text(self) -> str:
        verb = "Moved" if self.move else "Copied"
        lines = list(self.recovered)
        counts = self.counts()
        if counts:
            parts = ", ".join(f"{n} to {c}" for c, n in sorted(counts.items()))
            lines.append(f"{verb} {len(self.done)} photo{'s' if len(self.done) != 1 else ''} into {self.dest}: {parts}.")
        else:
            lines.append(f"No photos were {verb.lower()} into {self.dest}.")
        renamed = [f for f in self.done if f.renamed]
        if renamed:
            lines.append(f"{len(renamed)} got a new name because the name was taken, e.g. "
                         f"{renamed[0].dst}.")
        already = [s for s in self.skipped if s[1] == ALREADY]
        if already:
            lines.append(f"{len(already)} were already sorted by an earlier run and were skipped. "
                         f"To sort them again with new settings, run 'fledge undo {self.dest}' first.")
        for src, reason in self.skipped:
            if reason != ALREADY:
                lines.append(f"Skipped {src}: {reason}")
        for src, reason in self.failed:
            lines.append(f"Failed {src}: {reason} (left where it was)")
        if self.aborted:
            lines.append(self.aborted)
        elif self.stopped:
            lines.append("Stopped before the end; run the same command again to continue.")
        if self.done:
            lines.append(f"To put everything back: fledge undo {self.dest}")
        return "\n".join(lines)


ALREADY = "already sorted by an earlier run"


def journal_path(dest) -> str:
    return os.path.join(os.path.abspath(os.path.expanduser(os.fspath(dest))), JOURNAL_NAME)


def open_journal(dest) -> FileJournal:
    dest = os.path.abspath(os.path.expanduser(os.fspath(dest)))
    return FileJournal(os.path.join(dest, JOURNAL_NAME), prune_root=dest)


def recover(dest) -> list[str]:
    """Finish or roll back what an interrupted run left half-done in dest."""
    j = open_journal(dest)
    with j.locked():
        return j.recover()


def apply_sort(ops: Iterable[SortOp], dest, move: bool = False, progress: Progress = None,
               should_stop: ShouldStop = None) -> SortReport:
    """Copy (or move) each op's file, journalled in dest; resumes an interrupted earlier run.

    Photos an earlier run already sorted into dest (same path, size and time) are skipped,
    so running the same sort again continues where it stopped. Never overwrites a file.
    """
    dest = os.path.abspath(os.path.expanduser(os.fspath(dest)))
    ops = list(ops)
    if os.path.exists(dest) and not os.path.isdir(dest):
        raise FledgeError(f"{dest} is a file. Choose a folder to sort the photos into.")
    for op in ops:
        if not is_inside(op.dst, dest) or path_key(op.dst) == path_key(dest):
            raise FledgeError(f"Internal plan error: {op.dst} is not inside {dest}.")
    try:
        os.makedirs(dest, exist_ok=True)
    except OSError as exc:
        raise FledgeError(f"Could not create the folder {dest} ({_describe(exc)}). Choose another destination.") from None
    report = SortReport(dest, move)
    journal = open_journal(dest)
    total = len(ops)
    with journal.locked():
        journal.reload()
        report.recovered = journal.recover()
        live = journal.live_sources()
        run = None
        for i, op in enumerate(ops):
            if should_stop is not None and should_stop():
                report.stopped = True
                break
            previous = live.get(path_key(op.src))
            exists = os.path.exists(op.src)
            if previous is not None and (not exists or _unchanged(op.src, previous)):
                report.skipped.append((op.src, ALREADY))
            elif not exists:
                report.skipped.append((op.src, "not found (moved or deleted since it was classified)"))
            else:
                if run is None:
                    run = journal.new_run(tool="sort", mode="move" if move else "copy", total=total)
                try:
                    done = journal.do(op.src, op.dst, move, run,
                                      meta={"category": op.category, "probability": op.probability})
                    report.done.append(SortedFile(op.src, done.dst, op.category,
                                                  path_key(done.dst) != path_key(op.dst)))
                except OSError as exc:
                    report.failed.append((op.src, _describe(exc)))
                    if exc.errno == errno.ENOSPC:
                        report.aborted = (f"The disk holding {dest} is full; stopped. Free some space "
                                          "and run the same command again to continue.")
                        break
            if progress is not None:
                progress(i + 1, total)
        if run is not None:
            journal.append({"t": "end", "run": run, "stopped": report.stopped or bool(report.aborted)})
    return report


def _unchanged(path: str, op: Op) -> bool:
    """Whether the file at path is the one op already took (same size and modification time)."""
    try:
        st = os.stat(path)
    except OSError:
        return False
    return st.st_size == op.src_size and st.st_mtime_ns == op.src_mtime_ns


# -- undo --------------------------------------------------------------------------------

@dataclass
class UndoReport:
    dest: str
    restored: list[tuple[str, str]] = field(default_factory=list)   # (from, to) moved back
    removed: list[str] = field(default_factory=list)                # copies removed
    renamed: list[tuple[str, str]] = field(default_factory=list)    # (original path, name used instead)
    kept: list[tuple[str, str]] = field(default_factory=list)       # (path, reason)
    missing: list[tuple[str, str]] = field(default_factory=list)    # (path, reason)
    failed: list[tuple[str, str]] = field(default_factory=list)     # (path, reason)
    recovered: list[str] = field(default_factory=list)
    stopped: bool = False

    @property
    def nothing_to_do(self) -> bool:
        return not (self.restored or self.removed or self.kept or self.missing or self.failed
                    or self.recovered)

    def to_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items()}

    def format_text(self) -> str:
        if self.nothing_to_do:
            return f"Nothing to undo in {self.dest}."
        lines = list(self.recovered)
        if self.removed:
            lines.append(f"Removed {len(self.removed)} cop{'ies' if len(self.removed) != 1 else 'y'} "
                         "(the originals are where they were).")
        if self.restored:
            lines.append(f"Moved {len(self.restored)} photo{'s' if len(self.restored) != 1 else ''} back to where they were.")
        for original, used in self.renamed:
            lines.append(f"{original} was taken by another file, so the photo was restored as {used}.")
        for path, reason in self.kept:
            lines.append(f"Kept {path}: {reason}.")
        for path, reason in self.missing:
            lines.append(f"Could not restore a photo: {reason}.")
        for path, reason in self.failed:
            lines.append(f"Failed to restore {path}: {reason}. Run undo again to retry.")
        if self.stopped:
            lines.append("Stopped before the end; run undo again to continue.")
        return "\n".join(lines)


def undo(dest, progress: Progress = None, should_stop: ShouldStop = None) -> UndoReport:
    """Put every photo that sorting copied or moved into dest back where it was, newest first."""
    dest = os.path.abspath(os.path.expanduser(os.fspath(dest)))
    if not os.path.isdir(dest):
        raise FledgeError(f"The folder {dest} does not exist, so there is nothing to undo there.")
    if not os.path.exists(journal_path(dest)):
        raise FledgeError(f"{dest} has no Fledge journal, so Fledge did not sort photos into it "
                          "(or the journal was deleted). Nothing was changed.")
    report = UndoReport(dest)
    journal = open_journal(dest)
    with journal.locked():
        journal.reload()
        report.recovered = journal.recover()
        todo = list(reversed(journal.live_ops()))
        for i, op in enumerate(todo):
            if should_stop is not None and should_stop():
                report.stopped = True
                break
            try:
                outcome = journal.undo_op(op)
            except OSError as exc:
                report.failed.append((op.dst, _describe(exc)))
            else:
                _record_outcome(report, outcome)
            if progress is not None:
                progress(i + 1, len(todo))
    return report


def _record_outcome(report: UndoReport, o: UndoOutcome) -> None:
    if o.result == "removed":
        report.removed.append(o.path)
    elif o.result == "restored":
        report.restored.append((o.op.dst, o.path))
        if path_key(o.path) != path_key(o.op.src):
            report.renamed.append((o.op.src, o.path))
    elif o.result == KEPT:
        report.kept.append((o.path, o.note))
    elif o.result == MISSING:
        report.missing.append((o.path, o.note))


__all__ = [
    "ClassifiedImage", "SortOp", "SortedFile", "SortReport", "UndoReport", "JOURNAL_NAME", "REVIEW",
    "UNREADABLE", "classify_folder", "write_csv", "read_csv", "plan_sort", "apply_sort", "undo",
    "recover", "csv_header", "journal_path",
]

"""Sorting a folder of photos into class folders with a model, undoably.

    out = sort_folder(predictor, "~/birdcam", "~/sorted", threshold=0.8, recursive=True)
    out.report.counts()                   # {"robin": 12, "wren": 9, "_review": 3}
    undo("~/sorted")                      # everything back (core.photos.sort_undo)

Step by step, the same is classify_folder (core.photos.classify), plan_sort and
apply_sort (resumable after a crash); sort_classified sorts answers read back from a
CSV (core.photos.answers_csv) without the model.

Where files go: DEST/<class>/ when the model's top probability reaches the
threshold, DEST/_review/ when it does not, and DEST/_unreadable/ for files that
could not be read as pictures (so a move leaves nothing half-handled in the
source folder, and undo brings them back like every other file). Every copy or
move is journalled in DEST/.fledge-journal.jsonl first (see core.files.journal).

The results are data (counts, paths, reasons); core.photos.sort_wording puts them in
sentences, and each front end names its own follow-up actions.
Nothing here imports torch: the predictor is any object with `classes` and
predict_many(paths, batch_size=, top_k=, progress=, should_stop=).
"""
from __future__ import annotations

import contextlib
import errno
import math
import os
import stat
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from core.errors import FledgeError
from core.photos.answers_csv import write_csv
from core.photos.classify import ClassifiedImage, classify_folder
from core.files.file_transfer import describe_os_error, is_inside, is_really_inside, path_key
from core.files.journal import FileJournal, JournalWriteError, Op
from core.files.locks import source_locks
from core.model.class_names import class_name_problem
from core.photos.review_queue import ReviewItem
from core.photos.thresholds import ReviewThresholds, as_review_thresholds
from core.progress import JobProgress, Throttled

JOURNAL_NAME = ".fledge-journal.jsonl"
REVIEW = "_review"
UNREADABLE = "_unreadable"
RESERVED = (REVIEW, UNREADABLE)
ALREADY = "already sorted by an earlier run"

Progress = Callable[[int, int], None] | None
ShouldStop = Callable[[], bool] | None
Report = Callable[[JobProgress], None] | None


# -- planning ----------------------------------------------------------------------------

@dataclass(frozen=True)
class SortOp:
    """Where one photo should go. The final name may get ' (2)' if dst is taken."""
    src: str
    dst: str
    category: str          # a class name, "_review" or "_unreadable"
    probability: float
    label: str | None      # the model's top class (also for _review)
    root: str = ""         # the folder that was classified: only files inside it are touched


def _check_class_name(name: str) -> None:
    if name in RESERVED:
        raise FledgeError(f"The model has a class called '{name}', a folder name Fledge keeps for "
                          "photos it is unsure about or cannot read. Rename that class folder and retrain.")
    if problem := class_name_problem(name):
        raise FledgeError(f"The model's photos cannot be sorted into folders: {problem}.")


def plan_sort(results: Iterable, folder, dest, threshold: float | ReviewThresholds = 0.0,
              keep_structure: bool = False) -> list[SortOp]:
    """Decide a destination for every result; photos already inside DEST's class folders
    (from an earlier sort into a folder inside the source) are left out.

    threshold: one for every class, or per class (core.photos.thresholds.ReviewThresholds, as
    saved in a model file, with the classes whose photos all go to review): the one place a
    photo is sent to review."""
    limits = as_review_thresholds(threshold)
    for t in limits.values():
        if not isinstance(t, (int, float)) or math.isnan(t) or not (0.0 <= t <= 1.0):
            raise FledgeError(f"The threshold must be a number from 0 to 1 (for example 0.8), not {t}.")
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
        # Real paths: DEST may be given through a link into the source folder, or the other way.
        if any(is_inside(src, d) or is_really_inside(src, d) for d in inside):
            continue
        label = r.top[0][0] if r.top and not r.error else None
        probability = float(r.top[0][1]) if label is not None else 0.0
        if label is None:
            category = UNREADABLE
        elif limits.sends_to_review(label, probability):
            category = REVIEW
        else:
            category = label
        if keep_structure and is_inside(src, folder):
            rel = os.path.relpath(src, folder)
        else:
            rel = os.path.basename(src)
        ops.append(SortOp(src, os.path.join(dest, category, rel), category, probability, label, folder))
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
    """What apply_sort did, file by file."""
    dest: str
    move: bool
    done: list[SortedFile] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)     # (src, reason)
    failed: list[tuple[str, str]] = field(default_factory=list)      # (src, reason)
    recovered: list[str] = field(default_factory=list)               # what an earlier crash left, settled
    stopped: bool = False            # should_stop ended the run early
    disk_full: bool = False          # the destination's disk filled up, so the run ended early
    halted: str = ""                 # why the run ended early otherwise (its journal could not be written)
    thresholds: ReviewThresholds | None = None     # what sent photos to review (sort_classified sets it)

    def counts(self) -> dict[str, int]:
        return dict(Counter(f.category for f in self.done))

    @property
    def renamed(self) -> list[SortedFile]:
        """The photos that got a " (n)" name because theirs was taken."""
        return [f for f in self.done if f.renamed]

    @property
    def already_sorted(self) -> list[str]:
        """Photos an earlier run already sorted into dest (left alone, so a rerun continues)."""
        return [src for src, reason in self.skipped if reason == ALREADY]

    @property
    def other_skips(self) -> list[tuple[str, str]]:
        return [(src, reason) for src, reason in self.skipped if reason != ALREADY]

    def to_dict(self) -> dict:
        return {"dest": self.dest, "move": self.move, "counts": self.counts(),
                "done": [f.__dict__ for f in self.done],
                "skipped": [{"path": p, "reason": r} for p, r in self.skipped],
                "failed": [{"path": p, "reason": r} for p, r in self.failed],
                "recovered": list(self.recovered), "stopped": self.stopped, "disk_full": self.disk_full,
                "halted": self.halted, "thresholds": self.thresholds.to_dict() if self.thresholds else None}


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


def _check_dest(dest: str) -> None:
    if os.path.exists(dest) and not os.path.isdir(dest):
        raise FledgeError(f"{dest} is a file. Choose a folder to sort the photos into.")


def _make_dest(dest: str) -> None:
    _check_dest(dest)
    try:
        os.makedirs(dest, exist_ok=True)
    except OSError as exc:
        raise FledgeError(f"Could not create the folder {dest} ({describe_os_error(exc)}). "
                          "Choose another destination.") from None


def apply_sort(ops: Iterable[SortOp], dest, move: bool = False, progress: Progress = None,
               should_stop: ShouldStop = None) -> SortReport:
    """Copy (or move) each op's file, journalled in dest; resumes an interrupted earlier run.

    Photos an earlier run already sorted into dest (same path, size and time) are skipped,
    so running the same sort again continues where it stopped. Never overwrites a file.
    Only files inside the folder each op was planned from (SortOp.root) are touched, and a
    move never takes a file that lives outside it (reached through a link). The source
    folders are locked as well as dest, so two sorts of one folder cannot run at once.
    """
    dest = os.path.abspath(os.path.expanduser(os.fspath(dest)))
    ops = list(ops)
    _check_dest(dest)
    for op in ops:
        if not is_inside(op.dst, dest) or path_key(op.dst) == path_key(dest):
            raise FledgeError(f"Internal plan error: {op.dst} is not inside {dest}.")
    _make_dest(dest)
    report = SortReport(dest, move)
    journal = open_journal(dest)
    with journal.locked(), source_locks(_source_folders(ops)):
        journal.reload()
        report.recovered = journal.recover()
        run = _apply_ops(ops, journal, report, progress, should_stop)
        journal.compact()
        if run is not None:
            with contextlib.suppress(OSError):
                journal.append({"t": "end", "run": run, "stopped": report.stopped or report.disk_full
                                or bool(report.halted)}, sync=False)
    return report


def _source_folders(ops: list[SortOp]) -> list[str]:
    roots = sorted({op.root for op in ops if op.root})
    dirs = sorted({os.path.dirname(op.src) for op in ops if not op.root})
    if not dirs:
        return roots
    try:
        return roots + [os.path.commonpath(dirs)]
    except ValueError:          # different drives (Windows)
        return roots + dirs


def _apply_ops(ops: list[SortOp], journal: FileJournal, report: SortReport, progress: Progress,
               should_stop: ShouldStop) -> str | None:
    """The loop of apply_sort (journal locked); returns the run id, None when nothing was done."""
    live = journal.live_sources()
    run = None
    for i, op in enumerate(ops):
        if should_stop is not None and should_stop():
            report.stopped = True
            break
        why_not = _why_left_alone(op.src, op.root or None, report.move)
        previous = live.get(path_key(op.src))
        exists = os.path.lexists(op.src)
        if previous is not None and (not exists or _unchanged(op.src, previous)):
            report.skipped.append((op.src, ALREADY))
        elif why_not:
            report.skipped.append((op.src, why_not))
        else:
            try:
                if run is None:
                    run = journal.new_run(tool="sort", mode="move" if report.move else "copy", total=len(ops),
                                          folder=op.root)
                done = journal.do(op.src, op.dst, report.move, run,
                                  meta={"category": op.category, "probability": op.probability})
                report.done.append(SortedFile(op.src, done.dst, op.category,
                                              path_key(done.dst) != path_key(op.dst)))
            except JournalWriteError as exc:
                _journal_failed(report, op.src, exc)
                break
            except OSError as exc:
                report.failed.append((op.src, describe_os_error(exc)))
                if exc.errno == errno.ENOSPC:
                    report.disk_full = True
                    break
        if progress is not None:
            progress(i + 1, len(ops))
    return run


def _journal_failed(report: SortReport, src: str, exc: OSError) -> None:
    """The journal cannot be written: nothing is done without a record, so the run ends here."""
    cause = exc.__cause__ if isinstance(exc.__cause__, OSError) else exc
    reason = describe_os_error(cause)
    report.halted = f"Fledge could not write to its journal in {report.dest} ({reason})"
    why = (f"Fledge could not record this step in its journal in {report.dest} ({reason}), so it stopped "
           "before touching this photo")
    if exc.errno == errno.ENOSPC:
        report.disk_full = True          # worded once, as for any full disk
    else:
        why += ". Check that disk, then sort again to continue"
    report.failed.append((src, why))


def _why_left_alone(src: str, folder: str | None, move: bool) -> str:
    """Why the file at src must not be copied or moved ("" when it may be)."""
    if folder is not None and (not is_inside(src, folder) or path_key(src) == path_key(folder)):
        return f"not inside {folder}, the folder that was classified"
    try:
        st = os.lstat(src)
    except FileNotFoundError:
        return "not found (moved or deleted since it was classified)"
    except OSError as exc:
        return f"could not be looked at ({describe_os_error(exc)})"
    if stat.S_ISDIR(st.st_mode):
        return "a folder, not a photo"
    if stat.S_ISLNK(st.st_mode):
        if move:
            return "a link to a file, not the photo itself, so it was not moved"
        return "" if os.path.isfile(src) else "a link to nothing (or to a folder)"
    if not stat.S_ISREG(st.st_mode):
        return "not an ordinary file (a pipe or a device)"
    if move and folder is not None and not is_really_inside(src, folder):
        return f"it lives outside {folder} (reached through a linked folder), so it was not moved"
    return ""


def _unchanged(path: str, op: Op) -> bool:
    """Whether the file at path is the one op already took (same size and modification time)."""
    try:
        st = os.stat(path)
    except OSError:
        return False
    return st.st_size == op.src_size and st.st_mtime_ns == op.src_mtime_ns


# -- a whole folder ----------------------------------------------------------------------

@dataclass
class FolderSort:
    """What sort_folder did: the model's answers, the CSV they went to, and the sort."""
    folder: str
    dest: str
    move: bool
    results: list[ClassifiedImage] = field(default_factory=list)
    csv_path: str = ""
    report: SortReport | None = None      # None: no photo was copied or moved
    stopped_while: str = ""               # "" | "classifying" | "sorting"

    @property
    def unreadable(self) -> int:
        return sum(1 for r in self.results if r.error)

    def review_items(self) -> list[ReviewItem]:
        """The photos put in DEST/_review, with the model's answers."""
        if self.report is None:
            return []
        by_src = {path_key(r.path): r for r in self.results}
        out = []
        for f in self.report.done:
            if f.category == REVIEW:
                r = by_src.get(path_key(f.src))
                out.append(ReviewItem(f.dst, tuple(r.top) if r else (), r.error if r else None))
        return out


def sorted_already(predictor, dest) -> list[str]:
    """The folders of dest a sort leaves out of its photos: those sorted there before (when dest
    is inside the folder being sorted) are not classified again."""
    dest = os.path.abspath(os.path.expanduser(os.fspath(dest)))
    return [os.path.join(dest, c) for c in [*predictor.classes, *RESERVED]]


def sort_folder(predictor, folder, dest, *, threshold: float | ReviewThresholds = 0.0, move: bool = False,
                keep_structure: bool = False, recursive: bool = False, batch_size: int = 64,
                top_k: int = 3, csv_path=None, replace_csv: bool = True, report: Report = None,
                should_stop: ShouldStop = None, by_burst: bool = False, spread=None) -> FolderSort:
    """Classify every photo in folder, write the answers to csv_path (if given), then copy or
    move each photo into dest (apply_sort: journalled, resumable, undoable).

    report gets JobProgress("classifying" | "sorting", done, total), throttled. A stop while
    classifying copies or moves nothing (and writes no CSV). An empty folder gives a
    FolderSort without results, for the caller to explain.
    """
    folder = os.path.abspath(os.path.expanduser(os.fspath(folder)))
    dest = os.path.abspath(os.path.expanduser(os.fspath(dest)))
    _check_dest(dest)
    tell = report or (lambda _event: None)
    stop = should_stop or (lambda: False)
    out = FolderSort(folder, dest, move)
    tell(JobProgress("classifying"))
    out.results = classify_folder(predictor, folder, recursive=recursive, batch_size=batch_size,
                                  top_k=top_k, exclude=sorted_already(predictor, dest),
                                  progress=Throttled(tell, "classifying"), should_stop=stop, spread=spread)
    if stop():
        out.stopped_while = "classifying"
        return out
    if not out.results:
        return out
    _make_dest(dest)
    if csv_path:
        out.csv_path = write_csv(out.results, csv_path, replace=replace_csv, folder=folder)
    out.report = sort_classified(out.results, folder, dest, threshold=threshold, move=move,
                                 keep_structure=keep_structure, report=tell, should_stop=stop,
                                 by_burst=by_burst)
    if out.report.stopped:
        out.stopped_while = "sorting"
    return out


def sort_classified(results: Iterable, folder, dest, *, threshold: float | ReviewThresholds = 0.0, move: bool = False,
                    keep_structure: bool = False, report: Report = None,
                    should_stop: ShouldStop = None, by_burst: bool = False) -> SortReport:
    """plan_sort + apply_sort for answers already known (from the model or a CSV).

    by_burst: decide once per burst (core.photos.bursts.per_burst), so no burst is split."""
    if by_burst:
        from core.photos.bursts import per_burst

        results = per_burst(list(results))
    ops = plan_sort(results, folder, dest, threshold=threshold, keep_structure=keep_structure)
    tell = report or (lambda _event: None)
    tell(JobProgress("sorting", 0, len(ops)))
    done = apply_sort(ops, dest, move=move, progress=Throttled(tell, "sorting"), should_stop=should_stop)
    done.thresholds = as_review_thresholds(threshold)
    return done


__all__ = [
    "SortOp", "SortedFile", "SortReport", "FolderSort", "JOURNAL_NAME", "REVIEW", "UNREADABLE",
    "RESERVED", "ALREADY", "plan_sort", "apply_sort", "sort_folder", "sort_classified", "recover",
    "journal_path", "open_journal",
]

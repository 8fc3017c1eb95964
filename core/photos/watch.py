"""Watching a folder: photos are classified and sorted into DEST as they arrive.

    watcher = FolderWatcher(predictor, "~/birdcam", "~/sorted", threshold=0.8, on_event=print)
    watcher.start()                  # or watcher.run(should_stop) on this thread
    ...
    summary = watcher.stop()         # summary.counts: {"robin": 12, "_review": 3}
    undo("~/sorted")                 # core.photos.sort_undo: puts back all a watch did

The photos go through the same code as `fledge classify --sort-into` and the Sort tab
(core.photos.classify.classify_paths, then core.photos.sorting.sort_classified), so the
same journal records each copy or move and undo puts back everything a watch did;
photos below the threshold go to DEST/_review, unreadable files to DEST/_unreadable.

* Events come from watchdog (inotify, FSEvents, ReadDirectoryChangesW); poll=True uses
  watchdog's PollingObserver instead, for network shares that deliver no events (and it
  is the fallback when the system's watcher cannot start). A slow rescan of the folder
  catches anything an event queue dropped.
* A file is taken once it has stopped growing and does not end cut short
  (core.photos.watch_arrivals); one that never finishes stays where it is.
* At start every picture in FOLDER is a candidate, so photos that arrived while Fledge
  was closed are sorted; one a copying watch (or sort) already took, unchanged since, is
  in DEST's journal and is not taken again.
* Photos that arrive together (a burst of 200) go through the predictor in batches.
* Only FOLDER itself is watched, not its subfolders.

Threads: run() works on the calling thread (watchdog's observer has its own); start()
gives it a thread of its own. stop() returns within a fraction of a second between
photos. Events (frozen dataclasses below) go to on_event on the working thread; an error
that ends the watch is raised from run() (and from stop() after start()) as a
FledgeError, with what was done so far kept in DEST and undoable.
"""
from __future__ import annotations

import collections
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from core.data.imageio import is_image_name, iter_image_files
from core.errors import FledgeError, UsageError
from core.photos.classify import ClassifiedImage, classify_paths
from core.files.file_transfer import is_inside, is_really_inside, path_key
from core.photos.sorting import ALREADY, journal_path, open_journal, plan_sort, sort_classified
from core.photos.watch_arrivals import Arrivals, signature

log = logging.getLogger(__name__)

RESCAN_S = 30.0          # the whole folder is looked at again this often (events can be lost)
TICK_S = 0.1             # how often waiting files are looked at (and stop is noticed)


@dataclass(frozen=True)
class WatchStarted:
    folder: str
    dest: str
    polling: bool
    found: int               # pictures already in the folder, waiting to be sorted
    note: str = ""           # e.g. why polling is used though it was not asked for


@dataclass(frozen=True)
class PhotoSorted:
    src: str
    dst: str
    category: str            # a class, "_review" or "_unreadable"
    label: str | None        # the model's answer (also for _review)
    probability: float
    noticed: float           # time.time() when the watcher first saw the file
    sorted_at: float         # time.time() when it was in place
    error: str | None = None     # why it could not be read (category "_unreadable")


@dataclass(frozen=True)
class WatchNote:
    """Something worth saying that is not about one new photo (e.g. an earlier crash settled)."""
    text: str


@dataclass(frozen=True)
class PhotoWaiting:
    """A file has stopped changing but is not a whole picture yet: left where it is."""
    path: str
    reason: str


@dataclass(frozen=True)
class PhotoNotSorted:
    """A photo that could not be copied or moved (it stays in the folder)."""
    path: str
    reason: str


@dataclass
class WatchSummary:
    """What a watch has done so far."""
    folder: str
    dest: str
    move: bool
    polling: bool = False
    sorted: list[PhotoSorted] = field(default_factory=list)
    not_sorted: list[PhotoNotSorted] = field(default_factory=list)
    waiting: list[PhotoWaiting] = field(default_factory=list)
    notes: list = field(default_factory=list)          # WatchNote: e.g. what an earlier crash left, settled
    error: str = ""                                    # why the watch ended early ("" if it did not)

    def counts(self) -> dict[str, int]:
        return dict(Counter(p.category for p in self.sorted))


class _Handler:
    """watchdog's callback: file names that may be new photos, onto a queue (observer thread)."""

    KINDS = frozenset({"created", "modified", "moved", "closed"})

    def __init__(self, folder: str, wake: threading.Event) -> None:
        self.folder = path_key(folder)
        self.wake = wake
        self.queue: collections.deque[str] = collections.deque()

    def dispatch(self, event) -> None:
        if event.is_directory or event.event_type not in self.KINDS:
            return
        path = os.fsdecode(event.dest_path if event.event_type == "moved" else event.src_path)
        if is_image_name(path) and path_key(os.path.dirname(os.path.abspath(path))) == self.folder:
            self.queue.append(os.path.abspath(path))
            self.wake.set()


def check_folders(folder, dest) -> None:
    """Raise FledgeError unless folder is a folder and dest a folder (or a new one) outside it:
    the sorted photos are not to be mixed into the folder the camera is still filling."""
    folder = os.path.abspath(os.path.expanduser(os.fspath(folder)))
    dest = os.path.abspath(os.path.expanduser(os.fspath(dest)))
    if not os.path.isdir(folder):
        what = "is a file, not a folder" if os.path.exists(folder) else "does not exist"
        raise FledgeError(f"The folder {folder} {what}. Give the folder the photos arrive in.")
    if os.path.exists(dest) and not os.path.isdir(dest):
        raise FledgeError(f"{dest} is a file. Choose a folder to sort the photos into.")
    if is_inside(dest, folder) or is_really_inside(dest, folder):
        raise UsageError(f"{dest} is inside the watched folder {folder}. Choose a folder outside it to sort "
                         "the photos into.")


class FolderWatcher:
    """Classify and sort the photos that appear in folder into dest (see the module docstring)."""

    def __init__(self, predictor, folder, dest, *, threshold: float = 0.0, move: bool = False,
                 poll: bool = False, settle: float = 1.0, poll_interval: float = 1.0, batch_size: int = 32,
                 top_k: int = 3, on_event: Callable[[object], None] | None = None,
                 rescan: float = RESCAN_S) -> None:
        self.predictor = predictor
        self.folder = os.path.abspath(os.path.expanduser(os.fspath(folder)))
        self.dest = os.path.abspath(os.path.expanduser(os.fspath(dest)))
        self.threshold, self.move, self.poll = threshold, move, poll
        self.poll_interval, self.batch_size, self.top_k, self.rescan = poll_interval, batch_size, top_k, rescan
        self.on_event = on_event or (lambda _event: None)
        self.arrivals = Arrivals(settle)
        self._summary = WatchSummary(self.folder, self.dest, move)
        self._changed = threading.Condition()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failure: FledgeError | None = None
        self._ended = False

    # -- from other threads ----------------------------------------------------------------
    def summary(self) -> WatchSummary:
        """A copy of what the watch has done so far."""
        with self._changed:
            s = self._summary
            return WatchSummary(s.folder, s.dest, s.move, s.polling, list(s.sorted), list(s.not_sorted),
                                list(s.waiting), list(s.notes), s.error)

    def wait_until(self, predicate: Callable[[WatchSummary], bool], timeout: float) -> bool:
        """Wait until predicate(summary) holds or the watch has ended; whether it holds."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate(self._summary):
                left = deadline - time.monotonic()
                if left <= 0 or self._ended:
                    return False
                self._changed.wait(min(left, 0.5))
            return True

    def start(self) -> None:
        """Watch on a thread of its own until stop()."""
        if self._thread is not None:
            raise RuntimeError("this watcher has already been started")
        self._check()
        self._thread = threading.Thread(target=self._run_thread, name="fledge-watch", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> WatchSummary:
        """Stop (within a fraction of a second between photos); the summary, or the error
        that ended the watch as a FledgeError."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._failure is not None:
            raise self._failure
        return self.summary()

    # -- the work ---------------------------------------------------------------------------
    def run(self, should_stop: Callable[[], bool] | None = None) -> WatchSummary:
        """Watch on this thread until should_stop() (or stop()); returns the summary."""
        stopping = (lambda: self._stop.is_set() or should_stop()) if should_stop else self._stop.is_set
        self._check()
        return self._watch(stopping)

    def _watch(self, stopping: Callable[[], bool]) -> WatchSummary:
        observer = None
        try:
            handler = _Handler(self.folder, self._wake)
            observer = self._start_observer(handler)
            self._hold_journalled()
            found = self._scan()
            note = self._summary.notes[-1].text if self._summary.notes else ""
            self._tell(WatchStarted(self.folder, self.dest, self._summary.polling, found, note))
            self._loop(handler, observer, stopping)
        except Exception as exc:
            failure = self._failure_for(exc)
            with self._changed:
                self._summary.error = str(failure)
            if failure is exc:
                raise
            if not isinstance(exc, (FledgeError, OSError)):
                log.error("watching %s failed", self.folder, exc_info=exc)
            raise failure from exc
        finally:
            if observer is not None:
                observer.stop()
                observer.join(5)
            with self._changed:
                self._ended = True
                self._changed.notify_all()
        return self.summary()

    def _failure_for(self, exc: Exception) -> FledgeError:
        """The FledgeError that ends the watch, in words a person can act on."""
        if not os.path.isdir(self.folder):
            return FledgeError(f"The folder {self.folder} is not there any more (removed, renamed or "
                               "unplugged), so watching stopped. What was sorted stays sorted.")
        if isinstance(exc, FledgeError):
            return exc
        return FledgeError(f"Watching {self.folder} stopped: something went wrong that Fledge did not expect "
                           f"({type(exc).__name__}: {exc}). What was sorted stays sorted.")

    def _run_thread(self) -> None:
        try:
            self._watch(self._stop.is_set)      # start() has checked the settings
        except FledgeError as exc:
            self._failure = exc         # raised again by stop()

    def _check(self) -> None:
        check_folders(self.folder, self.dest)
        # The threshold and the class names are checked once here, not at the first photo.
        plan_sort([ClassifiedImage(os.path.join(self.folder, "x.jpg"), ((str(c), 1.0),))
                   for c in self.predictor.classes], self.folder, self.dest, threshold=self.threshold)

    def _start_observer(self, handler: _Handler):
        from watchdog.observers import Observer
        from watchdog.observers.polling import PollingObserver

        if not self.poll:
            observer = Observer()
            observer.schedule(handler, self.folder, recursive=False)
            try:
                observer.start()
                return observer
            except OSError as exc:
                if not os.path.isdir(self.folder):
                    raise
                self._summary.notes.append(WatchNote(
                    f"The system could not tell Fledge about new files in {self.folder} ({exc.strerror or exc}), "
                    f"so Fledge looks for them every {self.poll_interval:g} s instead."))
        self._summary.polling = True
        observer = PollingObserver(timeout=self.poll_interval)
        observer.schedule(handler, self.folder, recursive=False)
        observer.start()
        return observer

    def _hold_journalled(self) -> None:
        """Photos a copying sort into dest already took, unchanged since, are not taken again."""
        if not os.path.exists(journal_path(self.dest)):
            return
        for op in open_journal(self.dest).live_ops():
            if op.kind == "copy" and path_key(os.path.dirname(op.src)) == path_key(self.folder):
                sig = signature(op.src)
                if sig is not None and sig == (op.src_size, op.src_mtime_ns):
                    self.arrivals.hold(op.src, sig)

    def _scan(self) -> int:
        """Every picture in the folder is a candidate; the number not taken already."""
        n = 0
        for path in iter_image_files(self.folder, recursive=False):
            if not self.arrivals.is_held(path, signature(path)):
                self.arrivals.saw(path)
                n += 1
        return n

    def _loop(self, handler: _Handler, observer, stopping: Callable[[], bool]) -> None:
        next_scan = time.monotonic() + self.rescan
        while not stopping():
            self._wake.wait(TICK_S)
            self._wake.clear()
            while handler.queue:
                self.arrivals.saw(handler.queue.popleft())
            if not os.path.isdir(self.folder):
                raise FileNotFoundError(self.folder)      # worded by _failure_for
            if not observer.is_alive():
                raise FledgeError(f"Fledge stopped getting news of new files in {self.folder}, so watching "
                                  "stopped. Turn watching on again (with polling for a network share).")
            if time.monotonic() >= next_scan and not self._summary.polling:
                self._scan()
                next_scan = time.monotonic() + self.rescan
            ready = self._whole(self.arrivals.ready())
            for i in range(0, len(ready), self.batch_size):
                if stopping():
                    break
                self._take(ready[i:i + self.batch_size], stopping)

    def _whole(self, settled: list) -> list:
        """The settled files that are whole pictures; the others are reported and left alone."""
        out = []
        for path, sig in settled:
            why = self.arrivals.unfinished_now(path, sig)
            if why:
                self._tell(PhotoWaiting(path, why), self._summary.waiting)
            else:
                out.append((path, sig))
        return out

    def _take(self, batch: list, stopping: Callable[[], bool]) -> None:
        """Classify a batch and sort it (journalled, like every sort)."""
        paths = [path for path, _sig in batch]
        noticed = {path_key(p): self.arrivals.noticed(p) or time.time() for p in paths}
        try:
            results = classify_paths(self.predictor, paths, batch_size=self.batch_size, top_k=self.top_k,
                                     should_stop=stopping)
        except FledgeError:
            raise
        except Exception as exc:
            raise FledgeError(f"The model could not classify the new photos ({type(exc).__name__}: {exc}), "
                              f"so watching stopped. They are still in {self.folder}.") from exc
        if len(results) < len(paths):
            return            # stopped while classifying: nothing taken, the next watch takes them
        report = sort_classified(results, self.folder, self.dest, threshold=self.threshold, move=self.move,
                                 should_stop=stopping)
        answers = {path_key(r.path): r for r in results}
        self._record(report, {path_key(p): s for p, s in batch}, noticed, answers)

    def _record(self, report, sigs: dict, noticed: dict, answers: dict) -> None:
        for note in report.recovered:
            self._tell(WatchNote(note), self._summary.notes)
        for f in report.done:
            key = path_key(f.src)
            self.arrivals.hold(f.src, None if self.move else sigs.get(key))
            r = answers.get(key)
            self._tell(PhotoSorted(f.src, f.dst, f.category, r.label if r else None, r.probability if r else 0.0,
                                   noticed.get(key, time.time()), time.time(), r.error if r else None),
                       self._summary.sorted)
        for src, reason in report.skipped + report.failed:
            self.arrivals.hold(src, sigs.get(path_key(src)))
            if reason != ALREADY:
                self._tell(PhotoNotSorted(src, reason), self._summary.not_sorted)
        if report.disk_full:
            raise FledgeError(f"The disk holding {self.dest} is full, so watching stopped. Free some space "
                              "and turn watching on again: the photos not sorted yet are still in the folder.")
        if report.halted:
            raise FledgeError(f"{report.halted}, so watching stopped. Check that disk and turn watching on "
                              "again: the photos not sorted yet are still in the folder.")

    def _tell(self, event, into: list | None = None) -> None:
        if into is not None:
            with self._changed:
                into.append(event)
                self._changed.notify_all()
        self.on_event(event)


def watch_folder(predictor, folder, dest, *, should_stop: Callable[[], bool] | None = None,
                 **options) -> WatchSummary:
    """Watch folder on this thread until should_stop() turns true (FolderWatcher.run)."""
    return FolderWatcher(predictor, folder, dest, **options).run(should_stop)


__all__ = ["FolderWatcher", "WatchStarted", "WatchNote", "PhotoSorted", "PhotoWaiting", "PhotoNotSorted",
           "WatchSummary", "watch_folder"]

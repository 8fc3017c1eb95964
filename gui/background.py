"""The one way the GUI runs work off the main thread: tasks, on a job thread or a pool.

A *task* is any callable ``task(report, control) -> result``:

* ``report(obj)`` may be called from the worker thread any number of times; each
  object arrives on the GUI thread as a ``progress`` signal (Qt queues signals that
  cross threads, so widgets are only touched on the GUI thread). Panels report
  ``core.progress.JobProgress``; core operations take ``progress(done, total)``,
  which ``core.progress.Throttled`` turns into those reports;
* ``control`` is a :class:`core.training.events.TrainControl`; the task polls it to
  stop or pause. A worker thread runs no Qt event loop while a task works, so the
  GUI steers a task only through this object, never through queued slot calls.

:func:`call` makes a plain ``fn(*args)`` into a task. A task runs either

* on :class:`JobRunner`: one long job at a time on a thread of its own (training,
  evaluating, sorting), with ``started``, ``progress``, ``finished``/``failed`` and
  ``ended`` signals; or
* on :class:`TaskPool`: many short calls on a small private pool (scans, model
  loads, thumbnails, single predictions); ``submit`` returns a token and the same
  signals carry it.

Either way a task that raises is logged (unless it raised a FledgeError, whose text
is meant for people) and reported as :func:`describe_exception`'s message; both
runners stop with ``shutdown(msecs)`` and join with ``wait(msecs)``.
"""
from __future__ import annotations

import itertools
import logging
import traceback
import weakref
from dataclasses import dataclass
from typing import Any, Callable

from PySide6.QtCore import QObject, QRunnable, Qt, QThread, QThreadPool, Signal, Slot

from core.errors import FledgeError
from core.priority import lower_thread_priority
from core.training.events import TrainControl

log = logging.getLogger(__name__)

JOB_NICE = 5     # decoding threads sit lower still (core.data.pipeline.DECODE_NICE_CPU)

Report = Callable[[Any], None]
Task = Callable[[Report, TrainControl], Any]

# Every job thread this module has started, so tests (and shutdown code) can check
# that none is left running.
_threads: "weakref.WeakSet[QThread]" = weakref.WeakSet()


@dataclass(frozen=True)
class JobPaused:
    """Reported when a job has actually stopped working because of a pause."""


@dataclass(frozen=True)
class JobResumed:
    """Reported when a paused job carries on."""


class ReportingControl(TrainControl):
    """A TrainControl that reports when the task really pauses and resumes.

    pause() only asks; the task notices at its next batch boundary. Reporting from
    inside wait_while_paused lets the window say "Paused" only once it is true.
    """

    def __init__(self, report: Report | None = None) -> None:
        super().__init__()
        self.report = report

    def wait_while_paused(self) -> None:
        if not self.paused or self.stop_requested:
            return
        if self.report is not None:
            self.report(JobPaused())
        super().wait_while_paused()
        if self.report is not None and not self.stop_requested:
            self.report(JobResumed())


def call(fn: Callable, *args, **kwargs) -> Task:
    """A plain call fn(*args, **kwargs) as a task (it neither reports nor polls)."""
    def task(report: Report, control: TrainControl):
        return fn(*args, **kwargs)
    return task


def running_threads() -> list[QThread]:
    """The job threads that are still running."""
    out = []
    for t in list(_threads):
        try:
            if t.isRunning():
                out.append(t)
        except RuntimeError:       # the C++ object is already gone
            pass
    return out


def describe_exception(exc: BaseException) -> str:
    """A message a person can read for an error that escaped a task."""
    if isinstance(exc, FledgeError):
        return str(exc)
    if isinstance(exc, MemoryError):
        return ("The computer ran out of memory. Try a smaller batch size, a smaller image size "
                "or a smaller architecture.")
    if isinstance(exc, PermissionError):
        where = f" {exc.filename}" if exc.filename else " a file or folder it needs"
        return f"Fledge may not open{where}. Check its permissions or choose another one."
    if isinstance(exc, OSError) and exc.strerror:
        where = f" {exc.filename}" if exc.filename else " a file"
        return f"Fledge could not read or write{where} ({exc.strerror}). Check the disk and try again."
    text = str(exc) or type(exc).__name__
    return (f"Something went wrong that Fledge did not expect ({type(exc).__name__}: {text}). "
            "Try again; if it keeps happening, please report it with the details from the log.")


def _execute(task: Task, report: Report, control: TrainControl) -> tuple[bool, Any]:
    """Run a task: (True, result) or (False, a readable message). Every runner uses this."""
    try:
        return True, task(report, control)
    except Exception as exc:  # noqa: BLE001 - every failure becomes a message
        if not isinstance(exc, FledgeError):
            log.error("background task failed:\n%s", traceback.format_exc())
        return False, describe_exception(exc)


# -- one long job on a thread of its own ---------------------------------------------------

class _Worker(QObject):
    """Lives on the job's thread; its run slot executes the job once."""

    progress = Signal(object)
    done = Signal(bool, object)        # ok, result or message

    def __init__(self, job: Task, control: ReportingControl, home: QThread) -> None:
        super().__init__()
        self._job = job
        self._control = control
        self._home = home
        control.report = self.progress.emit

    @Slot()
    def run(self) -> None:
        # Below the GUI thread's priority (and so are the torch threads this thread
        # starts): the window keeps a core's worth of time when it needs it, and the
        # job still gets every cycle the window leaves idle.
        lower_thread_priority(JOB_NICE)
        outcome = _execute(self._job, self.progress.emit, self._control)
        # Hand this object back to the GUI thread (only its own thread may push
        # it), so that it is destroyed there once the runner drops it.
        self.moveToThread(self._home)
        self.done.emit(*outcome)


class JobRunner(QObject):
    """Owns one job at a time and the QThread it runs on (lives on the GUI thread).

    Signals: ``started()``, ``progress(object)`` for each report, then exactly
    one of ``finished(object)`` (the result) or ``failed(str)``, then ``ended()``.
    Either of the last is emitted only after the thread has been joined, so a
    handler may start the next job or close the window at once.
    """

    started = Signal()
    progress = Signal(object)
    finished = Signal(object)
    failed = Signal(str)
    ended = Signal()

    def __init__(self, parent: QObject | None = None, name: str = "fledge-job") -> None:
        super().__init__(parent)
        self._name = name
        self._thread: QThread | None = None
        self._worker: _Worker | None = None
        self._outcome: tuple[bool, Any] | None = None
        self.control: TrainControl = ReportingControl()

    # -- state -----------------------------------------------------------
    def is_running(self) -> bool:
        return self._thread is not None

    @property
    def paused(self) -> bool:
        return self.is_running() and self.control.paused

    # -- starting --------------------------------------------------------
    def start(self, job: Task) -> None:
        if self._thread is not None:
            raise RuntimeError("a job is already running")
        self.control = ReportingControl()
        self._outcome = None
        thread = QThread()
        thread.setObjectName(self._name)
        worker = _Worker(job, self.control, self.thread())
        worker.moveToThread(thread)
        # Cross-thread connections: queued onto this (GUI) thread, in order.
        worker.progress.connect(self.progress)
        worker.done.connect(self._on_done)
        worker.done.connect(thread.quit, Qt.ConnectionType.DirectConnection)
        thread.started.connect(worker.run)
        thread.finished.connect(self._on_thread_finished)
        self._thread, self._worker = thread, worker
        _threads.add(thread)
        thread.start()
        self.started.emit()

    # -- steering (thread-safe: only touches threading.Events) -------------
    def stop(self) -> None:
        self.control.stop()

    def pause(self) -> None:
        self.control.pause()

    def resume(self) -> None:
        self.control.resume()

    def wait(self, msecs: int = -1) -> bool:
        """Block until the thread has ended; True when it has (or none runs).

        Used at shutdown. Results still queued for the GUI thread are delivered
        when the event loop next runs.
        """
        thread = self._thread
        if thread is None:
            return True
        return thread.wait() if msecs < 0 else thread.wait(msecs)

    def shutdown(self, msecs: int = -1) -> bool:
        """Ask the job to stop and join its thread (for closing the window)."""
        self.stop()
        return self.wait(msecs)

    # -- completion (GUI thread) ------------------------------------------------
    @Slot(bool, object)
    def _on_done(self, ok: bool, value: Any) -> None:
        self._outcome = (ok, value)

    @Slot()
    def _on_thread_finished(self) -> None:
        thread, worker = self._thread, self._worker
        if thread is None:
            return
        thread.wait()                 # returns at once: the thread has finished
        # Dropping the last references destroys both objects here, on the GUI
        # thread, after the join -- never while the thread still runs.
        self._thread = self._worker = None
        del thread, worker
        ok, value = self._outcome or (False, "The job ended without a result.")
        self._outcome = None
        if ok:
            self.finished.emit(value)
        else:
            self.failed.emit(str(value))
        self.ended.emit()


# -- short tasks on a pool ------------------------------------------------------------------

class _PoolSignals(QObject):
    """Carries a pool task's reports to the GUI thread; outlives the pool if need be."""

    progress = Signal(int, object)      # token, report
    done = Signal(int, bool, object)    # token, ok, result or message


class _PoolTask(QRunnable):
    def __init__(self, signals: _PoolSignals, token: int, task: Task, control: ReportingControl) -> None:
        super().__init__()
        self._signals = signals     # held here: the pool may be gone before the task ends
        self._token = token
        self._task = task
        self._control = control

    def run(self) -> None:
        if self._control.stop_requested:
            return                  # cancelled while queued: nobody waits for the answer
        report = lambda obj: self._signals.progress.emit(self._token, obj)  # noqa: E731
        self._control.report = report
        self._signals.done.emit(self._token, *_execute(self._task, report, self._control))


class TaskPool(QObject):
    """Runs tasks on a private thread pool; answers arrive on the GUI thread by token.

    ``submit(task)`` returns a token; ``progress(token, object)`` carries its reports,
    then ``finished(token, result)`` or ``failed(token, message)``. Callers keep the
    token of the request they still care about. ``cancel()`` forgets every task
    submitted so far: queued ones never run, running ones are asked to stop, and no
    answer of theirs is delivered. With threads=1 tasks run one after another in
    submission order.
    """

    progress = Signal(int, object)
    finished = Signal(int, object)
    failed = Signal(int, str)

    _tokens = itertools.count(1)

    def __init__(self, parent: QObject | None = None, threads: int = 1) -> None:
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(max(1, threads))
        self._live: dict[int, ReportingControl] = {}
        self._signals = _PoolSignals()
        self._signals.progress.connect(self._on_progress)
        self._signals.done.connect(self._on_done)

    def submit(self, task: Task) -> int:
        token = next(self._tokens)
        control = ReportingControl()
        self._live[token] = control
        self._pool.start(_PoolTask(self._signals, token, task, control))
        return token

    def is_busy(self) -> bool:
        """True while a submitted task has not answered (and was not cancelled)."""
        return bool(self._live)

    def cancel(self) -> None:
        """Forget every task submitted so far (see the class docstring)."""
        for control in self._live.values():
            control.stop()
        self._live.clear()
        self._pool.clear()

    def wait(self, msecs: int = -1) -> bool:
        """Block until every started task has returned (used when closing)."""
        return self._pool.waitForDone(msecs)

    def shutdown(self, msecs: int = -1) -> bool:
        self.cancel()
        return self.wait(msecs)

    @Slot(int, object)
    def _on_progress(self, token: int, obj: Any) -> None:
        if token in self._live:
            self.progress.emit(token, obj)

    @Slot(int, bool, object)
    def _on_done(self, token: int, ok: bool, value: Any) -> None:
        if self._live.pop(token, None) is None:
            return                  # cancelled: its answer is no longer wanted
        if ok:
            self.finished.emit(token, value)
        else:
            self.failed.emit(token, str(value))

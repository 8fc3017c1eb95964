"""Run long `core` jobs on a QThread and bring their reports back as Qt signals.

A job is any callable ``job(report, control) -> result``:

* ``report(obj)`` may be called from the job's thread any number of times; each
  object arrives on the GUI thread through :attr:`JobRunner.progress` (Qt queues
  signals that cross threads, so widgets are only touched on the GUI thread);
* ``control`` is a :class:`core.training.events.TrainControl`; the job polls it to stop or
  pause. The job's thread runs no Qt event loop while the job works, so the GUI
  steers it only through this object, never through queued slot calls.

When the job returns, :attr:`JobRunner.finished` carries its result; when it
raises, :attr:`JobRunner.failed` carries a readable message. Either signal is
emitted only after the thread has been joined, so a handler may start the next
job or close the window at once.
"""
from __future__ import annotations

import logging
import traceback
import weakref
from dataclasses import dataclass
from typing import Any, Callable

import itertools

from PySide6.QtCore import QObject, QRunnable, Qt, QThread, QThreadPool, Signal, Slot

from core.errors import FledgeError
from core.training.events import TrainControl
from core.priority import lower_thread_priority

log = logging.getLogger(__name__)

JOB_NICE = 5     # decoding threads sit lower still (core.data.pipeline.DECODE_NICE_CPU)

Job = Callable[[Callable[[Any], None], TrainControl], Any]

# Every thread this module has started, so tests (and shutdown code) can check
# that none is left running.
_threads: "weakref.WeakSet[QThread]" = weakref.WeakSet()


@dataclass(frozen=True)
class JobPaused:
    """Reported when a job has actually stopped working because of a pause."""


@dataclass(frozen=True)
class JobResumed:
    """Reported when a paused job carries on."""


class ReportingControl(TrainControl):
    """A TrainControl that reports when the job really pauses and resumes.

    pause() only asks; the job notices at its next batch boundary. Reporting from
    inside wait_while_paused lets the window say "Paused" only once it is true.
    """

    def __init__(self) -> None:
        super().__init__()
        self.report: Callable[[Any], None] | None = None

    def wait_while_paused(self) -> None:
        if not self.paused or self.stop_requested:
            return
        if self.report is not None:
            self.report(JobPaused())
        super().wait_while_paused()
        if self.report is not None and not self.stop_requested:
            self.report(JobResumed())


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
    """A message a person can read for an error that escaped a job."""
    if isinstance(exc, FledgeError):
        return str(exc)
    if isinstance(exc, MemoryError):
        return ("The computer ran out of memory. Try a smaller batch size, a smaller image size "
                "or a smaller architecture.")
    text = str(exc) or type(exc).__name__
    return (f"Something went wrong that Fledge did not expect ({type(exc).__name__}: {text}). "
            "Try again; if it keeps happening, please report it with the details from the log.")


class _Worker(QObject):
    """Lives on the job's thread; its run slot executes the job once."""

    progress = Signal(object)
    done = Signal(bool, object)        # ok, result or message

    def __init__(self, job: Job, control: TrainControl, home: QThread) -> None:
        super().__init__()
        self._job = job
        self._control = control
        self._home = home
        if isinstance(control, ReportingControl):
            control.report = self.progress.emit

    @Slot()
    def run(self) -> None:
        # Below the GUI thread's priority (and so are the torch threads this thread
        # starts): the window keeps a core's worth of time when it needs it, and the
        # job still gets every cycle the window leaves idle.
        lower_thread_priority(JOB_NICE)
        try:
            outcome = (True, self._job(self.progress.emit, self._control))
        except Exception as exc:  # noqa: BLE001 - every failure becomes a message
            if not isinstance(exc, FledgeError):
                log.error("job failed:\n%s", traceback.format_exc())
            outcome = (False, describe_exception(exc))
        # Hand this object back to the GUI thread (only its own thread may push
        # it), so that it is destroyed there once the runner drops it.
        self.moveToThread(self._home)
        self.done.emit(*outcome)


class JobRunner(QObject):
    """Owns one job at a time and the QThread it runs on (lives on the GUI thread).

    Signals: ``started()``, ``progress(object)`` for each report, then exactly
    one of ``finished(object)`` (the result) or ``failed(str)``, then ``ended()``.
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
    def start(self, job: Job) -> None:
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

    def wait(self, timeout_ms: int = -1) -> bool:
        """Block until the thread has ended; True when it has (or none runs).

        Used at shutdown. Results still queued for the GUI thread are delivered
        when the event loop next runs.
        """
        thread = self._thread
        if thread is None:
            return True
        return thread.wait() if timeout_ms < 0 else thread.wait(timeout_ms)

    def shutdown(self, timeout_ms: int = -1) -> bool:
        """Ask the job to stop and join its thread (for closing the window)."""
        self.stop()
        return self.wait(timeout_ms)

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


# -- short calls on a thread pool ------------------------------------------------------

class _CallSignals(QObject):
    done = Signal(int, object)      # token, result
    failed = Signal(int, object)    # token, exception


class _Call(QRunnable):
    def __init__(self, signals: _CallSignals, token: int, fn: Callable, args: tuple) -> None:
        super().__init__()
        self._signals = signals     # kept alive by this reference even if the runner is gone
        self._token = token
        self._fn = fn
        self._args = args

    def run(self) -> None:
        try:
            result = self._fn(*self._args)
        except Exception as exc:    # reported to the GUI thread, never lost
            self._signals.failed.emit(self._token, exc)
            return
        self._signals.done.emit(self._token, result)


class BackgroundRunner(QObject):
    """Run callables on a private thread pool; done/failed arrive on the GUI thread.

    submit() returns a token; callers keep the token of the request they still care
    about and ignore answers carrying older ones. With threads=1 calls run one after
    another in submission order (used for the model: load first, then predict).
    """

    done = Signal(int, object)
    failed = Signal(int, object)

    _tokens = itertools.count(1)

    def __init__(self, parent: QObject | None = None, threads: int = 1) -> None:
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(threads)
        self._signals = _CallSignals()
        self._signals.done.connect(self.done)
        self._signals.failed.connect(self.failed)

    def submit(self, fn: Callable, *args) -> int:
        token = next(self._tokens)
        self._pool.start(_Call(self._signals, token, fn, args))
        return token

    def clear(self) -> None:
        """Drop calls that have not started yet."""
        self._pool.clear()

    def wait(self, msecs: int = -1) -> bool:
        """Block until every started call has finished (used when closing)."""
        return self._pool.waitForDone(msecs)


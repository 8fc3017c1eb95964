"""Run long `core` jobs on a QThread and bring their reports back as Qt signals.

A job is any callable ``job(report, control) -> result``:

* ``report(obj)`` may be called from the job's thread any number of times; each
  object arrives on the GUI thread through :attr:`JobRunner.progress` (Qt queues
  signals that cross threads, so widgets are only touched on the GUI thread);
* ``control`` is a :class:`core.events.TrainControl`; the job polls it to stop or
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

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from core.errors import FledgeError
from core.events import TrainControl
from core.priority import lower_thread_priority

log = logging.getLogger(__name__)

JOB_NICE = 5     # decoding threads sit lower still (core.pipeline.DECODE_NICE_CPU)

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


@dataclass(frozen=True)
class EngineInfo:
    """What the heavy half of core reports once it is imported."""
    devices: list            # [(id, label)] from core.devices.list_devices()
    architectures: dict      # name -> core.architectures.ArchInfo
    seconds: float


def load_engine(report: Callable[[Any], None], control: TrainControl) -> EngineInfo:
    """A job: import torch and the training modules, then list the devices.

    Run on a job thread after the window is shown, so start-up stays quick and
    the window stays responsive while PyTorch loads.
    """
    import time

    t0 = time.perf_counter()
    import core.devices
    import core.models
    import core.training  # noqa: F401 - imported here so the first Start is quick
    from core.architectures import ARCH_INFO

    devices = core.devices.list_devices()
    known = {name: ARCH_INFO[name] for name in core.models.ARCHITECTURES if name in ARCH_INFO}
    return EngineInfo(devices=devices, architectures=known, seconds=time.perf_counter() - t0)


def warm_up(report: Callable[[Any], None], control: TrainControl) -> None:
    """A job: pay PyTorch's one-off lazy imports before the first Start.

    Creating the first optimizer imports torch._dynamo (seconds on a slow
    computer); doing it in the background makes pressing Start feel instant.
    """
    import torch

    import core.checkpoints  # noqa: F401
    import core.pipeline  # noqa: F401

    weight = torch.zeros(1, requires_grad=True)
    torch.optim.AdamW([weight], lr=1e-3)

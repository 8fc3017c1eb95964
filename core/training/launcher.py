"""The one way Fledge starts a torchrun job (training, classifying, the bench) and follows it.

    end = TorchrunJob("core.training.worker", job, processes=2, on_event=..., control=...).run()

starts `python -m torch.distributed.run --standalone --nproc-per-node N -m WORKER JOB.json` in a
session of its own (so Ctrl+C reaches only this program), where JOB.json holds the job's
description (a TrainConfig, a dataset, classify's options...) and the paths of the files through
which rank 0 and this program talk, all in one temporary folder:

- events.jsonl: rank 0 appends JSON lines as it goes; each becomes one on_event(dict) call here;
- result.json: rank 0's outcome (JobEnd.result), written once at its end;
- stop, pause: this program creates them when the control asks (rank 0 watches them and passes
  them on to every rank);
- stdout, stderr (console=True): rank 0's own printing, passed on to this program's stdout and stderr.

Everything else the processes and torchrun print, torchrun's ~40-line report of a killed rank
included, goes to a log file in Fledge's logs folder (JobEnd.log), which is deleted when the job
ends cleanly, so that a front end can say in one line what happened and where the details are.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import core
from core.files.user_data import user_data_dir
from core.model import threads
from core.training.events import TrainControl

KEEP_LOGS = 20              # logs of jobs that did not end cleanly, newest kept
END_WAIT_S = 60             # after asking torchrun to end, how long before its processes are killed
FILES = {"job": "job.json", "events": "events.jsonl", "result": "result.json", "stop": "stop", "pause": "pause",
         "stdout": "stdout.txt", "stderr": "stderr.txt"}
CONSOLE = ("stdout", "stderr")


@dataclass(frozen=True)
class JobEnd:
    """How a torchrun job ended."""
    returncode: int                 # torchrun's exit status (0: every process ended cleanly)
    result: dict | None             # what rank 0 wrote to result.json; None if it never did
    log: str = ""                   # the processes' and torchrun's own output ("" when deleted)
    interrupted: bool = False       # ended because Ctrl+C or SIGTERM asked this program to end it
    cause: str = ""                 # why the processes ended, in plain words ("" when cleanly)

    def report(self) -> str:
        """The sentence that names the log file ("" without one)."""
        return f"The processes' own report is in {self.log}." if self.log else ""


def torchrun_command(worker: str, job_path: str, processes: int) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(processes),
            "-m", worker, job_path]


class TorchrunJob:
    """One torchrun job from start to end: the files, the events, Stop/Pause, Ctrl+C, the outcome.

    control: its stop and pause reach rank 0 through the stop and pause files.
    ctrl_c (only in the main thread; SIGTERM is handled alongside): "stop" = the first Ctrl+C
    asks the control to stop (notice(text) says so), the next ends the job; "end" = Ctrl+C ends
    the job; None = Ctrl+C is a KeyboardInterrupt as usual (the job is ended on the way out).
    Ending means SIGTERM to torchrun, which passes it on to every process; one more Ctrl+C, or
    END_WAIT_S seconds without an end, kills them all.
    """

    def __init__(self, worker: str, job: dict, processes: int, *, kind: str = "job",
                 on_event: Callable[[dict], None] | None = None, control: TrainControl | None = None,
                 console: bool = False, ctrl_c: str | None = None, notice: Callable[[str], None] | None = None,
                 env: dict | None = None, poll_s: float = 0.05) -> None:
        self.worker, self.job, self.processes, self.kind = worker, job, processes, kind
        self.on_event = on_event
        self.control = control or TrainControl()
        self.console = console
        self.ctrl_c = ctrl_c
        self.notice = notice
        self.env = env or {}
        self.poll_s = poll_s
        self._presses = 0
        self._ending_since: float | None = None
        self._proc: subprocess.Popen | None = None

    # -- the run -------------------------------------------------------------------------------
    def run(self) -> JobEnd:
        with tempfile.TemporaryDirectory(prefix=f"fledge-{self.kind}-") as tmp:
            files = {k: os.path.join(tmp, name) for k, name in FILES.items() if self.console or k not in CONSOLE}
            for k in ("events", *CONSOLE):
                if k in files:
                    Path(files[k]).touch()
            Path(files["job"]).write_text(json.dumps({**self.job, "files": files}), encoding="utf-8")
            log = _new_log(self.kind)
            with open(log, "wb") as log_file:
                self._proc = subprocess.Popen(
                    torchrun_command(self.worker, files["job"], self.processes), env=self._child_env(),
                    stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
                try:
                    with self._signals():
                        self._follow(files)
                finally:
                    self._end_if_running()
            result = _read_result(files["result"])
        rc = self._proc.returncode
        if rc == 0 and result is not None:
            _remove(log)
            return JobEnd(rc, result, "", self._ending_since is not None)
        _prune_logs(Path(log).parent)
        cause = describe_exit(rc, Path(log).read_text(encoding="utf-8", errors="replace"))
        return JobEnd(rc, result, log, self._ending_since is not None, cause)

    def _child_env(self) -> dict:
        env = dict(os.environ)
        # torchrun would give each process one thread; on a CPU they share the cores instead, and
        # each lowers its share while other programs keep cores busy (core.model.threads).
        env.setdefault("OMP_NUM_THREADS", str(threads.share(self.processes)))
        env["PYTHONUNBUFFERED"] = "1"         # a process that is killed leaves its last words in the log
        # The processes run the same Fledge as this program, wherever it was started from.
        here = str(Path(core.__file__).resolve().parents[1])
        env["PYTHONPATH"] = os.pathsep.join([here] + [p for p in [env.get("PYTHONPATH")] if p])
        env.update(self.env)
        return env

    def _follow(self, files: dict) -> None:
        streams = [(files["events"], self._event_lines)]
        if self.console:
            streams += [(files["stdout"], _writer(sys.stdout)), (files["stderr"], _writer(sys.stderr))]
        opened = [(open(path, "rb"), handle) for path, handle in streams]
        pending = {id(f): b"" for f, _ in opened}
        try:
            while True:
                running = self._proc.poll() is None
                self._mirror(files)
                for f, handle in opened:
                    pending[id(f)] = handle(pending[id(f)] + f.read())
                if not running:
                    return
                if self._ending_since is not None and time.monotonic() - self._ending_since > END_WAIT_S:
                    self._kill()
                try:
                    self._proc.wait(timeout=self.poll_s)
                except subprocess.TimeoutExpired:
                    pass
        finally:
            for f, _ in opened:
                f.close()

    def _event_lines(self, data: bytes) -> bytes:
        """Hands on every complete line; returns the incomplete rest."""
        *lines, rest = data.split(b"\n")
        for line in lines:
            if line.strip() and self.on_event is not None:
                self.on_event(json.loads(line))
        return rest

    def _mirror(self, files: dict) -> None:
        """The control's stop and pause, as files rank 0 watches."""
        if self.control.stop_requested:
            Path(files["stop"]).touch()
        pause = Path(files["pause"])
        if self.control.paused and not pause.exists():
            pause.touch()
        elif not self.control.paused and pause.exists():
            pause.unlink()

    # -- ending it -------------------------------------------------------------------------------
    def end(self) -> None:
        """Ask torchrun to end every process (again: kill them)."""
        if self._proc is None or self._proc.poll() is not None:
            return
        if self._ending_since is not None:
            self._kill()
            return
        self._ending_since = time.monotonic()
        self._proc.send_signal(signal.SIGTERM)

    def _kill(self) -> None:
        try:
            os.killpg(self._proc.pid, signal.SIGKILL)     # torchrun and every process it started
        except (ProcessLookupError, PermissionError):
            pass

    def _end_if_running(self) -> None:
        """On the way out (an error, a KeyboardInterrupt): no process outlives this program's wait."""
        if self._proc.poll() is not None:
            return
        self.end()
        try:
            self._proc.wait(timeout=END_WAIT_S)
        except subprocess.TimeoutExpired:
            self._kill()
            self._proc.wait()
        except KeyboardInterrupt:           # Ctrl+C again while waiting: at once
            self._kill()
            self._proc.wait()
            raise

    def _on_signal(self, signum, frame) -> None:
        if signum == signal.SIGINT and self.ctrl_c == "stop" and self._presses == 0:
            self._presses += 1
            self.control.stop()
            if self.notice is not None:
                self.notice("Stopping after this batch (press Ctrl+C again to quit at once)...")
            return
        self._presses += 1
        self.end()

    def _signals(self):
        return _Handlers(self._on_signal if self.ctrl_c is not None else None)


class _Handlers:
    """SIGINT and SIGTERM handled by `handler` while the job runs (main thread only)."""

    def __init__(self, handler) -> None:
        self.handler = handler
        self.previous: dict = {}

    def __enter__(self):
        if self.handler is not None and threading.current_thread() is threading.main_thread():
            self.previous = {s: signal.signal(s, self.handler) for s in (signal.SIGINT, signal.SIGTERM)}
        return self

    def __exit__(self, *exc) -> None:
        for s, h in self.previous.items():
            signal.signal(s, h)


def _writer(stream):
    """Passes a rank's console output on as it comes, bytes as they are where the stream allows."""
    def write(data: bytes) -> bytes:
        if data:
            target = getattr(stream, "buffer", None)
            if target is not None:
                stream.flush()
                target.write(data)
                target.flush()
            else:
                stream.write(data.decode("utf-8", errors="replace"))
                stream.flush()
        return b""
    return write


def _read_result(path: str) -> dict | None:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


# -- the log -------------------------------------------------------------------------------------
def logs_dir() -> Path:
    return user_data_dir() / "logs"


def _new_log(kind: str) -> str:
    """A new log file in Fledge's logs folder, or in the temporary folder where that cannot be made."""
    name = f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    try:
        logs_dir().mkdir(parents=True, exist_ok=True)
        fd, path = tempfile.mkstemp(prefix=name + "-", suffix=".log", dir=logs_dir())
    except OSError:
        fd, path = tempfile.mkstemp(prefix=f"fledge-{name}-", suffix=".log")
    os.close(fd)
    return path


def _remove(path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _prune_logs(folder: Path, keep: int = KEEP_LOGS) -> None:
    """Only the newest `keep` logs stay (Fledge's own files: nobody else writes there)."""
    if folder != logs_dir():
        return
    try:
        logs = sorted(folder.glob("*.log"), key=lambda p: p.stat().st_mtime, reverse=True)
    except OSError:
        return
    for old in logs[keep:]:
        _remove(old)


_ROOT_CAUSE = re.compile(r"Root Cause.*?exitcode\s*:\s*(-?\d+)", re.DOTALL)


def describe_exit(returncode: int, log_text: str) -> str:
    """Why the processes ended, in plain words, from torchrun's exit status and its report."""
    found = _ROOT_CAUSE.search(log_text)
    code = int(found.group(1)) if found else None
    if code is not None and code < 0:
        name = _signal_name(-code)
        if -code == signal.SIGKILL:
            return (f"one of the processes was killed with {name}, from outside or because the computer ran "
                    "out of memory")
        return f"one of the processes was ended by {name}"
    if code is not None:
        return f"one of the processes stopped with exit status {code}"
    if returncode < 0:
        return f"torchrun was ended by {_signal_name(-returncode)}"
    return f"torchrun ended with exit status {returncode}"


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"

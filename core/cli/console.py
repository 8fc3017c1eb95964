"""How every `fledge` subcommand talks to the console: failure lines and exit statuses,
progress lines, Ctrl+C, and printing any file name.

* fail(message, code) prints the one line "fledge: message" on stderr.
* @command maps what a command raises to that line and an exit status (never a traceback):
  UsageError 2, FledgeError and OSError 1, KeyboardInterrupt 130.
* StatusLine is progress for a person or a log: on a terminal one line redrawn in place;
  through a pipe or into a file a plain line every LOG_INTERVAL_S seconds, so a log shows
  that the work goes on without filling up. StageProgress draws core's JobProgress on it.
* ctrl_c_stops(): the first Ctrl+C asks the work to stop cleanly, the second quits.
* safe_console(): a name that is not valid UTF-8 (a Latin-1 camera, an old zip file)
  reaches Python as a string with "surrogate escapes"; printing it on a strict UTF-8
  stdout would crash. After safe_console(), such bytes are written out exactly as they are
  in the name (what `ls` would pass on through a pipe), and a character the terminal's
  encoding has no code for is written as a backslash escape.
"""
from __future__ import annotations

import codecs
import contextlib
import functools
import logging
import math
import signal
import sys
import threading
import time
from collections.abc import Callable

from core.errors import FledgeError, UsageError
from core.files import cache_faults
from core.files.file_transfer import describe_os_error
from core.progress import JobProgress

HANDLER = "fledge-console"
EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130
TTY_INTERVAL_S = 0.1        # a terminal's line is redrawn at most this often
LOG_INTERVAL_S = 10.0       # a pipe or a file gets a progress line this often


# -- printing any name -------------------------------------------------------------------------

def _console_errors(exc: UnicodeError):
    if isinstance(exc, UnicodeEncodeError):
        bad = exc.object[exc.start:exc.end]
        if all(0xDC80 <= ord(ch) <= 0xDCFF for ch in bad):
            return bytes(ord(ch) - 0xDC00 for ch in bad), exc.end
        return codecs.backslashreplace_errors(exc)
    raise exc


codecs.register_error(HANDLER, _console_errors)


def safe_console(*streams) -> None:
    """Make stdout and stderr (or the given text streams) print any name without crashing."""
    for stream in streams or (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is None:
            continue
        try:
            reconfigure(errors=HANDLER)
        except (ValueError, OSError, TypeError):
            pass      # a stream that cannot be changed (closed, or not a plain text stream)


class _StderrLines(logging.Handler):
    """Each record as one plain line on sys.stderr, looked up per line (a redirected or captured
    stderr gets it)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            print(record.getMessage(), file=sys.stderr)
        except Exception:  # noqa: BLE001 - a note that cannot be printed must not end the command
            self.handleError(record)


def show_cache_notes() -> None:
    """Print core's one-line cache notes (a damaged cache file set aside, a cache that could not be
    written) on stderr, as they happen; once per process however often it is called."""
    logger = logging.getLogger(cache_faults.__name__)
    if not any(isinstance(h, _StderrLines) for h in logger.handlers):
        logger.addHandler(_StderrLines(logging.WARNING))


# -- failures ------------------------------------------------------------------------------------

def fail(message: str, code: int = EXIT_FAILED) -> int:
    """Print the one line that says what went wrong; the exit status to return."""
    print(f"fledge: {message}", file=sys.stderr)
    return code


def os_error_message(exc: OSError) -> str:
    """A file error that ended a command, in plain words with the file it happened to."""
    where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
    return f"Could not finish: {describe_os_error(exc)}{where}."


def problem_line(exc: BaseException) -> str | None:
    """The one line a user error says (FledgeError, OSError); None for an error nobody foresaw."""
    if isinstance(exc, FledgeError):
        return str(exc)
    if isinstance(exc, OSError):
        return os_error_message(exc)
    return None


def command(func: Callable[..., int]) -> Callable[..., int]:
    """A subcommand whose failures are one line on stderr and an exit status, never a
    traceback; any file name prints (safe_console). Wrapping twice changes nothing."""
    if getattr(func, "fledge_command", False):
        return func

    @functools.wraps(func)
    def run(args) -> int:
        safe_console()
        try:
            return func(args)
        except UsageError as exc:
            return fail(str(exc), EXIT_USAGE)
        except (FledgeError, OSError) as exc:
            return fail(problem_line(exc))
        except KeyboardInterrupt:
            return fail("interrupted.", EXIT_INTERRUPTED)
    run.fledge_command = True
    return run


# -- progress ------------------------------------------------------------------------------------

def _is_terminal(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


class StatusLine:
    """Progress on one stream: on a terminal one line redrawn in place (at most every
    TTY_INTERVAL_S); elsewhere a plain line at most every LOG_INTERVAL_S, the first one
    after that much work, so a short job leaves a log as it was."""

    def __init__(self, stream=None, clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = sys.stderr if stream is None else stream
        self.tty = _is_terminal(self.stream)
        self._clock = clock
        self._last = -math.inf if self.tty else clock()
        self._width = 0             # characters of the line now on a terminal's screen

    def show(self, text: str, force: bool = False) -> None:
        """Draw text as the progress now; force: on a terminal, even if it was just drawn
        (a stage's first and last report)."""
        now = self._clock()
        if self.tty:
            if not force and now - self._last < TTY_INTERVAL_S:
                return
            self.stream.write("\r" + text.ljust(self._width))     # pads over a longer line before
            self._width = len(text)
        else:
            if now - self._last < LOG_INTERVAL_S:
                return
            self.stream.write(text + "\n")
        self._last = now
        self.stream.flush()

    def end(self) -> None:
        """Keep the terminal's line as drawn; what is printed next starts below it."""
        if self._width:
            self.stream.write("\n")
            self.stream.flush()
            self._width = 0

    def clear(self) -> None:
        """Wipe the terminal's line, so the line printed next takes its place."""
        if self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self._width = 0

    def say(self, text: str) -> None:
        """A line of its own (not progress), in place of the progress line."""
        self.clear()
        print(text, file=self.stream, flush=True)


class StageProgress:
    """core.progress.JobProgress as "Classifying 120/400 (30%)" on a StatusLine (stderr by
    default); labels names the stages to show, each on a line of its own."""

    def __init__(self, labels: dict[str, str], stream=None, clock: Callable[[], float] = time.monotonic) -> None:
        self.labels = labels
        self.line = StatusLine(stream, clock)
        self.stage = ""

    def __call__(self, event: JobProgress) -> None:
        label = self.labels.get(event.stage)
        if label is None or not event.total:
            return
        first = event.stage != self.stage
        if first:
            self.line.end()
            self.stage = event.stage
        self.line.show(f"{label} {event.done}/{event.total} ({event.done / event.total:.0%})",
                       force=first or event.done >= event.total)

    def step(self, stage: str, done: int, total: int) -> None:
        """For work that reports progress(stage, done, total)."""
        self(JobProgress(stage, done, total))

    def close(self) -> None:
        self.line.end()


# -- Ctrl+C --------------------------------------------------------------------------------------

@contextlib.contextmanager
def ctrl_c_stops(on_stop: Callable[[], None] | None = None, what: str = "the current step"):
    """Yields should_stop(). The first Ctrl+C asks the work to stop cleanly after `what` (and
    calls on_stop), so what is done is kept; the second quits at once (KeyboardInterrupt,
    which @command words). Off the main thread signals cannot be caught: should_stop() stays
    false."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop.is_set
        return

    def handler(signum, frame):
        if stop.is_set():
            raise KeyboardInterrupt
        print(f"\nStopping after {what} (press Ctrl+C again to quit at once)...", file=sys.stderr, flush=True)
        stop.set()
        if on_stop is not None:
            on_stop()

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield stop.is_set
    finally:
        signal.signal(signal.SIGINT, previous)

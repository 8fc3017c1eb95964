"""Printing any file name, whatever the terminal's encoding.

A name that is not valid UTF-8 (a Latin-1 camera, an old zip file) reaches Python as a
string with "surrogate escapes"; printing it on a strict UTF-8 stdout would crash. After
safe_console(), such bytes are written out exactly as they are in the name (what `ls`
would pass on through a pipe), and a character the terminal's encoding has no code for
is written as a backslash escape -- never a traceback.
"""
from __future__ import annotations

import codecs
import logging
import sys

HANDLER = "fledge-console"


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
    from core.files import cache_faults

    logger = logging.getLogger(cache_faults.__name__)
    if not any(isinstance(h, _StderrLines) for h in logger.handlers):
        logger.addHandler(_StderrLines(logging.WARNING))

"""Thread priorities: background work yields the CPU to what a person is waiting for."""
from __future__ import annotations

import os
import sys
import threading


def lower_thread_priority(nice: int) -> None:
    """Set the calling thread's nice value (Linux: nice is per thread, and threads it
    starts -- torch's OpenMP workers among them -- inherit it); elsewhere a no-op."""
    if nice <= 0 or not sys.platform.startswith("linux"):
        return
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
    except (AttributeError, OSError):
        pass

"""gui.background: the one way the GUI runs work off the main thread (job thread or pool)."""
from __future__ import annotations

import threading

from core.errors import DatasetError
from gui.background import JobRunner, TaskPool, call, running_threads


def test_job_runner_reports_and_finishes(qtbot):
    r = JobRunner()
    seen = []
    r.progress.connect(seen.append)

    def job(report, control):
        for i in range(5):
            report(i)
        return "done"

    with qtbot.waitSignal(r.finished, timeout=10000) as blocker:
        r.start(job)
    assert blocker.args == ["done"]
    assert seen == [0, 1, 2, 3, 4]
    assert not r.is_running() and not running_threads()



def test_job_runner_turns_errors_into_messages(qtbot):
    r = JobRunner()

    def bad(report, control):
        raise DatasetError("The folder has no class subfolders. Put each class in its own folder.")

    with qtbot.waitSignal(r.failed, timeout=10000) as blocker:
        r.start(bad)
    assert "class subfolders" in blocker.args[0]

    def crash(report, control):
        raise ZeroDivisionError("division by zero")

    with qtbot.waitSignal(r.failed, timeout=10000) as blocker:
        r.start(crash)
    assert "ZeroDivisionError" in blocker.args[0] and "Try again" in blocker.args[0]
    assert not running_threads()



def test_job_runner_pause_and_stop_through_control(qtbot):
    from gui.background import JobPaused, JobResumed

    r = JobRunner()
    seen = []
    r.progress.connect(seen.append)

    def job(report, control):
        n = 0
        while not control.stop_requested:
            if control.paused:
                control.wait_while_paused()
            n += 1
            if n == 3:
                report("three")
            if n > 10_000_000:
                return "ran away"
        return n

    r.start(job)
    qtbot.waitUntil(lambda: "three" in seen, timeout=10000)
    r.pause()
    qtbot.waitUntil(lambda: any(isinstance(e, JobPaused) for e in seen), timeout=10000)
    r.resume()
    qtbot.waitUntil(lambda: any(isinstance(e, JobResumed) for e in seen), timeout=10000)
    with qtbot.waitSignal(r.finished, timeout=10000) as blocker:
        r.stop()
    assert isinstance(blocker.args[0], int)


# -- the pool: the same tasks, answers by token -------------------------------------------

def test_pool_reports_and_answers_by_token(qtbot):
    pool = TaskPool()
    seen = []
    pool.progress.connect(lambda token, obj: seen.append((token, obj)))

    def task(report, control):
        for i in range(3):
            report(i)
        return "done"

    with qtbot.waitSignal(pool.finished, timeout=10000) as blocker:
        token = pool.submit(task)
        assert pool.is_busy()
    assert blocker.args == [token, "done"]
    assert seen == [(token, 0), (token, 1), (token, 2)]
    assert not pool.is_busy()
    with qtbot.waitSignal(pool.finished, timeout=10000) as blocker:
        token = pool.submit(call(sorted, [3, 1, 2], reverse=True))
    assert blocker.args == [token, [3, 2, 1]]


def test_pool_turns_errors_into_the_job_runners_messages(qtbot):
    pool = TaskPool()

    def bad(report, control):
        raise DatasetError("The folder has no class subfolders. Put each class in its own folder.")

    with qtbot.waitSignal(pool.failed, timeout=10000) as blocker:
        token = pool.submit(bad)
    assert blocker.args == [token, "The folder has no class subfolders. Put each class in its own folder."]
    with qtbot.waitSignal(pool.failed, timeout=10000) as blocker:
        pool.submit(call(divmod, 1, 0))
    assert "ZeroDivisionError" in blocker.args[1] and "Try again" in blocker.args[1]

    def locked(report, control):
        raise PermissionError(13, "Permission denied", "/photos/private")

    with qtbot.waitSignal(pool.failed, timeout=10000) as blocker:
        pool.submit(locked)
    assert "may not open /photos/private" in blocker.args[1]


def test_pool_cancel_forgets_queued_and_running_tasks(qtbot):
    pool = TaskPool(threads=1)
    started, gate, ran = threading.Event(), threading.Event(), []
    answers = []
    pool.finished.connect(lambda token, result: answers.append(result))

    def long(report, control):
        started.set()
        while not control.stop_requested:
            gate.wait(0.01)
        ran.append("long")
        return "long"

    pool.submit(long)
    pool.submit(call(ran.append, "queued"))
    assert started.wait(10)
    pool.cancel()                    # the running task is asked to stop, the queued one dropped
    assert not pool.is_busy()
    with qtbot.waitSignal(pool.finished, timeout=10000) as blocker:
        token = pool.submit(call(str, "after"))
    assert blocker.args == [token, "after"]
    assert pool.wait(10000)
    assert ran == ["long"]           # the queued task never ran ...
    assert answers == ["after"]      # ... and the stopped one's answer was not delivered


def test_pool_shutdown_stops_and_joins(qtbot):
    pool = TaskPool(threads=2)
    started, gate = threading.Semaphore(0), threading.Event()

    def until_stopped(report, control):
        started.release()
        while not control.stop_requested:
            gate.wait(0.01)

    for _ in range(2):
        pool.submit(until_stopped)
    assert started.acquire(timeout=10) and started.acquire(timeout=10)
    assert pool.shutdown(10000)
    assert not pool.is_busy()

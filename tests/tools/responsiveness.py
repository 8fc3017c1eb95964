"""Measure how responsive the window stays while a model trains, as a person uses it:
`python -m tests.tools.responsiveness [DATA] [--arch A] [--epochs N] [--image-size N] [--batch-size N]`.

Opens the real window (offscreen unless a display is set), trains on DATA (default: the
sample data) with the Train tab and its live plots showing, and prints the gaps between
ticks of a 10 ms timer on the GUI thread from the start of training to its end. The figures
depend on the machine and on what else runs on it, so they are printed, not asserted: a test
bound on them failed on a loaded machine (540 ms against a 500 ms bound) while nothing was wrong.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass

TICK_MS = 10            # the probe timer's interval
SLOW_MS = 50            # a gap a person starts to notice


@dataclass(frozen=True)
class Gaps:
    """The GUI thread's event-loop gaps while a model trained."""
    run_s: float
    ticks: int
    reports: int                  # BatchEnd events the window received
    reason: str                   # how the run ended
    max_ms: float
    p99_ms: float
    median_ms: float
    slow: int                     # gaps over SLOW_MS

    def __str__(self) -> str:
        return (f"run {self.run_s:.1f} s, {self.reports} progress reports, {self.reason}. GUI event-loop gaps "
                f"({self.ticks} ticks of a {TICK_MS} ms timer): max {self.max_ms:.1f} ms, p99 {self.p99_ms:.1f} ms, "
                f"median {self.median_ms:.1f} ms, {self.slow} of {self.ticks - 1} over {SLOW_MS} ms")


def wait_until(cond, timeout_s: float) -> None:
    """Run the event loop until cond() or the timeout."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    poll = QTimer()
    poll.timeout.connect(lambda: cond() and loop.quit())
    poll.start(20)
    QTimer.singleShot(int(timeout_s * 1000), loop.quit)
    loop.exec()
    poll.stop()


def measure(window, data: str, config, timeout_s: float = 3600) -> Gaps:
    """Train config on data in window's Train tab; the event-loop gaps from FitStarted to the end.
    Raises RuntimeError when training cannot start or never starts."""
    import numpy as np
    from PySide6.QtCore import QTimer

    from core.training.events import BatchEnd, FitStarted

    # PyTorch's one-off imports (start-up) hold the interpreter lock; measure training itself.
    wait_until(lambda: window.engine is not None and not window._warmup_runner.is_running(), 300)
    window.open_dataset(data)
    tp = window.training_panel
    wait_until(lambda: tp.dataset is not None, 300)
    tp.form.apply_config(config)
    window.show_panel("train")

    ticks: list[float] = []
    started: list[float] = []
    ended: list = []
    reports = [0]

    def on_event(ev) -> None:
        if isinstance(ev, FitStarted):
            started.append(time.perf_counter())
        elif isinstance(ev, BatchEnd):
            reports[0] += 1

    tp.runner.progress.connect(on_event)
    tp.run_finished.connect(ended.append)
    timer = QTimer()
    timer.setInterval(TICK_MS)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start()
    try:
        if not tp.start():
            raise RuntimeError(f"Training did not start: {tp.start_problem()}")
        wait_until(lambda: bool(ended), timeout_s)
    finally:
        timer.stop()
        tp.runner.progress.disconnect(on_event)
        tp.run_finished.disconnect(ended.append)
    if not started or not ended:
        raise RuntimeError("Training did not run to its end in time.")
    t = np.array(ticks)
    t = t[t >= started[0]]
    gaps = np.diff(t) * 1000 if len(t) > 1 else np.zeros(1)
    return Gaps(run_s=float(t[-1] - t[0]) if len(t) else 0.0, ticks=len(t), reports=reports[0],
                reason=ended[0].reason, max_ms=float(gaps.max()), p99_ms=float(np.percentile(gaps, 99)),
                median_ms=float(np.median(gaps)), slow=int((gaps > SLOW_MS).sum()))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.tools.responsiveness")
    p.add_argument("data", nargs="?", help="dataset folder (default: fresh sample data)")
    p.add_argument("--arch", default="small_cnn")
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--image-size", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=32)
    args = p.parse_args(argv)

    scratch = tempfile.mkdtemp(prefix="fledge-responsiveness-")
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ["FLEDGE_SETTINGS_DIR"] = os.path.join(scratch, "settings")
    os.environ["FLEDGE_RUNS"] = os.path.join(scratch, "runs")

    from core.training.config import TrainConfig

    from gui.app import create_app
    from gui.main_window import MainWindow

    app = create_app(sys.argv[:1])
    window = MainWindow()
    window.resize(1280, 820)
    window.show()
    data = args.data
    if not data:
        from core.data.sample_data import write_sample_data

        data = write_sample_data(os.path.join(scratch, "sample"))
    config = TrainConfig(recipe="custom", arch=args.arch, epochs=args.epochs, image_size=args.image_size,
                         batch_size=args.batch_size, patience=0)      # every epoch: runs compare
    try:
        gaps = measure(window, data, config)
    except RuntimeError as exc:
        print(exc, file=sys.stderr)
        return 1
    finally:
        window.shutdown()
    print(f"{args.arch} at {args.image_size} px, {args.epochs} epochs: {gaps}")
    del app
    shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

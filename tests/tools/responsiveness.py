"""Measure how responsive the window stays while a model trains, as a person uses it:
`python -m tests.tools.responsiveness [DATA] [--arch A] [--epochs N] [--image-size N]`.

Opens the real window (offscreen unless a display is set), trains on DATA (default: the
sample data) with the Train tab and its live plots showing, and prints the gaps between
ticks of a 10 ms timer on the GUI thread from the start of training to its end.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time


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

    import numpy as np
    from PySide6.QtCore import QEventLoop, QTimer

    from core.training.config import TrainConfig
    from core.training.events import BatchEnd, FitStarted

    from gui.app import create_app
    from gui.main_window import MainWindow

    app = create_app(sys.argv[:1])
    window = MainWindow()
    window.resize(1280, 820)
    window.show()

    def wait_until(cond, timeout_s: float) -> None:
        loop = QEventLoop()
        poll = QTimer()
        poll.timeout.connect(lambda: cond() and loop.quit())
        poll.start(20)
        QTimer.singleShot(int(timeout_s * 1000), loop.quit)
        loop.exec()
        poll.stop()

    wait_until(lambda: window.engine is not None and not window._warmup_runner.is_running(), 300)
    data = args.data
    if not data:
        from core.data.sample_data import write_sample_data

        data = write_sample_data(os.path.join(scratch, "sample"))
    window.open_dataset(data)
    tp = window.training_panel
    wait_until(lambda: tp.dataset is not None, 300)
    tp.form.apply_config(TrainConfig(recipe="custom", arch=args.arch, epochs=args.epochs, image_size=args.image_size,
                                     batch_size=args.batch_size))
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
    timer.setInterval(10)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start()
    if not tp.start():
        print(f"Training did not start: {tp.start_problem()}", file=sys.stderr)
        return 1
    wait_until(lambda: bool(ended), 3600)
    timer.stop()
    window.shutdown()
    t = np.array(ticks)
    t = t[t >= started[0]]
    gaps = np.diff(t) * 1000
    print(f"{args.arch} at {args.image_size} px, {args.epochs} epochs: run {t[-1] - t[0]:.1f} s, "
          f"{reports[0]} progress reports, {ended[0].reason}. GUI event-loop gaps: max {gaps.max():.1f} ms, "
          f"p99 {np.percentile(gaps, 99):.1f} ms, median {np.median(gaps):.1f} ms, "
          f"{int((gaps > 50).sum())} of {len(gaps)} over 50 ms")
    del app
    shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Render the window mid-training to resources/screenshot.png (for the README).

    python -m tests.tools.screenshot [--out PATH] [--epochs N] [--grab-after N]

Trains small_cnn on the bundled sample data (birds and planes) offscreen, in a
temporary folder with throwaway settings, grabs the window after an epoch and
stops the run. Nothing of the user's (settings, runs) is touched.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "resources" / "screenshot.png"


def render(out: Path = DEFAULT_OUT, epochs: int = 8, grab_after: int = 5,
           size: tuple[int, int] = (1280, 820)) -> Path:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    work = Path(tempfile.mkdtemp(prefix="fledge-screenshot-"))
    os.environ["FLEDGE_SETTINGS_DIR"] = str(work / "settings")
    os.environ["FLEDGE_RUNS"] = str(work / "runs")

    from PySide6.QtCore import QTimer

    from core.training.config import TrainConfig
    from core.training.events import EpochEnd
    from core.data.sample_data import write_sample_data

    from gui.app import create_app
    from gui.main_window import MainWindow

    app = create_app([sys.argv[0]])
    app.setStyle("Fusion")
    data = write_sample_data(str(work / "birds-and-planes"), per_class=120, size=64)

    window = MainWindow()
    window.resize(*size)
    window.show()
    tp = window.training_panel
    state = {"saved": None, "error": None}

    def on_engine(_engine) -> None:
        window.open_dataset(data)

    def on_dataset(dataset) -> None:
        if dataset is None or tp.is_running() or state["saved"]:
            return
        tp.form.apply_config(TrainConfig(recipe="custom", arch="small_cnn", image_size=64, epochs=epochs, batch_size=32,
                                         optimizer="adamw", lr=2e-3, schedule="cosine", device="cpu"))
        window.show_panel("train")
        if not tp.start():
            state["error"] = tp.start_problem()
            app.quit()

    def on_event(ev) -> None:
        if isinstance(ev, EpochEnd) and ev.epoch == grab_after and state["saved"] is None:
            tp.plots.redraw()
            window.repaint()
            image = window.grab().toImage()
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp = out.with_name(f".{out.stem}.tmp.png")
            if image.save(str(tmp), "PNG"):
                os.replace(tmp, out)
                state["saved"] = out
            else:
                state["error"] = f"could not write {out}"
            tp.stop()

    def on_finished(_ended) -> None:
        QTimer.singleShot(0, window.close)
        QTimer.singleShot(0, app.quit)

    def on_failed(message: str) -> None:
        state["error"] = message
        app.quit()

    window.engine_ready.connect(on_engine)
    window.engine_failed.connect(on_failed)
    window.dataset_panel.dataset_changed.connect(on_dataset)
    tp.runner.progress.connect(on_event)
    tp.run_finished.connect(on_finished)
    app.exec()
    window.shutdown()
    if state["saved"] is None:
        raise SystemExit(f"No screenshot was taken: {state['error'] or 'training ended early'}")
    return state["saved"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--grab-after", type=int, default=5)
    args = p.parse_args(argv)
    print(render(args.out, epochs=args.epochs, grab_after=args.grab_after))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`fledge evaluate`, `fledge classify` and `fledge undo`: the use-the-model half of the CLI.

register(subparsers) adds the three commands; torch is imported only when a command
runs (through core.model.predictor), so building the parser stays quick.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import threading
import time

from core.errors import FledgeError


def _fail(message: str, code: int = 1) -> int:
    print(f"fledge: {message}", file=sys.stderr)
    return code


def _guarded(func):
    """User errors become one line on stderr and a non-zero exit status, never a traceback."""
    def run(args) -> int:
        try:
            return func(args)
        except FledgeError as exc:
            return _fail(str(exc))
        except OSError as exc:
            where = f": {exc.filename}" if getattr(exc, "filename", None) else ""
            return _fail(f"{exc.strerror or exc}{where}")
        except KeyboardInterrupt:
            return _fail("interrupted.", 130)
    run.__name__ = func.__name__
    run.__doc__ = func.__doc__
    return run


class _Progress:
    """A single self-overwriting line on stderr when it is a terminal; silent otherwise."""

    def __init__(self, label: str, stream=None) -> None:
        self.stream = stream or sys.stderr
        self.label = label
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.last = 0.0
        self.drawn = False

    def __call__(self, done: int, total: int) -> None:
        if not self.tty:
            return
        now = time.monotonic()
        if done < total and now - self.last < 0.1:
            return
        self.last = now
        pct = f" ({done / total:.0%})" if total else ""
        self.stream.write(f"\r{self.label} {done}/{total}{pct}   ")
        self.stream.flush()
        self.drawn = True

    def close(self) -> None:
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()
            self.drawn = False


@contextlib.contextmanager
def _stop_on_ctrl_c():
    """First Ctrl+C asks the work to stop cleanly (results so far are kept); the second quits."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop.is_set
        return

    def handler(signum, frame):
        if stop.is_set():
            raise KeyboardInterrupt
        print("\nStopping after the current step (press Ctrl+C again to quit at once)...", file=sys.stderr)
        stop.set()

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield stop.is_set
    finally:
        signal.signal(signal.SIGINT, previous)


def _model_path(path: str) -> str:
    path = os.path.abspath(os.path.expanduser(path))
    if os.path.isdir(path):
        # A training run folder: use its best model.
        for name in ("best.pt", "last.pt"):
            if os.path.isfile(os.path.join(path, name)):
                return os.path.join(path, name)
        raise FledgeError(f"{path} is a folder without a model file (best.pt). Give the path of a .pt "
                          "file saved by Fledge ('fledge runs' lists the training runs).")
    if not os.path.exists(path):
        raise FledgeError(f"The model file {path} does not exist. Give the path of a .pt file saved by "
                          "Fledge, such as best.pt in a training run folder ('fledge runs' lists them).")
    return path


def _load_predictor(path: str, device: str):
    from core.model.predictor import Predictor   # imports torch

    return Predictor.from_checkpoint(path, device=device)




# -- evaluate -----------------------------------------------------------------------------

@_guarded
def cmd_evaluate(args) -> int:
    from core.data.dataset import scan_dataset
    from core.photos.evaluation import evaluate, training_split_settings

    model_path = _model_path(args.model)
    predictor = _load_predictor(model_path, args.device)
    dataset = scan_dataset(args.data, verify=False, **training_split_settings(predictor, model_path))
    progress = _Progress("Evaluating")
    with _stop_on_ctrl_c() as should_stop:
        try:
            result = evaluate(predictor, dataset, split=args.split, batch_size=args.batch_size,
                              progress=progress, should_stop=should_stop)
        finally:
            progress.close()
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(result.format_text())
    return 130 if result.stopped else 0


# -- classify -----------------------------------------------------------------------------

@_guarded
def cmd_classify(args) -> int:
    from core.photos.sorting import (RESERVED, apply_sort, classify_folder, plan_sort, read_csv,
                          write_csv)

    if not (0.0 <= args.threshold <= 1.0):
        return _fail(f"--threshold must be from 0 to 1 (for example 0.8), not {args.threshold}.", 2)
    if args.top_k < 1:
        return _fail("--top-k must be at least 1.", 2)
    if not args.sort_into and (args.move or args.keep_structure):
        return _fail("--move and --keep-structure need --sort-into DEST.", 2)
    if args.from_csv:
        if args.folder:
            return _fail("give either MODEL FOLDER or --from-csv FILE, not both.", 2)
        model_or_folder = args.model
        if model_or_folder:
            return _fail("with --from-csv, give no MODEL (the CSV already holds the answers).", 2)
        results = read_csv(args.from_csv)
        if not results:
            return _fail(f"{args.from_csv} lists no photos.")
        dirs = [os.path.dirname(os.path.abspath(r.path)) for r in results]
        try:
            folder = os.path.commonpath(dirs)
        except ValueError:          # different drives (Windows)
            folder = dirs[0]
        stopped = False
    else:
        if not args.model or not args.folder:
            return _fail("classify needs MODEL and FOLDER (or --from-csv FILE with --sort-into DEST).", 2)
        model_path = _model_path(args.model)
        folder = os.path.abspath(os.path.expanduser(args.folder))
        if not os.path.isdir(folder):
            what = "is a file, not a folder" if os.path.exists(folder) else "does not exist"
            return _fail(f"The folder {folder} {what}. Give the folder that holds the photos to classify.")
        predictor = _load_predictor(model_path, args.device)
        exclude = []
        if args.sort_into:
            dest = os.path.abspath(os.path.expanduser(args.sort_into))
            exclude = [os.path.join(dest, c) for c in [*predictor.classes, *RESERVED]]
        progress = _Progress("Classifying")
        with _stop_on_ctrl_c() as should_stop:
            try:
                results = classify_folder(predictor, folder, recursive=args.recursive,
                                          batch_size=args.batch_size, top_k=args.top_k,
                                          progress=progress, should_stop=should_stop, exclude=exclude)
            finally:
                progress.close()
            stopped = should_stop()
        if not results:
            hint = "" if args.recursive else " (add --recursive to include subfolders)"
            return _fail(f"No pictures found in {folder}{hint}.")

    unreadable = sum(1 for r in results if r.error)
    if args.csv:
        path = write_csv(results, args.csv)
        print(f"Wrote {path} ({len(results)} photos).")
    if not args.csv and not args.sort_into:
        for r in results:
            if r.error:
                print(f"{r.path}\terror\t{r.error}")
            else:
                extra = "".join(f"\t{c}\t{p:.4f}" for c, p in r.top[1:])
                print(f"{r.path}\t{r.label}\t{r.probability:.4f}{extra}")
    summary = f"Classified {len(results)} photo{'s' if len(results) != 1 else ''}"
    if unreadable:
        summary += f"; {unreadable} could not be read"
    print(summary + "." + (" Stopped early: the rest were not classified." if stopped else ""),
          file=sys.stderr)

    code = 130 if stopped else 0
    if args.sort_into:
        ops = plan_sort(results, folder, args.sort_into, threshold=args.threshold,
                        keep_structure=args.keep_structure)
        progress = _Progress("Moving" if args.move else "Copying")
        with _stop_on_ctrl_c() as should_stop:
            try:
                report = apply_sort(ops, args.sort_into, move=args.move, progress=progress,
                                    should_stop=should_stop)
            finally:
                progress.close()
        print(report.format_text())
        if report.stopped:
            code = 130
        elif report.failed or report.aborted:
            code = 1
    return code


# -- undo ---------------------------------------------------------------------------------

@_guarded
def cmd_undo(args) -> int:
    from core.photos.sorting import undo

    progress = _Progress("Undoing")
    with _stop_on_ctrl_c() as should_stop:
        try:
            report = undo(args.dest, progress=progress, should_stop=should_stop)
        finally:
            progress.close()
    print(report.format_text())
    if report.stopped:
        return 130
    return 1 if report.failed else 0


# -- parsers ------------------------------------------------------------------------------

def register(subparsers) -> None:
    """Add the evaluate, classify and undo commands to an argparse subparsers object."""
    e = subparsers.add_parser(
        "evaluate", help="accuracy, per-class figures and confusion matrix of a model on a dataset",
        description="Measure a trained model on a dataset split: accuracy, precision, recall and F1 "
                    "per class, and the confusion matrix.")
    e.add_argument("model", help="a model file (.pt) saved by fledge train, or a run folder")
    e.add_argument("data", help="the dataset folder (DATA/<class>/ or DATA/train|val|test/<class>/)")
    e.add_argument("--split", default="val", choices=["val", "test", "train"],
                   help="which part of the dataset to evaluate on (default val)")
    e.add_argument("--json", action="store_true", help="print the figures as JSON")
    e.add_argument("--batch-size", type=int, default=64)
    e.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default auto)")
    e.set_defaults(func=cmd_evaluate)

    c = subparsers.add_parser(
        "classify", help="classify a folder of photos; write a CSV and/or sort them into class folders",
        description="Run a trained model on every photo in FOLDER. --csv writes one row per photo "
                    "(class, probability, the next best classes, capture time, error). --sort-into DEST "
                    "copies (or with --move moves) each photo into DEST/<class>/; photos below "
                    "--threshold go to DEST/_review/ and unreadable files to DEST/_unreadable/. "
                    "Names are never overwritten. Running the same command again continues an "
                    "interrupted sort; 'fledge undo DEST' puts everything back.")
    c.add_argument("model", nargs="?", help="a model file (.pt) saved by fledge train, or a run folder")
    c.add_argument("folder", nargs="?", help="the folder of photos to classify")
    c.add_argument("--csv", metavar="OUT.csv", help="write the results to this CSV file")
    c.add_argument("--sort-into", metavar="DEST", help="copy the photos into DEST/<class>/ folders")
    c.add_argument("--move", action="store_true", help="move the photos instead of copying them")
    c.add_argument("--threshold", type=float, default=0.0, metavar="T",
                   help="photos whose top probability is below T go to DEST/_review/ (default 0: none)")
    c.add_argument("--recursive", "-r", action="store_true", help="include photos in subfolders")
    c.add_argument("--keep-structure", action="store_true",
                   help="keep FOLDER's subfolders inside each class folder")
    c.add_argument("--top-k", type=int, default=3, metavar="K", help="classes per photo in the CSV (default 3)")
    c.add_argument("--from-csv", metavar="FILE",
                   help="sort using the answers in a CSV written earlier, without the model "
                        "(e.g. with a new --threshold)")
    c.add_argument("--batch-size", type=int, default=64)
    c.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default auto)")
    c.set_defaults(func=cmd_classify)

    u = subparsers.add_parser(
        "undo", help="put back every photo that fledge classify sorted into DEST",
        description="Undo every sort into DEST: moved photos go back where they were, copies are "
                    "removed when the original is still there. Nothing is overwritten.")
    u.add_argument("dest", help="the folder given to --sort-into")
    u.set_defaults(func=cmd_undo)

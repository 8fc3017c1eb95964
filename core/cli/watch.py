"""`fledge watch`: sort the photos that arrive in a folder, as they arrive, until Ctrl+C.

    fledge watch best.pt ~/birdcam --sort-into ~/sorted --threshold 0.8 [--move] [--poll]

One line per photo sorted; on Ctrl+C the photos per class, and how to put them back
(`fledge undo DEST`, the same journal as `fledge classify --sort-into`). The work is
core.photos.watch.FolderWatcher; torch is imported only when the command runs.
"""
from __future__ import annotations

import os
import sys

from core.cli.console import command, ctrl_c_stops
from core.cli.photos import _load_predictor, _model_path, _review_threshold
from core.photos.sorting import REVIEW, UNREADABLE
from core.photos.watch import (FolderWatcher, PhotoNotSorted, PhotoSorted, PhotoWaiting, WatchNote, WatchStarted,
                               WatchSummary, check_folders)
from core.wording import plural


def describe(event, move: bool) -> tuple[str, bool]:
    """(the line for one watch event, whether it belongs on stderr)."""
    if isinstance(event, PhotoSorted):
        name = os.path.basename(event.src)
        if event.category == UNREADABLE:
            return f"{name} -> {UNREADABLE} (could not be read: {event.error or 'unknown reason'})", False
        sure = f"{event.probability:.0%} sure"
        if event.category == REVIEW:
            return f"{name} -> {REVIEW} (maybe {event.label}, only {sure})", False
        return f"{name} -> {event.category} ({sure})", False
    if isinstance(event, PhotoWaiting):
        return (f"Waiting for {event.path}: {event.reason}. It stays in the folder until it is "
                "complete.", True)
    if isinstance(event, PhotoNotSorted):
        verb = "move" if move else "copy"
        return f"Could not {verb} {event.path}: {event.reason}. It stays in the folder.", True
    if isinstance(event, WatchNote):
        return event.text, True
    if isinstance(event, WatchStarted):
        how = (f"looking for new files every second{' (' + event.note + ')' if event.note else ''}"
               if event.polling else "Ctrl+C to stop")
        first = f" {plural(event.found, 'photo')} already there {'is' if event.found == 1 else 'are'} sorted " \
                "first." if event.found else ""
        return f"Watching {event.folder} ({how}).{first}", True
    return str(event), True


def summary_lines(summary: WatchSummary) -> list[str]:
    verb = "Moved" if summary.move else "Copied"
    counts = summary.counts()
    lines = []
    if counts:
        parts = ", ".join(f"{n} to {c}" for c, n in sorted(counts.items()))
        lines.append(f"Stopped watching. {verb} {plural(len(summary.sorted), 'photo')} into {summary.dest}: "
                     f"{parts}.")
        lines.append(f"To put everything back: fledge undo {summary.dest}")
    else:
        lines.append(f"Stopped watching. No photo was {verb.lower()} into {summary.dest}.")
    if summary.not_sorted:
        lines.append(f"{plural(len(summary.not_sorted), 'photo')} could not be {verb.lower()} and "
                     f"{'is' if len(summary.not_sorted) == 1 else 'are'} still in {summary.folder}.")
    return lines


@command
def cmd_watch(args) -> int:
    folder = os.path.abspath(os.path.expanduser(args.folder))
    check_folders(folder, args.sort_into)           # before the model takes seconds to load
    predictor = _load_predictor(_model_path(args.model), args.device)

    def show(event) -> None:
        line, err = describe(event, args.move)
        print(line, file=sys.stderr if err else sys.stdout, flush=True)

    threshold = _review_threshold(args, predictor)
    watcher = FolderWatcher(predictor, folder, args.sort_into, threshold=threshold, move=args.move,
                            poll=args.poll, settle=args.settle, batch_size=args.batch_size, on_event=show)
    with ctrl_c_stops() as should_stop:
        try:
            summary = watcher.run(should_stop)
        except Exception:
            print("\n".join(summary_lines(watcher.summary())))
            raise
    print("\n".join(summary_lines(summary)))
    return 1 if summary.not_sorted else 0


def register(subparsers) -> None:
    w = subparsers.add_parser(
        "watch", help="sort the photos that arrive in a folder as they arrive (until Ctrl+C)",
        description="Watch FOLDER and sort every photo that appears in it into DEST/<class>/, as "
                    "'fledge classify --sort-into' does: photos below --threshold go to DEST/_review/, "
                    "unreadable files to DEST/_unreadable/, and 'fledge undo DEST' puts everything back. "
                    "The photos already in FOLDER are sorted first (not those sorted before). A file is "
                    "taken once it has stopped growing. Only FOLDER itself is watched, not its subfolders.")
    w.add_argument("model", help="a model file (.pt) saved by fledge train, or a run folder")
    w.add_argument("folder", help="the folder the photos arrive in")
    w.add_argument("--sort-into", metavar="DEST", required=True, help="copy the photos into DEST/<class>/ folders")
    w.add_argument("--threshold", type=float, default=None, metavar="T",
                   help="photos whose top probability is below T go to DEST/_review/ (default: the per-class "
                        "thresholds saved in the model by 'fledge thresholds --save', else 0: none)")
    w.add_argument("--move", action="store_true", help="move the photos instead of copying them")
    w.add_argument("--poll", action="store_true",
                   help="look for new files every second instead of waiting to be told (for network shares "
                        "that do not report new files)")
    w.add_argument("--settle", type=float, default=1.0, metavar="SECONDS",
                   help="a file is taken once it has not changed for this long (default 1)")
    w.add_argument("--batch-size", type=int, default=32)
    w.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default auto)")
    w.set_defaults(func=cmd_watch)

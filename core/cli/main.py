"""The `fledge` command line. Parsers are built without importing torch, so
`fledge --help` and opening the window stay quick, and a command runs with its own parser
alone (its module's imports, not every command's)."""
from __future__ import annotations

import argparse
import importlib
import json
import os
import sys

from core.cli.console import EXIT_USAGE, command, safe_console, show_cache_notes
from core.cli.options import number_type
from core.errors import UsageError
from core.process_exit import leave


class _Parser(argparse.ArgumentParser):
    """Bad arguments: one clear line and exit status 2, no usage dump. Every number option
    takes its type, and so its range, from core.cli.options.NUMBERS."""

    def add_argument(self, *names, **kwargs):
        if (number := number_type(names, kwargs.get("type"))) is not None:
            kwargs["type"] = number
        return super().add_argument(*names, **kwargs)

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see '{self.prog} --help')\n")


# -- sample-data ----------------------------------------------------------------------------
@command
def cmd_sample_data(args) -> int:
    from core.data.sample_data import write_sample_data

    from core.data.dataset import scan_dataset

    path = write_sample_data(args.dest, per_class=args.per_class, seed=args.seed)
    print(f"Wrote the sample dataset (birds and planes) to {path}")
    print(scan_dataset(path).summary())
    print(f"Train a model on it with:  fledge train {path}")
    return 0


# -- predict ----------------------------------------------------------------------------------
@command
def cmd_predict(args) -> int:
    from core.model import threads

    # The thread rule's first measure starts now: importing torch and loading the model outlast
    # its window, so the photo runs with a measured thread count and without waiting for one.
    threads.policy().threads()
    from core.model.export.loading import load_predictor, resolve_model_path

    predictor = load_predictor(resolve_model_path(args.model), device=args.device, photos=len(args.images))
    preds = predictor.predict_many(args.images, top_k=args.top_k)
    failed = 0
    if args.json:
        print(json.dumps([{"path": p.source, "error": p.error,
                           "top": [{"class": c, "probability": round(pr, 6)} for c, pr in p.top]}
                          for p in preds], indent=2))
    for p in preds:
        if p.error:
            failed += 1
            if not args.json:
                print(f"{p.source}\terror\t{p.error}")
        elif not args.json:
            extra = "".join(f"\t{c}\t{pr:.4f}" for c, pr in p.top[1:]) if args.top_k > 1 and args.verbose else ""
            print(f"{p.source}\t{p.top[0][0]}\t{p.top[0][1]:.4f}{extra}")
    return 1 if failed == len(preds) else 0


# -- runs -------------------------------------------------------------------------------------
@command
def cmd_runs(args) -> int:
    from core.training.runs import list_runs, runs_root

    if args.root is not None and not os.path.isdir(args.root):
        what = "is a file, not a folder" if os.path.exists(args.root) else "does not exist"
        raise UsageError(f"--root {args.root} {what}. Give the folder that holds the run folders.")
    items = list_runs(args.root)
    if not items:
        print(f"No runs yet in {args.root or runs_root()}.")
        return 0
    for r in items:
        acc = "-" if r.best_val_acc is None else f"{r.best_val_acc:.1%}"
        print(f"{r.name}\t{r.status}\t{r.arch}\tepochs {r.epochs_done}/{r.epochs}\tbest val {acc}\t{r.run_dir}")
    return 0


def _add_sample_data(sub) -> None:
    s = sub.add_parser("sample-data", help="write the built-in sample dataset (birds and planes)")
    s.add_argument("dest", help="folder to create")
    s.add_argument("--per-class", type=int, default=150, help="images per class (default 150)")
    s.add_argument("--seed", type=int, default=0)
    s.set_defaults(func=cmd_sample_data)


def _add_predict(sub) -> None:
    pr = sub.add_parser("predict", help="classify images with a trained model")
    pr.add_argument("model", help="a model file (.pt) written by fledge train, a run folder, or an ONNX "
                                   "export folder made by fledge export")
    pr.add_argument("images", nargs="+", metavar="IMAGE")
    pr.add_argument("--top-k", type=int, default=1)
    pr.add_argument("--json", action="store_true", help="print JSON")
    pr.add_argument("--verbose", "-v", action="store_true", help="print every top-k class")
    pr.add_argument("--device", default="auto")
    pr.set_defaults(func=cmd_predict)


def _add_runs(sub) -> None:
    r = sub.add_parser("runs", help="list past training runs")
    r.add_argument("--root", default=None, help="runs folder (default: Fledge's own)")
    r.set_defaults(func=cmd_runs)


# Who adds each subcommand's parser, in the order --help lists them: a function here, or the
# register(subparsers) of the module named. Parsing one command imports its module alone, so
# `fledge predict` does not wait for what watch, train or bench are made of.
_PARSERS = {
    "sample-data": _add_sample_data, "train": "core.cli.train", "predict": _add_predict, "runs": _add_runs,
    "evaluate": "core.cli.photos", "classify": "core.cli.photos", "undo": "core.cli.photos",
    "thresholds": "core.cli.thresholds", "watch": "core.cli.watch", "bench": "core.bench.command",
    "export": "core.cli.export", "check-labels": "core.cli.check_labels", "info": "core.cli.info",
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of every subcommand; given a command's name, the parser of that one (and of
    those its module registers with it) alone."""
    p = _Parser(prog="fledge", description="Train image classifiers on your photo folders, "
                "then use them to sort photos. Run without arguments to open the window.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    wanted = [_PARSERS[command]] if command in _PARSERS else _PARSERS.values()
    for adds in dict.fromkeys(wanted):                  # a module registers its commands once
        if callable(adds):
            adds(sub)
        else:
            importlib.import_module(adds).register(sub)
    return p


def wants_window(argv: list[str]) -> bool:
    """`fledge` alone, or `fledge PATH...` (paths to open in the window), opens the app."""
    return not argv or (all(os.path.exists(a) for a in argv) and argv[0] not in _PARSERS)


# Commands whose work is all done when they return (nothing left to a thread, a finalizer or
# atexit): run as the program, they end it at once, without the interpreter's teardown
# (core.process_exit), which would keep a person waiting after the answer.
_END_AT_ONCE = {"predict"}


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand (the window is started by gui.launcher, never from here). Without
    argv this process is the `fledge` program itself: its arguments are sys.argv's, and a
    command of _END_AT_ONCE ends the process when it is done."""
    program = argv is None
    safe_console()          # argparse's messages too print any file name (even one that is not UTF-8)
    show_cache_notes()      # a damaged or unwritable cache is said in one line (core.files.cache_faults)
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(argv[0] if argv else None)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    status = command(args.func)(args)       # bench's command too (core.bench cannot import this module)
    if program and args.command in _END_AT_ONCE:
        leave(status)
    return status


if __name__ == "__main__":
    sys.exit(main())

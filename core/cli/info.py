"""`fledge info MODEL`: a trained model's summary (core.training.model_summary, which the Runs
tab shows too)."""
from __future__ import annotations

from core.cli.console import command


@command
def cmd_info(args) -> int:
    from core.training.model_summary import model_summary     # imports torch: not while building the parser

    print(model_summary(args.model))
    return 0


def register(subparsers) -> None:
    i = subparsers.add_parser("info", help="a trained model's summary: network, classes, size, training "
                                           "settings, results and thresholds")
    i.add_argument("model", help="a model file (.pt) written by fledge train, or a run folder (its best.pt)")
    i.set_defaults(func=cmd_info)

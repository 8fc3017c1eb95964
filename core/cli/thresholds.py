"""`fledge thresholds`: choose per-class review thresholds from the validation photos, and save them.

    fledge thresholds best.pt ~/birdcam --precision 0.98 [--precision plane=0.99] [--save]
    fledge thresholds best.pt --clear

The model is evaluated as `fledge evaluate` does (core.photos.evaluation.evaluate_folder, on
the split the model file records); core.photos.thresholds chooses the thresholds where the
validation photos promise the precision asked for, and words what they mean (a class without
that evidence sends its photos to review); --save stores them in the model file, where `fledge
classify` and `fledge watch` use them unless --threshold is given.
"""
from __future__ import annotations

import json
import sys

from core.cli.console import command, fail
from core.cli.photos import _load_predictor, _model_path, evaluate_model
from core.errors import UsageError
from core.photos.thresholds import CONFIDENCE, DEFAULT_TARGET, WHY_REVIEW


def _targets(values: list[str]) -> tuple[float, dict[str, float]] | str:
    """(the target for every class, per-class targets) from --precision values, or what is wrong."""
    default, per_class = DEFAULT_TARGET, {}
    for value in values or []:
        name, _, number = value.rpartition("=")
        try:
            p = float(number)
        except ValueError:
            return f"--precision takes a number from 0 to 1, or CLASS=NUMBER (for example plane=0.99), not {value}."
        if not 0.0 < p <= 1.0:
            return f"--precision must be above 0 and at most 1 (for example 0.98), not {number}."
        if name:
            per_class[name] = p
        else:
            default = p
    return default, per_class


def table_lines(choice) -> list[str]:
    w = max([len(c.name) for c in choice.classes] + [len("class")])
    lines = [f"{'class':<{w}}  target  threshold  precision  promised  recall  to review  photos"]
    for c in choice.classes:
        precision = "-" if c.precision is None else f"{c.precision:.1%}"
        threshold = "review" if c.to_review else f"{c.threshold:.3f}"
        why = f"  (all to review: {WHY_REVIEW[c.source]})" if c.to_review else ""
        lines.append(f"{c.name:<{w}}  {c.target:6.1%}  {threshold:>9}  {precision:>9}  {c.promised:8.1%}  "
                     f"{c.recall:6.1%}  {c.review:9.1%}  {c.support:6d}{why}")
    return lines


def _unknown_classes(per_class: dict[str, float], classes) -> str:
    """What is wrong when --precision CLASS=P names a class the model does not have ('' if none)."""
    unknown = [name for name in per_class if name not in classes]
    if not unknown:
        return ""
    return (f"--precision {unknown[0]}=...: the model has no class '{unknown[0]}'. Its classes are: "
            f"{', '.join(classes)}.")


@command
def cmd_thresholds(args) -> int:
    from core.model.checkpoints import save_thresholds
    from core.photos.thresholds import choose_thresholds

    model_path = _model_path(args.model, exports=False)    # the split and the thresholds live in the .pt
    if args.clear:
        save_thresholds(model_path, None)
        print(f"Removed the review thresholds from {model_path}: sorting uses --threshold (default 0) again.")
        return 0
    if not args.data:
        raise UsageError("thresholds needs MODEL and DATA (the dataset the model was trained on).")
    targets = _targets(args.precision)
    if isinstance(targets, str):
        raise UsageError(targets)
    predictor = _load_predictor(model_path, args.device)
    if problem := _unknown_classes(targets[1], list(predictor.classes)):
        raise UsageError(problem)
    result = evaluate_model(args, model_path, predictor)
    if result.stopped:
        return fail("Stopped before every photo was evaluated: no threshold was chosen.", 130)
    if not result.evaluated:
        return fail(f"No photo of the {args.split} split could be evaluated, so no threshold can be chosen.")
    choice = choose_thresholds(result, targets[0], targets[1], confidence=args.confidence)
    if args.save:
        save_thresholds(model_path, choice.to_record())
    if args.json:
        print(json.dumps({**choice.to_dict(), "saved": bool(args.save)}, indent=2))
        return 0
    print(f"From {result.evaluated} photos of the {result.split} split of {result.dataset_root}:")
    print("\n".join(table_lines(choice)))
    print()
    print("\n".join(choice.lines()))
    if args.save:
        print(f"Saved in {model_path}: fledge classify and fledge watch use them unless --threshold is given.")
    else:
        print("Nothing was saved. Add --save to keep these thresholds in the model file.", file=sys.stderr)
    return 0


def register(subparsers) -> None:
    t = subparsers.add_parser(
        "thresholds", help="choose per-class review thresholds from the validation photos (and save them)",
        description="For each class, the lowest confidence threshold at which the model's answers reach the "
                    "precision asked for -- as far as the validation photos can promise it (a lower "
                    "confidence bound) -- and what it means: the share of photos that go to review and of "
                    "each class that is sorted. A class whose validation photos are too few to promise it "
                    "gets no threshold: its photos go to review. --save keeps them in the model "
                    "file; fledge classify --sort-into and fledge watch then use them unless --threshold "
                    "is given.")
    t.add_argument("model", help="a model file (.pt) saved by fledge train, or a run folder")
    t.add_argument("data", nargs="?", help="the dataset folder the model was trained on")
    t.add_argument("--precision", action="append", metavar="P|CLASS=P",
                   help=f"the share of a class's sorted photos that must be right (default {DEFAULT_TARGET}); "
                        "repeat as CLASS=P for one class (e.g. --precision plane=0.99)")
    t.add_argument("--split", default="val", choices=["val", "test", "train"],
                   help="the photos to choose from (default val)")
    t.add_argument("--confidence", type=float, default=CONFIDENCE, metavar="C",
                   help=f"how sure the promise of precision must be (default {CONFIDENCE}: the precision is "
                        "at least the one promised 19 times in 20)")
    keep = t.add_mutually_exclusive_group()
    keep.add_argument("--save", action="store_true", help="store the thresholds in the model file")
    keep.add_argument("--clear", action="store_true", help="remove the thresholds from the model file")
    t.add_argument("--json", action="store_true", help="print the thresholds as JSON")
    t.add_argument("--batch-size", type=int, default=64)
    t.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default auto)")
    t.set_defaults(func=cmd_thresholds)

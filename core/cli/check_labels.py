"""`fledge check-labels DATA [--csv OUT]`: photos that are likely filed under the wrong class,
and photos that are in the dataset twice."""
from __future__ import annotations

import os

from core.cli.console import StageProgress, command
from core.cli.options import output_file
from core.errors import UsageError
from core.wording import percent, plural

SHOWN = 20                  # suggestions printed (the CSV has them all)
SHOWN_DUPLICATES = 10
STAGES = {"duplicates": "Looking for copies", "reading": "Reading photos with the pretrained network",
          "checking": "Cross-checking the labels"}


def _rel(path: str, root: str) -> str:
    try:
        rel = os.path.relpath(path, root)
    except ValueError:
        return path
    return path if rel.startswith("..") else rel


def suggestion_lines(check, shown: int = SHOWN) -> list[str]:
    if not check.suggestions:
        return [f"No photo looks filed under the wrong class ({plural(check.checked, 'photo')} checked)."]
    n = len(check.suggestions)
    lines = [f"{plural(n, 'photo')} may be filed under the wrong class "
             f"(of {plural(check.checked, 'photo')} checked; most likely first):"]
    for i, s in enumerate(check.suggestions[:shown], start=1):
        lines.append(f"{i:>4}. {_rel(s.path, check.root)}: filed as '{s.given}', looks like "
                     f"'{s.suggested}' ({percent(s.confidence)} sure; '{s.given}' {percent(s.given_probability)})")
    if n > shown:
        lines.append(f"      ... and {n - shown} more.")
    return lines


def duplicate_lines(report, root: str, shown: int = SHOWN_DUPLICATES) -> list[str]:
    if report is None:
        return []
    if not report.groups:
        return ["No photo is in the dataset twice."]
    copies = sum(len(g.extras()) for g in report.groups)
    lines = [f"{plural(len(report.groups), 'photo')} {'is' if len(report.groups) == 1 else 'are'} in the dataset "
             f"more than once ({plural(copies, 'extra copy', 'extra copies')}):"]
    order = sorted(report.groups, key=lambda g: (not g.leaks, not g.classes_differ))
    for g in order[:shown]:
        kind = "the same file" if g.exact else "near copies"
        notes = [n for n, on in (("in training and validation/test", g.leaks),
                                 ("filed under different classes", g.classes_differ)) if on]
        where = ", ".join(f"{_rel(c.path, root)} ({c.split})" for c in g.copies)
        lines.append(f"   - {kind}{': ' + ' and '.join(notes) if notes else ''}: {where}")
    if len(order) > shown:
        lines.append(f"     ... and {len(order) - shown} more.")
    if warning := report.leak_warning():
        lines.append(warning)
    return lines


@command
def cmd_check_labels(args) -> int:
    from core.data.dataset import scan_dataset
    from core.data.split import SplitSettings
    from core.photos.check_labels import check_labels
    from core.photos.check_labels_csv import write_check_csv
    from core.photos.kept_labels import KeptLabels
    from core.data.shortcuts import shortcut_warnings

    split = SplitSettings(args.split_seed, args.val_fraction, args.test_fraction)
    if problem := split.problem():
        raise UsageError(problem)
    dataset = scan_dataset(args.data, **split.to_dict())
    progress = StageProgress(STAGES)
    try:
        check = check_labels(dataset, progress=progress.step)
    finally:
        progress.close()
    # Photos a person kept in the app's Check labels page (K) are not asked about again.
    check.suggestions, kept = KeptLabels(dataset.root).to_ask(check.suggestions)
    lines = suggestion_lines(check, args.top)
    if kept:
        lines.append(f"({plural(kept, 'photo')} kept as filed in the app's Check labels page "
                     f"{'is' if kept == 1 else 'are'} left out.)")
    if check.estimated_wrong:
        lines.append(f"The cross-check puts about {plural(check.estimated_wrong, 'label')} of "
                     f"{check.checked} in doubt; a model that never saw a photo named its class "
                     f"right {percent(check.accuracy)} of the time.")
    lines += duplicate_lines(check.duplicates, check.root)
    lines += shortcut_warnings(dataset)     # a size, camera... that tells the classes apart
    for path, why in check.skipped[:5]:
        lines.append(f"Skipped {_rel(path, check.root)}: {why}")
    print("\n".join(lines))
    if args.csv:
        written = write_check_csv(check, args.csv)
        print(f"Wrote every suggestion and extra copy to {written}")
    print(f"({check.seconds:.1f} s)")
    return 0


def register(subparsers) -> None:
    from core.cli.train import add_split_options

    c = subparsers.add_parser(
        "check-labels", help="list photos that are likely filed under the wrong class, and duplicates",
        description="Cross-check every photo's class: a model trained without the photo (5-fold, on the "
                    "pretrained network's features) says which photos look like another class, most "
                    "likely first. Also lists photos that are in the folder twice (exact or near copies), "
                    "and those in both training and validation, which make the score look better than it is. "
                    "Nothing is moved.")
    c.add_argument("data", help="the dataset folder (DATA/<class>/ or DATA/train|val|test/<class>/)")
    c.add_argument("--csv", metavar="OUT.csv", type=output_file, help="write every suggestion and extra copy to this CSV file")
    c.add_argument("--top", type=int, default=SHOWN, metavar="N", help=f"suggestions to print (default {SHOWN})")
    add_split_options(c)
    c.set_defaults(func=cmd_check_labels)

"""What a sort or an undo did, in sentences: the same in the window and on the command line.

    say = Phrases(again="run the same command again", undo_again="run undo again",
                  undo_first=f"To sort them again with new settings, run 'fledge undo {dest}' first.",
                  put_back=f"To put everything back: fledge undo {dest}")
    print("\n".join(sort_lines(report, say)))

The facts (counts, files renamed, skipped or failed, and why) are worded here once; each
front end names its own follow-up actions -- a command to run, a button to press --
through Phrases, so neither has to rewrite the other's text.
"""
from __future__ import annotations

from dataclasses import dataclass

from core.photos.review_queue import labelled_lines
from core.photos.sort_undo import UndoReport
from core.photos.sorting import SortReport
from core.photos.thresholds import ReviewThresholds
from core.wording import plural


@dataclass(frozen=True)
class Phrases:
    """How one front end tells people to do the follow-up actions."""
    again: str          # sort again to continue, e.g. "run the same command again"
    undo_again: str     # undo again to continue, e.g. "run undo again"
    undo_first: str     # a sentence: undo before sorting again with new settings
    put_back: str       # a sentence: how to put everything back


def disk_full_line(report: SortReport, say: Phrases) -> str:
    return f"The disk holding {report.dest} is full; stopped. Free some space and {say.again} to continue."


def thresholds_line(limits: ReviewThresholds | None) -> str:
    """Which threshold decided each class's photos ('' when not known)."""
    if limits is None:
        return ""
    if not limits.per_class and not limits.review:
        if limits.default <= 0:
            return "Threshold 0.00 for every class: no photo went to review for being unsure."
        return (f"Threshold {limits.default:.2f} for every class: photos the model was less sure of went "
                "to review.")
    return f"The model's own thresholds: {limits.describe()}."


def sort_lines(report: SortReport, say: Phrases) -> list[str]:
    """A core.photos.sorting.SortReport in sentences, one a line."""
    verb = "Moved" if report.move else "Copied"
    lines = list(report.recovered)
    counts = report.counts()
    if counts:
        parts = ", ".join(f"{n} to {c}" for c, n in sorted(counts.items()))
        lines.append(f"{verb} {plural(len(report.done), 'photo')} into {report.dest}: {parts}.")
    else:
        lines.append(f"No photos were {verb.lower()} into {report.dest}.")
    if report.done and thresholds_line(report.thresholds):
        lines.append(thresholds_line(report.thresholds))
    renamed = report.renamed
    if renamed:
        lines.append(f"{len(renamed)} got a new name because the name was taken, e.g. {renamed[0].dst}.")
    already = report.already_sorted
    if already:
        lines.append(f"{len(already)} were already sorted by an earlier run and were skipped. {say.undo_first}")
    lines += [f"Skipped {src}: {reason}" for src, reason in report.other_skips]
    lines += [f"Failed {src}: {reason} (left where it was)" for src, reason in report.failed]
    if report.disk_full:
        lines.append(disk_full_line(report, say))
    elif report.stopped:
        lines.append(f"Stopped before the end; {say.again} to continue.")
    if report.done:
        lines.append(say.put_back)
    return lines


def _unexplained(report: UndoReport) -> list[tuple[str, str]]:
    """The photos undo did not find, less those labelled into a dataset since (report.labelled)."""
    labelled = {was for photos in report.labelled.values() for was, _now in photos}
    return [m for m in report.missing if m[0] not in labelled]


def undo_headline(report: UndoReport) -> str:
    """What an undo did, in one sentence."""
    n = sum(len(photos) for photos in report.labelled.values())
    if report.nothing_to_do:
        return f"Nothing to undo in {report.dest}."
    if report.kept or _unexplained(report) or report.failed or report.stopped:
        return "Undone, with exceptions: see the details."
    if n:
        return (f"Undone: every photo is back where it was, except {plural(n, 'photo')} you labelled, "
                f"which {'stays' if n == 1 else 'stay'} in the dataset.")
    return "Undone: every photo is back where it was."


def undo_lines(report: UndoReport, say: Phrases) -> list[str]:
    """A core.photos.sort_undo.UndoReport in sentences, one a line; a photo labelled into a
    dataset since is said to be there, not missing."""
    if report.nothing_to_do:
        return [f"Nothing to undo in {report.dest}."]
    lines = list(report.recovered)
    if report.removed:
        lines.append(f"Removed {plural(len(report.removed), 'copy', 'copies')} "
                     "(the originals are where they were).")
    if report.restored:
        lines.append(f"Moved {plural(len(report.restored), 'photo')} back to where they were.")
    lines += [f"{original} was taken by another file, so the photo was restored as {used}."
              for original, used in report.renamed]
    lines += [f"Kept {path}: {reason}." for path, reason in report.kept]
    lines += [f"Could not restore a photo: {reason}." for _path, reason in _unexplained(report)]
    retry = say.undo_again[:1].upper() + say.undo_again[1:]
    lines += [f"Failed to restore {path}: {reason}. {retry} to retry." for path, reason in report.failed]
    if report.stopped:
        lines.append(f"Stopped before the end; {say.undo_again} to continue.")
    return lines + labelled_lines(report.labelled)

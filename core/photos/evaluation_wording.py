"""What an evaluation's mistakes say about the labels, and what is asked before photos move.

    advice_text(cell_advice(result, t, p))    # "The model gets only 61.0% right (...)"
    move_question([("bees", "ants")], advice)  # the lines of the confirmation
    moved_note(result, placed, 1)              # why the score did not change after a move
    result_notes(result, placed, 1, "best.pt") # the lines under the accuracy

Worded once for every front end; each adds how its own undo is done (a key, a command).
"""
from __future__ import annotations

import os
from collections.abc import Iterable

from core.photos.evaluation import CellAdvice, EvaluationResult, relabel_summary
from core.wording import of_total, plural

_CHECK = "move a photo only when you can see that its label is wrong."


def advice_text(advice: CellAdvice | None) -> str:
    """core.photos.evaluation.cell_advice's verdict in a sentence or two ('' for None)."""
    if advice is None:
        return ""
    if advice.verdict == "labels":
        return (f"The model gets {advice.accuracy:.1%} right and was sure of these ({advice.confidence:.0%} on "
                "average): often the label is wrong. Look at each photo and move those labelled wrong to their "
                "right class.")
    if advice.verdict == "unsure":
        return (f"The model was unsure of these ({advice.confidence:.0%} on average): look closely before "
                "moving any.")
    if advice.verdict == "few":
        return (f"Only {plural(advice.evaluated, 'photo')} were evaluated, too few to tell the model's mistakes "
                f"from wrong labels: {_CHECK}")
    return (f"The model gets only {advice.accuracy:.1%} right (always answering '{advice.baseline_class}' would "
            f"get {advice.baseline:.1%}), so these are most likely its own mistakes, not wrong labels: {_CHECK}")


def move_question(moves: Iterable[tuple[str, str]], advice: CellAdvice | None = None) -> list[str]:
    """The confirmation asked before photos are moved to other classes, as lines.

    moves: (class now, class to move to) for each photo. A caution follows unless the advice
    says the labels are likely wrong.
    """
    groups = relabel_summary(moves)
    n = sum(count for _old, _new, count in groups)
    if len(groups) == 1:
        old, new, _count = groups[0]
        lines = [f"Move {plural(n, 'photo')} labelled {old} into the {new} class folder?"]
    else:
        lines = [f"Move {plural(n, 'photo')} to other classes?"]
        lines += [f"  • {plural(count, 'photo')} from {old} to {new}" for old, new, count in groups]
    lines += ["", f"{'It stays' if n == 1 else 'They stay'} in the same part of the dataset (a validation "
              "photo stays a validation photo)."]
    if advice is not None and not advice.labels_suspect:
        lines += ["", advice_text(advice)]
    return lines


def moved_note(result: EvaluationResult, placed: EvaluationResult, moved: int) -> str:
    """Why the score shown stays the evaluated one after `moved` photos changed class ('' for none)."""
    if moved <= 0:
        return ""
    text = (f"{plural(moved, 'photo')} moved to another class since this evaluation. The accuracy and the "
            "table score the model on the labels as evaluated; the matrix shows the photos where they are now.")
    if placed.accuracy is not None and placed.accuracy != result.accuracy:
        text += (f" Counting the moved photos in their new classes gives {placed.accuracy:.1%}; that is not "
                 "the model's score, as their new labels were chosen after seeing its answers.")
    return text


def result_notes(result: EvaluationResult, placed: EvaluationResult, moved: int, model: str = "") -> list[str]:
    """The lines under the accuracy: what was evaluated, what was left out, what moved since."""
    notes = [f"Dataset: {result.dataset_root}"] + ([f"Model: {model}"] if model else [])
    if result.stopped:
        notes.append(f"Stopped early: the figures cover {of_total(result.evaluated, result.total, 'photo')}.")
    if result.errors:
        (first, why), n = result.errors[0], len(result.errors)
        notes.append(f"{plural(n, 'photo')} could not be read and {'was' if n == 1 else 'were'} left out, "
                     f"e.g. {os.path.basename(first)}: {why}.")
    return notes + ([moved_note(result, placed, moved)] if moved > 0 else [])


__all__ = ["advice_text", "move_question", "moved_note", "result_notes"]

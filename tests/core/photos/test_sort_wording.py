"""The sentences for a sort's and an undo's report: facts worded once, actions in each front end's words."""
from __future__ import annotations

from core.photos.sort_undo import UndoReport
from core.photos.sort_wording import Phrases, disk_full_line, sort_lines, undo_lines
from core.photos.sorting import ALREADY, SortedFile, SortReport

CLI = Phrases(again="run the same command again", undo_again="run undo again",
              undo_first="To sort them again with new settings, run 'fledge undo /d' first.",
              put_back="To put everything back: fledge undo /d")
BUTTONS = Phrases(again="press Start again", undo_again="press Undo again",
                  undo_first="Press Undo first to sort them again.", put_back="Press Undo to put everything back.")


def eventful_report() -> SortReport:
    return SortReport("/d", move=True, recovered=["Finished an interrupted move: /a -> /d/x/a"],
                      done=[SortedFile("/c/1.jpg", "/d/bird/1.jpg", "bird", False),
                            SortedFile("/c/2.jpg", "/d/bird/2 (2).jpg", "bird", True),
                            SortedFile("/c/3.jpg", "/d/_review/3.jpg", "_review", False)],
                      skipped=[("/c/4.jpg", ALREADY), ("/c/5.jpg", "not found")],
                      failed=[("/c/6.jpg", "permission denied")], stopped=True)


def test_a_sort_in_the_command_lines_words():
    assert sort_lines(eventful_report(), CLI) == [
        "Finished an interrupted move: /a -> /d/x/a",
        "Moved 3 photos into /d: 1 to _review, 2 to bird.",
        "1 got a new name because the name was taken, e.g. /d/bird/2 (2).jpg.",
        "1 were already sorted by an earlier run and were skipped. To sort them again with new settings, "
        "run 'fledge undo /d' first.",
        "Skipped /c/5.jpg: not found",
        "Failed /c/6.jpg: permission denied (left where it was)",
        "Stopped before the end; run the same command again to continue.",
        "To put everything back: fledge undo /d"]


def test_each_front_end_names_its_own_actions_around_the_same_facts():
    cli, buttons = sort_lines(eventful_report(), CLI), sort_lines(eventful_report(), BUTTONS)
    assert cli[:3] == buttons[:3] and cli[4:6] == buttons[4:6]
    assert buttons[3].endswith("Press Undo first to sort them again.")
    assert buttons[-2:] == ["Stopped before the end; press Start again to continue.",
                            "Press Undo to put everything back."]
    assert not any("fledge" in line for line in buttons)


def test_nothing_sorted_and_a_full_disk():
    full = SortReport("/d", move=False, failed=[("/c/1.jpg", "the disk is full")], disk_full=True)
    lines = sort_lines(full, BUTTONS)
    assert lines[0] == "No photos were copied into /d."
    assert lines[-1] == disk_full_line(full, BUTTONS) == ("The disk holding /d is full; stopped. Free some "
                                                         "space and press Start again to continue.")


def test_an_undo_in_words():
    assert undo_lines(UndoReport("/d"), CLI) == ["Nothing to undo in /d."]
    rep = UndoReport("/d", restored=[("/d/a/1.jpg", "/c/1 (2).jpg")], removed=["/d/b/2.jpg"],
                     renamed=[("/c/1.jpg", "/c/1 (2).jpg")], kept=[("/d/b/3.jpg", "it was edited")],
                     missing=[("/d/b/4.jpg", "not found at /d/b/4.jpg")], failed=[("/d/b/5.jpg", "permission denied")],
                     stopped=True)
    assert undo_lines(rep, CLI) == [
        "Removed 1 copy (the originals are where they were).",
        "Moved 1 photo back to where they were.",
        "/c/1.jpg was taken by another file, so the photo was restored as /c/1 (2).jpg.",
        "Kept /d/b/3.jpg: it was edited.",
        "Could not restore a photo: not found at /d/b/4.jpg.",
        "Failed to restore /d/b/5.jpg: permission denied. Run undo again to retry.",
        "Stopped before the end; run undo again to continue."]
    assert undo_lines(rep, BUTTONS)[-2:] == ["Failed to restore /d/b/5.jpg: permission denied. Press Undo again "
                                             "to retry.", "Stopped before the end; press Undo again to continue."]

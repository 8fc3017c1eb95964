"""What a sort or its undo did: a headline, the photos per folder (with the threshold each class's
photos were held to), and the details in sentences."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (QAbstractItemView, QHeaderView, QLabel, QPlainTextEdit, QSplitter, QTableWidget,
                               QTableWidgetItem, QVBoxLayout, QWidget)

from core.photos.sort_undo import UndoReport
from core.photos.sort_wording import Phrases, disk_full_line, sort_lines, undo_headline, undo_lines
from core.photos.sorting import REVIEW, UNREADABLE, FolderSort
from core.wording import plural


class SortResultView(QWidget):
    """A bold headline over a table of photos per folder and the details of a sort or undo."""

    def __init__(self, say: Phrases, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.say = say                      # how the follow-up actions are named (buttons, commands)
        self.headline = QLabel(self)
        bold = QFont(self.headline.font())
        bold.setBold(True)
        self.headline.setFont(bold)
        self.headline.setWordWrap(True)
        self.headline.setAccessibleName("Result")
        self.counts = QTableWidget(0, 3, self)
        self.counts.setHorizontalHeaderLabels(["Folder", "Photos", "Threshold"])
        self.counts.verticalHeader().hide()
        self.counts.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.counts.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.counts.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.counts.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.counts.setMinimumWidth(200)
        self.counts.setAccessibleName("Photos per folder")
        self.counts.setToolTip("How many photos went into each folder, and how sure the model had to be to "
                               "put a photo in a class folder")
        self.details = QPlainTextEdit(self)
        self.details.setReadOnly(True)
        self.details.setAccessibleName("Details")
        self.details.setMinimumHeight(80)
        split = QSplitter(Qt.Orientation.Horizontal, self)
        split.addWidget(self.counts)
        split.addWidget(self.details)
        split.setStretchFactor(1, 1)
        split.setSizes([380, 380])          # room for "to review: too little evidence" beside the counts
        split.setChildrenCollapsible(False)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.headline)
        lay.addWidget(split, 1)

    def show_text(self, head: str, rows: list[tuple] = (), lines: list[str] = ()) -> None:
        """rows: (folder, photos) or (folder, photos, threshold text)."""
        self.headline.setText(head)
        self.counts.setRowCount(len(rows))
        for r, (name, n, *threshold) in enumerate(rows):
            self.counts.setItem(r, 0, QTableWidgetItem(name))
            it = QTableWidgetItem(f"{n:,}")
            it.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.counts.setItem(r, 1, it)
            self.counts.setItem(r, 2, QTableWidgetItem(threshold[0] if threshold else ""))
        self.details.setPlainText("\n".join(lines))

    def show_sort(self, out: FolderSort) -> str:
        """Show what sort_folder did; returns the headline."""
        rep = out.report
        if rep is None:
            head = (f"Stopped while classifying ({plural(len(out.results), 'photo')} done). "
                    "No photo was copied or moved.")
            self.show_text(head)
            return head
        counts = rep.counts()
        review, unreadable = counts.get(REVIEW, 0), counts.get(UNREADABLE, 0)
        classes = {c: n for c, n in counts.items() if c not in (REVIEW, UNREADABLE)}
        head = f"{'Moved' if out.move else 'Copied'} {plural(len(rep.done), 'photo')} into {out.dest}"
        if classes:
            head += ": " + ", ".join(f"{n} {c}" for c, n in sorted(classes.items()))
        head += f". {review} to review, {unreadable} unreadable."
        if out.stopped_while == "sorting":
            head += " Stopped before the end: press Sort again to continue, or Undo to put everything back."
        if rep.disk_full:
            head += " " + disk_full_line(rep, self.say)
        lines = sort_lines(rep, self.say)
        if out.csv_path:
            lines.append(f"The model's answer for every photo is in {out.csv_path}.")
        rows = _class_rows(classes, rep.thresholds) + [("To review (unsure)", review),
                                                       ("Could not be read", unreadable)]
        self.show_text(head, rows, lines)
        return head

    def show_undo(self, rep: UndoReport) -> str:
        """Show what an undo did (photos labelled into a dataset since among it); returns the headline."""
        head = undo_headline(rep)
        self.show_text(head, (), undo_lines(rep, self.say))
        return head


def _class_rows(counts: dict[str, int], limits) -> list[tuple[str, int, str]]:
    """(class, photos, its threshold) for each class folder filled, and for each class the model's
    own thresholds name (a class sent to review has no photos of its own)."""
    if limits is None:
        return [(c, n, "") for c, n in sorted(counts.items())]
    used = dict(limits.used(sorted(counts)))
    return [(c, counts.get(c, 0), used[c]) for c in sorted(used)]

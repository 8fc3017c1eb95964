"""How the Sort tab sorts: the certainty needed (or the model's own per-class thresholds),
copy or move, keep subfolders, keep bursts together; remembered between sessions.

    self.options = SortOptions(self)
    form.addRow("Certaint&y needed:", self.options.certainty_row)
    form.addRow("", self.options.mode_row)
    limits = self.options.limits()          # limits(predictor): what sort_folder / watch_folder get
"""
from __future__ import annotations

from PySide6.QtWidgets import QButtonGroup, QCheckBox, QHBoxLayout, QRadioButton, QWidget

from core.photos.thresholds import model_thresholds
from gui.settings import (SORT_BURSTS, SORT_CERTAINTY, SORT_KEEP_SUBFOLDERS, SORT_MOVE, SORT_OWN_THRESHOLDS,
                          Settings)
from gui.widgets.certainty import CertaintyPicker

_BOXES = {"keep_box": SORT_KEEP_SUBFOLDERS, "burst_box": SORT_BURSTS, "own_box": SORT_OWN_THRESHOLDS}


def _row(parent: QWidget, *widgets) -> QWidget:
    row = QWidget(parent)
    lay = QHBoxLayout(row)
    lay.setContentsMargins(0, 0, 0, 0)
    for w in widgets:
        lay.addWidget(w)
    lay.addStretch(1)
    return row


class SortOptions:
    """The option widgets (children of parent) and the two form rows that hold them."""

    def __init__(self, parent: QWidget) -> None:
        self.certainty = CertaintyPicker("Certainty needed", "How sure the model must be to put a photo in a "
                                         "class folder. Photos it is less sure about go to _review, for you "
                                         "to check.", SORT_CERTAINTY.default, parent)
        # Per-class thresholds saved in the model file (the Evaluate tab's Review thresholds).
        self.own_box = QCheckBox("Use the model's own &thresholds when it has them", parent)
        self.own_box.setToolTip("A model whose per-class thresholds were saved in the Evaluate tab sends each "
                                "class's unsure photos to _review by its own threshold, and every photo of a "
                                "class with too little evidence for one; “Certainty needed” is then used only "
                                "for a model without them")
        self.own_box.setChecked(SORT_OWN_THRESHOLDS.default)
        self.copy_radio = QRadioButton("&Copy (the originals stay where they are)", parent)
        self.copy_radio.setToolTip("Safest: the photos are copied into the class folders")
        self.move_radio = QRadioButton("Move (the photos &go into the class folders)", parent)
        self.move_radio.setToolTip("The photos are moved out of the folder into the class folders "
                                   "(Undo puts them back)")
        self.copy_radio.setChecked(True)
        mode = QButtonGroup(parent)
        mode.addButton(self.copy_radio)
        mode.addButton(self.move_radio)
        self.keep_box = QCheckBox("&Keep subfolders", parent)
        self.keep_box.setToolTip("Inside each class folder, keep the subfolder each photo came from "
                                 "(e.g. robin/2024-05/IMG_1.jpg)")
        # A burst (frames one camera took seconds apart that look alike) goes to one folder.
        self.burst_box = QCheckBox("Keep &bursts together", parent)
        self.burst_box.setToolTip("Photos the camera took a few seconds apart that look alike are sorted as "
                                  "one: their average answer decides, so a burst is never split across folders")
        self.certainty_row = _row(parent, self.certainty, self.own_box)
        self.mode_row = _row(parent, self.copy_radio, self.move_radio, self.keep_box, self.burst_box)

    def threshold(self) -> float:
        return self.certainty.percent() / 100.0

    def limits(self):
        """limits(predictor): the per-class thresholds saved in its model file (when "own
        thresholds" is ticked and it has them), else "Certainty needed"."""
        own, certainty = self.own_box.isChecked(), self.threshold()
        return lambda predictor: (model_thresholds(predictor) if own else None) or certainty

    def set_move(self, move: bool) -> None:
        (self.move_radio if move else self.copy_radio).setChecked(True)

    def set_enabled(self, on: bool) -> None:
        for w in (self.certainty, self.copy_radio, self.move_radio, self.keep_box, self.burst_box, self.own_box):
            w.setEnabled(on)

    def restore(self, s: Settings) -> None:
        self.certainty.set_percent(s.get(SORT_CERTAINTY))
        for name, setting in _BOXES.items():
            getattr(self, name).setChecked(s.get(setting))
        self.set_move(s.get(SORT_MOVE))

    def save(self, s: Settings) -> None:
        s.set(SORT_CERTAINTY, self.certainty.percent())
        for name, setting in _BOXES.items():
            s.set(setting, getattr(self, name).isChecked())
        s.set(SORT_MOVE, self.move_radio.isChecked())

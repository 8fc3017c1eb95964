"""The offer the Data tab makes for a folder of photos without class folders: name the
classes, and label the photos into a new dataset next to the folder (core.photos.new_dataset).

    self.start_box = StartLabellingBox(self)
    self.start_box.offer(folder)                  # shown only when folder holds loose photos
    self.start_box.started.connect(lambda unsorted, root: ...)   # the dataset was made
"""
from __future__ import annotations

import os

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout, QWidget

from core.errors import FledgeError
from core.photos.new_dataset import new_dataset_folder, parse_class_names, start_dataset, unsorted_photos
from core.wording import plural
from gui.widgets.message_bar import MessageBar


class StartLabellingBox(QFrame):
    """Class names, where the new dataset goes, and a Start labelling button."""

    started = Signal(str, str)          # the unsorted folder, the new dataset's folder

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.folder = ""
        self.intro = QLabel(self)
        self.intro.setWordWrap(True)
        self.names = QLineEdit(self)
        self.names.setPlaceholderText("bird, plane")
        self.names.setAccessibleName("Class names")
        self.names.setToolTip("The classes to sort the photos into, separated by commas")
        self.names.returnPressed.connect(self.start)
        self.button = QPushButton("Start &labelling", self)
        self.button.setToolTip("Make the class folders and label the photos with the keys 1–9 in the Review tab")
        self.button.clicked.connect(self.start)
        self.where = QLabel(self)
        self.where.setWordWrap(True)
        self.where.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.problem = MessageBar(self)
        row = QHBoxLayout()
        label = QLabel("&Classes:", self)
        label.setBuddy(self.names)
        row.addWidget(label)
        row.addWidget(self.names, 1)
        row.addWidget(self.button)
        lay = QVBoxLayout(self)
        lay.addWidget(self.intro)
        lay.addLayout(row)
        lay.addWidget(self.where)
        lay.addWidget(self.problem)
        self.hide()

    def offer(self, folder: str | None) -> bool:
        """Show the offer for folder when it holds photos of its own; hide it otherwise."""
        photos = unsorted_photos(folder) if folder and os.path.isdir(folder) else []
        if not photos:
            self.folder = ""
            self.hide()
            return False
        self.folder = os.path.abspath(folder)
        self.intro.setText(f"This folder holds {plural(len(photos), 'photo')} that are not sorted into "
                           "classes yet. Name the classes and label the photos with the keys 1–9; once "
                           "every class has a few photos, you can train.")
        self.where.setText(f"The labelled photos are copied into a new dataset: {new_dataset_folder(self.folder)}. "
                           "The photos here stay as they are.")
        self.problem.clear()
        self.show()
        return True

    def start(self) -> str:
        """Make the dataset; returns its folder ('' and the reason shown when it could not be)."""
        if not self.folder:
            return ""
        try:
            root = start_dataset(self.folder, parse_class_names(self.names.text()))
        except FledgeError as exc:
            self.problem.show_message(str(exc))
            self.names.setFocus()
            return ""
        self.problem.clear()
        self.started.emit(self.folder, root)
        return root

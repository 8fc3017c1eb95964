"""How far a tab's background job is: "Copying: 12 of 40 photos" on a real bar, and Cancel."""
from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QProgressBar, QPushButton, QWidget

from core.progress import JobProgress
from core.wording import of_total


class JobProgressBar(QWidget):
    """A progress bar with a Cancel button, shown while a job runs.

    report(JobProgress) shows "<verb>: n of N photos" with the bar at n of N when the job
    knows its total, and a moving stripe with "<verb>…" while it does not; verbs name the
    stages in the tab's words (begin() may change them for a run).
    """

    cancel_clicked = Signal()

    def __init__(self, name: str, cancel_tip: str, verbs: dict[str, str] | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.verbs = dict(verbs or {})
        self.bar = QProgressBar(self)
        self.bar.setAccessibleName(name)
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setToolTip(cancel_tip)
        self.cancel_button.clicked.connect(self.cancel_clicked)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.bar, 1)
        lay.addWidget(self.cancel_button)
        self.hide()

    def begin(self, text: str, verbs: dict[str, str] | None = None) -> None:
        """A job has started: a moving stripe with text until it reports how far it is."""
        if verbs is not None:
            self.verbs = dict(verbs)
        self.bar.setRange(0, 0)
        self.bar.setFormat(text)
        self.cancel_button.setEnabled(True)
        self.show()

    def report(self, ev) -> None:
        if not isinstance(ev, JobProgress):
            return
        verb = self.verbs.get(ev.stage, ev.stage.capitalize())
        if ev.total:
            self.bar.setRange(0, ev.total)
            self.bar.setValue(min(ev.done, ev.total))
            self.bar.setFormat(f"{verb}: {of_total(ev.done, ev.total, 'photo')}")
        else:
            self.bar.setRange(0, 0)
            self.bar.setFormat(f"{verb}…")

    def stopping(self, text: str = "Stopping after the current photo…") -> None:
        """Cancel was pressed: say so, and let it not be pressed twice."""
        self.bar.setFormat(text)
        self.cancel_button.setEnabled(False)

    def end(self) -> None:
        self.hide()

    def format(self) -> str:
        return self.bar.format()

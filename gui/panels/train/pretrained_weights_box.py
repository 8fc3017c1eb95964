"""The "Pretrained" row of the settings form: the check box, whether ImageNet weights are on
this computer (asked in the background: it may touch the network) and a weights file of
one's own for computers without internet."""
from __future__ import annotations

import os

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QCheckBox, QFileDialog, QHBoxLayout, QLabel, QPushButton, QToolButton, QVBoxLayout, QWidget

from gui.background import JobRunner
from gui.style import make_muted, set_text_colour, success_colour, warning_colour

WEIGHTS_STATUS_TEXT = {
    "cached": ("ok", "ImageNet weights are on this computer."),
    "downloadable": ("info", "ImageNet weights will be downloaded when training starts."),
    "unavailable": ("warn", "No ImageNet weights on this computer and no internet: it would train from "
                            "scratch. Choose a weights file to use them."),
    "none": ("info", "This network has no pretrained weights; it always trains from scratch."),
}


class PretrainedWeightsBox(QWidget):
    """checkbox: start from ImageNet weights; path: a chosen weights file or ''."""

    file_changed = Signal()               # the person chose or cleared a weights file

    def __init__(self, text: str, file_tip: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.checkbox = QCheckBox(text)
        self.state = QLabel()
        self.state.setWordWrap(True)
        self.choose_button = QPushButton("Weights file…")
        self.choose_button.setToolTip(file_tip)
        self.clear_button = QToolButton()
        self.clear_button.setText("✕")
        self.clear_button.setToolTip("Forget the weights file")
        self.clear_button.setAccessibleName("Forget weights file")
        self.file_label = QLabel()
        self.file_label.setWordWrap(True)
        self.file_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.choose_button)
        row.addWidget(self.clear_button)
        row.addStretch(1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.checkbox)
        lay.addWidget(self.state)
        lay.addLayout(row)
        lay.addWidget(self.file_label)

        self.path = ""
        self.ready = False                # True once torch is loaded: status checks may run
        self._arch: str | None = None
        self._info = None
        self._status: dict[str, str] = {}  # arch -> cached | downloadable | unavailable
        self._asking: str | None = None
        self._runner = JobRunner(self, name="fledge-weights-status")
        self._runner.finished.connect(self._on_status)
        self._runner.failed.connect(lambda msg: self._on_status(None))
        self.choose_button.clicked.connect(self.choose_file)
        self.clear_button.clicked.connect(lambda: self.set_file(""))
        self.set_file("", by_user=False)

    def show_arch(self, name: str | None, info) -> None:
        """The network now chosen (info: its ArchInfo, or None)."""
        self._arch, self._info = name, info
        if info is None:
            return
        self.checkbox.setEnabled(info.has_pretrained)
        self.choose_button.setEnabled(info.has_pretrained)
        self._show_state()
        self._ask(name)

    def set_ready(self) -> None:
        self.ready = True

    def set_file(self, path: str, by_user: bool = True) -> None:
        """Use this weights file ('' for none); a person's choice also ticks the box."""
        self.path = path or ""
        self.file_label.setText(os.path.basename(path) if path else "")
        self.file_label.setToolTip(path)
        self.file_label.setVisible(bool(path))
        self.clear_button.setVisible(bool(path))
        if path and by_user:
            self.checkbox.setChecked(True)
        self._show_state()
        if by_user:
            self.file_changed.emit()

    def choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Choose an ImageNet weights file", os.path.dirname(self.path or ""),
            "PyTorch weights (*.pth *.pt);;All files (*)")
        if path:
            self.set_file(path)

    def shutdown(self, timeout_ms: int = -1) -> bool:
        """Stop the weights check and join its thread."""
        return self._runner.shutdown(timeout_ms)

    # ------------------------------------------------------------------ status
    def _show_state(self) -> None:
        info = self._info
        if info is None:
            return
        if not info.has_pretrained:
            key = "none"
        elif self.path:
            self._set_text("ok", "Using the weights file below.")
            return
        else:
            key = self._status.get(self._arch, "")
        if not key:
            self._set_text("info", "Checking for ImageNet weights…" if self.ready else "")
            return
        level, text = WEIGHTS_STATUS_TEXT.get(key, ("info", key))
        self._set_text(level, text)

    def _set_text(self, level: str, text: str) -> None:
        self.state.setText(text)
        pal = self.palette()
        if level == "ok":
            set_text_colour(self.state, success_colour(pal))
        elif level == "warn":
            set_text_colour(self.state, warning_colour(pal))
        else:
            make_muted(self.state)
        self.state.setVisible(bool(text))

    def _ask(self, name: str | None) -> None:
        """Ask core.model.pretrained_weights.weights_status in the background (it may touch the network)."""
        if not self.ready or name is None or name in self._status:
            return
        if self._info is None or not self._info.has_pretrained or self._runner.is_running():
            return                        # a running check re-asks for the current network when done
        self._asking = name

        def job(report, control, arch=name):
            from core.model.pretrained_weights import weights_status

            return weights_status(arch)

        self._runner.start(job)

    def _on_status(self, status: str | None) -> None:
        if self._asking is not None:
            self._status[self._asking] = status or "unavailable"
        self._asking = None
        self._show_state()
        if self._arch not in self._status:
            self._ask(self._arch)

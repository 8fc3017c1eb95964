"""A certainty in percent, set with a slider or typed: "Certainty needed: [——|——] 80 %"."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QSlider, QSpinBox, QWidget


class CertaintyPicker(QWidget):
    """A slider and a spin box (0–100 %) that always show the same value."""

    def __init__(self, name: str, tip: str, value: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.slider = QSlider(Qt.Orientation.Horizontal, self)
        self.slider.setRange(0, 100)
        self.slider.setPageStep(5)
        self.slider.setAccessibleName(name)
        self.spin = QSpinBox(self)
        self.spin.setRange(0, 100)
        self.spin.setSuffix(" %")
        self.spin.setAccessibleName(f"{name}, percent")
        for w in (self.slider, self.spin):
            w.setToolTip(tip)
        self.slider.valueChanged.connect(self.spin.setValue)
        self.spin.valueChanged.connect(self.slider.setValue)
        self.spin.setValue(value)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.slider, 1)
        lay.addWidget(self.spin)

    def percent(self) -> int:
        return self.spin.value()

    def set_percent(self, value: int) -> None:
        self.spin.setValue(int(value))

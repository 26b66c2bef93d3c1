"""A 0–100 % sensitivity slider for one word, with the model's tuned value marked on it.

Sensitivity is the other way round from the threshold (100 % = threshold 0, 0 % = threshold
1): users think "hears more" / "hears less", the engine compares scores with a threshold.
"""
from __future__ import annotations

from PyQt6 import QtCore, QtGui, QtWidgets


def to_threshold(percent: int) -> float:
    return round(1.0 - percent / 100.0, 2)


def to_percent(threshold: float) -> int:
    return int(round(100.0 * (1.0 - threshold)))


class SensitivitySlider(QtWidgets.QSlider):
    """A horizontal slider that also draws a small mark where the model's tuned value sits,
    so a user who wandered off can find the way back without Restore Defaults."""

    def __init__(self, tuned_threshold: float, parent=None):
        super().__init__(QtCore.Qt.Orientation.Horizontal, parent)
        self.setRange(0, 100)
        self.tuned_percent = to_percent(tuned_threshold)
        self.setValue(self.tuned_percent)
        self.setToolTip(f"How readily this word is reported. The mark is the model's tuned value "
                        f"({self.tuned_percent} %, threshold {tuned_threshold:.2f}).")

    @property
    def threshold(self) -> float:
        return to_threshold(self.value())

    def set_threshold(self, t: float) -> None:
        self.setValue(to_percent(t))

    def paintEvent(self, ev):  # noqa: N802 (Qt naming)
        super().paintEvent(ev)
        opt = QtWidgets.QStyleOptionSlider()
        self.initStyleOption(opt)
        groove = self.style().subControlRect(QtWidgets.QStyle.ComplexControl.CC_Slider, opt,
                                             QtWidgets.QStyle.SubControl.SC_SliderGroove, self)
        handle = self.style().subControlRect(QtWidgets.QStyle.ComplexControl.CC_Slider, opt,
                                             QtWidgets.QStyle.SubControl.SC_SliderHandle, self)
        span = groove.width() - handle.width()
        x = groove.x() + handle.width() / 2 + QtWidgets.QStyle.sliderPositionFromValue(
            self.minimum(), self.maximum(), self.tuned_percent, max(span, 0))
        p = QtGui.QPainter(self)
        p.setPen(QtGui.QPen(QtGui.QColor("#d08000"), 2))
        p.drawLine(QtCore.QPointF(x, 0), QtCore.QPointF(x, 4))
        p.drawLine(QtCore.QPointF(x, self.height() - 4), QtCore.QPointF(x, self.height()))
        p.end()

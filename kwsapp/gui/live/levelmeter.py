"""The input level meter of the status bar: follows every hop, file or microphone, with peak hold.

Fed from the engine's hops (their RMS level and stream time), not sampled by a timer: a word
lasts a few hops, and a meter that looked four times a second mostly saw the gaps between
words (and read -60 dB while a file played). The peak is held for HOLD_S of stream time, so
the hold is the same whether a file plays in real time or faster.
"""
from __future__ import annotations

from PyQt6 import QtCore, QtGui, QtWidgets

FLOOR_DB = -80.0  # below the "too quiet" line (core.levels.TOO_QUIET_DBFS), which the model still hears above
HOLD_S = 1.5


class LevelMeter(QtWidgets.QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.level = FLOOR_DB
        self.peak = FLOOR_DB
        self._peak_t = 0.0
        self.setFixedWidth(115)
        self.setMinimumHeight(self.fontMetrics().height() + 4)
        self.setToolTip("Input level (RMS of each 100 ms, dBFS); the thin mark holds the recent peak")

    def push(self, level_db: float, stream_time_s: float) -> None:
        self.level = max(FLOOR_DB, min(0.0, float(level_db)))
        if self.level >= self.peak or stream_time_s - self._peak_t > HOLD_S or stream_time_s < self._peak_t:
            self.peak, self._peak_t = self.level, stream_time_s  # (a restarted stream starts a new hold)
        self.update()

    def reset(self) -> None:
        self.level = self.peak = FLOOR_DB
        self._peak_t = 0.0
        self.update()

    def text(self) -> str:
        if self.peak <= FLOOR_DB:
            return "level –"
        now = "quiet" if self.level <= FLOOR_DB else f"{self.level:.0f} dB"
        return f"{now}  peak {self.peak:.0f}"

    def _x(self, db: float, width: int) -> int:
        return int(round((db - FLOOR_DB) / -FLOOR_DB * width))

    def paintEvent(self, _ev):  # noqa: N802 (Qt naming)
        p = QtGui.QPainter(self)
        r = self.rect().adjusted(0, 1, -1, -2)
        p.fillRect(r, self.palette().color(QtGui.QPalette.ColorRole.Base))
        fill = QtGui.QColor(70, 170, 90) if self.level < -6 else QtGui.QColor(230, 90, 60)  # red: near clipping
        p.fillRect(QtCore.QRect(r.left(), r.top(), self._x(self.level, r.width()), r.height()), fill)
        x = r.left() + self._x(self.peak, r.width())
        p.setPen(QtGui.QPen(QtGui.QColor(40, 40, 40), 2))
        p.drawLine(x, r.top(), x, r.bottom())
        p.setPen(self.palette().color(QtGui.QPalette.ColorRole.Text))
        p.drawText(r, QtCore.Qt.AlignmentFlag.AlignCenter, self.text())
        p.setPen(self.palette().color(QtGui.QPalette.ColorRole.Mid))
        p.drawRect(r)
        p.end()

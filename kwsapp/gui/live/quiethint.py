"""The one-line hint above the live views when the input is too quiet for the model.

Shown while the loudest hop of the last :data:`~kwsapp.core.levels.QUIET_SPAN_S` seconds of stream
time stays below :data:`~kwsapp.core.levels.TOO_QUIET_DBFS`, and only once the stream is that long:
a stream that has just started, or a pause between two words, must not make it flash. The
first loud hop clears it. Stream time, not a timer, so a file played faster than real time
is judged the same as a microphone.
"""
from __future__ import annotations

from collections import deque

from PyQt6 import QtCore, QtWidgets

from ...core.levels import QUIET_SPAN_S, TOO_QUIET_DBFS, too_quiet

HINT = "Input is very quiet: speak closer or raise the input gain"


class QuietWatch:
    """The rule, fed each hop's level (dBFS) and stream time (s)."""

    def __init__(self, span_s: float = QUIET_SPAN_S):
        self.span_s = span_s
        self.reset()

    def reset(self) -> None:
        self._hops: deque[tuple[float, float]] = deque()
        self.quiet = False

    def push(self, level_db: float, stream_time_s: float) -> bool:
        """Whether the input is too quiet, now that this hop is in."""
        if self._hops and stream_time_s < self._hops[-1][0]:  # a new stream: its own first seconds
            self.reset()
        self._hops.append((stream_time_s, level_db))
        while self._hops[0][0] <= stream_time_s - self.span_s:
            self._hops.popleft()
        self.quiet = bool(stream_time_s >= self.span_s and too_quiet(max(level for _, level in self._hops)))
        return self.quiet


class QuietHint(QtWidgets.QLabel):
    changed = QtCore.pyqtSignal(bool)  # True as it appears, False as it goes

    def __init__(self, parent=None):
        super().__init__(HINT, parent)
        self.setStyleSheet("QLabel { background: #e8f0fe; border: 1px solid #8ab4f8; color: #1a3d7c; padding: 2px 6px; }")
        self.setToolTip(f"The loudest 100 ms of the last {QUIET_SPAN_S:g} s stayed below {TOO_QUIET_DBFS:g} dBFS, "
                        "where the model starts missing commands")
        self.watch = QuietWatch()
        self.hide()

    def push(self, level_db: float, stream_time_s: float) -> None:
        was = self.watch.quiet
        if self.watch.push(level_db, stream_time_s) != was:
            self.setVisible(self.watch.quiet)
            self.changed.emit(self.watch.quiet)

    def reset(self) -> None:
        if self.watch.quiet:
            self.changed.emit(False)
        self.watch.reset()
        self.hide()

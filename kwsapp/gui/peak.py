"""The one confidence figure of a detection: the peak of its smoothed score.

The engine reports a detection on the hop where the smoothed score first crosses the
threshold, so that number follows the threshold setting (0.56 at 0.55, 0.71 at 0.70) while
the bar goes on rising to 0.95. The tracker follows the detected label over the next hops
and emits each new high, so the big readout, the history row and the CSV all end on the
figure the bar reached. A detection ends when another label takes the top or the next
detection comes.
"""
from __future__ import annotations

import numpy as np
from PyQt6 import QtCore


class PeakTracker(QtCore.QObject):
    raised = QtCore.pyqtSignal(str, float)  # label, its new peak score

    def __init__(self, labels, parent=None):
        super().__init__(parent)
        self.labels = tuple(labels)
        self._index: int | None = None
        self.peak = 0.0

    @property
    def following(self) -> str | None:
        return None if self._index is None else self.labels[self._index]

    def start(self, label: str, score: float) -> None:
        self._index = self.labels.index(label) if label in self.labels else None
        self.peak = float(score)

    def stop(self) -> None:
        self._index = None

    def hop(self, smoothed) -> None:
        """One hop's smoothed scores (the engine sends a detection after its own hop)."""
        i = self._index
        if i is None:
            return
        smoothed = np.asarray(smoothed)
        if int(np.argmax(smoothed)) != i:
            self._index = None  # the word is over: the peak stands
            return
        s = float(smoothed[i])
        if s > self.peak:
            self.peak = s
            self.raised.emit(self.labels[i], s)

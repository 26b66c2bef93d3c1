"""The window's side of kwsapp/core/peak.py: each new high of the detection followed is a
signal, so the big readout, the history row and the CSV all end on the figure the bar reached."""
from __future__ import annotations

from PyQt6 import QtCore

from ...core.peak import PeakFollower


class PeakTracker(QtCore.QObject):
    raised = QtCore.pyqtSignal(str, float)  # label, its new peak score

    def __init__(self, labels, parent=None):
        super().__init__(parent)
        self.follower = PeakFollower(labels)

    def start(self, det) -> None:
        self.follower.start(det)

    def hop(self, smoothed, stream_time_s: float) -> None:
        """One hop's smoothed scores (the engine sends a detection after its own hop)."""
        label = self.follower.following
        raised, _ = self.follower.hop(smoothed, stream_time_s)
        if raised is not None:
            self.raised.emit(label, raised)

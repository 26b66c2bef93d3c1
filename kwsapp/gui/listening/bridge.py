"""Engine worker-thread callbacks -> Qt signals delivered in the GUI thread.

The engine calls ``on_hop``/``on_detection``/``on_error`` from its worker thread; those only
emit a signal (no widget is touched off the GUI thread). The bridge lives in the GUI thread,
so the internal signals reach it through queued connections; it re-emits them publicly only
while it is active, which drops the stragglers a stopped engine left in the event queue (so
switching device never shows the old stream's last hop on top of the new one).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PyQt6 import QtCore

_Q = QtCore.Qt.ConnectionType.QueuedConnection


@dataclass(frozen=True)
class Heard:
    """A detection and the audio it was heard in, as one payload: the window saves and plays
    the clip of the row it adds, with no pairing of separate events to get wrong."""

    detection: Any  # engine.detector.Detection
    clip: Any = None  # float32 audio ending at the detection, or None when none was kept


class EngineBridge(QtCore.QObject):
    hop = QtCore.pyqtSignal(object)        # HopResult
    heard = QtCore.pyqtSignal(object)      # Heard
    error = QtCore.pyqtSignal(object)      # KwsError (the engine has stopped itself)
    ready = QtCore.pyqtSignal(object)      # the started engine (from the starter thread)
    finished = QtCore.pyqtSignal(object)   # None: a file source has been played to its end

    _event = QtCore.pyqtSignal(str, object)  # (public signal name, payload), crosses threads

    def __init__(self, parent=None):
        super().__init__(parent)
        self.active = True
        self._event.connect(self._relay, _Q)

    @QtCore.pyqtSlot(str, object)
    def _relay(self, name, payload):
        # Runs in the GUI thread (the bridge's thread).
        if self.active:
            getattr(self, name).emit(payload)

    # Called from worker threads: emit only.
    def _send(self, name, payload) -> None:
        try:
            self._event.emit(name, payload)
        except RuntimeError:  # the window (and this bridge) is gone: nobody left to tell
            pass

    def on_hop(self, result) -> None:
        self._send("hop", result)

    def on_detection(self, det, clip=None) -> None:
        self._send("heard", Heard(det, clip))

    def on_error(self, err) -> None:
        self._send("error", err)

    def on_ready(self, engine) -> None:
        self._send("ready", engine)

    def on_finished(self) -> None:
        self._send("finished", None)

    def deactivate(self) -> None:
        self.active = False

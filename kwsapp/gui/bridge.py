"""Engine worker-thread callbacks -> Qt signals delivered in the GUI thread.

The engine calls ``on_hop``/``on_detection``/``on_error`` from its worker thread; those only
emit a signal (no widget is touched off the GUI thread). The bridge lives in the GUI thread,
so the internal signals reach it through queued connections; it re-emits them publicly only
while it is active, which drops the stragglers a stopped engine left in the event queue (so
switching device never shows the old stream's last hop on top of the new one).
"""
from __future__ import annotations

from PyQt6 import QtCore

_Q = QtCore.Qt.ConnectionType.QueuedConnection


class EngineBridge(QtCore.QObject):
    hop = QtCore.pyqtSignal(object)        # HopResult
    detection = QtCore.pyqtSignal(object)  # Detection
    error = QtCore.pyqtSignal(object)      # KwsError (the engine has stopped itself)
    ready = QtCore.pyqtSignal(object)      # the started engine (from the starter thread)
    finished = QtCore.pyqtSignal()         # a file source has been played to its end

    _hop = QtCore.pyqtSignal(object)
    _detection = QtCore.pyqtSignal(object)
    _error = QtCore.pyqtSignal(object)
    _ready = QtCore.pyqtSignal(object)
    _finished = QtCore.pyqtSignal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.active = True
        self._hop.connect(self._relay_hop, _Q)
        self._detection.connect(self._relay_detection, _Q)
        self._error.connect(self._relay_error, _Q)
        self._ready.connect(self._relay_ready, _Q)
        self._finished.connect(self._relay_finished, _Q)

    # Run in the GUI thread (the bridge's thread).
    @QtCore.pyqtSlot(object)
    def _relay_hop(self, payload):
        if self.active:
            self.hop.emit(payload)

    @QtCore.pyqtSlot(object)
    def _relay_detection(self, payload):
        if self.active:
            self.detection.emit(payload)

    @QtCore.pyqtSlot(object)
    def _relay_error(self, payload):
        if self.active:
            self.error.emit(payload)

    @QtCore.pyqtSlot(object)
    def _relay_ready(self, payload):
        if self.active:
            self.ready.emit(payload)

    @QtCore.pyqtSlot()
    def _relay_finished(self):
        if self.active:
            self.finished.emit()

    # Called from worker threads: emit only.
    def on_hop(self, result) -> None:
        self._hop.emit(result)

    def on_detection(self, det) -> None:
        self._detection.emit(det)

    def on_error(self, err) -> None:
        self._error.emit(err)

    def on_ready(self, engine) -> None:
        self._ready.emit(engine)

    def on_finished(self) -> None:
        self._finished.emit()

    def deactivate(self) -> None:
        self.active = False

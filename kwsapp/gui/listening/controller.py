"""The engine's lifecycle for the window: start, stop, switch source or model, shut down.

Engines are built (model loading included), started and stopped by short-lived starter
threads, one at a time, so the GUI thread never waits for TensorFlow's import or a worker's
join. The running engine talks back only through an :class:`.bridge.EngineBridge` (queued
signals), re-emitted here on the GUI thread. A session number tells a starter whether the
user has asked for something else meanwhile, in which case it stops what it built.
"""
from __future__ import annotations

import logging
import threading
import time

from PyQt6 import QtCore

from ...core.errors import KwsError
from . import engine_api
from .bridge import EngineBridge

JOIN_S = 1.0  # how long closing waits for a starter thread still loading a model

log = logging.getLogger(__name__)


class EngineController(QtCore.QObject):
    hop = QtCore.pyqtSignal(object)       # HopResult
    heard = QtCore.pyqtSignal(object)     # bridge.Heard: a detection with its clip
    error = QtCore.pyqtSignal(object)     # KwsError: the engine has stopped itself (``engine`` is None)
    ready = QtCore.pyqtSignal(object)     # the started engine
    finished = QtCore.pyqtSignal(object)  # None: a file source has been played to its end

    def __init__(self, parent=None):
        super().__init__(parent)
        self.engine = None  # the running engine, None while nothing runs (or it still loads)
        self.starters: list[threading.Thread] = []
        self._bridge: EngineBridge | None = None
        self._lock = threading.Lock()  # engine, session and build arguments
        self._life_lock = threading.Lock()  # one start/stop at a time
        self._session = 0
        self._build = (None, None, None)  # (model folder, smoothing, verifier) of the next engine built

    @property
    def session(self) -> int:
        """Increases with every request: the history tells one listening session from the next."""
        return self._session

    @property
    def idle(self) -> bool:
        """Nothing runs, loads or stops: the moment a device rescan may close every stream."""
        return self.engine is None and not any(t.is_alive() for t in self.starters)

    def request(self, spec, model_dir: str | None = None, smoothing=None, verifier: str | None = None) -> None:
        """Replace whatever runs by an engine on ``spec`` (None: nothing), off the GUI thread."""
        with self._lock:
            self._session += 1
            session = self._session
            old, self.engine = self.engine, None
            if spec is not None:
                self._build = (model_dir, smoothing, verifier)
        old_bridge = self._bridge
        if old_bridge is not None:
            old_bridge.deactivate()
        bridge = self._bridge = EngineBridge(self)
        bridge.hop.connect(self.hop)
        bridge.heard.connect(self.heard)
        bridge.error.connect(self._on_error)
        bridge.ready.connect(self.ready)
        bridge.finished.connect(self.finished)
        self.starters = [t for t in self.starters if t.is_alive()]
        t = threading.Thread(target=self._lifecycle, args=(session, old, old_bridge, spec, bridge),
                             name="kwsapp-engine-starter", daemon=True)
        self.starters.append(t)
        t.start()

    def update_settings(self, smoothing, verifier: str | None = None) -> None:
        """New smoothing for the running engine, and for one still loading."""
        with self._lock:
            self._build = (self._build[0], smoothing, verifier)
            engine = self.engine
        if engine is not None:
            engine.update_settings(engine_api.engine_settings(smoothing, verifier))

    def _on_error(self, err) -> None:
        with self._lock:
            self.engine = None  # the engine stopped itself
        self.error.emit(err)

    def _lifecycle(self, session, old, old_bridge, spec, bridge) -> None:
        # Runs in a starter thread: stopping an engine may take up to a second and loading a
        # model several (TensorFlow's import), neither of which may freeze the window.
        with self._life_lock:
            if old is not None:
                old.stop()
            if old_bridge is not None:
                try:
                    old_bridge.deleteLater()  # thread-safe; nothing can emit on it any more
                except RuntimeError:  # the window (and with it the bridge) is gone already
                    pass
            if spec is None or session != self._session:
                return
            with self._lock:
                model_dir, smoothing, verifier = self._build
            try:
                engine = engine_api.make_engine(spec, model_dir, smoothing, bridge, verifier)
                engine.start()
            except Exception as e:
                if not isinstance(e, KwsError):  # never let a surprise kill the thread silently
                    log.exception("starting %s", spec.describe())
                    e = KwsError(f"could not start {spec.describe()}: {type(e).__name__}: {e}")
                if session == self._session:  # else nobody is waiting for this start any more
                    bridge.on_error(e)
                return
            with self._lock:
                if session == self._session:
                    if self._build[1:] != (smoothing, verifier):  # changed while the model loaded
                        engine.update_settings(engine_api.engine_settings(*self._build[1:]))
                    self.engine = engine
                    bridge.on_ready(engine)
                    return
            engine.stop()  # the user asked for something else while this one loaded

    def shutdown(self, timeout: float = JOIN_S) -> None:
        """Stop audio and worker now (GUI thread); wait at most ``timeout`` for the starters."""
        with self._lock:
            self._session += 1
            engine, self.engine = self.engine, None
        if self._bridge is not None:
            self._bridge.deactivate()
        if engine is not None:
            engine.stop()
        deadline = time.monotonic() + timeout
        for t in self.starters:
            # A starter still loading a model sees the new session and stops what it built.
            t.join(max(0.0, deadline - time.monotonic()) if t is not threading.current_thread() else 0)

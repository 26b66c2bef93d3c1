"""The live runner: source -> ring buffer -> a window every hop -> :class:`Detector` -> callbacks.

A worker thread processes one hop each time the source has delivered ``hop_ms`` more
audio. Hops are aligned to the stream, not to the wall clock: hop k ends at sample
k * hop, so ``stream_time_s`` is exact audio time and a file read faster than real time
gives the same results as the same file played live (and as :meth:`Detector.run_offline`,
which runs the very same step over a whole signal). If the worker falls so far behind
that the window was overwritten, it skips ahead to the newest audio and counts the hops
it dropped.
"""
from __future__ import annotations

import dataclasses
import logging
import threading

import numpy as np

from .audio.sources import SourceSpec, open_source
from .core.detector import Detection, Detector, EngineSettings, HopResult
from .core.errors import KwsError

log = logging.getLogger(__name__)


class Engine:
    """Recognition on a live source by a :class:`Detector` on a worker thread. Callbacks run on
    the worker thread."""

    def __init__(self, source, model, settings: EngineSettings = EngineSettings(),
                 on_hop=None, on_detection=None, on_error=None, on_finished=None, slack_s: float = 1.0,
                 context_s: float = 0.0):
        """``source``: a :class:`SourceSpec` (opened here with a ring of one window plus ``slack_s``
        seconds, which lets the worker be that late without losing audio) or an AudioSource already
        built. ``model``: a model folder, or a Detector already loaded (then ``settings`` apply only
        through :meth:`update_settings`). ``context_s``: audio before each window that the ring keeps
        (back-pressure on a fast file holds it too), so ``on_detection``, called on the worker before
        it reads on, can copy it with :meth:`audio_before` (listen's saved clips)."""
        self.on_hop = on_hop
        self.on_detection = on_detection
        self.on_error = on_error
        self.on_finished = on_finished  # called once when a file source has been fully processed
        self.detector = model if isinstance(model, Detector) else Detector(model, settings)
        self.slack_s = slack_s
        self.context_samples = int(context_s * self.detector.sample_rate)
        self.source = self.open(source) if isinstance(source, SourceSpec) else source
        self._lock = threading.Lock()
        self._pending: EngineSettings | None = None
        self._stop = threading.Event()
        self._done = threading.Event()
        self._done.set()
        self._thread: threading.Thread | None = None
        self._dropped = 0
        self.error: KwsError | None = None

    def open(self, spec: SourceSpec):
        """A source for ``spec`` with a ring sized for this engine's detector (not started; assign it
        to ``source`` to listen to it next)."""
        det = self.detector
        ring = (det.window_samples + self.context_samples
                + max(det.hop_samples, int(self.slack_s * det.sample_rate)))
        return open_source(spec, ring_samples=ring, sample_rate=det.sample_rate)

    @property
    def recognizer(self):
        return self.detector.recognizer

    @property
    def settings(self) -> EngineSettings:
        return self.detector.settings

    @property
    def labels(self) -> tuple[str, ...]:
        return self.detector.labels

    @property
    def device(self) -> str:
        return self.detector.device

    @property
    def sample_rate(self) -> int:
        return self.detector.sample_rate

    # ---- settings -------------------------------------------------------------------
    def update_settings(self, settings: EngineSettings) -> None:
        """Thread-safe; applied before the next hop (a new backend reloads the model there)."""
        with self._lock:
            self._pending = settings
        if self._done.is_set():
            self._apply_pending()

    def _apply_pending(self) -> None:
        with self._lock:
            new, self._pending = self._pending, None
        if new is not None:
            self.detector.update_settings(new)

    def _emit(self, hop_result: HopResult) -> None:
        if self.on_hop is not None:
            self.on_hop(hop_result)
        if hop_result.detection is not None and self.on_detection is not None:
            self.on_detection(hop_result.detection)

    def run_offline(self, audio: np.ndarray) -> list[Detection]:
        """:meth:`Detector.run_offline` with this engine's callbacks (called on this thread); kept
        for callers written before the Detector existed: new code uses a Detector directly."""
        self._apply_pending()
        return self.detector.run_offline(audio, on_hop=self._emit)

    # ---- live ---------------------------------------------------------------------
    def start(self) -> None:
        """Start the source (errors such as a missing device are raised here) and the worker."""
        if not self._done.is_set():
            return
        self._stop.clear()
        self.detector.reset()
        self._dropped = 0
        self.error = None
        ring = self.source.ring
        # The ring must hold a window and a hop of slack, else the worker could never read a window.
        need = self.detector.window_samples + self.context_samples + self.detector.hop_samples
        if ring.capacity < need:
            raise ValueError(f"the source's ring holds {ring.capacity} samples; the detector needs {need}")
        # Registered before the source starts, so a file read as fast as possible waits
        # for the worker from its very first window.
        ring.set_oldest_needed(self.detector.hop_samples - self.detector.window_samples - self.context_samples)
        try:
            self.source.start()
        except BaseException:
            ring.set_oldest_needed(None)
            raise
        self._done.clear()
        self._thread = threading.Thread(target=self._run, name="kws-engine", daemon=True)
        self._thread.start()
        log.info("listening: %s, hop %d ms, model %s", getattr(self.source, "describe", lambda: "source")(),
                 self.detector.settings.hop_ms, self.detector.model_dir)

    def _run(self) -> None:
        ring = self.source.ring
        det = self.detector
        w = det.window_samples
        end = det.hop_samples
        finished_normally = False
        try:
            while not self._stop.is_set():
                self._apply_pending()
                hop = det.hop_samples
                ring.set_oldest_needed(end - w - self.context_samples)
                if not ring.wait_for(end, 0.1):
                    if self.source.error is not None:
                        raise self.source.error
                    if self.source.finished and ring.total_written < end:
                        finished_normally = True
                        break
                    continue
                total = ring.total_written
                if total - (end - w) > ring.capacity:  # the window was overwritten: catch up
                    new_end = total // hop * hop
                    self._dropped += (new_end - end) // hop
                    end = new_end
                window = ring.read_range(end - w, end)
                if self._stop.is_set():
                    break
                result = det.step(window, end, hop)
                self._emit(dataclasses.replace(result, overflows=int(getattr(self.source, "overflows", 0) or 0),
                                               dropped_hops=self._dropped))
                end += hop
        except KwsError as e:
            self._fail(e)
        except Exception as e:  # a bug must not kill the worker silently
            self._fail(KwsError(f"recognition stopped: {type(e).__name__}: {e}"))
        finally:
            ring.set_oldest_needed(None)
            self._done.set()
        if finished_normally and self.on_finished is not None:
            self.on_finished()

    def audio_before(self, det: Detection, seconds: float) -> np.ndarray:
        """The ``seconds`` of audio that end at ``det`` (zeros before the stream); exact when called
        from ``on_detection`` and ``seconds`` is at most the window plus ``context_s``."""
        end = round(det.stream_time_s * self.sample_rate)
        return self.source.ring.read_range(end - int(seconds * self.sample_rate), end)

    def _fail(self, err: KwsError) -> None:
        log.warning("stopped: %s", err)
        self.error = err
        self._stop.set()
        try:
            self.source.stop()
        finally:
            if self.on_error is not None:
                self.on_error(err)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the worker has ended (stopped, failed, or a file fully processed)."""
        return self._done.wait(timeout)

    @property
    def running(self) -> bool:
        return not self._done.is_set()

    def stop(self) -> None:
        """Stop the worker and the source; returns within about a second."""
        self._stop.set()
        if self.source is None:  # an engine used only for run_offline
            return
        self.source.stop()
        self.source.ring.wake()
        t, self._thread = self._thread, None
        if t is not None and t is not threading.current_thread():
            t.join(1.0)

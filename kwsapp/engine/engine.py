"""The streaming engine: source -> ring buffer -> a window every hop -> scores -> detections.

A worker thread processes one hop each time the source has delivered ``hop_ms`` more
audio. Hops are aligned to the stream, not to the wall clock: hop k ends at sample
k * hop, so ``stream_time_s`` is exact audio time and a file read faster than real time
gives the same results as the same file played live (and as :meth:`Engine.run_offline`,
which runs the very same step over a whole signal). If the worker falls so far behind
that the window was overwritten, it skips ahead to the newest audio and counts the hops
it dropped.
"""
from __future__ import annotations

import dataclasses
import threading
import time
from dataclasses import dataclass

import numpy as np

from ..errors import KwsError
from .recognizer import BACKENDS, Recognizer
from .smoothing import SmoothingConfig, Smoother, checked_fields, tuned


@dataclass(frozen=True)
class EngineSettings:
    hop_ms: int = 100
    # None: the defaults with the model's own tuned threshold and window (its config.json), resolved by
    # the Engine that loads the model.
    smoothing: SmoothingConfig | None = None
    backend: str = "auto"

    def __post_init__(self):
        if not 20 <= self.hop_ms <= 1000 or self.hop_ms % 10:
            raise ValueError(f"hop_ms must be a multiple of 10 between 20 and 1000 (got {self.hop_ms})")
        if self.backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}")

    def to_dict(self) -> dict:
        return {"hop_ms": self.hop_ms, "smoothing": None if self.smoothing is None else self.smoothing.to_dict(),
                "backend": self.backend}

    @classmethod
    def from_dict(cls, d: dict) -> "EngineSettings":
        d = checked_fields(cls, d, "engine")
        if d.get("smoothing") is not None:
            d["smoothing"] = SmoothingConfig.from_dict(d["smoothing"])
        return cls(**d)


@dataclass(frozen=True)
class HopResult:
    stream_time_s: float  # end of the window, in seconds of audio since the source started
    scores: np.ndarray  # [labels] this window's probabilities
    smoothed: np.ndarray  # [labels] averaged over the smoothing window
    columns: np.ndarray  # [new_frames, mel_bins] log-mel columns new since the previous hop
    level_db: float  # RMS of the newest hop, dBFS (-120 for digital silence)
    model_ms: float  # model inference time for this window
    hop_ms: float  # whole hop's compute time: read window + features + model + smoothing
    overflows: int  # input overflows of the source so far
    feature_ms: float = 0.0  # log-mel + model features time for this window
    dropped_hops: int = 0  # hops skipped so far because the worker fell behind


@dataclass(frozen=True)
class Detection:
    stream_time_s: float
    label: str
    score: float

    def to_json(self) -> dict:
        return {"time_s": round(self.stream_time_s, 3), "label": self.label, "score": round(self.score, 4)}


def level_db(x: np.ndarray) -> float:
    rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if len(x) else 0.0
    return max(-120.0, 20.0 * np.log10(rms)) if rms > 0 else -120.0


class Engine:
    """Recognition on a source (MicSource/FileSource). Callbacks run on the worker thread."""

    def __init__(self, source, model_dir: str, settings: EngineSettings = EngineSettings(),
                 on_hop=None, on_detection=None, on_error=None, on_finished=None):
        self.source = source
        self.on_hop = on_hop
        self.on_detection = on_detection
        self.on_error = on_error
        self.on_finished = on_finished  # called once when a file source has been fully processed
        self.model_dir = model_dir
        self.recognizer = Recognizer(model_dir, settings.backend)
        self.settings = settings = self._resolved(settings)
        self._smoother = Smoother(self.recognizer.labels, settings.smoothing)
        self._lock = threading.Lock()
        self._pending = None
        self._stop = threading.Event()
        self._done = threading.Event()
        self._done.set()
        self._thread = None
        self._dropped = 0
        self.error = None

    @property
    def labels(self) -> tuple[str, ...]:
        return self.recognizer.labels

    @property
    def device(self) -> str:
        return self.recognizer.device

    @property
    def sample_rate(self) -> int:
        return self.recognizer.feature_config.sample_rate

    def _hop_samples(self) -> int:
        return self.settings.hop_ms * self.sample_rate // 1000

    # ---- settings -------------------------------------------------------------------
    def update_settings(self, settings: EngineSettings) -> None:
        """Thread-safe; applied before the next hop (a new backend reloads the model there)."""
        with self._lock:
            self._pending = settings
        if self._done.is_set():
            self._apply_pending()

    def _resolved(self, settings: EngineSettings) -> EngineSettings:
        if settings.smoothing is not None:
            return settings
        # The recognizer has read the model's config already.
        return dataclasses.replace(settings, smoothing=tuned(self.recognizer.config))

    def _apply_pending(self) -> None:
        with self._lock:
            new, self._pending = self._pending, None
        if new is None:
            return
        new = self._resolved(new)
        if new.backend != self.settings.backend:
            self.recognizer = Recognizer(self.model_dir, new.backend)
        self._smoother.set_config(new.smoothing)
        self.settings = new

    # ---- the one processing step ----------------------------------------------------
    def _step(self, window: np.ndarray, end: int, hop: int) -> tuple[HopResult, Detection | None]:
        t0 = time.perf_counter()
        rec = self.recognizer
        log_mel, feats = rec.features(window)
        scores = rec.scores(feats)
        t_ms = end * 1000.0 / self.sample_rate
        sm = self._smoother.update(scores, t_ms)
        fc = rec.feature_config
        new_frames = min(len(log_mel), max(1, hop // fc.hop_samples))
        hop_result = HopResult(
            stream_time_s=t_ms / 1000.0, scores=scores, smoothed=sm.smoothed,
            columns=log_mel[-new_frames:], level_db=level_db(window[-hop:]),
            model_ms=rec.last_model_ms, hop_ms=(time.perf_counter() - t0) * 1000,
            overflows=int(getattr(self.source, "overflows", 0) or 0),
            feature_ms=rec.last_feature_ms, dropped_hops=self._dropped)
        det = Detection(t_ms / 1000.0, sm.label, sm.score) if sm.is_new else None
        return hop_result, det

    def _emit(self, hop_result, det) -> None:
        if self.on_hop is not None:
            self.on_hop(hop_result)
        if det is not None and self.on_detection is not None:
            self.on_detection(det)

    def run_offline(self, audio: np.ndarray) -> list[Detection]:
        """Process a whole 16 kHz mono signal as fast as possible through the same step as
        the live path (callbacks are called on this thread). Returns the detections."""
        self._apply_pending()
        self._smoother.reset()
        self._dropped = 0
        audio = np.asarray(audio, np.float32).reshape(-1)
        w = self.recognizer.clip_samples
        padded = np.concatenate([np.zeros(w, np.float32), audio])  # zeros before the start, as live
        out = []
        end = self._hop_samples()
        while end <= len(audio):
            hop = self._hop_samples()
            hop_result, det = self._step(padded[end : end + w], end, hop)
            self._emit(hop_result, det)
            if det is not None:
                out.append(det)
            self._apply_pending()
            end += self._hop_samples()
        return out

    # ---- live ---------------------------------------------------------------------
    def start(self) -> None:
        """Start the source (errors such as a missing device are raised here) and the worker."""
        if not self._done.is_set():
            return
        self._stop.clear()
        self._smoother.reset()
        self._dropped = 0
        self.error = None
        # Registered before the source starts, so a file read as fast as possible waits
        # for the worker from its very first window.
        self.source.ring.set_oldest_needed(self._hop_samples() - self.recognizer.clip_samples)
        try:
            self.source.start()
        except BaseException:
            self.source.ring.set_oldest_needed(None)
            raise
        self._done.clear()
        self._thread = threading.Thread(target=self._run, name="kws-engine", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        ring = self.source.ring
        w = self.recognizer.clip_samples
        end = self._hop_samples()
        finished_normally = False
        try:
            while not self._stop.is_set():
                self._apply_pending()
                hop = self._hop_samples()
                ring.set_oldest_needed(end - w)
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
                self._emit(*self._step(window, end, hop))
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

    def _fail(self, err: KwsError) -> None:
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
        if self.source is None:  # an offline-only engine
            return
        self.source.stop()
        self.source.ring.wake()
        t, self._thread = self._thread, None
        if t is not None and t is not threading.current_thread():
            t.join(1.0)

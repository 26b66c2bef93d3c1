"""One window of 16 kHz audio -> (log-mel columns for the display, label scores).

Runtimes: ``tflite`` runs model.tflite's audio signature with LiteRT (XNNPACK): raw audio in,
scores and log-mel out, one call. Its front end is the shared pipeline (:mod:`kwsapp.core.features`,
tf.signal) exported into the file by the trainer and checked there against TensorFlow, so the app
needs neither TensorFlow nor a second implementation of the features. ``keras`` runs the same
pipeline and the Keras model in TensorFlow (a GPU when TensorFlow sees one; needs the train extra).
``auto`` is tflite, unless the .tflite file gives non-finite scores (an export bug once produced
such files) and TensorFlow is installed: then keras, with a warning.
"""
from __future__ import annotations

import importlib.util
import os
import time

import numpy as np

from . import features as F
from .errors import REBUILD_HINT, ModelError
from .model import (
    AUDIO_SIGNATURE,
    FEATURES_SIGNATURE,
    Classifier,
    ModelConfig,
    check_shapes,
    load_tflite,
    read_config,
    reexport_hint,
)

BACKENDS = ("auto", "tflite", "keras")


class _LiteRT:
    """model.tflite's audio signature."""

    device = "CPU"
    backend = "tflite"

    def __init__(self, model_dir: str, config: ModelConfig) -> None:
        path = os.path.join(model_dir, "model.tflite")
        if not os.path.exists(path):
            if not os.path.exists(os.path.join(model_dir, "model.keras")):
                raise ModelError(f"{model_dir} has no weights (neither model.tflite nor model.keras); {REBUILD_HINT}")
            raise ModelError(f"{path} is missing; {reexport_hint(model_dir)}")
        interp = load_tflite(path)
        sigs = interp.get_signature_list()
        if AUDIO_SIGNATURE not in sigs or FEATURES_SIGNATURE not in sigs:
            raise ModelError(f"{path} takes features, not audio (an export from before the app ran "
                             f"without TensorFlow); {reexport_hint(model_dir)}")
        self._run = interp.get_signature_runner(AUDIO_SIGNATURE)
        feats = interp.get_signature_runner(FEATURES_SIGNATURE)
        check_shapes(model_dir, config, tuple(int(v) for v in feats.get_input_details()[FEATURES_SIGNATURE]["shape"][1:]),
                     int(self._run.get_output_details()["scores"]["shape"][-1]))
        samples = tuple(int(v) for v in self._run.get_input_details()[AUDIO_SIGNATURE]["shape"])
        if samples != (config.features.clip_samples,):
            raise ModelError(f"{model_dir}: the weights take {samples[0]}-sample windows but config.json's "
                             f"features give {config.features.clip_samples}; {REBUILD_HINT}")

    def __call__(self, window: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        out = self._run(**{AUDIO_SIGNATURE: window})
        return out["log_mel"], out["scores"][0], 0.0


class _TensorFlow:
    """The shared pipeline in a ``tf.function`` with a fixed input shape, then the Keras model."""

    backend = "keras"

    def __init__(self, model_dir: str, config: ModelConfig) -> None:
        clf = Classifier(model_dir, backend="keras", config=config)  # imports TensorFlow or says what to install
        import tensorflow as tf

        self.classifier = clf
        self.device = clf.device
        cfg = config.features
        display = F.display_config(cfg)

        def front(wave: F.Tensor) -> tuple[F.Tensor, F.Tensor]:
            log_mel = F.log_mel_spectrogram(wave, display)
            if cfg.kind == "spectrogram":  # not derivable from log-mel: computed beside it
                return log_mel, F.magnitude_spectrogram(wave, cfg)
            return log_mel, F.features_from_log_mel(log_mel, cfg)

        self._front = tf.function(front, input_signature=[tf.TensorSpec([cfg.clip_samples], tf.float32)])

    def __call__(self, window: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        t = time.perf_counter()
        log_mel, feats = self._front(window)
        log_mel, feats = log_mel.numpy(), feats.numpy()
        feature_ms = (time.perf_counter() - t) * 1000
        return log_mel, self.classifier.predict(feats[None])[0], feature_ms


class Recognizer:
    def __init__(self, model_dir: str, backend: str = "auto", config: ModelConfig | None = None) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
        self.warning: str | None = None
        self.config = config or read_config(model_dir)
        cfg = self.config.features
        self.feature_config = cfg
        self.clip_samples = cfg.clip_samples
        self.mel_bins = F.display_config(cfg).num_mel_bins
        runtime: _LiteRT | _TensorFlow = _TensorFlow(model_dir, self.config) if backend == "keras" else _LiteRT(model_dir, self.config)
        if runtime.backend == "tflite" and not self._is_sane(runtime):
            if backend == "tflite" or importlib.util.find_spec("tensorflow") is None:
                raise ModelError(f"{model_dir}/model.tflite gives non-finite scores; {reexport_hint(model_dir)}")
            self.warning = (f"{os.path.join(model_dir, 'model.tflite')} gives non-finite scores; "
                            "using the slower keras runtime (re-export the model to fix)")
            runtime = _TensorFlow(model_dir, self.config)
        self._runtime = runtime
        self.backend = runtime.backend
        self.device = runtime.device
        self.labels = self.config.labels
        self.last_feature_ms = 0.0
        self.last_model_ms = 0.0
        # Warm up now: a first call is slow (a graph trace on keras), and would otherwise land on
        # the first live hop (and delay a prompt stop).
        self(np.zeros(self.clip_samples, np.float32))

    def _is_sane(self, runtime: _LiteRT | _TensorFlow) -> bool:
        probe = np.random.default_rng(0).normal(0.0, 0.1, self.clip_samples).astype(np.float32)
        _, out, _ = runtime(probe)
        return bool(np.isfinite(out).all() and abs(float(out.sum()) - 1.0) < 1e-2)

    def __call__(self, window: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One window [clip_samples] -> (log-mel [frames, mel_bins], scores [labels]).
        ``last_model_ms``: the whole call (the tflite runtime computes its features inside it);
        ``last_feature_ms``: the part spent on features where that is separate (keras), else 0."""
        t = time.perf_counter()
        log_mel, scores, self.last_feature_ms = self._runtime(np.asarray(window, np.float32))
        self.last_model_ms = (time.perf_counter() - t) * 1000
        return log_mel, scores

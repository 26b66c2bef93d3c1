"""One window of 16 kHz audio -> (log-mel columns for the display, label scores).

The log-mel spectrogram is computed once per window by the shared pipeline
(:mod:`kwsapp.features`) inside a ``tf.function`` with a fixed input shape (one graph
call instead of dozens of eager ops), and the model features are derived from it.

Model runtimes: ``tflite`` (the TFLite interpreter with XNNPACK; the fastest for one
window at a time on a CPU: about 0.6 ms against 2 ms for the vgg_small model here) and
``keras`` (a ``tf.function`` around the Keras model, which also runs on a GPU). ``auto``
takes keras on a GPU, else tflite, unless the .tflite file gives non-finite scores (an
export bug once produced such files), in which case it falls back to keras and says so.
"""
from __future__ import annotations

import os
import time

import numpy as np

from .. import features as F
from ..model import Classifier

BACKENDS = ("auto", "tflite", "keras")


class Recognizer:
    def __init__(self, model_dir: str, backend: str = "auto"):
        if backend not in BACKENDS:
            raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
        import tensorflow as tf

        self.warning = None
        clf = Classifier(model_dir, backend=backend)
        self.config = clf.config
        cfg = self.config.features
        self.feature_config = cfg
        self.clip_samples = cfg.clip_samples
        spec = [tf.TensorSpec([cfg.clip_samples], tf.float32)]
        display_cfg = cfg if cfg.kind != "spectrogram" else F.FeatureConfig(
            sample_rate=cfg.sample_rate, clip_samples=cfg.clip_samples,
            window_samples=cfg.window_samples, hop_samples=cfg.hop_samples, fft_length=cfg.fft_length)
        self.mel_bins = display_cfg.num_mel_bins

        def front(wave):
            log_mel = F.log_mel_spectrogram(wave, display_cfg)
            if cfg.kind == "spectrogram":  # not derivable from log-mel: computed beside it
                return log_mel, F.magnitude_spectrogram(wave, cfg)
            return log_mel, F.features_from_log_mel(log_mel, cfg)

        self._front = tf.function(front, input_signature=spec)
        if clf.backend == "tflite" and not self._tflite_is_sane(clf):
            if backend == "tflite":
                from ..errors import ModelError

                raise ModelError(f"{model_dir}/model.tflite gives non-finite scores; re-export it "
                                 "or use the keras backend")
            self.warning = (f"{os.path.join(model_dir, 'model.tflite')} gives non-finite scores; "
                            "using the slower keras runtime (re-export the model to fix)")
            clf = Classifier(model_dir, backend="keras")
        self.classifier = clf
        self.backend = clf.backend
        self.device = clf.device
        self.labels = clf.labels
        self.last_feature_ms = 0.0
        self.last_model_ms = 0.0
        # Trace the graph now: the first call takes about a second, which would otherwise
        # land on the first live hop (and delay a prompt stop).
        self(np.zeros(self.clip_samples, np.float32))

    @staticmethod
    def _tflite_is_sane(clf: Classifier) -> bool:
        probe = np.random.default_rng(0).normal(-5.0, 3.0, (1, *clf.config.features.shape)).astype(np.float32)
        out = clf.predict(probe)
        return bool(np.isfinite(out).all() and abs(float(out.sum()) - 1.0) < 1e-2)

    def features(self, window: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """[clip_samples] float32 -> (log-mel [frames, mel_bins], model features [frames, bins])."""
        t = time.perf_counter()
        log_mel, feats = self._front(np.asarray(window, np.float32))
        out = log_mel.numpy(), feats.numpy()
        self.last_feature_ms = (time.perf_counter() - t) * 1000
        return out

    def scores(self, feats: np.ndarray) -> np.ndarray:
        """Model features of one window -> [labels] probabilities."""
        t = time.perf_counter()
        out = self.classifier.predict(feats[None])[0]
        self.last_model_ms = (time.perf_counter() - t) * 1000
        return out

    def __call__(self, window: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One window -> (log-mel [frames, mel_bins], scores [labels])."""
        log_mel, feats = self.features(window)
        return log_mel, self.scores(feats)

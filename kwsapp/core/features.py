"""The one feature pipeline: waveform -> spectrogram / log-mel / MFCC.

The trainer computes its features here, and exports this very code into each model.tflite
(``kwstrain/export.py``: raw audio in, scores and log-mel out, checked against TensorFlow), which
is what the app runs, so the numbers the model sees live are the numbers it was trained on and
the app needs no TensorFlow (``--backend keras`` calls these functions directly). All settings live in the frozen
:class:`FeatureConfig`, which is saved beside every model (``config.json``).

The maths follows the original study (``tf.signal``; 30 ms Hann window, 10 ms hop,
80-7600 Hz mel filters, ``log(x + 1e-6)``). ``level_norm="window"`` makes the features independent
of the input's level: each window's log-mel is taken relative to the window's own level (the log of
its mean mel magnitude), but a window quieter than ``norm_floor`` is not raised further, so a quiet
room stays quiet (docs/features.md says why this and not PCEN).
"""
from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import Any

import numpy as np

KINDS = ("spectrogram", "logmel", "mfcc")
LEVEL_NORMS = ("none", "window")

# A tf.Tensor, or what tf.convert_to_tensor takes (TensorFlow has no type information).
Tensor = Any


@dataclass(frozen=True)
class FeatureConfig:
    kind: str = "logmel"
    sample_rate: int = 16000
    clip_samples: int = 16000  # one model window; shorter audio is zero-padded
    window_samples: int = 480  # 30 ms
    hop_samples: int = 160  # 10 ms
    fft_length: int = 512
    lower_hz: float = 80.0
    upper_hz: float = 7600.0
    num_mel_bins: int = 40
    num_mfcc: int = 13
    log_offset: float = 1e-6
    level_norm: str = "none"  # "window": log-mel relative to the window's level (see window_level)
    # The lowest window level that is normalised (natural log of the mean mel magnitude, 1.15 per
    # 10 dB; -6.0 is white noise at about -89 dBFS, or a Speech Commands word about 48 dB below its
    # recorded level): quieter windows keep their (low) level.
    norm_floor: float = -6.0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown feature kind {self.kind!r}; choose one of {', '.join(KINDS)}")
        if self.level_norm not in LEVEL_NORMS:
            raise ValueError(f"unknown level_norm {self.level_norm!r}; choose one of {', '.join(LEVEL_NORMS)}")
        if self.level_norm != "none" and self.kind == "spectrogram":
            raise ValueError("level_norm works on log-mel features (logmel, mfcc), not spectrogram")
        if self.window_samples > self.fft_length:
            raise ValueError("window_samples must not exceed fft_length")
        if not 0 <= self.lower_hz < self.upper_hz <= self.sample_rate / 2:
            raise ValueError("need 0 <= lower_hz < upper_hz <= sample_rate/2")
        if self.kind == "mfcc" and not 1 <= self.num_mfcc <= self.num_mel_bins:
            raise ValueError("num_mfcc must be between 1 and num_mel_bins")

    @property
    def num_frames(self) -> int:
        return 1 + (self.clip_samples - self.window_samples) // self.hop_samples

    @property
    def num_bins(self) -> int:
        if self.kind == "spectrogram":
            return self.fft_length // 2 + 1
        if self.kind == "mfcc":
            return self.num_mfcc
        return self.num_mel_bins

    @property
    def shape(self) -> tuple[int, int]:
        """Feature shape of one clip: (frames, bins)."""
        return (self.num_frames, self.num_bins)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "FeatureConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown feature settings: {', '.join(sorted(unknown))}")
        return cls(**d)


def display_config(cfg: FeatureConfig) -> FeatureConfig:
    """The log-mel settings of the spectrogram the app shows for a model with features ``cfg``
    (and its model.tflite outputs): the model's own, or default mel bands beside a
    plain-spectrogram model."""
    if cfg.kind != "spectrogram":
        return cfg
    return FeatureConfig(sample_rate=cfg.sample_rate, clip_samples=cfg.clip_samples,
                         window_samples=cfg.window_samples, hop_samples=cfg.hop_samples,
                         fft_length=cfg.fft_length)


def _tf() -> Any:  # the tensorflow module
    # Imported lazily: `kwsapp --help` and `kwsapp devices` should not pay TF's start-up.
    import tensorflow as tf

    return tf


@functools.lru_cache(maxsize=None)
def mel_matrix(cfg: FeatureConfig) -> np.ndarray:
    """(fft_length//2+1, num_mel_bins) weights, as tf.signal builds them."""
    tf = _tf()
    with tf.init_scope():  # eager even when first asked for inside a tf.function/dataset map
        weights: np.ndarray = tf.signal.linear_to_mel_weight_matrix(
            num_mel_bins=cfg.num_mel_bins,
            num_spectrogram_bins=cfg.fft_length // 2 + 1,
            sample_rate=cfg.sample_rate,
            lower_edge_hertz=cfg.lower_hz,
            upper_edge_hertz=cfg.upper_hz,
        ).numpy()
        return weights


@functools.lru_cache(maxsize=None)
def dct_matrix(num_mel_bins: int, num_mfcc: int) -> np.ndarray:
    """(num_mel_bins, num_mfcc): the first MFCCs as a matrix product. The same DCT-II scaled by
    1/sqrt(2 N) as tf.signal.mfccs_from_log_mel_spectrograms, whose DCT slices complex tensors,
    which the TFLite runtime cannot run (model.tflite computes its features itself)."""
    n = np.arange(num_mel_bins, dtype=np.float64)[:, None]
    k = np.arange(num_mfcc, dtype=np.float64)[None, :]
    dct: np.ndarray = 2.0 * np.cos(np.pi * k * (2.0 * n + 1.0) / (2.0 * num_mel_bins)) / np.sqrt(2.0 * num_mel_bins)
    return dct.astype(np.float32)


def fit_length(waveforms: Tensor, cfg: FeatureConfig) -> Tensor:
    """Zero-pad (at the end) or crop the last axis to ``cfg.clip_samples``."""
    tf = _tf()
    waveforms = tf.convert_to_tensor(waveforms, tf.float32)
    n = tf.shape(waveforms)[-1]
    pad = tf.maximum(cfg.clip_samples - n, 0)
    rank = len(waveforms.shape)
    paddings = [[0, 0]] * (rank - 1) + [[0, pad]]
    return tf.pad(waveforms, paddings)[..., : cfg.clip_samples]


def magnitude_spectrogram(waveforms: Tensor, cfg: FeatureConfig) -> Tensor:
    tf = _tf()
    stft = tf.signal.stft(
        fit_length(waveforms, cfg),
        frame_length=cfg.window_samples,
        frame_step=cfg.hop_samples,
        fft_length=cfg.fft_length,
        window_fn=tf.signal.hann_window,
        pad_end=False,
    )
    return tf.abs(stft)


def log_mel_spectrogram(waveforms: Tensor, cfg: FeatureConfig) -> Tensor:
    """[..., samples] float32 in [-1, 1] -> [..., frames, num_mel_bins]."""
    tf = _tf()
    mel = tf.tensordot(magnitude_spectrogram(waveforms, cfg), tf.constant(mel_matrix(cfg)), 1)
    return tf.math.log(mel + cfg.log_offset)


def window_level(log_mel: Tensor, cfg: FeatureConfig) -> Tensor:
    """[..., frames, bins] log-mel -> [...]: the window's level, the log of its mean mel
    magnitude. A gain g on the audio adds log(g) to it, as to every log-mel value."""
    tf = _tf()
    return tf.math.log(tf.reduce_mean(tf.exp(log_mel), axis=[-2, -1]))


def normalize_level(log_mel: Tensor, cfg: FeatureConfig) -> Tensor:
    """Log-mel relative to its window's level, floored at ``cfg.norm_floor`` (no-op for "none")."""
    if cfg.level_norm == "none":
        return log_mel
    tf = _tf()
    ref = tf.maximum(window_level(log_mel, cfg), cfg.norm_floor)
    return log_mel - ref[..., None, None]


def features_from_log_mel(log_mel: Tensor, cfg: FeatureConfig) -> Tensor:
    """Model features from a log-mel spectrogram (so the app computes log-mel once for
    both the display and the model)."""
    tf = _tf()
    log_mel = normalize_level(log_mel, cfg)
    if cfg.kind == "logmel":
        return log_mel
    if cfg.kind == "mfcc":
        return tf.tensordot(log_mel, tf.constant(dct_matrix(cfg.num_mel_bins, cfg.num_mfcc)), 1)
    raise ValueError("the spectrogram kind is not derived from log-mel")


def compute_features(waveforms: Tensor, cfg: FeatureConfig) -> Tensor:
    """The model's input features: [..., samples] -> [..., frames, bins] float32."""
    if cfg.kind == "spectrogram":
        return magnitude_spectrogram(waveforms, cfg)
    return features_from_log_mel(log_mel_spectrogram(waveforms, cfg), cfg)

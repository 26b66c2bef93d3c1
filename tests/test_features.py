"""The shared feature pipeline against an independent NumPy reference."""
import numpy as np
import pytest

from kwsapp.core import features as F
from tests.conftest import tone


def _hz_to_mel(f):
    return 1127.0 * np.log1p(np.asarray(f, np.float64) / 700.0)


def np_mel_matrix(cfg):
    n_spec = cfg.fft_length // 2 + 1
    freqs = np.linspace(0.0, cfg.sample_rate / 2, n_spec)[1:]
    spec_mel = _hz_to_mel(freqs)[:, None]
    edges = np.linspace(_hz_to_mel(cfg.lower_hz), _hz_to_mel(cfg.upper_hz), cfg.num_mel_bins + 2)
    lo, mid, hi = edges[:-2], edges[1:-1], edges[2:]
    w = np.maximum(0.0, np.minimum((spec_mel - lo) / (mid - lo), (hi - spec_mel) / (hi - mid)))
    return np.vstack([np.zeros((1, cfg.num_mel_bins)), w])


def np_features(x, cfg):
    x = np.pad(x.astype(np.float64), (0, max(0, cfg.clip_samples - len(x))))[: cfg.clip_samples]
    n = cfg.window_samples
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)  # periodic Hann
    frames = np.stack([x[i * cfg.hop_samples : i * cfg.hop_samples + n] * window for i in range(cfg.num_frames)])
    mag = np.abs(np.fft.rfft(frames, cfg.fft_length))
    if cfg.kind == "spectrogram":
        return mag
    log_mel = np.log(mag @ np_mel_matrix(cfg) + cfg.log_offset)
    if cfg.kind == "logmel":
        return log_mel
    m = cfg.num_mel_bins
    k = np.arange(m)[:, None]
    dct = 2 * np.cos(np.pi * k * (2 * np.arange(m)[None, :] + 1) / (2 * m)) / np.sqrt(2 * m)
    return (log_mel @ dct.T)[:, : cfg.num_mfcc]


@pytest.fixture(scope="module")
def signal():
    rng = np.random.default_rng(3)
    return (tone(440) + tone(1800, level=0.1) + 0.01 * rng.standard_normal(16000)).astype(np.float32)


@pytest.mark.parametrize("kind,mel", [("spectrogram", 40), ("logmel", 40), ("logmel", 80), ("mfcc", 40)])
def test_features_match_numpy_reference(signal, kind, mel):
    cfg = F.FeatureConfig(kind=kind, num_mel_bins=mel)
    got = F.compute_features(signal, cfg).numpy()
    want = np_features(signal, cfg)
    assert got.shape == want.shape == cfg.shape
    scale = np.abs(want).max()
    np.testing.assert_allclose(got, want, atol=2e-4 * scale, rtol=1e-3)


def test_mel_matrix_matches_reference():
    cfg = F.FeatureConfig(num_mel_bins=64)
    np.testing.assert_allclose(F.mel_matrix(cfg), np_mel_matrix(cfg), atol=1e-5)


@pytest.mark.parametrize("kind,shape", [("spectrogram", (98, 257)), ("logmel", (98, 40)), ("mfcc", (98, 13))])
def test_shapes_and_batches(kind, shape):
    cfg = F.FeatureConfig(kind=kind)
    assert cfg.shape == shape
    batch = np.zeros((3, 16000), np.float32)
    assert tuple(F.compute_features(batch, cfg).shape) == (3,) + shape


def test_short_clips_are_zero_padded_and_long_ones_cropped(signal):
    cfg = F.FeatureConfig()
    short = signal[:9000]
    padded = np.concatenate([short, np.zeros(7000, np.float32)])
    # Bit-exact on purpose: padding/cropping happens before any arithmetic, so both calls run
    # the same kernels on the same 16,000 samples; a difference means the edge was handled
    # another way (a shorter frame, a different pad value).
    np.testing.assert_array_equal(F.compute_features(short, cfg).numpy(), F.compute_features(padded, cfg).numpy())
    longer = np.concatenate([signal, signal[:500]])
    np.testing.assert_array_equal(F.compute_features(longer, cfg).numpy(), F.compute_features(signal, cfg).numpy())


def test_logmel_puts_a_tone_in_the_right_band():
    cfg = F.FeatureConfig(num_mel_bins=40)
    low = F.compute_features(tone(300), cfg).numpy().mean(0).argmax()
    high = F.compute_features(tone(3000), cfg).numpy().mean(0).argmax()
    centres = np.linspace(_hz_to_mel(80), _hz_to_mel(7600), 42)[1:-1]
    assert abs(centres[low] - _hz_to_mel(300)) < 60
    assert abs(centres[high] - _hz_to_mel(3000)) < 60


def test_config_round_trip_and_validation():
    cfg = F.FeatureConfig(kind="mfcc", num_mel_bins=30, num_mfcc=10)
    assert F.FeatureConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown feature kind"):
        F.FeatureConfig(kind="chroma")
    with pytest.raises(ValueError, match="unknown feature settings"):
        F.FeatureConfig.from_dict({**cfg.to_dict(), "bogus": 1})
    with pytest.raises(ValueError):
        F.FeatureConfig(kind="mfcc", num_mel_bins=10, num_mfcc=13)


def test_mfcc_matrix_is_tf_signals_mfcc(signal):
    """The DCT as a matrix product (so TFLite can run it) gives tf.signal's MFCCs."""
    import tensorflow as tf

    cfg = F.FeatureConfig(kind="mfcc", num_mel_bins=40, num_mfcc=13)
    log_mel = F.log_mel_spectrogram(signal, cfg)
    want = tf.signal.mfccs_from_log_mel_spectrograms(log_mel)[..., : cfg.num_mfcc].numpy()
    np.testing.assert_allclose(F.compute_features(signal, cfg).numpy(), want, atol=1e-4 * np.abs(want).max())


def _speech_like(seed=0):
    rng = np.random.default_rng(seed)
    x = tone(440.0, level=0.2) * np.hanning(16000).astype(np.float32) + tone(1800.0, level=0.05)
    return (x + rng.normal(0, 3e-3, 16000)).astype(np.float32)  # over a room's noise


@pytest.mark.parametrize("kind", ["logmel", "mfcc"])
def test_window_level_norm_makes_features_independent_of_the_input_level(kind):
    cfg = F.FeatureConfig(kind=kind, level_norm="window")
    x = _speech_like()
    near = F.compute_features(x, cfg).numpy()
    for db in (-30.0, -10.0, 6.0):
        far = F.compute_features(x * 10 ** (db / 20), cfg).numpy()
        # Exact but for log(x + 1e-6): the offset is 1e-3 of the quietest mel bands at -30 dB.
        np.testing.assert_allclose(far, near, atol=0.05)
    plain = F.compute_features(x * 10 ** (-30 / 20), F.FeatureConfig(kind=kind)).numpy()
    assert np.abs(plain - F.compute_features(x, F.FeatureConfig(kind=kind)).numpy()).mean() > 1.0


def test_a_window_quieter_than_the_floor_is_not_raised():
    cfg = F.FeatureConfig(level_norm="window")
    hiss = np.random.default_rng(2).normal(0, 10 ** (-100 / 20), 16000).astype(np.float32)
    level = float(F.window_level(F.log_mel_spectrogram(hiss, cfg), cfg))
    assert level < cfg.norm_floor
    raw = F.log_mel_spectrogram(hiss, cfg).numpy()
    np.testing.assert_allclose(F.compute_features(hiss, cfg).numpy(), raw - cfg.norm_floor, atol=1e-5)
    # ... while a speech window is taken relative to its own level, which sits near 0 after it.
    x = _speech_like()
    feats = F.compute_features(x, cfg).numpy()
    assert abs(float(np.log(np.mean(np.exp(feats))))) < 1e-3


def test_level_norm_is_refused_on_a_plain_spectrogram_and_absent_means_none():
    with pytest.raises(ValueError, match="level_norm"):
        F.FeatureConfig(kind="spectrogram", level_norm="window")
    with pytest.raises(ValueError, match="unknown level_norm"):
        F.FeatureConfig(level_norm="pcen")
    old = F.FeatureConfig().to_dict()
    del old["level_norm"], old["norm_floor"]  # a config.json written before the option
    assert F.FeatureConfig.from_dict(old).level_norm == "none"

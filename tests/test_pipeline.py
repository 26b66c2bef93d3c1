"""Decoding and the augmenting tf.data pipeline."""
import dataclasses
import os
import time

import numpy as np
import pytest
import tensorflow as tf

from kwsapp.core import features as F
from kwsapp.core.errors import KwsError, UsageError
from kwsapp.core.wavio import load_audio
from kwstrain import dataset as D
from kwstrain import pipeline as P

CFG = F.FeatureConfig()


@pytest.fixture
def decoded(tiny_dataset):
    spec = D.scan(tiny_dataset, unknown_share=1.0)
    return spec, P.decode(spec, CFG), P.load_background(spec.background_files, 16000)


def test_training_features_equal_the_shared_pipeline_on_the_file(decoded):
    spec, dec, noise = decoded
    val = dec["validation"]
    feats, labels = next(iter(P.make_dataset(val, CFG, 8, training=False, noise=None)))
    for i in range(4):
        clip = val.clips[i]
        want = F.compute_features(load_audio(clip.path), CFG).numpy()
        # A batch and a single clip go through different FFT/matmul kernels, which round the
        # mel energies differently by a few float32 eps (relative); log() turns that into an
        # absolute error of the same few eps, and the result is rounded at the feature's own
        # magnitude. So: 4 float32 ulps at the largest |log-mel| (about 4e-6 at |log 1e-6| =
        # 13.8). A wrong window, mel matrix or offset is off by orders of magnitude more.
        atol = 4 * float(np.spacing(np.float32(np.abs(want).max())))
        np.testing.assert_allclose(feats[i, ..., 0].numpy(), want, rtol=0, atol=atol)
        assert spec.labels[int(labels[i])] == clip.label


def test_augmentation_keeps_shape_and_dtype_and_changes_the_signal(decoded):
    spec, dec, noise = decoded
    tr = dec["training"]
    plain = next(iter(P.make_dataset(tr, CFG, 16, training=False)))[0]
    aug = next(iter(P.make_dataset(tr, CFG, 16, training=True, noise=noise, seed=3)))[0]
    assert aug.shape == plain.shape == (16, 98, 40, 1) and aug.dtype == tf.float32
    assert np.isfinite(aug.numpy()).all()
    # same examples? the training stream is shuffled; compare statistics instead
    x = tf.constant(np.stack([tr.audio[i] for i in tr.index[:16]]).astype(np.float32) / 32768)
    y = tf.constant(tr.labels[:16])
    a = P.augment_waveforms(x, y, tf.constant(noise), tf.constant([1, 2], tf.int64), CFG, P.AugmentConfig(), 0)
    assert a.shape == x.shape and a.dtype == tf.float32
    assert float(tf.reduce_max(tf.abs(a))) <= 1.0
    assert float(tf.reduce_mean(tf.abs(a - x))) > 1e-3


def test_time_shift_moves_the_signal():
    x = np.zeros((1, 16000), np.float32)
    x[0, 8000] = 1.0
    aug = P.AugmentConfig(gain_db=0, background_frequency=0)
    a = P.augment_waveforms(tf.constant(x), tf.constant([2]), None, tf.constant([4, 5], tf.int64), CFG, aug, 0)
    pos = int(np.argmax(np.abs(a.numpy()[0])))
    assert pos != 8000 and abs(pos - 8000) <= 1600


@pytest.mark.parametrize("factor", [0.9, 1.1])
def test_change_speed_scales_a_tones_frequency_and_keeps_its_level(factor):
    t = np.arange(16000) / 16000
    x = (0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)[None, :]
    y = P.change_speed(tf.constant(x), tf.constant([factor])).numpy()[0]
    core = y[2000:14000]  # clear of the zeros a slowed clip gets at its ends
    spec = np.abs(np.fft.rfft(core * np.hanning(len(core))))
    peak_hz = np.argmax(spec) * 16000 / len(core)
    assert abs(peak_hz - 1000 * factor) < 5
    assert abs(np.sqrt(np.mean(core ** 2)) - 0.5 / np.sqrt(2)) < 0.01
    if factor > 1:
        assert np.all(y[:700] == 0) and np.all(y[-700:] == 0)  # a faster clip is shorter, zero-padded...
    else:
        assert np.abs(y[:700]).max() > 0.4  # ...a slower one loses its ends instead


def test_speed_perturbation_draws_its_own_factors_and_leaves_the_shifts_alone():
    x = tf.constant(np.random.default_rng(0).normal(0, 0.1, (4, 16000)).astype(np.float32))
    y = tf.constant([2, 3, 4, 5])
    seed = tf.constant([4, 5], tf.int64)
    base = P.AugmentConfig(background_frequency=0)
    plain = P.augment_waveforms(x, y, None, seed, CFG, base, 0).numpy()
    fast = P.augment_waveforms(x, y, None, seed, CFG, P.AugmentConfig(background_frequency=0, speed_perturb=0.1), 0)
    assert np.abs(fast.numpy() - plain).mean() > 1e-3
    again = P.augment_waveforms(x, y, None, seed, CFG, P.AugmentConfig(background_frequency=0, speed_perturb=0.0), 0)
    # Bit-exact on purpose: speed_perturb=0.0 is the default, so this is the same graph on the
    # same input in the same process; any difference means 0.0 took another code path.
    np.testing.assert_array_equal(again.numpy(), plain)
    # The time shifts are the same draws with or without it: an impulse at the centre, which a
    # speed change leaves in place, lands where it lands without one.
    imp = np.zeros((4, 16000), np.float32)
    imp[:, 8000] = 1.0
    no_gain = dict(background_frequency=0, gain_db=0)
    pos = [np.argmax(np.abs(P.augment_waveforms(tf.constant(imp), y, None, seed, CFG,
                                                P.AugmentConfig(speed_perturb=sp, **no_gain), 0).numpy()), axis=1)
           for sp in (0.0, 0.1)]
    assert len(set(pos[0])) > 1  # four different shifts...
    assert np.all(np.abs(pos[0] - pos[1]) <= 1)  # ...and the same four with speed perturbation


def test_reverberation_is_a_causal_decaying_tail_at_the_clips_level():
    imp = np.zeros((8, 16000), np.float32)
    imp[:, 4000] = 0.5
    seed = tf.constant([2, 3], tf.int64)
    y = P.reverberate(tf.constant(imp), seed, 1.0, 16000).numpy()
    rms = lambda a: np.sqrt(np.mean(a ** 2, axis=-1))  # noqa: E731
    np.testing.assert_allclose(rms(y), rms(imp), rtol=1e-4)  # the level is kept
    assert np.abs(y[:, :4000]).max() < 1e-4  # nothing before the sound (FFT rounding only)
    # the direct path dominates (DRR >= 0 dB) and the tail decays: more energy 0-100 ms after
    # the impulse than 300-400 ms after it, in every room drawn
    assert np.all(np.abs(y[:, 4000]) >= np.abs(y[:, 4001:]).max(axis=1))
    early, late = rms(y[:, 4001:5600]), rms(y[:, 8800:10400])
    assert np.all(early > 2 * late) and np.all(late > 0)
    ratio = early / y[:, 4000]
    assert ratio.std() > 0.2 * ratio.mean()  # rooms really drawn, not one fixed response
    x = tf.constant(np.random.default_rng(0).normal(0, 0.1, (64, 16000)).astype(np.float32))
    some = P.reverberate(x, seed, 0.3, 16000).numpy()
    changed = np.abs(some - x.numpy()).max(axis=1) > 0
    assert 5 <= changed.sum() <= 35  # about 30 % of 64
    np.testing.assert_array_equal(some[~changed], x.numpy()[~changed])


def test_damped_tails_ring_shorter_above_their_crossover_and_flat_ones_are_unchanged():
    from conftest import rt60_t20

    imp = np.zeros((8, 32000), np.float32)
    imp[:, 0] = 1.0
    seed = tf.constant([2, 3], tf.int64)
    room = lambda hf: P.reverberate(tf.constant(imp), seed, 1.0, 16000, (0.5, 0.8), (-20.0, -20.0),  # noqa: E731
                                    hf_ratio=hf).numpy()
    f = np.fft.rfftfreq(32000, 1 / 16000)

    def times(y, keep):  # each response's T20 in one band (an ideal FFT band-pass)
        band = np.fft.irfft(np.fft.rfft(y, axis=1) * keep, 32000, axis=1)
        return np.array([rt60_t20(h[:16000]) for h in band])

    flat, damped = room((1.0, 1.0)), room((0.3, 0.3))
    # 6-8 kHz lies above every crossover drawn (1-4 kHz, 4th-order slopes): it rings 0.3 as long;
    # below 600 Hz the room is the flat one; tolerances cover T20's spread on one noise draw
    np.testing.assert_allclose(times(damped, f > 6000) / times(damped, f < 600), 0.3, atol=0.08)
    np.testing.assert_allclose(times(flat, f > 6000) / times(flat, f < 600), 1.0, atol=0.12)
    np.testing.assert_allclose(times(damped, f < 600), times(flat, f < 600), rtol=0.05)
    # Bit-exact on purpose: the default takes no other code path or random stream
    np.testing.assert_array_equal(flat, P.reverberate(tf.constant(imp), seed, 1.0, 16000, (0.5, 0.8),
                                                      (-20.0, -20.0)).numpy())


def test_band_limiting_keeps_speech_frequencies_and_cuts_the_ends():
    t = np.arange(16000) / 16000
    tone = lambda hz: tf.constant(np.tile(np.sin(2 * np.pi * hz * t), (16, 1)).astype(np.float32))  # noqa: E731
    gain = lambda hz: np.sqrt(np.mean(P.band_limit(tone(hz), tf.constant([5, 6], tf.int64), 1.0, 16000).numpy()  # noqa: E731
                                      [:, 2000:14000] ** 2, axis=1)) * np.sqrt(2)
    np.testing.assert_allclose(gain(1000), 1.0, atol=0.02)  # 1 kHz passes every microphone drawn
    assert gain(50).max() < 0.25  # below every high-pass corner (100-400 Hz)
    hi = gain(6000)
    assert hi.max() < 0.9 and hi.max() - hi.min() > 0.3  # low-pass corners 2.5-7 kHz, really drawn


def test_room_and_microphone_draw_their_own_streams():
    x = tf.constant(np.random.default_rng(0).normal(0, 0.1, (4, 16000)).astype(np.float32))
    y = tf.constant([2, 3, 4, 5])
    seed = tf.constant([4, 5], tf.int64)
    plain = P.augment_waveforms(x, y, None, seed, CFG, P.AugmentConfig(background_frequency=0), 0).numpy()
    for room in (dict(reverb=1.0), dict(band_limit=1.0)):
        moved = P.augment_waveforms(x, y, None, seed, CFG, P.AugmentConfig(background_frequency=0, **room), 0)
        assert np.abs(moved.numpy() - plain).mean() > 1e-3
    # Bit-exact on purpose: 0 (the default) must take no other code path, as for speed_perturb.
    off = P.augment_waveforms(x, y, None, seed, CFG, P.AugmentConfig(background_frequency=0, reverb=0.0,
                                                                      band_limit=0.0), 0)
    np.testing.assert_array_equal(off.numpy(), plain)


def test_spec_augment_masks_bands_with_the_mean():
    f = tf.random.stateless_normal([4, 98, 40], [1, 1])
    m = P.spec_augment(f, tf.constant([7, 8], tf.int64), P.AugmentConfig(time_masks=1, freq_masks=1,
                                                                         time_mask_frames=10, freq_mask_bins=5))
    changed = (m.numpy() != f.numpy())
    assert changed.any()
    fill = f.numpy().mean(axis=(1, 2))
    for i in range(4):
        assert np.allclose(m.numpy()[i][changed[i]], fill[i])


def test_same_seed_same_batches(decoded):
    spec, dec, noise = decoded
    take = lambda s: [b[1].numpy() for b in P.make_dataset(dec["training"], CFG, 8, True, noise, seed=s).take(6)]  # noqa
    a, b, c = take(11), take(11), take(12)
    assert all((x == y).all() for x, y in zip(a, b))
    assert any((x != y).any() for x, y in zip(a, c))
    fa = next(iter(P.make_dataset(dec["training"], CFG, 8, True, noise, seed=11)))[0].numpy()
    fb = next(iter(P.make_dataset(dec["training"], CFG, 8, True, noise, seed=11)))[0].numpy()
    # Bit-exact on purpose: the same pipeline, seed and batch shape in one process; reproducible
    # augmentation means identical, not merely close.
    np.testing.assert_array_equal(fa, fb)


def test_broken_clips_are_skipped_and_counted_or_stop_with_strict(tiny_dataset):
    bad = f"{tiny_dataset}/yes/deadbeef_nohash_0.wav"
    with open(bad, "wb") as f:
        f.write(b"RIFF\x00\x00")
    spec = D.scan(tiny_dataset)
    dec = P.decode(spec, CFG)
    skipped = dec["training"].skipped
    assert len(skipped) == 1 and "deadbeef" in skipped[0]
    assert all(c.path != bad for c in dec["training"].clips)
    with pytest.raises(KwsError, match="deadbeef.*--strict"):
        P.decode(spec, CFG, strict=True, use_cache=False)


def test_decode_cache_is_reused(tiny_dataset, monkeypatch):
    spec = D.scan(tiny_dataset)
    first = P.decode(spec, CFG)
    monkeypatch.setattr(P, "_decode_one", lambda *a: pytest.fail("cache not used"))
    again = P.decode(spec, CFG)
    np.testing.assert_array_equal(first["training"].audio, again["training"].audio)
    # Both memory-mapped from the cache file: at full scale no process holds its own copy.
    assert isinstance(first["training"].audio, np.memmap) and isinstance(again["training"].audio, np.memmap)


def test_old_decode_caches_are_pruned_least_recently_used_first(tiny_dataset, tmp_path, monkeypatch):
    spec = D.scan(tiny_dataset)
    monkeypatch.setenv("KWSAPP_CACHE_DIR", str(tmp_path / "probe"))
    P.decode(spec, CFG)
    size = next((tmp_path / "probe").glob("audio-*.npy")).stat().st_size
    cache = tmp_path / "cache"
    cache.mkdir()
    monkeypatch.setenv("KWSAPP_CACHE_DIR", str(cache))
    # Room for this dataset's cache and two, not three, of the older 0.5 MB caches.
    monkeypatch.setenv(P.CACHE_MAX_MB_ENV, str((size + 1_100_000) / 1e6))
    old = []
    for i, age in enumerate((300, 200, 100)):  # oldest first
        path = cache / f"audio-old{i}.npy"
        path.write_bytes(b"x" * 500_000)
        os.utime(path, (time.time() - age, time.time() - age))
        old.append(path)
    other = cache / "notes.txt"
    other.write_text("not a cache")
    P.decode(spec, CFG)
    assert [p.exists() for p in old] == [False, True, True]  # the least recently used went
    assert len(list(cache.glob("audio-*.npy"))) == 3 and other.exists()
    # A cache hit marks the file as used, so it would outlive older ones.
    new = next(p for p in cache.glob("audio-*.npy") if p not in old)
    os.utime(new, (time.time() - 1000, time.time() - 1000))
    P.decode(spec, CFG)
    assert new.stat().st_mtime > time.time() - 60
    # Over budget on its own, the cache in use is still kept.
    monkeypatch.setenv(P.CACHE_MAX_MB_ENV, "0.001")
    assert sorted(P.prune_cache(str(new))) == sorted(str(p) for p in old[1:])
    assert new.exists()


def test_app_side_features_equal_training_features(data_dir, model_dir):
    """What the model saw in training is exactly what the streaming engine feeds it."""
    from kwsapp.core import features as F
    from kwsapp.core.model import Classifier
    from kwsapp.core.recognizer import Recognizer

    rec = Recognizer(model_dir, backend="tflite")
    cfg = rec.feature_config
    spec = D.scan(data_dir)
    spec.clips = [c for c in spec.clips if c.split == "testing" and c.path][:6]
    ds = P.decode(spec, cfg)["testing"]
    train_feats, _ = next(iter(P.make_dataset(ds, cfg, 6, training=False)))
    scores_on_train_feats = Classifier(model_dir, backend="tflite").predict(train_feats.numpy())
    assert cfg.kind == "logmel" and cfg.level_norm == "window"  # the bundled model's front end
    for i, clip in enumerate(ds.clips):
        window = np.zeros(cfg.clip_samples, np.float32)
        audio = load_audio(clip.path)[: cfg.clip_samples]
        window[: len(audio)] = audio
        # The exported front end returns the log-mel (for the display) and scores computed from it,
        # level-normalised inside the model. 1e-3: the export's tolerance (the log of near-silent
        # bands magnifies float32 rounding).
        log_mel, scores = rec(window)
        np.testing.assert_allclose(F.features_from_log_mel(log_mel, cfg).numpy(), train_feats[i, ..., 0].numpy(),
                                   rtol=0, atol=1e-3)
        # ... and the features inside the model are those: its scores on the training features agree.
        np.testing.assert_allclose(scores, scores_on_train_feats[i], rtol=0, atol=1e-3)


def test_mixup_blends_features_and_labels_by_the_same_weight():
    import tensorflow as tf

    from kwstrain.train import _mixup

    # Example i is constant i everywhere, so its mixed features reveal lam and partner.
    n, classes = 16, 4
    f = np.broadcast_to(np.arange(n, dtype=np.float32)[:, None, None, None], (n, 5, 3, 1)).copy()
    y = np.eye(classes, dtype=np.float32)[np.arange(n) % classes]
    ds = tf.data.Dataset.from_tensors((f, y)).repeat(3)

    def batches(seed):
        return [(a.numpy(), b.numpy()) for a, b in _mixup(ds, 0.4, seed)]

    out = batches(1)
    for mf, my in out:
        assert mf.shape == f.shape and my.shape == y.shape
        np.testing.assert_allclose(my.sum(axis=1), 1, atol=1e-6)
        assert (my.max(axis=1) >= 0.5 - 1e-6).all()  # the example's own label dominates
        assert not np.allclose(mf, f)  # something was mixed
        for i in range(n):
            assert np.ptp(mf[i]) < 1e-4  # a blend of two constant examples is constant
    assert not np.allclose(out[0][0], out[1][0])  # a new draw per batch
    again = batches(1)
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(out, again))  # seeded: same code, same input
    assert not np.array_equal(batches(2)[0][0], out[0][0])


def test_evaluation_silence_gets_fixed_noise_and_clips_stay_clean(decoded):
    """Validation silence is a fixed noise cut per example (comparable across epochs); the other
    examples are their clip alone. Only the silence rows hold a noise cut (memory: a cut per
    example once held three float32 copies of the whole split)."""
    spec, dec, noise = decoded
    val = dec["validation"]
    silent = np.flatnonzero(val.index == 0)
    assert len(silent) and len(silent) < len(val.index)

    def features():
        return np.concatenate([f[..., 0].numpy() for f, _ in P.make_dataset(val, CFG, 8, False, noise, seed=4)])

    a, b = features(), features()
    np.testing.assert_array_equal(a, b)  # the same code on the same input: bit-exact
    quiet = F.compute_features(np.zeros(CFG.clip_samples, np.float32)[None], CFG).numpy()[0]
    assert all(np.abs(a[i] - quiet).max() > 1.0 for i in silent)  # noise, not digital silence
    clean = np.concatenate([f[..., 0].numpy() for f, _ in P.make_dataset(val, CFG, 8, False, None)])
    speech = [i for i in range(len(val.index)) if i not in set(silent)]
    np.testing.assert_array_equal(a[speech], clean[speech])  # same batches and kernels, no noise added


def test_level_augmentation_scales_the_whole_mix_noise_included():
    # Speech and noise together: the talker's distance, not the signal-to-noise ratio.
    rng = np.random.default_rng(1)
    x = tf.constant(rng.normal(0, 0.02, (3, 16000)).astype(np.float32))
    noise = tf.constant(rng.normal(0, 0.05, 48000).astype(np.float32))
    y = tf.constant([2, 3, 0])  # one silence clip: its noise is scaled too
    seed = tf.constant([7, 8], tf.int64)
    base = P.AugmentConfig(background_frequency=1.0)
    plain = P.augment_waveforms(x, y, noise, seed, CFG, base, 0).numpy()
    quiet = P.augment_waveforms(x, y, noise, seed, CFG, dataclasses.replace(base, level_low_db=-20.0,
                                                                              level_high_db=-20.0), 0).numpy()
    np.testing.assert_allclose(quiet, 0.1 * np.clip(plain, -1, 1), atol=1e-6)
    drawn = P.augment_waveforms(x, y, noise, seed, CFG, dataclasses.replace(base, level_low_db=-40.0,
                                                                              level_high_db=20.0), 0).numpy()
    ratios = [20 * np.log10(np.sqrt(np.mean(d ** 2) / np.mean(p ** 2))) for d, p in zip(drawn, plain)]
    assert all(-40.01 <= r <= 20.01 for r in ratios) and np.ptp(ratios) > 1.0  # each clip its own level


def _direct_to_reverberant_db(y: np.ndarray, at: int) -> np.ndarray:
    return 10 * np.log10(y[:, at] ** 2 / np.sum(y[:, at + 1:] ** 2, axis=1))


def test_distant_talkers_are_heard_below_the_critical_distance():
    """--reverb-drr-db sets the direct-to-reverberant ratio the rooms are drawn at: the default
    keeps the direct path louder than the tail, a far range puts the tail above it."""
    imp = np.zeros((16, 32000), np.float32)  # two seconds, so the whole tail is inside the clip
    imp[:, 1000] = 0.5
    seed = tf.constant([4, 5], tf.int64)
    near = _direct_to_reverberant_db(P.reverberate(tf.constant(imp), seed, 1.0, 16000).numpy(), 1000)
    assert near.min() > -0.5 and near.max() < 12.5  # 0-12 dB, with the FFT's rounding
    far = P.reverberate(tf.constant(imp), seed, 1.0, 16000, rt60_s=(0.3, 1.2), drr_db=(-12.0, -6.0)).numpy()
    drr = _direct_to_reverberant_db(far, 1000)
    assert drr.min() > -12.5 and drr.max() < -5.5
    # the longer rooms ring on: energy 0.5-0.75 s after the impulse, which a 0.5 s response lacks
    assert np.all(np.abs(far[:, 9500:13000]).max(axis=1) > 0)
    assert np.abs(P.reverberate(tf.constant(imp), seed, 1.0, 16000).numpy()[:, 9100:]).max() < 1e-4


@pytest.mark.parametrize("aug, flag", [(dict(reverb_rt60_s=(0.8, 0.2)), "--reverb-rt60 0.8,0.2"),
                                       (dict(reverb_rt60_s=(0.0, 0.5)), "--reverb-rt60 0,0.5"),
                                       (dict(reverb_drr_db=(-30.0, 0.0)), "--reverb-drr-db -30,0")])
def test_rooms_outside_their_ranges_are_refused_in_one_line(aug, flag):
    with pytest.raises(UsageError, match=flag):
        P.check_room_shares(P.AugmentConfig(reverb=0.3, **aug))

"""The detector and the live engine: the per-window step, live == offline, timing of the live
path, detections on real clips with the bundled model, errors and clean shutdown."""
import os
import shutil
import threading
import time

import numpy as np
import pytest

from kwsapp.audio.filesource import FileSource
from kwsapp.audio.ringbuffer import RingBuffer
from kwsapp.core import features as F
from kwsapp.core import recognizer as R
from kwsapp.core.detector import Detector, EngineSettings
from kwsapp.core.errors import KwsError, ModelError
from kwsapp.core.levels import level_db
from kwsapp.core.model import Classifier
from kwsapp.core.recognizer import Recognizer
from kwsapp.core.smoothing import SmoothingConfig
from kwsapp.core.wavio import load_audio, write_wav
from kwsapp.engine import Engine
from kwstrain.streamtest import pick_clips, score, sequence_stream


@pytest.fixture(scope="module")
def clip_stream(data_dir):
    """Every command once (first test-list clip of each), 1 s apart, as one signal."""
    return sequence_stream(pick_clips(data_dir, "testing"), gap_s=1.0)


@pytest.fixture(scope="module")
def detector(model_dir):
    return Detector(model_dir, EngineSettings())


@pytest.fixture(scope="module")
def fresh_tflite_model(model_dir, tmp_path_factory):
    """The bundled model with a freshly exported .tflite (so the runtime comparison does
    not depend on how the shipped file was produced)."""
    import keras

    from kwstrain.export import write_tflite

    d = tmp_path_factory.mktemp("model")
    for name in ("config.json", "model.keras"):
        shutil.copy(os.path.join(model_dir, name), d / name)
    m = keras.models.load_model(os.path.join(model_dir, "model.keras"), compile=False)
    write_tflite(m, Classifier(str(d), backend="keras").config.features, str(d / "model.tflite"))
    return str(d)


def test_tflite_and_keras_runtimes_give_the_same_scores(fresh_tflite_model, clip_stream):
    """The exported front end + model (LiteRT) against the shared pipeline + Keras model in
    TensorFlow, within the export's own tolerances (kwstrain/export.py)."""
    from kwstrain.export import LOG_MEL_TOLERANCE, SCORE_TOLERANCE

    audio, _ = clip_stream
    lite, tfn = Recognizer(fresh_tflite_model, "tflite"), Recognizer(fresh_tflite_model, "keras")
    assert (lite.backend, tfn.backend) == ("tflite", "keras")
    for end in range(16000, len(audio), 40000):
        w = audio[end - 16000 : end]
        (lm1, s1), (lm2, s2) = lite(w), tfn(w)
        np.testing.assert_allclose(lm1, lm2, atol=LOG_MEL_TOLERANCE)
        np.testing.assert_allclose(s1, s2, atol=SCORE_TOLERANCE)
        assert s1.sum() == pytest.approx(1.0, abs=1e-3)


def test_bundled_tflite_computes_the_shared_pipelines_features(model_dir, clip_stream):
    """The shipped model.tflite's front end is kwsapp.core.features (log-mel within 1e-3: the log of
    near-silent bands magnifies float32 rounding) and its scores are the Keras model's on those
    features (within 1e-4)."""
    audio, _ = clip_stream
    rec = Recognizer(model_dir, "tflite")
    keras_clf = Classifier(model_dir, backend="keras")
    cfg = rec.feature_config
    for start in (20000, 52000, 100000):
        w = audio[start : start + 16000]
        log_mel, scores = rec(w)
        np.testing.assert_allclose(log_mel, F.log_mel_spectrogram(w[None], cfg).numpy()[0], atol=1e-3)
        ref = keras_clf.predict(F.compute_features(w[None], cfg).numpy())[0]
        np.testing.assert_allclose(scores, ref, atol=1e-4)


def test_tflite_with_non_finite_scores_falls_back_to_keras(model_dir, monkeypatch):
    real = R._LiteRT.__call__

    def broken(self, window):
        log_mel, scores, ms = real(self, window)
        return log_mel, scores * np.nan, ms

    monkeypatch.setattr(R._LiteRT, "__call__", broken)
    rec = Recognizer(model_dir, "auto")
    assert rec.backend == "keras" and "non-finite" in rec.warning
    with pytest.raises(ModelError, match="non-finite"):
        Recognizer(model_dir, "tflite")


def test_an_old_features_only_export_says_how_to_re_export(model_dir, tmp_path):
    """A model.tflite from before the audio signature (features in) is refused in one line
    that names `kws-train export`; its trainer-side use (Classifier) still works."""
    import keras
    import tensorflow as tf

    d = tmp_path / "old"
    shutil.copytree(model_dir, d)
    m = keras.models.load_model(os.path.join(model_dir, "model.keras"), compile=False)
    fn = tf.function(lambda x: m(x, training=False))
    conc = fn.get_concrete_function(tf.TensorSpec([1, 98, 40, 1], tf.float32))
    (d / "model.tflite").write_bytes(tf.lite.TFLiteConverter.from_concrete_functions([conc], fn).convert())
    with pytest.raises(ModelError, match=r"takes features, not audio.*kws-train export --model") as e:
        Detector(str(d))
    assert "\n" not in str(e.value)
    feats = np.full((1, 98, 40), -5.0, np.float32)
    np.testing.assert_allclose(Classifier(str(d), "tflite").predict(feats),
                               Classifier(model_dir, "tflite").predict(feats), atol=1e-5)


def test_offline_hops_are_stream_aligned(detector):
    hops = []
    audio = np.zeros(16000 * 2 + 500, np.float32)
    audio[16000:17600] = 0.1  # a 100 ms burst at 1.0-1.1 s (-20 dBFS RMS for a DC level of 0.1)
    detector.run_offline(audio, on_hop=hops.append)
    assert [round(h.stream_time_s, 3) for h in hops] == [round(0.1 * k, 3) for k in range(1, 21)]
    assert hops[10].stream_time_s == pytest.approx(1.1)
    assert hops[10].level_db == pytest.approx(-20.0, abs=0.01)
    assert hops[11].level_db == -120.0
    assert hops[0].columns.shape == (10, detector.recognizer.mel_bins)
    assert hops[0].scores.shape == hops[0].smoothed.shape == (len(detector.labels),)
    assert all(h.model_ms > 0 and h.hop_ms >= h.model_ms for h in hops)


def test_detects_real_commands_in_order_at_the_right_time(detector, clip_stream):
    audio, truth = clip_stream
    dets = detector.run_offline(audio)
    assert all(d.label not in ("_silence_", "_unknown_") for d in dets)
    r = score([(d.label, d.stream_time_s) for d in dets], truth, tolerance_s=1.5)
    assert r["correct"] >= 8, (r, dets)  # of 10
    assert r["wrong"] + r["false_positives"] <= 2, (r, dets)
    for d in dets:  # a detection comes after its word starts, within the matching tolerance
        starts = [t for l, t in truth if l == d.label]
        if starts:
            assert any(0 < d.stream_time_s - s < 1.5 for s in starts), (d, starts)


def test_process_gives_the_same_hops_however_the_audio_is_cut(detector, clip_stream):
    audio, _ = clip_stream
    audio = audio[: 16000 * 6]
    whole = detector.run_offline(audio)
    whole_hops = []
    detector.run_offline(audio, on_hop=whole_hops.append)
    detector.reset()
    pieces, cut = [], np.random.default_rng(0).integers(1, 7000, 40).cumsum()
    for part in np.split(audio, cut[cut < len(audio)]):
        pieces += detector.process(part)
    assert [h.stream_time_s for h in pieces] == [h.stream_time_s for h in whole_hops]
    np.testing.assert_array_equal(np.stack([h.scores for h in pieces]), np.stack([h.scores for h in whole_hops]))
    assert [h.detection for h in pieces if h.detection] == whole


def test_live_fast_file_matches_offline_exactly(model_dir, tmp_path, clip_stream):
    audio, _ = clip_stream
    audio = audio[: 16000 * 8]
    path = tmp_path / "s.wav"
    write_wav(path, audio)
    audio = load_audio(path)  # what the file source will read (16-bit rounding)
    off_hops = []
    off_dets = Detector(model_dir).run_offline(audio, on_hop=off_hops.append)

    ring = RingBuffer(20000)  # barely more than one window: back-pressure must hold the file
    live_hops, live_dets, finished = [], [], threading.Event()
    eng = Engine(FileSource(ring, path, realtime=False), model_dir, on_hop=live_hops.append,
                 on_detection=live_dets.append, on_finished=finished.set)
    eng.start()
    assert eng.wait(30) and finished.is_set()
    eng.stop()
    assert [h.stream_time_s for h in live_hops] == [h.stream_time_s for h in off_hops]
    np.testing.assert_allclose(np.stack([h.scores for h in live_hops]),
                               np.stack([h.scores for h in off_hops]), atol=1e-6)
    # Detections (with their float scores) compared exactly: both paths run the same _step on
    # the same windows with a batch-1 model in one process, so they are the same numbers.
    assert live_dets == off_dets
    assert live_hops[-1].dropped_hops == 0


def test_engine_opens_a_spec_with_a_ring_sized_for_its_detector(detector, tmp_path, clip_stream):
    from kwsapp.audio.sources import SourceSpec

    audio, _ = clip_stream
    path = tmp_path / "s.wav"
    write_wav(path, audio[: 16000 * 4])
    hops, done = [], threading.Event()
    eng = Engine(SourceSpec("file", path=str(path), realtime=False), detector, on_hop=hops.append,
                 on_finished=done.set)
    assert eng.source.ring.capacity == detector.window_samples + detector.sample_rate  # a second of slack
    eng.start()
    assert eng.wait(30) and done.is_set()
    assert [h.detection for h in hops if h.detection] == detector.run_offline(load_audio(path))
    assert Engine(SourceSpec("mic"), detector, slack_s=3).source.ring.capacity == detector.window_samples + 48000


def test_live_realtime_source_delivers_hops_on_time_and_stops_promptly(model_dir, tmp_path):
    t = np.arange(16000 * 3) / 16000
    path = tmp_path / "tone.wav"
    write_wav(path, (0.1 * np.sin(2 * np.pi * 440 * t)).astype(np.float32))
    hops = []
    eng = Engine(FileSource(RingBuffer(32000), path, realtime=True), model_dir,
                 EngineSettings(hop_ms=50), on_hop=hops.append)
    t0 = time.monotonic()
    eng.start()
    time.sleep(1.0)
    n_at_1s = len(hops)
    t1 = time.monotonic()
    eng.stop()
    assert time.monotonic() - t1 < 1.0
    assert 14 <= n_at_1s <= 21  # ~20 hops of 50 ms in a second of real time
    assert hops[0].columns.shape[0] == 5
    assert hops[-1].stream_time_s <= time.monotonic() - t0 + 0.05  # never ahead of the audio
    assert hops[-1].level_db == pytest.approx(20 * np.log10(0.1 / np.sqrt(2)), abs=0.2)
    assert not [th for th in threading.enumerate() if th.name.startswith("kws-")]


class DyingSource:
    """A source whose device 'vanishes' after a moment."""

    def __init__(self):
        self.ring = RingBuffer(32000)
        self.overflows = 0
        self.error = None
        self.finished = False
        self.stopped = False

    def start(self):
        def feed():
            for _ in range(30):
                self.ring.write(np.zeros(160, np.float32))
                time.sleep(0.005)
            self.error = KwsError("input device 3 (USB) stopped")

        threading.Thread(target=feed, daemon=True).start()

    def stop(self):
        self.stopped = True


def test_source_failure_is_reported_once_and_stops_the_engine(model_dir):
    errors = []
    src = DyingSource()
    eng = Engine(src, model_dir, on_error=errors.append)
    eng.start()
    assert eng.wait(5)
    assert [str(e) for e in errors] == ["input device 3 (USB) stopped"]
    assert src.stopped and not eng.running and eng.error is errors[0]


def test_falling_behind_skips_ahead_and_counts_dropped_hops(model_dir):
    class Burst(DyingSource):
        def start(self):
            self.ring.write(np.zeros(16000 * 5, np.float32))  # 5 s at once, ring holds 2 s
            self.finished = True

    hops = []
    eng = Engine(Burst(), model_dir, on_hop=hops.append)
    eng.start()
    assert eng.wait(10)
    assert hops[-1].stream_time_s == pytest.approx(5.0)
    assert hops[-1].dropped_hops >= 25
    assert len(hops) + hops[-1].dropped_hops == 50


def test_update_settings_applies_between_hops(detector):
    hops = []

    def switch(h):
        hops.append(h)
        if len(hops) == 3:
            detector.update_settings(EngineSettings(hop_ms=200))

    try:
        detector.run_offline(np.zeros(16000 * 2, np.float32), on_hop=switch)
    finally:
        detector.update_settings(EngineSettings())
    times = [round(h.stream_time_s, 2) for h in hops]
    assert times[:5] == [0.1, 0.2, 0.3, 0.5, 0.7]
    assert hops[4].columns.shape[0] == 20


def test_engine_run_offline_is_the_detectors_with_the_engines_callbacks(model_dir, clip_stream):
    """Kept for callers written before the Detector (the trainer's offline tools)."""
    audio, _ = clip_stream
    hops, dets = [], []
    eng = Engine(None, model_dir, on_hop=hops.append, on_detection=dets.append)
    assert eng.run_offline(audio[: 16000 * 5]) == dets
    assert len(hops) == 50 and dets == [h.detection for h in hops if h.detection]


def test_detector_defaults_to_the_models_tuned_smoothing(model_dir, tmp_path):
    from conftest import copy_model

    tuned = copy_model(model_dir, str(tmp_path / "tuned"), detection_threshold=0.77, average_window_ms=350)
    e = Detector(tuned)
    assert (e.settings.smoothing.detection_threshold, e.settings.smoothing.average_window_ms) == (0.77, 350)
    e.update_settings(EngineSettings(hop_ms=200))  # a later change without smoothing: still the model's
    assert e.settings.smoothing.detection_threshold == 0.77 and e.settings.hop_ms == 200
    assert e.settings.smoothing.average_window_ms == 350
    mine = SmoothingConfig(detection_threshold=0.3)
    assert Detector(tuned, EngineSettings(smoothing=mine)).settings.smoothing == mine  # explicit wins
    plain = copy_model(model_dir, str(tmp_path / "plain"), detection_threshold=None, average_window_ms=None)
    assert Detector(plain).settings.smoothing == SmoothingConfig()


def test_settings_validate_and_round_trip():
    s = EngineSettings(hop_ms=40)
    assert EngineSettings.from_dict(s.to_dict()) == s
    s = EngineSettings(hop_ms=40, smoothing=SmoothingConfig(detection_threshold=0.6))
    assert EngineSettings.from_dict(s.to_dict()) == s
    for bad in (10, 25, 2000):
        with pytest.raises(ValueError):
            EngineSettings(hop_ms=bad)
    assert level_db(np.zeros(10)) == -120.0


def test_bench_reports_every_figure(capsys, model_dir):
    import json
    import math

    from kwsapp.cli import main

    assert main(["bench", "--json", "--model", model_dir, "--windows", "40", "--rtf-seconds", "5",
                 "--cpu-seconds", "1", "--verifier", "--checks", "3"]) == 0
    r = json.loads(capsys.readouterr().out)
    v = r["verifier_check"]  # the second-stage check, per proposed detection, against the 100 ms hop
    assert v["n"] == 3 and 0 < v["median_ms"] <= v["p99_ms"] and v["hops_spanned"] == math.ceil(v["median_ms"] / 100)
    assert r["model_time"]["tflite"]["n"] == r["hop"]["n"] == 40
    for s in (r["model_time"]["tflite"], r["model_time"]["keras"], r["model_time"]["keras"]["features"], r["hop"]):
        assert 0 < s["median_ms"] <= s["p99_ms"]
    # (A hop includes its model call: checked per hop in test_offline_hops_are_stream_aligned; the
    # two medians here come from separate loops and may cross on a busy machine.)
    assert 0 < r["listen_input"]["real_time_factor"] < 1
    assert 0 < r["live_cpu_pct_of_one_core"] < 200
    assert r["machine"]["cores"] >= 1 and r["machine"]["device"] in ("CPU", "GPU")

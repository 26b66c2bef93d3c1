"""Hard negatives (`kws-train negatives`), false alarms per hour (`kws-train falsealarms`) and
training that starts from a model (`train --init-from`)."""
import json
import os
import random

import numpy as np
import pytest
from conftest import copy_model, tone

from kwsapp.core.errors import KwsError
from kwsapp.core.model import read_config
from kwsapp.core.wavio import load_audio, write_wav
from kwstrain import falsealarms as FA
from kwstrain import negatives as N
from kwstrain.cli import main
from kwstrain.streamtest import pick_clips


def _speech_folder(root, files: dict) -> None:
    """``files``: {relative path: audio}, plus a train and an eval list naming them."""
    for rel, x in files.items():
        os.makedirs(os.path.join(root, os.path.dirname(rel)), exist_ok=True)
        write_wav(os.path.join(root, rel), x)


# ---------------------------------------------------------------- negatives

def test_the_eval_list_is_never_a_source_of_training_windows(tmp_path):
    _speech_folder(tmp_path, {"1/a.wav": tone(300, 2), "2/b.wav": tone(400, 2)})
    (tmp_path / "eval_list.txt").write_text("2/b.wav\n")
    (tmp_path / "train_list.txt").write_text("1/a.wav\n")
    (tmp_path / "mixed.txt").write_text("1/a.wav\n2/b.wav\n")
    assert N.read_speech_list(str(tmp_path / "train_list.txt")) == [str(tmp_path / "1/a.wav")]
    with pytest.raises(KwsError, match="evaluation list"):
        N.read_speech_list(str(tmp_path / "eval_list.txt"))
    with pytest.raises(KwsError, match=r"names 1 file\(s\) of eval_list.txt \(first: 2/b.wav\)"):
        N.read_speech_list(str(tmp_path / "mixed.txt"))


def test_windows_skip_pauses_and_get_a_random_peak_level():
    rng = np.random.default_rng(0)
    x = np.zeros(16000 * 10, np.float32)  # 10 s: speech-like noise only in seconds 2-3 and 7-8
    for s in (2, 7):
        x[s * 16000 : (s + 1) * 16000] = 0.3 * rng.standard_normal(16000)
    wins = N.cut_windows(x, 40, np.random.default_rng(1))
    assert len(wins) == 40
    for w in wins:
        assert w.shape == (16000,)
        # every window overlaps a loud second: its loudest 10 ms is far above the pause floor
        frames = (w[: 100 * 160].reshape(100, 160) ** 2).mean(axis=1)
        assert frames.max() > 0
        assert -24.0 - 1e-3 <= 20 * np.log10(np.abs(w).max()) <= -3.0 + 1e-3
    peaks = [20 * np.log10(np.abs(w).max()) for w in wins]
    assert np.std(peaks) > 3  # levels really drawn, not one fixed gain
    assert N.cut_windows(np.zeros(32000, np.float32), 5, rng) == []  # digital silence: nothing


def test_synthetic_sentences_hold_no_command_word():
    rng = random.Random(3)
    words = set(" ".join(N.random_sentence(rng, 16) for _ in range(300)).split())
    assert not words & {"yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go",
                        "know", "write"}
    assert {"going", "upon", "lift"} <= set(N.SENTENCE_WORDS)  # near-misses are there on purpose


def test_negatives_cli_feeds_training_as_unknown(tmp_path, tiny_dataset):
    speech = tmp_path / "speech_src"
    rng = np.random.default_rng(2)
    _speech_folder(speech, {"1/a.wav": (0.2 * rng.standard_normal(48000)).astype(np.float32)})
    (speech / "train_list.txt").write_text("1/a.wav\n")
    out = tmp_path / "neg"
    assert main(["negatives", "--out", str(out), "--speech-list", str(speech / "train_list.txt"),
                 "--per-second", "2"]) == 0
    files = sorted(os.listdir(out / N.FOLDER))
    assert len(files) == 6  # 3 s x 2 per second
    assert all("_nohash_" in f for f in files)
    assert load_audio(str(out / N.FOLDER / files[0])).shape == (16000,)

    from kwstrain.train import TrainConfig, prepare_data

    spec, _, _, n = prepare_data(TrainConfig(data_dir=tiny_dataset, out=str(tmp_path / "m"),
                                             extra_data=(str(out), str(out))))
    assert n == 12  # two --extra-data folders both counted
    added = [c for c in spec.clips if c.path and N.FOLDER in c.path]
    assert len(added) == 12 and {c.label for c in added} == {"_unknown_"}
    assert {c.split for c in added} == {"training"}
    assert main(["negatives", "--out", str(out), "--speech-list", str(speech / "train_list.txt")]) == 1  # not empty

    quiet = tmp_path / "neg-quiet"
    assert main(["negatives", "--out", str(quiet), "--speech-list", str(speech / "train_list.txt"),
                 "--per-second", "2", "--peak-db=-74,-33"]) == 0
    peaks = [20 * np.log10(np.abs(load_audio(str(quiet / N.FOLDER / f))).max()) for f in os.listdir(quiet / N.FOLDER)]
    assert len(peaks) == 6 and all(-74.1 <= p <= -32.9 for p in peaks)  # a talker across a quiet room


@pytest.mark.parametrize("bad", ["-3,-24", "-95,-3", "loud"])
def test_negatives_refuse_a_peak_range_in_one_line(tmp_path, bad, capsys):
    assert main(["negatives", "--out", str(tmp_path / "n"), "--sentences", "1", f"--peak-db={bad}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--peak-db" in err[0] and not (tmp_path / "n").exists()


def _peak_hz(w):
    spectrum = np.abs(np.fft.rfft(w * np.hanning(len(w))))
    return float(np.argmax(spectrum)) * 16000 / len(w)


def test_speeds_make_faster_higher_and_slower_lower_pseudo_speakers(tmp_path):
    _speech_folder(tmp_path, {"7/a.wav": tone(1000, 4)})
    (tmp_path / "train_list.txt").write_text("7/a.wav\n")
    out = tmp_path / "neg"
    os.makedirs(out / N.FOLDER)
    n = N.real_negatives(str(tmp_path / "train_list.txt"), str(out), 1.0, 0, speeds=(1.0, 0.8, 1.25))
    files = sorted(os.listdir(out / N.FOLDER))
    assert n == len(files) == 4 + 5 + 3  # one per second of each version: 4 s, 5 s and 3.2 s long
    by_speaker = {}
    for f in files:
        by_speaker.setdefault(f.split("_nohash_")[0], []).append(load_audio(str(out / N.FOLDER / f)))
    assert len(by_speaker) == 3  # each speed is its own pseudo-speaker
    # as recorded keeps the speaker key it had before speeds existed (make model's negatives unchanged)
    assert N._speaker_id("speech|7") in by_speaker
    pitches = sorted(np.median([_peak_hz(w) for w in ws]) for ws in by_speaker.values())
    np.testing.assert_allclose(pitches, [800, 1000, 1250], atol=8)  # a 1 Hz FFT bin, plus window leakage


def test_speeds_out_of_range_are_refused_in_one_line(tmp_path, capsys):
    _speech_folder(tmp_path, {"7/a.wav": tone(300, 2)})
    (tmp_path / "train_list.txt").write_text("7/a.wav\n")
    assert main(["negatives", "--out", str(tmp_path / "n"), "--speech-list", str(tmp_path / "train_list.txt"),
                 "--speeds", "1,3"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--speeds '1,3'" in err and "between 0.5 and 2" in err and "\n" not in err
    assert main(["negatives", "--out", str(tmp_path / "n"), "--sentences", "2", "--speeds", "0.9"]) == 2
    assert "give --speech-list too" in capsys.readouterr().err
    assert not (tmp_path / "n").exists()


@pytest.mark.parametrize("engine", ["espeak-ng", "festival"])
def test_synthetic_running_speech_is_spoken_by_the_engines(engine, tmp_path):
    # festival runs two processes (text2wave, then sox for pitch): the sentence path must run both
    from kwstrain import synth as S

    if not S.available_engines([engine]):
        pytest.fail(f"{engine} not installed (Debian: {S.install_hint([engine])}; `make setup-test` installs it)")
    out = tmp_path / "neg"
    assert main(["negatives", "--out", str(out), "--sentences", "2", "--windows-per-sentence", "2",
                 "--engines", engine, "--seed", "4"]) == 0
    files = sorted(os.listdir(out / N.FOLDER))
    assert 2 <= len(files) <= 4  # a window of mostly pause may be skipped
    speakers = {v.speaker_id: v.engine for v in S.draw_voices(S.voice_pool([engine]), 2, random.Random(4))}
    assert {speakers[f.split("_nohash_")[0]] for f in files} == {engine}
    for f in files:
        w = load_audio(str(out / N.FOLDER / f))
        # the drawn peak level (-24..-3 dBFS) plus the added noise floor
        assert w.shape == (16000,) and -24.5 < 20 * np.log10(np.abs(w).max()) < -2.5


# ---------------------------------------------------------------- false alarms

@pytest.mark.parametrize("k, lower, upper", [(0, 0.0, 3.689), (2, 0.2422, 7.2247), (10, 4.7954, 18.3904)])
def test_poisson_interval_matches_the_tabulated_exact_limits(k, lower, upper):
    lo, hi = FA.poisson_interval(k)  # Garwood's exact 95 % limits, as tabulated
    assert lo == pytest.approx(lower, abs=1e-3) and hi == pytest.approx(upper, abs=1e-3)


@pytest.mark.parametrize("k", [1, 5, 50, 300])
def test_poisson_interval_leaves_two_and_a_half_percent_in_each_tail(k):
    import math

    def cdf(n, mean):  # computed apart from the code under test: plain sum with math.lgamma
        return sum(math.exp(i * math.log(mean) - mean - math.lgamma(i + 1)) for i in range(n + 1))

    lo, hi = FA.poisson_interval(k)
    assert 1 - cdf(k - 1, lo) == pytest.approx(0.025, abs=1e-6)  # k or more events under the lower mean
    assert cdf(k, hi) == pytest.approx(0.025, abs=1e-6)  # k or fewer under the upper mean


def test_rates_and_the_setting_rule():
    fa = FA.false_alarms([("on", 10.0), ("yes", 20.0), ("on", 30.0)], hours=0.5)
    assert fa["false_alarms"] == 3 and fa["per_hour"] == pytest.approx(6.0)
    lo, hi = FA.poisson_interval(3)
    assert fa["per_hour_95"] == pytest.approx([lo / 0.5, hi / 0.5]) and lo < 3 < hi
    assert list(fa["per_word"].items()) == [("on", 2), ("yes", 1)]
    rows = [dict(threshold=0.5, average_window_ms=400, per_hour=30.0, correct_pct=95, wrong_pct=1, false_positive_pct=0),
            dict(threshold=0.6, average_window_ms=400, per_hour=8.0, correct_pct=90, wrong_pct=1, false_positive_pct=0),
            dict(threshold=0.7, average_window_ms=400, per_hour=4.0, correct_pct=88, wrong_pct=0, false_positive_pct=0),
            dict(threshold=0.6, average_window_ms=500, per_hour=9.0, correct_pct=92, wrong_pct=3, false_positive_pct=0)]
    best, why = FA.pick_setting(rows, max_per_hour=10, max_wrong_pct=2, max_fp_pct=1)
    assert best["threshold"] == 0.6 and best["average_window_ms"] == 400 and "most correct" in why
    best, why = FA.pick_setting(rows, max_per_hour=1, max_wrong_pct=2, max_fp_pct=1)
    assert best["threshold"] == 0.7 and "fewest" in why


def _hops(segments, labels):
    """[(seconds, {label: score})] -> hops every 100 ms with those scores (rest to _silence_)."""
    hops, t = [], 0.0
    for seconds, scores in segments:
        for _ in range(int(seconds * 10)):
            t += 100.0
            v = np.zeros(len(labels), np.float32)
            for w, p in scores.items():
                v[labels.index(w)] = p
            v[0] = 1.0 - v.sum()
            hops.append((t, v))
    return hops


def test_word_thresholds_are_raised_only_where_the_streams_lose_nothing():
    from kwsapp.core.smoothing import SmoothingConfig

    labels = ["_silence_", "_unknown_", "yes", "no"]
    quiet = (2.0, {})
    speech = _hops([quiet, (1.0, {"yes": 0.7}), quiet, (1.0, {"no": 0.55}), quiet], labels)
    stream = _hops([quiet, (1.0, {"yes": 0.95}), quiet, (1.0, {"no": 0.58}), quiet], labels)
    truth = [("yes", 2.0), ("no", 5.0)]
    cfg = SmoothingConfig(detection_threshold=0.5, average_window_ms=300)
    words = FA.raise_word_thresholds(labels, cfg, speech, [(stream, truth)], [0.5, 0.6, 0.8, 0.99], 1.5)
    # yes: 0.8 removes its false alarm and keeps the stream's yes (0.95); 0.99 would lose it.
    # no: any raise that removes its false alarm (0.55) also loses the stream's no (0.58).
    assert words == {"yes": 0.8}


def test_falsealarms_cli_counts_detections_on_speech_and_tunes(tmp_path, data_dir, model_dir, capsys):
    # "Running speech" made of command clips: the detector must fire on it, so every false alarm
    # counted here is a real detection of the streaming engine, named by its word.
    clips = pick_clips(data_dir, "testing", ("yes", "stop", "right"), per_word=2)
    names = []
    for i, (w, p) in enumerate(clips):
        x = np.concatenate([np.zeros(8000, np.float32), load_audio(p), np.zeros(8000, np.float32)])
        names.append(f"s/{i}_{w}.wav")
        _speech_folder(tmp_path, {names[-1]: x})
    (tmp_path / "list.txt").write_text("\n".join(names) + "\n")
    model = copy_model(model_dir, str(tmp_path / "model"))
    det = tmp_path / "det.png"
    rc = main(["falsealarms", "--model", model, "--data-dir", data_dir, "--speech-list", str(tmp_path / "list.txt"),
               "--streams", "1", "--duration", "60", "--split", "validation", "--sweep", "0.3,0.5,0.99",
               "--sweep-window", "300,400", "--save-smoothing", "--per-word", "--max-per-hour", "1e6", "--det", str(det), "--json"])
    assert rc == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1  # with --json stdout holds only the JSON
    r = json.loads(out[0])
    assert r["speech_hours"] == pytest.approx(len(clips) * 2.0 / 3600, rel=0.01)
    assert r["false_alarms"] >= 4 and set(r["per_word"]) <= {"yes", "stop", "right"}
    assert r["per_hour"] == pytest.approx(r["false_alarms"] / r["speech_hours"])
    lo, hi = r["per_hour_95"]
    assert lo < r["per_hour"] < hi
    by = {(row["average_window_ms"], row["threshold"]): row for row in r["sweep"]}
    assert len(by) == 6
    assert by[400, 0.3]["false_alarms"] >= by[400, 0.99]["false_alarms"]
    assert by[400, 0.99]["false_alarms"] == 0  # label smoothing keeps averaged scores below 0.99
    saved = r["saved_smoothing"]
    cfg = read_config(model)
    assert (cfg.detection_threshold, cfg.average_window_ms) == (saved["detection_threshold"], saved["average_window_ms"])
    assert dict(cfg.word_thresholds) == saved["word_thresholds"]
    # every raised word's false alarms went down, and the streams kept every correct detection
    tuned, plain = r["per_word_tuned"], by[saved["average_window_ms"], saved["detection_threshold"]]
    for w in saved["word_thresholds"]:
        assert tuned["per_word"].get(w, 0) < plain["per_word"][w]
    assert tuned["correct_pct"] >= plain["correct_pct"]
    assert det.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_falsealarms_adds_the_quiet_rooms_voice_to_the_speech_it_counts(tmp_path, data_dir, model_dir, capsys):
    from kwstrain import quietroom as QR

    _speech_folder(tmp_path, {"s/quiet.wav": np.zeros(16000 * 4, np.float32)})
    (tmp_path / "list.txt").write_text("s/quiet.wav\n")
    args = ["falsealarms", "--model", model_dir, "--data-dir", data_dir, "--speech-list", str(tmp_path / "list.txt"),
            "--streams", "0", "--json"]
    assert main(args) == 0
    plain = json.loads(capsys.readouterr().out)
    assert main(args + ["--quiet-voice-dbfs=-60,-50"]) == 0
    r = json.loads(capsys.readouterr().out)
    voice_s = 2 * sum(len(b) for b in QR.noise_beds(data_dir)[1]) / 16000
    assert r["quiet_voice_s"] == pytest.approx(voice_s) and plain["quiet_voice_s"] == 0
    assert r["speech_hours"] == pytest.approx(plain["speech_hours"] + voice_s / 3600, rel=1e-6)
    assert main(args + ["--quiet-voice-dbfs=-10"]) == 2
    assert "--quiet-voice-dbfs" in capsys.readouterr().err


def test_falsealarms_refuses_to_save_tuning_on_test_streams(tmp_path, model_dir, capsys):
    assert main(["falsealarms", "--model", model_dir, "--split", "testing", "--save-smoothing"]) == 2
    assert "--save-smoothing needs --split validation" in capsys.readouterr().err


# ---------------------------------------------------------------- --init-from

def test_init_from_refuses_a_model_of_other_features(tmp_path, model_dir, tiny_dataset, capsys):
    rc = main(["train", "--data-dir", tiny_dataset, "--init-from", model_dir, "--feature", "mfcc",
               "--epochs", "1", "--out", str(tmp_path / "m"), "--quiet"])
    assert rc == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is a vgg_small on logmel features, --level-norm window;" in err[0]


def test_init_from_starts_at_the_models_weights(tmp_path, model_dir, tiny_dataset):
    # One epoch at a learning rate far too small to move a weight by 1e-6 (Adam's step is about
    # the learning rate): the kernels must still be the bundled model's, which a fresh random
    # start could not give.
    import keras

    out = str(tmp_path / "m")
    assert main(["train", "--data-dir", tiny_dataset, "--init-from", model_dir, "--level-norm", "window",
                 "--epochs", "1", "--lr", "1e-9", "--warmup-epochs", "0", "--out", out, "--quiet"]) == 0
    base = keras.models.load_model(os.path.join(model_dir, "model.keras"), compile=False)
    tuned = keras.models.load_model(os.path.join(out, "model.keras"), compile=False)
    kernels = [(a, b) for a, b in zip(base.weights, tuned.weights) if "kernel" in a.path]
    assert len(kernels) >= 4
    for a, b in kernels:
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), atol=1e-6)
    info = json.load(open(os.path.join(out, "train_info.json")))["info"]
    assert info["config"]["init_from"] == model_dir


def test_init_from_takes_the_models_architecture_and_features_unless_given(tmp_path, model_dir, tiny_dataset):
    from kwsapp.core.model import read_config

    out = str(tmp_path / "m")  # no --model, --feature or --level-norm: the starting model's
    assert main(["train", "--data-dir", tiny_dataset, "--init-from", model_dir, "--epochs", "1",
                 "--out", out, "--quiet"]) == 0
    base, tuned = read_config(model_dir), read_config(out)
    assert tuned.features == base.features and tuned.features.level_norm == "window"
    assert tuned.architecture == base.architecture

"""The optional second-stage check (kwsapp/core/verifier.py, `kws-train verifier`, --verifier): a
detection stands only if speech_embedding + a head agree. Needs the verify extra (installed by
`make test` through the teacher extra, which has the same two packages)."""
import json
import os
import pathlib
import shutil
import sys

import numpy as np
import pytest

from kwsapp.core.detector import Detector, EngineSettings
from kwsapp.core.errors import KwsError, ModelError
from kwsapp.core.verifier import BUNDLED_VERIFIER_DIR, CONFIG_FILE, Verifier, best_hop, onnx_sessions
from kwstrain import streamtest as ST
from tests.conftest import json_lines


def changed_copy(tmp_path, name: str, **config) -> str:
    """A copy of the bundled verifier with ``config`` keys set in its verifier.json."""
    dest = str(tmp_path / name)
    shutil.copytree(BUNDLED_VERIFIER_DIR, dest)
    path = os.path.join(dest, CONFIG_FILE)
    with open(path) as f:
        d = json.load(f)
    with open(path, "w") as f:
        json.dump(d | config, f)
    return dest


@pytest.fixture(scope="module")
def stream(data_dir):
    """60 s of validation commands in noise, as `kws-train streamtest` makes them."""
    return ST.make_stream(data_dir, "validation", ST.StreamSpec(duration_s=60.0, seed=10))


def test_best_hop_is_the_words_highest_score_within_the_averaging_window():
    times = [0.0, 100.0, 200.0, 300.0, 400.0, 500.0]
    scores = [np.array([0.0, s]) for s in (0.99, 0.2, 0.9, 0.5, 0.4, 0.3)]
    # At 500 ms with a 300 ms window the hops at 200-500 ms count (the one at 200 exactly one
    # window old stays in, as in the smoother); the 0.99 at 0 ms is too old.
    assert best_hop(times, scores, 1, 500.0, 300.0) == 2
    assert best_hop(times, scores, 1, 500.0, 250.0) == 3
    assert best_hop(times, scores, 1, 300.0, 1000.0) == 0
    # Scores after the detection are never looked at.
    assert best_hop(times, scores, 1, 100.0, 50.0) == 1


def test_bundled_verifier_gives_probabilities_of_the_models_labels(model_dir):
    from kwsapp.core.model import read_config

    v = Verifier()
    assert v.labels == read_config(model_dir).labels and 0 < v.gate < 1
    rng = np.random.default_rng(0)
    w = np.stack([np.zeros(16000), 0.1 * rng.standard_normal(16000)]).astype(np.float32)
    p = v.probs(w)
    assert p.shape == (2, len(v.labels))
    np.testing.assert_allclose(p.sum(1), 1.0, atol=1e-5)
    # Digital silence is _silence_ to the head: the model is really run, not a stub.
    assert v.labels[int(p[0].argmax())] == "_silence_"
    np.testing.assert_array_equal(v.probs(w), p)  # the dither is seeded: the same window, the same answer


def test_live_detector_and_replayed_check_agree(stream, model_dir):
    """The Detector's check (live) and falsealarms' replay of recorded hops ask about the same
    windows and keep the same detections."""
    audio, _ = stream
    det = Detector(model_dir, EngineSettings(verifier=BUNDLED_VERIFIER_DIR))
    hops = ST.record(det, audio)
    live = [(d.label, d.stream_time_s) for d in hops.detections]
    assert all(d.verified is not None and d.verified >= det.verifier.gate for d in hops.detections)
    assert live == ST.replay(det.labels, det.settings.smoothing, hops)
    assert live and det.verifier.checks >= len(live)


def test_the_check_only_removes_detections_and_the_gate_says_which(stream, model_dir, tmp_path):
    audio, _ = stream
    alone = [(d.label, d.stream_time_s) for d in Detector(model_dir).run_offline(audio)]
    assert len(alone) >= 5
    keep = Detector(model_dir, EngineSettings(verifier=changed_copy(tmp_path, "open", gate=0.0)))
    assert [(d.label, d.stream_time_s) for d in keep.run_offline(audio)] == alone
    # A rejected detection still starts the suppression: what stands is a subset, never a new one.
    strict = Detector(model_dir, EngineSettings(verifier=changed_copy(tmp_path, "strict", gate=1.0)))
    kept = strict.run_offline(audio)
    assert set((d.label, d.stream_time_s) for d in kept) < set(alone)
    assert all(d.verified == 1.0 for d in kept)  # the head's float32 softmax does reach 1
    assert strict.verifier.rejected == len(alone) - len(kept) > 0


def test_a_verifier_for_other_labels_is_refused(model_dir, tmp_path):
    labels = list(Verifier().labels)
    i, j = labels.index("yes"), labels.index("no")
    labels[i], labels[j] = labels[j], labels[i]  # as many scores, other meanings: must not pass
    with pytest.raises(ModelError, match="not the model's"):
        Detector(model_dir, EngineSettings(verifier=changed_copy(tmp_path, "swapped", labels=labels)))


def test_missing_extra_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails as when not installed
    with pytest.raises(KwsError, match=r"pip install 'kwsapp\[verify\]'"):
        onnx_sessions(1)


def test_bench_without_the_extra_says_what_is_missing(monkeypatch, capsys, model_dir):
    # (With the extra, test_engine.py's bench test times the check.)
    from kwsapp import bench

    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as without the verify extra
    wins = [np.zeros(16000, np.float32)]
    v = bench._verifier_time(BUNDLED_VERIFIER_DIR, wins, 100, 3)
    assert "kwsapp[verify]" in v["error"] and len(v["error"].splitlines()) == 1


def test_listen_reports_the_verifiers_probability(tmp_path, stream, capsys):
    from kwsapp.cli import main
    from kwsapp.core.wavio import write_wav

    path = str(tmp_path / "s.wav")
    write_wav(path, stream[0][: 16000 * 20])
    assert main(["listen", "--input", path, "--json", "--verifier"]) == 0
    lines = json_lines(capsys.readouterr().out)
    assert lines and all(0.5 <= r["verified"] <= 1.0 for r in lines)
    assert main(["listen", "--input", path, "--verifier"]) == 0  # the text lines say it too
    text = capsys.readouterr().out.splitlines()
    assert len(text) == len(lines) and all(f"(checked {r['verified']:.2f})" in t for r, t in zip(lines, text))


def test_listen_with_a_folder_that_is_no_verifier_is_one_line(tmp_path, capsys):
    from kwsapp.cli import main
    from kwsapp.core.wavio import write_wav

    path = str(tmp_path / "s.wav")
    write_wav(path, np.zeros(16000, np.float32))
    rc = main(["listen", "--input", path, "--verifier", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert rc == 1 and len(err.splitlines()) == 1 and "verifier.json is missing" in err


def test_kws_train_verifier_exports_the_mean_of_the_heads(tmp_path, capsys):
    """From a teacher folder's heads (random ones here): head.tflite gives their mean
    probability, and verifier.json the labels of the targets."""
    from kwstrain import distill
    from kwstrain.cli import main
    from kwstrain.teacher import build_head

    teacher = tmp_path / "t"
    teacher.mkdir()
    labels = ("_silence_", "_unknown_", "yes", "no")
    heads = [build_head(len(labels), seed) for seed in (1, 2)]
    for k, h in enumerate(heads):
        h.save(str(teacher / f"head{k}.keras"))
    distill.save(str(teacher), np.zeros(2, np.int64), np.full((2, 4), 0.25, np.float32), labels, "fp")
    out = str(tmp_path / "v")
    assert main(["verifier", "--teacher", str(teacher), "--out", out, "--gate", "0.4"]) == 0
    with open(os.path.join(out, CONFIG_FILE)) as f:
        cfg = json.load(f)
    assert tuple(cfg["labels"]) == labels and cfg["gate"] == 0.4
    from kwsapp.core.model import load_tflite

    interp = load_tflite(os.path.join(out, "head.tflite"))
    x = (0.3 * np.random.default_rng(3).standard_normal((1, 16, 96))).astype(np.float32)
    interp.set_tensor(interp.get_input_details()[0]["index"], x)
    interp.invoke()
    got = interp.get_tensor(interp.get_output_details()[0]["index"])
    want = np.mean([h(x, training=False).numpy() for h in heads], axis=0)
    np.testing.assert_allclose(got, want, atol=1e-5)  # float32 kernels of two runtimes
    assert np.abs(heads[0](x).numpy() - heads[1](x).numpy()).max() > 1e-3  # two different heads: a real mean
    # Targets that name other labels than the heads score: refused, the checked folder left as it was.
    distill.save(str(teacher), np.zeros(2, np.int64), np.full((2, 3), 1 / 3, np.float32), labels[:3], "fp")
    before = open(os.path.join(out, "head.tflite"), "rb").read()
    assert main(["verifier", "--teacher", str(teacher), "--out", out]) == 1
    assert "the heads give 4 scores, its targets name 3 labels" in capsys.readouterr().err
    assert open(os.path.join(out, "head.tflite"), "rb").read() == before


@pytest.mark.parametrize("args, code, says", [
    (["--gate", "1.5"], 2, "--gate must be between 0 and 1"),
    ([], 1, "no head*.keras"),
])
def test_bad_verifier_builds_are_one_line(args, code, says, tmp_path, capsys):
    from kwstrain.cli import main

    rc = main(["verifier", "--teacher", str(tmp_path), "--out", str(tmp_path / "v"), *args])
    err = capsys.readouterr().err.strip()
    assert rc == code and len(err.splitlines()) == 1 and says in err


class RecordingVerifier:
    """Stands in for a Verifier: remembers which window it was asked about, answers ``p``."""

    def __init__(self, labels, p=0.9, gate=0.5):
        self.labels, self.p, self.gate, self.asked = tuple(labels), p, gate, []

    def confirms(self, window, label):
        self.asked.append((float(window[0]), label))
        return self.p >= self.gate, self.p


def test_the_check_hears_the_best_window_even_one_whole_window_old(model_dir):
    """The Detector keeps every window the smoother averaged, the oldest included."""
    from kwsapp.core.detector import Detection
    from kwsapp.core.smoothing import SmoothingConfig

    det = Detector(model_dir, EngineSettings(smoothing=SmoothingConfig(average_window_ms=300.0)))
    det.verifier = fake = RecordingVerifier(det.labels)
    yes = det.labels.index("yes")
    best = {0.0: 0.2, 100.0: 0.3, 200.0: 0.95, 300.0: 0.5, 400.0: 0.4, 500.0: 0.6}  # 200 ms: 300 before 500
    for t, p in best.items():
        scores = np.full(len(det.labels), 0.01, np.float32)
        scores[yes] = p
        window = np.full(16000, t, np.float32)  # each window tells which hop it was
        proposed = Detection(t / 1000.0, "yes", 0.7) if t == 500.0 else None
        got = det._verified(proposed, window, scores, t)
    assert fake.asked == [(200.0, "yes")] and got.verified == 0.9
    fake.p = 0.1  # below the gate: the detection is dropped
    assert det._verified(Detection(0.6, "yes", 0.7), np.full(16000, 600.0, np.float32), scores, 600.0) is None
    det.reset()
    assert len(det._recent) == 0


def test_the_check_can_be_switched_on_and_off_mid_stream(stream, model_dir):
    audio, _ = stream
    det = Detector(model_dir)
    assert det.verifier is None
    det.update_settings(EngineSettings(verifier=BUNDLED_VERIFIER_DIR))
    assert det.verifier is not None and all(d.verified is not None for d in det.run_offline(audio[: 16000 * 20]))
    det.update_settings(EngineSettings())
    assert det.verifier is None and all(d.verified is None for d in det.run_offline(audio[: 16000 * 20]))


@pytest.mark.parametrize("make, says", [
    (lambda d: os.path.join(d, "verifier.json"), "no such folder"),  # a file, not a folder
    (lambda d: os.path.join(d, "nowhere"), "no such folder"),
    (lambda d: (open(os.path.join(d, "head.tflite"), "wb").write(b"not a model"), d)[1], "head.tflite is corrupt"),
    (lambda d: (os.remove(os.path.join(d, "head.tflite")), d)[1], "head.tflite is missing"),
    (lambda d: (open(os.path.join(d, CONFIG_FILE), "w").write("{"), d)[1], "verifier.json is unreadable"),
    (lambda d: changed_copy(pathlib.Path(d).parent, "gate2", gate=2.0), "gate must be between 0 and 1"),
])
def test_a_bad_verifier_folder_is_one_line_naming_the_fix(make, says, tmp_path, capsys):
    from kwsapp.cli import main
    from kwsapp.core.wavio import write_wav

    folder = make(changed_copy(tmp_path, "bad"))
    path = str(tmp_path / "s.wav")
    write_wav(path, np.zeros(16000, np.float32))
    rc = main(["listen", "--input", path, "--verifier", folder])
    err = capsys.readouterr().err.strip()
    assert rc == 1 and len(err.splitlines()) == 1 and says in err
    assert "make model" not in err and "verifier" in err.split(says, 1)[1]  # the verifier's fix, not the model's


def test_a_verifier_given_before_listen_is_kept():
    from kwsapp.cli import build_parser

    assert build_parser().parse_args(["--verifier", "/some/dir", "listen"]).verifier == "/some/dir"
    assert getattr(build_parser().parse_args(["listen"]), "verifier", None) is None


@pytest.mark.parametrize("cmd", ["falsealarms", "streamtest"])
def test_tuning_the_models_setting_with_the_check_on_is_refused(cmd, capsys, data_dir):
    from kwstrain.cli import main

    rc = main([cmd, "--data-dir", data_dir, "--split", "validation", "--sweep", "0.5,0.6", "--save-smoothing",
               "--verifier"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and "--save-smoothing" in err

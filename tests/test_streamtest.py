"""kws-train streamtest: the TF-style long test stream, its labels, the scoring rule, and
the whole tool on the bundled model."""

import numpy as np
import pytest
from conftest import json_lines

from kwstrain.cli import main
from kwstrain.streamtest import StreamSpec, make_stream, read_labels, score, write_labels

COMMANDS = {"yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go"}


@pytest.fixture(scope="module")
def stream(data_dir):
    return make_stream(data_dir, "testing", StreamSpec(duration_s=90, seed=5))


def test_one_clip_per_3s_slot_at_a_random_offset(stream):
    audio, labels = stream
    assert len(audio) == 90 * 16000
    assert len(labels) == 30
    for i, (label, t) in enumerate(labels):
        assert 3 * i <= t < 3 * i + 2
        assert label in COMMANDS or label == "_unknown_"
    offsets = [t - 3 * i for i, (_, t) in enumerate(labels)]
    assert np.std(offsets) > 0.3  # really random, not fixed


def test_clips_and_background_are_in_the_audio(stream):
    audio, labels = stream
    rms = lambda a, b: float(np.sqrt(np.mean(audio[int(a * 16000) : int(b * 16000)] ** 2)))  # noqa: E731
    word = [rms(t, t + 1) for _, t in labels]
    gaps = [rms(t + 1.05, min(t + 1.9, 90)) for _, t in labels if t + 1.9 < 90]
    assert np.median(word) > 3 * np.median(gaps)
    assert np.median(gaps) > 1e-4  # background noise under everything, not digital silence


def test_unknown_share_and_reproducibility(data_dir):
    _, labels = make_stream(data_dir, "testing", StreamSpec(duration_s=600, seed=1))
    unknown = sum(l == "_unknown_" for l, _ in labels) / len(labels)
    assert 0.2 < unknown < 0.4
    assert len({l for l, _ in labels} & COMMANDS) == 10
    _, again = make_stream(data_dir, "testing", StreamSpec(duration_s=600, seed=1))
    _, other = make_stream(data_dir, "testing", StreamSpec(duration_s=600, seed=2))
    assert again == labels and other != labels


def test_labels_file_round_trip(tmp_path):
    labels = [("yes", 1.25), ("_unknown_", 4.5), ("go", 7.0)]
    p = tmp_path / "labels.txt"
    write_labels(p, labels)
    assert p.read_text().splitlines()[0] == "yes, 1250.000000"  # the TF example's format
    assert read_labels(p) == labels


def test_scoring_follows_the_tf_rule():
    truth = [("yes", 1.0), ("_unknown_", 4.0), ("no", 7.0), ("go", 13.0)]
    r = score([("yes", 1.8), ("yes", 2.2), ("up", 4.9), ("no", 8.6), ("stop", 20.0)], truth, 1.5)
    # yes@1.8 correct; yes@2.2 the same clip again -> wrong; up on an unknown word -> wrong;
    # no@8.6 is 1.6 s after its clip -> no clip in range -> false positive; stop -> false positive
    assert (r["correct"], r["wrong"], r["false_positives"]) == (1, 2, 2)
    assert r["commands"] == 3  # rates are over command clips, the unknown one is not counted
    assert r["correct_pct"] == pytest.approx(100 / 3)
    assert r["false_positive_pct"] == pytest.approx(200 / 3)
    # first match in time: a detection between two clips goes to the earlier one
    assert score([("no", 2.4)], [("yes", 1.0), ("no", 2.0)], 1.5)["wrong"] == 1


def test_the_tool_end_to_end(capsys, data_dir, model_dir, tmp_path):
    out_wav = tmp_path / "stream.wav"
    # The test stream "seed 1" of docs/experiments/streaming-engine.md (10 minutes, 142 commands): 87.3 % / 0.0 % / 0.0 % at the
    # shipped threshold 0.6, which trades some command recall for few false alarms on running speech.
    rc = main(["streamtest", "--data-dir", data_dir, "--model", model_dir, "--seed", "1",
               "--out-wav", str(out_wav), "--json"])
    assert rc == 0
    out, err = capsys.readouterr()
    [r] = json_lines(out)
    assert "% correct" in err  # with --json the human report goes to stderr
    assert r["commands"] == sum(1 for l, _ in read_labels(tmp_path / "stream_labels.txt") if l in COMMANDS)
    # The model does not reach the stream target (>= 92 % correct) at its setting: the floor
    # is its documented three-stream figure (87.4 %) less 3.5 points, as one stream swings about
    # +-2 around it; wrong and false positives at the targets (<= 2 % and <= 1 %) plus one clip.
    assert r["correct_pct"] >= 84 and r["wrong_pct"] <= 2.8 and r["false_positive_pct"] <= 1.8, r
    assert out_wav.stat().st_size > 600 * 16000 * 2


def test_streams_and_threshold_sweep(capsys, data_dir, model_dir):
    base = ["streamtest", "--data-dir", data_dir, "--model", model_dir, "--duration", "60", "--json",
            "--threshold", "0.45"]
    singles = []
    for seed in (5, 6):
        assert main(base + ["--seed", str(seed)]) == 0
        [single] = json_lines(capsys.readouterr().out)  # the JSON and nothing else on stdout
        singles.append(single)
    assert main(base + ["--seed", "5", "--streams", "2", "--sweep", "0.3,0.45,0.9"]) == 0
    [r] = json_lines(capsys.readouterr().out)
    for k in ("commands", "correct", "wrong", "false_positives"):
        assert r[k] == singles[0][k] + singles[1][k]  # totals over the two streams
    assert [s["seed"] for s in r["per_stream"]] == [5, 6]
    sweep = {row["threshold"]: row for row in r["sweep"]}
    # Replaying the recorded scores at the run's own threshold gives the run's own result.
    for k in ("correct", "wrong", "false_positives", "detections"):
        assert sweep[0.45][k] == r[k]
    assert sweep[0.3]["detections"] >= sweep[0.45]["detections"] >= sweep[0.9]["detections"]
    assert main(base + ["--sweep", "0.5,2"]) == 2
    assert "--sweep" in capsys.readouterr().err


def test_pick_smoothing_keeps_errors_within_bounds():
    from kwstrain.streamtest import pick_smoothing

    def row(th, c, w, f):
        return {"threshold": th, "correct_pct": c, "wrong_pct": w, "false_positive_pct": f}

    rows = [row(0.4, 94, 6, 0), row(0.5, 91, 3.0, 0.5), row(0.55, 90, 2.5, 0.5), row(0.6, 85, 1, 0)]
    assert pick_smoothing(rows)[0]["threshold"] == 0.5  # most correct among those within 3%
    worse = [row(0.4, 94, 6, 0), row(0.5, 91, 4, 1), row(0.6, 80, 3.5, 0)]
    best, why = pick_smoothing(worse)
    assert best["threshold"] == 0.4 and "no setting" in why  # fallback: correct - wrong - fp


def test_model_smoothing_is_the_default_and_save_smoothing_writes_it(capsys, data_dir, model_dir, tmp_path):
    from conftest import copy_model

    from kwsapp.core.model import read_config
    from kwstrain.streamtest import pick_smoothing

    def last():
        [r] = json_lines(capsys.readouterr().out)
        return r

    model = copy_model(model_dir, str(tmp_path / "m"), detection_threshold=0.8, average_window_ms=650)
    base = ["streamtest", "--data-dir", data_dir, "--model", model, "--duration", "60", "--seed", "4", "--json"]
    assert main(base) == 0
    assert last()["smoothing"].items() >= {"detection_threshold": 0.8, "average_window_ms": 650}.items()
    assert main(base + ["--threshold", "0.3", "--average-window-ms", "400"]) == 0
    assert last()["smoothing"].items() >= {"detection_threshold": 0.3, "average_window_ms": 400}.items()
    # Tuning is for the validation split only.
    assert main(base + ["--sweep", "0.3,0.6", "--save-smoothing"]) == 2
    assert "--split validation" in capsys.readouterr().err
    assert main(base + ["--split", "validation", "--sweep", "0.3,0.6,0.99", "--sweep-window", "300,700",
                        "--save-smoothing"]) == 0
    r = last()
    assert {(row["average_window_ms"], row["threshold"]) for row in r["sweep"]} == {
        (w, th) for w in (300, 700) for th in (0.3, 0.6, 0.99)}
    best = pick_smoothing(r["sweep"])[0]
    assert r["saved_smoothing"] == {"detection_threshold": best["threshold"],
                                    "average_window_ms": best["average_window_ms"]}
    cfg = read_config(model)
    assert (cfg.detection_threshold, cfg.average_window_ms) == (best["threshold"], best["average_window_ms"])
    assert main(base + ["--sweep-window", "0,500"]) == 2
    assert "--sweep-window" in capsys.readouterr().err

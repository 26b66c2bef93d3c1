"""Smoother: threshold, minimum count, suppression, repeats only after another label."""
import numpy as np
import pytest

from kwsapp.core.smoothing import Smoother, SmoothingConfig

LABELS = ("_silence_", "_unknown_", "yes", "no")


def onehot(label, p=0.95):
    s = np.full(len(LABELS), (1 - p) / (len(LABELS) - 1), np.float32)
    s[LABELS.index(label)] = p
    return s


def run(smoother, seq, hop_ms=100, t0=0):
    """seq: labels (or score arrays), one per hop -> [(time_ms, label)] detections."""
    out = []
    for i, item in enumerate(seq):
        t = t0 + (i + 1) * hop_ms
        r = smoother.update(onehot(item) if isinstance(item, str) else item, t)
        if r.is_new:
            out.append((t, r.label))
    return out


def test_a_held_word_is_detected_once():
    sm = Smoother(LABELS, SmoothingConfig(average_window_ms=500, suppression_ms=500, minimum_count=3))
    dets = run(sm, ["_silence_"] * 10 + ["yes"] * 30)
    assert [l for _, l in dets] == ["yes"]
    # the average over 500 ms must have swung to "yes" before it is reported
    assert 1000 < dets[0][0] <= 1000 + 500


def test_threshold_blocks_weak_scores():
    cfg = SmoothingConfig(detection_threshold=0.8, minimum_count=1, suppression_ms=0)
    assert run(Smoother(LABELS, cfg), [onehot("yes", 0.75)] * 10) == []
    assert [l for _, l in run(Smoother(LABELS, cfg), [onehot("yes", 0.85)] * 10)] == ["yes"]


def test_silence_and_unknown_are_never_reported():
    sm = Smoother(LABELS, SmoothingConfig(minimum_count=1, suppression_ms=0))
    assert run(sm, ["_silence_"] * 5 + ["_unknown_"] * 5 + ["_silence_"] * 5) == []


def test_minimum_count_delays_the_first_decision():
    seq = ["yes"] * 10
    early = run(Smoother(LABELS, SmoothingConfig(average_window_ms=1000, minimum_count=1)), seq)
    late = run(Smoother(LABELS, SmoothingConfig(average_window_ms=1000, minimum_count=6)), seq)
    # needs a quarter window span (250 ms) in any case; 6 results need 600 ms
    assert early[0][0] == 400 and late[0][0] == 600
    assert not run(Smoother(LABELS, SmoothingConfig(average_window_ms=1000, minimum_count=20)), seq)


def test_repeat_needs_another_label_in_between():
    cfg = SmoothingConfig(average_window_ms=300, suppression_ms=500, minimum_count=2)
    # "yes" for 3 s with no break: one detection, however long
    assert len(run(Smoother(LABELS, cfg), ["yes"] * 30)) == 1
    # yes, silence, yes: two
    dets = run(Smoother(LABELS, cfg), ["yes"] * 8 + ["_silence_"] * 8 + ["yes"] * 8)
    assert [l for _, l in dets] == ["yes", "yes"]
    # yes, no, yes: three (another command re-arms too)
    dets = run(Smoother(LABELS, cfg), ["yes"] * 8 + ["no"] * 8 + ["yes"] * 8)
    assert [l for _, l in dets] == ["yes", "no", "yes"]


def test_suppression_blocks_a_new_word_too_soon_after_a_detection():
    seq = ["yes"] * 5 + ["no"] * 6 + ["_silence_"] * 10
    short = run(Smoother(LABELS, SmoothingConfig(average_window_ms=200, suppression_ms=300, minimum_count=1)), seq)
    long = run(Smoother(LABELS, SmoothingConfig(average_window_ms=200, suppression_ms=2000, minimum_count=1)), seq)
    assert [l for _, l in short] == ["yes", "no"]
    assert [l for _, l in long] == ["yes"]
    assert short[1][0] - short[0][0] > 300


def test_smoothed_is_the_window_average():
    sm = Smoother(LABELS, SmoothingConfig(average_window_ms=200, minimum_count=1))
    a, b, c = onehot("yes"), onehot("no"), onehot("_silence_")
    sm.update(a, 100)
    sm.update(b, 200)
    r = sm.update(c, 300)
    np.testing.assert_allclose(r.smoothed, (a + b + c) / 3, rtol=1e-6)
    r = sm.update(a, 500)  # 100 and 200 ms fell out of the 200 ms window
    np.testing.assert_allclose(r.smoothed, (c + a) / 2, rtol=1e-6)


def test_window_edges_do_not_depend_on_float_rounding_of_times():
    # Times derived from float seconds (as a replay of recorded hops has them) must average
    # the same results as exact millisecond times: one window old is still in.
    rng = np.random.default_rng(0)
    seq = rng.dirichlet(np.ones(len(LABELS)), size=40).astype(np.float32)
    cfg = SmoothingConfig(average_window_ms=300, minimum_count=1)
    exact, rounded = Smoother(LABELS, cfg), Smoother(LABELS, cfg)
    for k, scores in enumerate(seq, 1):
        a = exact.update(scores, k * 100.0)
        b = rounded.update(scores, (k * 0.1) * 1000.0)
        # Exact: the same scores averaged in the same order; only which hops are in the window
        # could differ, and that is the bug this catches.
        np.testing.assert_array_equal(a.smoothed, b.smoothed)
        if k >= 4:
            np.testing.assert_allclose(a.smoothed, seq[k - 4 : k].mean(axis=0), rtol=1e-6)


def test_out_of_order_and_wrong_size_are_rejected():
    sm = Smoother(LABELS)
    sm.update(onehot("yes"), 100)
    with pytest.raises(ValueError):
        sm.update(onehot("yes"), 50)
    with pytest.raises(ValueError):
        sm.update(np.ones(3), 200)


def test_config_round_trips_and_validates():
    cfg = SmoothingConfig(average_window_ms=750, detection_threshold=0.6, suppression_ms=1000, minimum_count=4)
    assert SmoothingConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError):
        SmoothingConfig(detection_threshold=1.5)
    with pytest.raises(ValueError):
        SmoothingConfig.from_dict({"threshold": 0.5})


def test_a_model_can_carry_its_tuned_threshold_and_window(tmp_path, model_dir):
    from conftest import copy_model

    from kwsapp.core.errors import ModelError
    from kwsapp.core.model import read_config
    from kwsapp.core.smoothing import for_model

    tuned = copy_model(model_dir, str(tmp_path / "tuned"), detection_threshold=0.62, average_window_ms=None)
    assert read_config(tuned).detection_threshold == 0.62
    base = SmoothingConfig(average_window_ms=700, suppression_ms=900)
    got = for_model(tuned, base)
    assert got.detection_threshold == 0.62 and got.average_window_ms == 700  # only the threshold
    both = copy_model(model_dir, str(tmp_path / "both"), detection_threshold=0.6, average_window_ms=300)
    assert for_model(both, base) == SmoothingConfig(average_window_ms=300, detection_threshold=0.6,
                                                    suppression_ms=900)
    plain = copy_model(model_dir, str(tmp_path / "plain"), detection_threshold=None, average_window_ms=None)
    assert for_model(plain, base) == base
    assert for_model(str(tmp_path / "missing"), base) == base  # loading the model reports that
    bad = copy_model(model_dir, str(tmp_path / "bad"), detection_threshold=1.5)
    with pytest.raises(ModelError, match="detection_threshold"):
        read_config(bad)
    bad = copy_model(model_dir, str(tmp_path / "badw"), average_window_ms=-5)
    with pytest.raises(ModelError, match="average_window_ms"):
        read_config(bad)


def test_the_users_choices_go_on_top_of_the_models_tuning(tmp_path, model_dir):
    from conftest import copy_model

    from kwsapp.core.errors import UsageError
    from kwsapp.core.model import read_config
    from kwsapp.core.smoothing import chosen

    tuned = copy_model(model_dir, str(tmp_path / "tuned"), detection_threshold=0.62, average_window_ms=300)
    base = SmoothingConfig(suppression_ms=900)
    assert chosen(tuned, base) == SmoothingConfig(detection_threshold=0.62, average_window_ms=300, suppression_ms=900)
    got = chosen(tuned, base, threshold=(0.5, (("yes", 0.8),)), average_window_ms=600, words=("yes", "no"))
    assert (got.detection_threshold, dict(got.word_thresholds), got.average_window_ms) == (0.5, {"yes": 0.8}, 600)
    others = set(read_config(tuned).labels) - {"yes", "no"}
    assert others <= set(got.ignore_labels) and not {"yes", "no"} & set(got.ignore_labels)
    with pytest.raises(UsageError, match="--threshold names maybe, not a word of the model"):
        chosen(tuned, base, threshold=(None, (("maybe", 0.7),)))


def test_a_word_threshold_replaces_the_common_one_for_that_word_only():
    from kwsapp.core.smoothing import parse_thresholds

    cfg = SmoothingConfig(average_window_ms=300, suppression_ms=0, minimum_count=3, detection_threshold=0.5,
                          word_thresholds={"yes": 0.8})
    seq = (["_silence_"] * 5 + ["yes"] * 10) * 1
    assert [l for _, l in run(Smoother(LABELS, cfg), [onehot("yes", 0.7) if x == "yes" else x for x in seq])] == []
    assert [l for _, l in run(Smoother(LABELS, cfg), [onehot("no", 0.7) if x == "yes" else x for x in seq])] == ["no"]
    assert [l for _, l in run(Smoother(LABELS, cfg), [onehot("yes", 0.9) if x == "yes" else x for x in seq])] == ["yes"]
    assert SmoothingConfig.from_dict(cfg.to_dict()) == cfg  # settings files keep them
    assert parse_thresholds("0.6, yes=0.7,go=0.5") == (0.6, (("go", 0.5), ("yes", 0.7)))
    with pytest.raises(ValueError, match="between 0 and 1"):
        SmoothingConfig(word_thresholds={"yes": 1.5})


def test_model_config_carries_word_thresholds(tmp_path):
    import json

    from kwsapp.core.model import ModelConfig, read_config
    from kwsapp.core.smoothing import tuned
    from kwstrain.modelfolder import write_config

    write_config(str(tmp_path), ModelConfig(labels=LABELS, detection_threshold=0.6, word_thresholds=(("yes", 0.75),)))
    cfg = read_config(str(tmp_path))
    assert tuned(cfg).threshold_for("yes") == 0.75 and tuned(cfg).threshold_for("no") == 0.6
    d = json.loads((tmp_path / "config.json").read_text())
    d["word_thresholds"] = {"maybe": 0.7}  # not a label of the model
    (tmp_path / "config.json").write_text(json.dumps(d))
    with pytest.raises(Exception, match="word_thresholds must map labels"):
        read_config(str(tmp_path))

"""The pretrained teacher (kws-train teacher) and distillation (kws-train train --teacher-targets),
on a tiny synthetic dataset. Needs the teacher extra (installed by `make test`)."""
import json
import os
import sys

import numpy as np
import pytest

from kwstrain import distill
from kwstrain import teacher as T
from kwstrain.cli import main
from tests.conftest import make_tiny_dataset


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_tiny_dataset(str(tmp_path_factory.mktemp("teacher") / "data"))


@pytest.fixture(scope="module")
def teacher_run(data, model_dir, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("teacher") / "t")
    rc = main(["teacher", "--data-dir", data, "--vgg", model_dir, "--copies", "2", "--head-epochs", "3",
               "--threads", "1", "--out", out])
    assert rc == 0
    return out


def test_teacher_command_writes_targets_for_every_copy(teacher_run, data, model_dir):
    t = distill.load(teacher_run)
    with open(os.path.join(teacher_run, "teacher.json")) as f:
        report = json.load(f)
    n = report["n_examples"]
    assert n == 48  # 40 command clips of the 4 training speakers, 4 other words, 4 silence
    assert t.copies.dtype == np.int16 and t.copies.shape == (2 * n, 16000)
    assert t.probs.shape == (2 * n, 12)
    np.testing.assert_allclose(t.probs.sum(1), 1.0, atol=1e-5)
    # Copy-major: row k*n + i is copy k of example i, so the labels repeat.
    np.testing.assert_array_equal(t.labels[:n], t.labels[n:])
    # The two copies of a clip are augmented differently (shift, gain, noise).
    assert np.abs(t.copies[:n].astype(np.int32) - t.copies[n:]).mean() > 10
    # --mix average: the targets are the mean of the head's and the VGG's probabilities.
    with np.load(os.path.join(teacher_run, distill.TARGETS_FILE)) as z:
        np.testing.assert_allclose(t.probs, (z["head_probs"] + z["vgg_probs"]) / 2, atol=1e-6)
    # Head, VGG and average are each scored on validation (the chirps are not speech: wiring, not quality).
    assert set(report["validation"]) == {"head", "vgg", "average"}


def test_embedding_is_sixteen_by_ninety_six_and_deterministic():
    sessions = T.onnx_sessions(1)
    x = (np.random.default_rng(0).standard_normal((3, 16000)) * 3000).astype(np.int16)
    a, b = T.embed(x, sessions, seed=4), T.embed(x, sessions, seed=4)
    assert a.shape == (3, 16, 96) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    # Another clip gives another embedding (the model is really run, not a stub).
    assert np.abs(T.embed(x[::-1].copy(), sessions, seed=4)[0] - a[0]).mean() > 1e-3


def test_missing_extra_says_what_to_install(monkeypatch, capsys, tmp_path, data):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails as when not installed
    rc = main(["teacher", "--data-dir", data, "--mix", "head", "--out", str(tmp_path / "t")])
    err = capsys.readouterr().err.strip()
    assert rc == 1 and len(err.splitlines()) == 1
    assert "install with pip install '.[teacher]'" in err


@pytest.mark.parametrize("args, says", [
    (["--copies", "0"], "--copies"),
    ([], "--mix average needs --vgg"),
    (["--mix", "head", "--reverb", "2"], "--reverb 2"),
    (["--mix", "head", "--band-limit", "-1"], "--band-limit -1"),
])
def test_bad_teacher_options_are_one_line_usage_errors(args, says, capsys, tmp_path, data):
    rc = main(["teacher", "--data-dir", data, "--out", str(tmp_path / "t"), *args])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and says in err


def test_targets_for_another_training_split_are_refused(teacher_run, data, capsys, tmp_path):
    # --seed draws another _unknown_ sample: not the split the targets were made for.
    rc = main(["train", "--data-dir", data, "--seed", "5", "--unknown-share", "1", "--epochs", "1", "--quiet",
               "--teacher-targets", teacher_run, "--out", str(tmp_path / "s")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1 and "made for another training split" in err[-1]


def test_missing_targets_file_is_one_line(data, capsys, tmp_path):
    rc = main(["train", "--data-dir", data, "--epochs", "1", "--quiet", "--teacher-targets", str(tmp_path / "none"),
               "--out", str(tmp_path / "s")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1 and "no such teacher-targets file" in err[-1]


def test_mixed_targets_are_the_weighted_sum():
    labels = np.array([0, 2])
    probs = np.array([[0.1, 0.2, 0.7], [0.5, 0.25, 0.25]], np.float32)
    np.testing.assert_allclose(distill.mixed_targets(labels, probs, 1.0, 0.1), probs, atol=1e-7)
    hard = distill.mixed_targets(labels, probs, 0.0, 0.3)
    np.testing.assert_allclose(hard, [[0.8, 0.1, 0.1], [0.1, 0.1, 0.8]], atol=1e-6)
    half = distill.mixed_targets(labels, probs, 0.5, 0.0)
    np.testing.assert_allclose(half, [[0.55, 0.1, 0.35], [0.25, 0.125, 0.625]], atol=1e-6)


def _contradicting_targets(data, model_dir, folder):
    """Targets that name the next label (mod 12) of every copy: the opposite of its hard label."""
    from kwsapp.core.model import read_config
    from kwstrain.train import TrainConfig, prepare_data

    features = read_config(model_dir).features
    spec, decoded, noise, _ = prepare_data(TrainConfig(data_dir=data, out=folder, features=features))
    tr = decoded["training"]
    os.makedirs(folder)
    copies = T.fixed_copies(tr, noise, features, __import__("kwstrain.pipeline").pipeline.AugmentConfig(),
                            spec.labels.index("_silence_"), 1, 0, os.path.join(folder, distill.COPIES_FILE))
    wrong = (tr.labels + 1) % 12
    distill.save(folder, tr.labels, np.eye(12, dtype=np.float32)[wrong], spec.labels,
                 distill.fingerprint(tr.clips, tr.labels))
    return copies, wrong


def test_distillation_moves_the_student_towards_the_targets(data, model_dir, tmp_path):
    """Targets that contradict every hard label: with --distill-weight 1 the student learns them,
    with 0 it does not. Same data, seed and steps; only the weight differs."""
    from kwsapp.core.model import read_config
    from kwstrain.train import TrainConfig, train

    copies, wrong = _contradicting_targets(data, model_dir, str(tmp_path / "targets"))
    features = read_config(model_dir).features  # --init-from needs the model's own front end
    got = {}
    for w in (0.0, 1.0):
        out = str(tmp_path / f"w{w}")
        train(TrainConfig(data_dir=data, out=out, epochs=8, batch_size=16, learning_rate=3e-3, warmup_epochs=0,
                          init_from=model_dir, teacher_targets=str(tmp_path / "targets"), distill_weight=w,
                          features=features, verbose=0))
        p = T.vgg_probs(out, copies)
        got[w] = float(p[np.arange(len(wrong)), wrong].mean())
    # Measured: 0.006 at weight 0 and 0.28 at weight 1 (the best-validation checkpoint is kept, and
    # learning the contradicting targets lowers validation accuracy, so an early epoch's weights are
    # judged); the bounds leave a factor of 3 or more each side.
    assert got[0.0] < 0.05, got
    assert got[1.0] > 0.1, got


def test_room_and_microphone_options_reach_the_fixed_copies(data, model_dir, tmp_path):
    """--reverb and --band-limit (checked elsewhere for their range) change the copies the teacher
    and the student hear; without them the same seed gives the same copies."""
    import dataclasses

    from kwsapp.core.model import read_config
    from kwstrain.cli import build_parser
    from kwstrain.train import TrainConfig, prepare_data

    features = read_config(model_dir).features
    spec, decoded, noise, _ = prepare_data(TrainConfig(data_dir=data, out=str(tmp_path / "m"), features=features))
    tr, silence = decoded["training"], spec.labels.index("_silence_")
    # 24 examples are enough to see it (and keep the three passes of augmentation short)
    keep = np.arange(min(24, len(tr.labels)))
    tr = dataclasses.replace(tr, labels=tr.labels[keep], index=tr.index[keep], clips=[tr.clips[i] for i in keep])

    def copies(*options, name):
        args = build_parser().parse_args(["teacher", "--out", str(tmp_path / name), *options])
        return np.array(T.fixed_copies(tr, noise, features, T.augment_config(args), silence, 1, 0,
                                       str(tmp_path / f"{name}.npy")))

    dry, again = copies(name="dry"), copies(name="again")
    room = copies("--reverb", "1", "--band-limit", "1", name="room")
    np.testing.assert_array_equal(dry, again)
    speech = tr.labels != silence
    assert speech.sum() >= 10
    changed = np.abs(room[speech].astype(np.int32) - dry[speech]).max(axis=1) > 100
    assert changed.all(), f"{(~changed).sum()} of {speech.sum()} copies unchanged by --reverb 1 --band-limit 1"

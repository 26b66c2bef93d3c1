"""kws-train end to end on tiny data: train -> export -> reload, evaluate --json, strategies, bad data."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from kwsapp.core.model import Classifier, read_config
from kwsapp.core.wavio import load_audio, resample, write_wav
from tests.conftest import ROOT, json_lines, kept_model_val_loss, kws_train_here, make_tiny_dataset


def kws_train(*args, env=None):
    e = dict(os.environ, **(env or {}))
    return subprocess.run([sys.executable, "-m", "kwstrain", *args], capture_output=True, text=True, cwd=ROOT,
                          env=e, timeout=600)


# Four epochs on three clips per speaker and word: enough for the chirps to be learnt (0.97 on
# the test list here), so a trainer that does not learn fails test_train_learns_an_easy_task.
TRAIN_ARGS = ("--epochs", "4", "--batch-size", "16", "--quiet")


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """The same training twice (model/ and again/), started together: much of a run is one
    core's work (start-up, decoding, evaluation), so the pair takes far less than two in a row."""
    tmp = tmp_path_factory.mktemp("train")
    data = make_tiny_dataset(str(tmp / "data"), per_speaker=3)
    # One corrupt clip (skipped and counted) and one 44.1 kHz clip (resampled, used).
    with open(os.path.join(data, "yes", "0badc0de_nohash_0.wav"), "wb") as f:
        f.write(b"RIFF....WAVEjunk")
    src = os.path.join(data, "no", sorted(os.listdir(os.path.join(data, "no")))[0])
    write_wav(os.path.join(data, "no", "0face0ff_nohash_0.wav"), resample(load_audio(src), 16000, 44100), 44100)
    # Entries that are not files (skipped, named): once a traceback, and a FIFO hung the run.
    yes = os.path.join(data, "yes")
    os.symlink("nowhere.wav", os.path.join(yes, "dangling_nohash_0.wav"))
    os.symlink("loop_nohash_0.wav", os.path.join(yes, "loop_nohash_0.wav"))
    os.mkfifo(os.path.join(yes, "fifo_nohash_0.wav"))
    runs = []
    for name in ("model", "again"):
        out, log = str(tmp / name), open(tmp / f"{name}.stderr", "w+")
        p = subprocess.Popen([sys.executable, "-m", "kwstrain", "train", "--data-dir", data, *TRAIN_ARGS,
                              "--out", out], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log, text=True)
        runs.append((out, p, log))
    done = []
    for out, p, log in runs:
        rc = p.wait(timeout=900)
        log.seek(0)
        r = subprocess.CompletedProcess(p.args, rc, "", log.read())
        log.close()
        assert r.returncode == 0, r.stderr[-2000:]
        done.append((out, r))
    return data, done[0], done[1]


@pytest.fixture(scope="module")
def trained(two_runs):
    data, (out, r), _ = two_runs
    return data, out, r


def test_train_writes_a_complete_model_folder(trained):
    data, out, r = trained
    for name in ("config.json", "model.keras", "model.tflite", "metrics.json", "README.md", "training_curves.png",
                 "confusion_test.png", "history.csv"):
        assert os.path.exists(os.path.join(out, name)), name
    cfg = read_config(out)
    assert cfg.labels[:2] == ("_silence_", "_unknown_") and len(cfg.labels) == 12
    metrics = json.load(open(os.path.join(out, "metrics.json")))
    assert metrics["training"]["input_pipeline_examples_per_s"] > 0
    assert "kws-train train --data-dir" in open(os.path.join(out, "README.md")).read()


def test_train_learns_an_easy_task(trained):
    _, out, _ = trained
    test = json.load(open(os.path.join(out, "metrics.json")))["test"]
    # Chance: always answering the commonest label of the test list scores at most 0.3.
    assert max(test["support"].values()) / test["n"] <= 0.3, test["support"]
    assert test["accuracy"] >= 0.8, test


def test_export_reload_gives_identical_outputs(trained):
    _, out, _ = trained
    rng = np.random.default_rng(1)
    feats = (rng.standard_normal((5, 98, 40)) * 3 - 5).astype(np.float32)
    k = Classifier(out, backend="keras").predict(feats)
    t = Classifier(out, backend="tflite").predict(feats)
    assert np.isfinite(t).all()
    np.testing.assert_allclose(t, k, atol=1e-5)
    import keras

    m = keras.models.load_model(os.path.join(out, "model.keras"), compile=False)
    np.testing.assert_allclose(m.predict(feats[..., None], verbose=0), k, atol=1e-6)


def test_evaluate_json_is_all_of_stdout(trained):
    data, out, _ = trained
    # The matrix goes beside the model, not into the working folder (the repository).
    png = os.path.join(os.path.dirname(out), "confusion_test.png")
    r = kws_train("evaluate", "--model", out, "--data-dir", data, "--split", "test", "--json", "--confusion", png)
    assert r.returncode == 0, r.stderr[-2000:]
    assert os.path.getsize(png) > 0
    [result] = json_lines(r.stdout)  # the human report went to stderr
    assert result["n"] == sum(result["support"].values()) > 0
    assert set(result["per_class"]) == set(read_config(out).labels)
    # Exact: train wrote this figure with the same evaluate() (Keras, same batches) on the same
    # model and clips; inference on one machine is deterministic, so any difference is a bug.
    assert abs(result["accuracy"] - json.load(open(os.path.join(out, "metrics.json")))["test"]["accuracy"]) < 1e-9


def test_same_seed_same_result(two_runs):
    _, (out, _), (again, _) = two_runs
    h1 = json.load(open(os.path.join(out, "train_info.json")))["history"]["loss"]
    h2 = json.load(open(os.path.join(again, "train_info.json")))["history"]["loss"]
    # Not exact: two processes, and TensorFlow's multi-threaded CPU reductions in training may
    # sum in a different order each run; 1e-4 relative is far below what a different seed,
    # data order or augmentation draw changes in the loss.
    np.testing.assert_allclose(h1, h2, rtol=1e-4)


def test_mirrored_strategy_on_two_logical_cpus(tmp_path):
    data = make_tiny_dataset(str(tmp_path / "data"))
    out = str(tmp_path / "m")
    r = kws_train("train", "--data-dir", data, "--epochs", "1", "--batch-size", "16", "--quiet",
                  "--strategy", "mirrored", "--cpu-devices", "2", "--out", out)
    assert r.returncode == 0, r.stderr[-2000:]
    info = json.load(open(os.path.join(out, "train_info.json")))["info"]
    assert info["strategy"] == "mirrored" and info["replicas"] == 2
    # The summary shows validation only: the test figure waits in metrics.json for after the choice.
    summary = r.stdout.strip().splitlines()[-1]
    assert summary.startswith(f"saved {out}: best validation accuracy "), summary
    assert f"test split scored into {out}/metrics.json" in summary and "test accuracy" not in summary, summary
    assert json.load(open(os.path.join(out, "metrics.json")))["test"]["n"] > 0


# The error cases below run the CLI's main() in this process: the same code path as the
# command (main() is what `kws-train` calls), without a TensorFlow start-up per case. An
# uncaught exception would fail the test; the message is what the user would read.
def test_multi_worker_without_tf_config_is_a_clear_error(tmp_path, capsys, monkeypatch):
    data = make_tiny_dataset(str(tmp_path / "data"))
    monkeypatch.delenv("TF_CONFIG", raising=False)
    rc, err = kws_train_here(capsys, "train", "--data-dir", data, "--strategy", "multi-worker",
                             "--out", str(tmp_path / "m"))
    assert rc == 1
    assert "TF_CONFIG" in err and "Traceback" not in err


def test_out_of_range_speed_perturbation_is_one_line(tmp_path, capsys):
    data = make_tiny_dataset(str(tmp_path / "data"))
    rc, err = kws_train_here(capsys, "train", "--data-dir", data, "--speed-perturb", "0.8", "--out", str(tmp_path / "m"))
    assert rc == 2 and "Traceback" not in err
    assert "--speed-perturb 0.8" in err and not os.path.exists(tmp_path / "m")


@pytest.mark.parametrize("flag", ["--reverb", "--band-limit"])
def test_out_of_range_room_and_microphone_shares_are_one_line(tmp_path, capsys, flag):
    data = make_tiny_dataset(str(tmp_path / "data"))
    rc, err = kws_train_here(capsys, "train", "--data-dir", data, flag, "1.5", "--out", str(tmp_path / "m"))
    assert rc == 2 and "Traceback" not in err
    assert f"{flag} 1.5" in err and not os.path.exists(tmp_path / "m")
    # with fixed teacher copies the option would silently do nothing: refused, pointing at the teacher
    rc, err = kws_train_here(capsys, "train", "--data-dir", data, flag, "0.3", "--teacher-targets",
                             str(tmp_path / "t"), "--out", str(tmp_path / "m"))
    assert rc == 2 and "kws-train teacher" in err and "Traceback" not in err
    assert not os.path.exists(tmp_path / "m")


def test_image_source_rooms_without_reverb_are_one_line(tmp_path, capsys):
    data = make_tiny_dataset(str(tmp_path / "data"))
    rc, err = kws_train_here(capsys, "train", "--data-dir", data, "--reverb-rooms", "0.5", "--out", str(tmp_path / "m"))
    assert rc == 2 and "Traceback" not in err
    assert "--reverb-rooms" in err and "give --reverb too" in err and not os.path.exists(tmp_path / "m")


@pytest.mark.parametrize("args, named", [(["--reverb-drr-db", "far"], "--reverb-drr-db 'far'"),
                                         (["--reverb-rt60=1.5,0.2"], "--reverb-rt60 1.5,0.2"),
                                         (["--reverb-rooms", "-0.5"], "--reverb-rooms -0.5"),
                                         (["--reverb-hf-ratio=0.05,1"], "--reverb-hf-ratio 0.05,1")])
def test_room_ranges_that_are_not_ranges_are_one_line(tmp_path, capsys, args, named):
    data = make_tiny_dataset(str(tmp_path / "data"))
    rc, err = kws_train_here(capsys, "train", "--data-dir", data, "--reverb", "0.3", *args, "--out", str(tmp_path / "m"))
    assert rc == 2 and "Traceback" not in err
    assert named in err and not os.path.exists(tmp_path / "m")


@pytest.mark.parametrize("case", ["missing", "empty"])
def test_bad_data_folder_is_one_line_not_a_traceback(tmp_path, capsys, case):
    d = tmp_path / "data"
    if case == "empty":
        d.mkdir()
    rc, stderr = kws_train_here(capsys, "train", "--data-dir", str(d), "--epochs", "1", "--out", str(tmp_path / "m"))
    assert rc == 1
    assert "Traceback" not in stderr
    err = [l for l in stderr.splitlines() if l.startswith("kws-train: error:")]
    assert len(err) == 1 and str(d) in err[0]


def test_corrupt_clips_are_skipped_and_counted_or_stop_with_strict(trained, tmp_path):
    data, out, r = trained
    assert "skipped 4 unreadable clip(s)" in r.stderr and "Traceback" not in r.stderr
    for name, why in [("0badc0de_nohash_0.wav", "has no format chunk"), ("dangling_nohash_0.wav", "dangling symlink"),
                      ("loop_nohash_0.wav", "symlink loop"), ("fifo_nohash_0.wav", "is a FIFO")]:
        assert any(name in line and why in line for line in r.stderr.splitlines()), (name, r.stderr)
    info = json.load(open(os.path.join(out, "train_info.json")))["info"]
    assert info["skipped_clips"] == 4
    strict = kws_train("train", "--data-dir", data, "--epochs", "1", "--strict", "--out", str(tmp_path / "s"))
    assert strict.returncode == 1 and "stopped by --strict" in strict.stderr and "Traceback" not in strict.stderr
    assert not os.path.exists(tmp_path / "s" / "model.keras")


def test_odd_sample_rate_clips_are_resampled_and_used(trained):
    from kwsapp.core.features import FeatureConfig
    from kwstrain import dataset, pipeline

    data, _, _ = trained
    dec = pipeline.decode(dataset.scan(data), FeatureConfig())
    clips = dec["training"].clips
    row = [i for i, c in enumerate(clips) if c.path and "0face0ff" in c.path]
    assert len(row) == 1
    audio = dec["training"].audio[dec["training"].index[row[0]]]
    assert np.abs(audio).max() > 1000  # real signal, not a zero row


def test_ema_keeps_the_averaged_weights_it_validated(tmp_path):
    """With --ema the checkpoint must hold the weights whose validation loss was logged
    (the EMA swap has to happen before ModelCheckpoint), and mixup + weight decay run."""
    from kwstrain.train import TrainConfig, train

    data = make_tiny_dataset(str(tmp_path / "data"))
    cfg = TrainConfig(data_dir=data, out=str(tmp_path / "m"), epochs=3, batch_size=16, ema=0.9,
                      mixup=0.3, weight_decay=1e-3, verbose=0)
    res = train(cfg)
    hist, info = res.history, res.info
    assert kept_model_val_loss(data, cfg.out) == pytest.approx(hist["val_loss"][info["best_epoch"] - 1], rel=1e-3)
    assert info["config"]["ema"] == 0.9 and info["config"]["mixup"] == 0.3


@pytest.mark.parametrize("cmd", ["train", "evaluate", "compare", "streamtest"])
def test_help_is_quick_and_quiet(cmd):
    """--help builds every subcommand's parser: nothing may import TensorFlow on the way (its
    start-up chatter would reach the terminal before the CLI can silence it)."""
    r = kws_train(cmd, "--help")
    assert r.returncode == 0 and "usage:" in r.stdout
    assert r.stderr == "", r.stderr[-500:]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_during_fit_stops_at_the_next_batch_and_restores_handlers(sig):
    import keras

    from kwstrain.train import stop_between_batches

    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.compile("sgd", "mse")
    seen, ended = [], []

    class SendAtBatch3(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            seen.append(batch)
            if batch == 3:
                os.kill(os.getpid(), sig)

        def on_train_batch_end(self, batch, logs=None):
            ended.append(batch)

    x = np.zeros((64, 4), np.float32)
    with pytest.raises(KeyboardInterrupt):
        with stop_between_batches(keras) as stopper:
            model.fit(x, x[:, :2], batch_size=4, epochs=3, verbose=0, callbacks=[SendAtBatch3(), stopper])
    assert seen == ended == [0, 1, 2, 3]  # the batch under way finished, no further one started
    assert {s: signal.getsignal(s) for s in before} == before


def test_ctrl_c_during_training_is_one_line_and_exit_130(tmp_path):
    data = make_tiny_dataset(str(tmp_path / "data"))
    out = tmp_path / "m"
    p = subprocess.Popen([sys.executable, "-m", "kwstrain", "train", "--data-dir", data, "--epochs", "500",
                          "--batch-size", "16", "--quiet", "--out", str(out)], cwd=ROOT, text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 300
    while time.time() < deadline and not (out / "history.csv").exists():  # written when fit starts
        assert p.poll() is None, p.communicate()[1][-2000:]
        time.sleep(0.2)
    time.sleep(1.0)
    p.send_signal(signal.SIGINT)
    _, stderr = p.communicate(timeout=120)
    assert p.returncode == 130 and "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1] == "kws-train: interrupted"


@pytest.mark.parametrize("change, flag", [
    (dict(epochs=0), "--epochs 0"), (dict(batch_size=0), "--batch-size 0"), (dict(learning_rate=0.0), "--lr 0"),
    (dict(model="resnet"), "--model resnet"), (dict(strategy="tpu"), "--strategy tpu"),
    (dict(ema=1.0), "--ema 1"), (dict(distill_weight=2.0), "--distill-weight 2"),
    (dict(dropout=1.0), "--dropout 1"), (dict(mixup=-1.0), "--mixup -1"),
])
def test_a_bad_train_config_is_refused_in_one_line_naming_the_option(change, flag):
    """Every caller of the library gets the CLI's checks, not only `kws-train train`."""
    from kwsapp.core.errors import UsageError
    from kwstrain.train import TrainConfig

    with pytest.raises(UsageError) as e:
        TrainConfig(data_dir="d", out="o", **change)
    assert str(e.value).startswith(flag) and "\n" not in str(e.value)


def test_train_config_is_frozen_and_checks_the_augmentation():
    import dataclasses

    from kwsapp.core.errors import UsageError
    from kwstrain.pipeline import AugmentConfig
    from kwstrain.train import TrainConfig

    cfg = TrainConfig(data_dir="d", out="o")
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.epochs = 3
    with pytest.raises(UsageError, match="--level-db -70,0"):
        dataclasses.replace(cfg, augment=AugmentConfig(level_low_db=-70.0))
    with pytest.raises(UsageError, match="kws-train teacher"):
        TrainConfig(data_dir="d", out="o", teacher_targets="t", augment=AugmentConfig(reverb=0.3))

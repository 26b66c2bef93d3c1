"""Shared fixtures: where the real clips are, the bundled model, tiny synthetic datasets."""
from __future__ import annotations

import os
import signal
import sys

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

# A suite started in the background (`make test &`, nohup) inherits SIGINT ignored; then the
# tests that stop the app with Ctrl-C (a signal to a child, or _thread.interrupt_main) would
# wait for a stop that never comes. Python's own handler puts back what a terminal gives, here
# and, through exec, in every child the tests start.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from kwsapp.core.envvars import CACHE_DIR, DATA_DIR, USER_DATA, getenv  # noqa: E402
from kwsapp.core.wavio import write_wav  # noqa: E402
from kwstrain.dataset import COMMANDS  # noqa: E402

# The files that take longest (a minute or more each on 2 cores: docs/experiments/test-suite-time.md),
# longest first. `make test` hands whole files to two processes in collection order; started last,
# one of these would leave the other process idle at the end. (Not the soak: it measures real-time
# listening and must not run beside the distributed tests' four TensorFlow processes.)
LONGEST_FIRST = ("test_distributed.py", "test_train_cli.py", "test_teacher.py", "test_finetune.py",
                 "test_compare.py", "test_voicetrain.py", "test_bundled_model.py")


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(os.path.basename(str(item.fspath)), len(rank)))  # stable: order within a file kept


def pytest_addoption(parser):
    parser.addoption("--data-dir", default=None,
                     help="Speech Commands folder (default: $KWSAPP_DATA_DIR or ../shared/speech_commands)")


@pytest.fixture(scope="session")
def data_dir(pytestconfig) -> str:
    # The development checkout's copy, not the user's default folder: tests never depend on
    # what `kws-train download` left in the home folder.
    d = pytestconfig.getoption("--data-dir") or getenv(DATA_DIR) or os.path.join(ROOT, "..", "shared", "speech_commands")
    d = os.path.abspath(d)
    if not os.path.isdir(d):
        pytest.fail(f"Speech Commands folder {d} not found: pass --data-dir or set {DATA_DIR}")
    return d


@pytest.fixture(scope="session")
def model_dir() -> str:
    d = os.path.join(ROOT, "assets", "model")
    assert os.path.exists(os.path.join(d, "config.json")), "bundled model missing: run `make model`"
    return d


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory):
    # Tests never read or fill the user's decoded-audio cache, nor see the user's own takes,
    # marked clips and fine-tuned models (a test that needs a data folder sets its own).
    os.environ[CACHE_DIR] = str(tmp_path_factory.mktemp("kws-cache"))
    os.environ[USER_DATA] = str(tmp_path_factory.mktemp("kws-user-data"))


def json_lines(stdout: str) -> list:
    """A --json command's stdout, every line parsed: with --json stdout carries only JSON, one
    object per line (issue 20), so a line of human text fails here."""
    import json

    return [json.loads(line) for line in stdout.splitlines()]


def rt60_t20(h: np.ndarray, rate: int = 16000) -> float:
    """A room response's reverberation time: Schroeder backward integration, the -5 to -25 dB
    slope extrapolated to -60 dB (T20)."""
    edc = np.cumsum(h[::-1] ** 2)[::-1]
    db = 10 * np.log10(edc / edc[0] + 1e-30)
    return 3.0 * (np.argmax(db <= -25) - np.argmax(db <= -5)) / rate


def tone(freq, seconds=1.0, rate=16000, level=0.3):
    t = np.arange(int(seconds * rate)) / rate
    return (level * np.sin(2 * np.pi * freq * t)).astype(np.float32)


# A word's chirp depends on the word, not on its place in a folder's word list: a fine-tuning
# test's user data ("lights") must not sound like a base-data command ("up").
CHIRP_WORDS = COMMANDS + ("bed", "cat", "lights")


def kept_model_val_loss(data_dir: str, out: str) -> float:
    """The validation loss of the model kept in ``out`` (trained on ``data_dir`` with the default
    features, seed and label smoothing), computed as training logs it."""
    import keras

    from kwstrain import pipeline as P
    from kwstrain.train import TrainConfig, prepare_data

    cfg = TrainConfig(data_dir=data_dir, out=out)
    spec, decoded, noise, _ = prepare_data(cfg)
    model = keras.models.load_model(os.path.join(out, "model.keras"), compile=False)
    loss = keras.losses.CategoricalCrossentropy(label_smoothing=cfg.label_smoothing)
    total, n = 0.0, 0
    for f, y in P.make_dataset(decoded["validation"], cfg.features, 16, False, noise, seed=cfg.seed):
        total += float(loss(keras.ops.one_hot(y, len(spec.labels)), model(f, training=False))) * len(y)
        n += len(y)
    return total / n


def make_tiny_dataset(root, words=COMMANDS + ("bed", "cat"), speakers=6, per_speaker=1, seed=0,
                      lists=True) -> str:
    """A standard-layout folder of synthetic 'words' (a distinct chirp per word), speakers
    with hex ids, background noise and validation/testing lists."""
    rng = np.random.default_rng(seed)
    os.makedirs(root, exist_ok=True)
    spk = [f"{rng.integers(0, 2**32):08x}" for _ in range(speakers)]
    val, test = [], []
    for w in words:
        os.makedirs(os.path.join(root, w), exist_ok=True)
        f0 = 200 + 120 * CHIRP_WORDS.index(w)
        for si, s in enumerate(spk):
            for k in range(per_speaker):
                x = tone(f0, 0.5, level=0.2 + 0.1 * rng.random()) + tone(f0 * 2.5, 0.5, level=0.1)
                clip = np.zeros(16000, np.float32)
                start = int(rng.integers(2000, 7000))
                clip[start : start + len(x)] = x
                clip += 0.003 * rng.standard_normal(16000).astype(np.float32)
                name = f"{s}_nohash_{k}.wav"
                write_wav(os.path.join(root, w, name), clip)
                if si == 0:
                    val.append(f"{w}/{name}")
                elif si == 1:
                    test.append(f"{w}/{name}")
    os.makedirs(os.path.join(root, "_background_noise_"), exist_ok=True)
    write_wav(os.path.join(root, "_background_noise_", "noise.wav"),
              (0.1 * rng.standard_normal(16000 * 5)).astype(np.float32))
    if lists:
        with open(os.path.join(root, "validation_list.txt"), "w") as f:
            f.write("\n".join(val) + "\n")
        with open(os.path.join(root, "testing_list.txt"), "w") as f:
            f.write("\n".join(test) + "\n")
    return root


@pytest.fixture
def tiny_dataset(tmp_path) -> str:
    return make_tiny_dataset(str(tmp_path / "tiny"))


def copy_model(model_dir: str, dest: str, **config) -> str:
    """A copy of a model folder with ``config`` keys set in its config.json."""
    import json
    import shutil

    shutil.copytree(model_dir, dest)
    path = os.path.join(dest, "config.json")
    with open(path) as f:
        d = json.load(f)
    d.update(config)
    with open(path, "w") as f:
        json.dump(d, f)
    return dest


def kws_train_here(capsys, *args) -> tuple[int, str]:
    """``kws-train ARGS`` in the test process (its main(), exit status and stderr) without starting
    Python and TensorFlow again: for errors the command reports before any training."""
    from kwstrain.cli import main

    rc = main(list(args))
    return rc, capsys.readouterr().err


def clips_heard(data_dir: str, model_dir: str, words, per_word: int = 1, split: str = "testing",
                rates=(16000,), tries: int = 8) -> list:
    """The first ``per_word`` clips (by path) of each word that the bundled model detects as that
    word alone, at every rate in ``rates``: plumbing tests play real clips through the model, and a
    model swap should not turn them into accuracy tests of one clip."""
    from kwsapp.core.detector import Detector
    from kwsapp.core.wavio import resample
    from kwstrain.streamtest import pick_clips, sequence_stream

    det, out = Detector(model_dir), []
    for w in words:
        got = [c for c in pick_clips(data_dir, split, words=(w,), per_word=tries)
               if all([d.label for d in det.run_offline(resample(resample(
                   sequence_stream([c], gap_s=1.2, noise=0.0)[0], 16000, r), r, 16000))] == [w] for r in rates)]
        assert len(got) >= per_word, f"fewer than {per_word} of the first {tries} {w!r} clips are heard"
        out += got[:per_word]
    return out

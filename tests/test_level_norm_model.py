"""A model trained with --level-norm window hears a word the same at any level, in both runtimes."""
import subprocess
import sys

import numpy as np
import pytest

from kwsapp.core.model import read_config
from kwsapp.core.recognizer import Recognizer
from kwsapp.core.wavio import load_audio
from tests.conftest import ROOT, make_tiny_dataset


@pytest.fixture(scope="module")
def level_model(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("levelnorm")
    data = make_tiny_dataset(str(tmp / "data"))
    out = str(tmp / "model")
    p = subprocess.run([sys.executable, "-m", "kwstrain", "train", "--data-dir", data, "--epochs", "1",
                        "--batch-size", "16", "--quiet", "--level-norm", "window", "--level-db=-30,0",
                        "--out", out], capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert p.returncode == 0, p.stderr[-2000:]
    return data, out


def test_the_model_folder_keeps_the_front_end_and_the_augmentation(level_model):
    import json
    import os

    _, out = level_model
    assert read_config(out).features.level_norm == "window"
    info = json.load(open(os.path.join(out, "train_info.json")))["info"]
    assert (info["config"]["augment"]["level_low_db"], info["config"]["augment"]["level_high_db"]) == (-30.0, 0.0)


@pytest.mark.parametrize("backend", ["tflite", "keras"])
def test_scores_do_not_depend_on_the_input_level(level_model, backend):
    import glob

    data, out = level_model
    rec = Recognizer(out, backend)
    rng = np.random.default_rng(0)
    for path in sorted(glob.glob(f"{data}/yes/*.wav"))[:2] + sorted(glob.glob(f"{data}/go/*.wav"))[:1]:
        x = load_audio(path) + rng.normal(0, 2e-3, 16000).astype(np.float32)  # over a room's noise
        _, near = rec(x)
        _, far = rec(x * 10 ** (-30 / 20))
        # The same window 30 dB quieter: equal but for log(x + 1e-6) in the quietest bands.
        np.testing.assert_allclose(far, near, atol=0.02)

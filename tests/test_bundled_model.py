"""Regression guard for the shipped model (the full figures live in BENCHMARKS.md)."""
import json
import os

from kwsapp.core.model import read_config
from kwstrain.dataset import LABELS
from kwstrain.evaluate import evaluate


def test_bundled_model_meets_its_95_percent_target_on_the_shared_test_list(model_dir, data_dir):
    r = evaluate(model_dir, data_dir, split="testing", backend="tflite")
    assert r["n"] >= 300
    # Target 95 % (it scores 96.7 %, README), less two clips for clips whose top two scores are
    # within float rounding of each other on another CPU.
    assert r["accuracy"] >= 0.95 - 2 / r["n"], r["per_class"]
    # what the app runs (TFLite) scores what the trainer recorded (Keras) on the same list
    recorded = json.load(open(os.path.join(model_dir, "metrics.json")))["test"]
    if recorded["n"] == r["n"]:
        assert abs(recorded["accuracy"] - r["accuracy"]) <= 1.5 / r["n"]


def test_bundled_model_config_is_what_the_app_expects(model_dir):
    cfg = read_config(model_dir)
    assert cfg.labels == LABELS
    assert cfg.features.sample_rate == 16000 and cfg.features.clip_samples == 16000
    assert os.path.exists(os.path.join(model_dir, "README.md"))
    assert "kws-train train" in open(os.path.join(model_dir, "README.md")).read()


def test_bundled_model_rarely_fires_on_running_speech(data_dir, model_dir, capsys):
    # The shared eval speech (17.6 min, no command word): at most 10 false alarms per hour at the
    # model's own setting (it gives 2 in 17.6 min, 6.8 per hour, BENCHMARKS.md); the round-4 model
    # gave 30 (102 per hour), so a model that has not learned running speech fails here.
    from kwstrain.cli import main

    speech = os.path.join(os.path.dirname(data_dir), "continuous_speech", "eval_list.txt")
    assert os.path.exists(speech), f"{speech} missing: the shared continuous speech sits beside the data folder"
    assert main(["falsealarms", "--model", model_dir, "--data-dir", data_dir, "--streams", "0",
                 "--sweep", "0.6", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["speech_files"] == 106 and r["speech_hours"] > 0.29
    assert r["per_hour"] <= 10, r["per_word"]

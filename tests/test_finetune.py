"""kws-train finetune: new labels, a loadable model, the source untouched, cancel leaves nothing."""
import hashlib
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from kwsapp.core.model import Classifier, read_config
from kwstrain import dataset as D
from kwstrain.finetune import base_augment, parse_labels, split_holdout, user_clips
from tests.conftest import ROOT, json_lines, make_tiny_dataset


def _digest(folder):
    h = hashlib.sha1()
    for n in sorted(os.listdir(folder)):
        with open(os.path.join(folder, n), "rb") as f:
            h.update(n.encode() + f.read())
    return h.hexdigest()


def _run(*args):
    return subprocess.Popen([sys.executable, "-m", "kwstrain", "finetune", *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ft")
    base = make_tiny_dataset(str(tmp / "base"), speakers=5)
    # Twelve takes a word (four speakers, three each): enough for a few epochs to learn "lights"
    # and to hold out two takes of every word.
    user = make_tiny_dataset(str(tmp / "user"), words=("yes", "no", "lights", "bed"), speakers=4, per_speaker=3,
                             seed=9, lists=False)
    return tmp, base, user


def test_finetune_to_a_new_word(folders, model_dir):
    tmp, base, user = folders
    before = _digest(model_dir)
    out = tmp / "mine"
    labels = "yes,no,up,down,left,right,on,off,stop,lights"
    p = _run("--model", model_dir, "--user-data", user, "--data-dir", base, "--out", str(out),
             "--labels", labels, "--epochs", "4", "--batch-size", "16", "--quiet", "--json")
    stdout, stderr = p.communicate(timeout=600)
    assert p.returncode == 0, stderr[-2000:]
    [report] = json_lines(stdout)  # training progress went to stderr
    cfg = read_config(str(out))
    assert cfg.labels == ("_silence_", "_unknown_") + tuple(labels.split(","))
    # No validation streams of the user's voice: the base model's tuned smoothing carries over.
    assert cfg.detection_threshold == read_config(model_dir).detection_threshold is not None
    assert cfg.average_window_ms == read_config(model_dir).average_window_ms is not None
    assert report["held_out_takes"] == 8 and report["before"]["n"] == 8 and report["after"]["n"] == 8
    # the old model cannot know "lights": its held-out takes are wrong before fine-tuning...
    assert report["before"]["per_class"]["lights"] == 0.0
    # ...and the fine-tuned one has learnt it (4 epochs reach 8 of 8 here; chance among the four
    # words held out is 0.25): at most one of the eight held-out takes may be missed.
    assert report["after"]["accuracy"] >= 7 / 8, report["after"]
    assert report["after"]["per_class"]["lights"] >= 0.5, report["after"]
    probs = Classifier(str(out)).predict(np.zeros((1, 98, 40), np.float32) - 10)
    assert probs.shape == (1, 12) and abs(probs.sum() - 1) < 1e-4
    # it trained in the base model's rooms, levels and microphones (not the trainer's defaults)
    with open(os.path.join(model_dir, "train_info.json")) as f:
        base_aug = json.load(f)["info"]["config"]["augment"]
    with open(os.path.join(out, "train_info.json")) as f:
        aug = json.load(f)["info"]["config"]["augment"]
    assert base_aug["reverb"] > 0 and base_aug["level_low_db"] < 0  # the bundled model's recipe has them
    assert {k: aug[k] for k in ("reverb", "reverb_drr_db", "band_limit", "level_low_db", "time_shift_ms")} == \
        {k: base_aug[k] for k in ("reverb", "reverb_drr_db", "band_limit", "level_low_db", "time_shift_ms")}
    assert aug["reverb_rooms"] == 0.0
    assert _digest(model_dir) == before
    assert not [n for n in os.listdir(tmp) if ".partial-" in n]


def test_base_augment_reads_the_models_recipe_and_defaults_without_one(tmp_path):
    from kwstrain.pipeline import AugmentConfig

    assert base_augment(str(tmp_path)) == AugmentConfig()  # no train_info.json: the trainer's default
    saved = {"reverb": 0.3, "reverb_rt60_s": [0.15, 1.2], "reverb_rooms": 0.5, "level_low_db": -40.0,
             "an_option_of_a_future_trainer": 1}
    (tmp_path / "train_info.json").write_text(json.dumps({"info": {"config": {"augment": saved}}}))
    aug = base_augment(str(tmp_path))
    assert aug.reverb == 0.3 and aug.reverb_rt60_s == (0.15, 1.2) and aug.level_low_db == -40.0
    assert aug.reverb_rooms == 0.0  # tails only: the image-source bank takes 40 s to draw
    assert aug.band_limit == AugmentConfig().band_limit  # not saved: the default
    (tmp_path / "train_info.json").write_text("{not json")
    assert base_augment(str(tmp_path)) == AugmentConfig()


def test_cancelled_finetune_leaves_nothing(folders, model_dir):
    tmp, base, user = folders
    out = tmp / "cancelled"
    p = _run("--model", model_dir, "--user-data", user, "--data-dir", base, "--out", str(out),
             "--epochs", "50", "--batch-size", "16", "--quiet")
    deadline = time.time() + 300
    while time.time() < deadline and not [n for n in os.listdir(tmp) if n.startswith("cancelled.partial-")]:
        assert p.poll() is None, p.communicate()[1][-2000:]
        time.sleep(0.2)
    time.sleep(1.0)  # mid-training
    p.send_signal(signal.SIGTERM)
    _, stderr = p.communicate(timeout=120)
    assert p.returncode != 0 and "Traceback" not in stderr
    assert not out.exists()
    assert not [n for n in os.listdir(tmp) if n.startswith("cancelled.partial-")]


def test_refuses_to_overwrite_the_source_or_bundled_model(folders, model_dir, capsys):
    from kwstrain.cli import main

    tmp, base, user = folders
    before = _digest(model_dir)
    # In this process (main() is what the command runs): no TensorFlow start-up for a refusal.
    rc = main(["finetune", "--model", model_dir, "--user-data", user, "--data-dir", base, "--out", model_dir])
    stderr = capsys.readouterr().err
    assert rc == 2 and "would overwrite" in stderr and "Traceback" not in stderr
    assert _digest(model_dir) == before


def test_labels_holdout_and_user_clips(folders):
    _, _, user = folders
    assert parse_labels(None, D.LABELS) == D.COMMANDS
    assert parse_labels("Yes, lights", D.LABELS) == ("yes", "lights")
    with pytest.raises(Exception, match="distinct plain words"):
        parse_labels("yes,yes", D.LABELS)
    clips = user_clips(user, ("yes", "no", "lights"))
    assert {c.label for c in clips if c.word == "bed"} == {D.UNKNOWN}
    train, held = split_holdout(clips, 0.25, seed=1)
    assert len(held) == 4 * 3 and {c.word for c in held} == {"yes", "no", "lights", "bed"}  # 3 of 12 a word
    assert not {c.path for c in train} & {c.path for c in held}
    assert split_holdout(clips, 0.25, seed=1) == (train, held)


def test_progress_json_reports_each_epoch_as_its_history_row_lands(tmp_path):
    """--progress json's epoch events come from the rows training appends to history.csv (a
    row half-written is not read yet); the last row still comes when training returns."""
    import argparse

    from kwstrain.finetune import EpochWatch, add_parser

    sub = argparse.ArgumentParser().add_subparsers()
    add_parser(sub)
    args = sub.choices["finetune"].parse_args(["--user-data", "u", "--out", "o", "--progress", "json"])
    assert args.progress == "json"
    path = tmp_path / "history.csv"
    events = []
    watch = EpochWatch(str(path), 3, events.append)
    watch.poll()  # no file yet: no epoch has ended
    path.write_text("epoch,accuracy,loss,val_accuracy,val_loss\n0,0.5,1.2,0.61,1.0\n1,0.7,0.9,0.")
    watch.poll()
    assert events == [{"event": "epoch", "epoch": 1, "epochs": 3, "val_accuracy": 0.61, "accuracy": 0.5,
                       "val_loss": 1.0, "loss": 1.2}]
    with watch:  # the thread, as during training
        with open(path, "a") as f:
            f.write("72,0.8\n")
            f.flush()
            deadline = time.monotonic() + 5
            while len(events) < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
            f.write("2,0.9,0.5,0.8,0.6\n")  # the last epoch ends just before training returns
    assert [(e["epoch"], e["val_accuracy"]) for e in events] == [(1, 0.61), (2, 0.72), (3, 0.8)]

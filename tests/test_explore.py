"""`kws-train explore`: counts, speakers, lengths and example features of a dataset folder."""
from __future__ import annotations

import contextlib
import io
import os
import re

import numpy as np
import pytest
from conftest import make_tiny_dataset, tone

from kwsapp.core import features as F
from kwsapp.core.wavio import write_wav
from kwstrain import explore as E
from kwstrain.cli import main
from kwstrain.dataset import COMMANDS

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _table_row(report: str, first_cell: str) -> list[str]:
    m = re.search(rf"^\| {re.escape(first_cell)} \|(.*)\|$", report, re.M)
    assert m, f"no table row for {first_cell!r}"
    return [c.strip() for c in m.group(1).split("|")]


def _is_png(path) -> bool:
    with open(path, "rb") as f:
        return f.read(8) == PNG_MAGIC


@pytest.fixture(scope="module")
def explored(tmp_path_factory):
    """A tiny standard folder with one short clip and one broken file, explored once."""
    root = tmp_path_factory.mktemp("explore")
    data = make_tiny_dataset(str(root / "data"))  # 6 speakers: #0 validation, #1 testing, 4 training
    write_wav(os.path.join(data, "bed", "0badc0de_nohash_0.wav"), tone(300, 0.5))  # 8000 samples
    with open(os.path.join(data, "cat", "deadbeef_nohash_0.wav"), "wb") as f:
        f.write(b"RIFF not really")
    out = str(root / "report")
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        rc = main(["explore", "--data-dir", data, "--out", out])
    return data, out, rc, stdout.getvalue()


def test_report_counts_match_the_folder(explored):
    data, out, rc, _ = explored
    assert rc == 0
    report = open(os.path.join(out, "report.md")).read()
    n_wavs = sum(len([n for n in os.listdir(os.path.join(data, d)) if n.endswith(".wav")])
                 for d in os.listdir(data) if os.path.isdir(os.path.join(data, d)) and d != "_background_noise_")
    # per-label counts per split: speaker #0 is in the validation list, #1 in the testing list
    assert _table_row(report, "yes")[:3] == ["4", "1", "1"]
    # unknown = bed + cat (6 each) + the short bed clip + the broken cat file, both of new training speakers
    assert _table_row(report, "_unknown_")[:3] == ["10", "2", "2"]
    total = sum(int(c) for c in _table_row(report, "**total**")[:3])
    assert total == n_wavs
    assert _table_row(report, "training") == ["6"]  # 4 speakers + 0badc0de + deadbeef
    assert _table_row(report, "validation") == ["1"]
    assert "**1** of" in report and "shorter than one second" in report  # only the 0.5 s clip
    assert "**1 unreadable file(s)**" in report and "deadbeef_nohash_0.wav" in report
    assert "Speakers found in more than one split: **0**" in report


def test_pngs_are_written_and_linked(explored):
    _, out, _, _ = explored
    report = open(os.path.join(out, "report.md")).read()
    for name in ["labels", "words", "speakers", "lengths", "background"] + [f"example_{w}" for w in COMMANDS]:
        path = os.path.join(out, f"{name}.png")
        assert _is_png(path), name
        assert f"({name}.png)" in report


def test_lengths_describe_the_short_clip(explored):
    _, out, _, _ = explored
    report = open(os.path.join(out, "report.md")).read()
    lengths = report[report.index("## Clip lengths"):report.index("## Background")]
    assert _table_row(lengths, "count") == ["73", "1"]  # 74 clips minus the broken one; one short
    assert _table_row(lengths, "min") == ["8000.0", "8000.0"]
    assert _table_row(lengths, "max") == ["16000.0", "8000.0"]


def test_speakers_in_two_splits_are_counted(tmp_path):
    data = make_tiny_dataset(str(tmp_path / "d"))
    assert E.inventory(data).speakers_in_several_splits() == 0
    listed = open(os.path.join(data, "validation_list.txt")).read() + open(os.path.join(data, "testing_list.txt")).read()
    train_clip = next(f"no/{n}" for n in sorted(os.listdir(os.path.join(data, "no"))) if f"no/{n}" not in listed)
    with open(os.path.join(data, "validation_list.txt"), "a") as f:  # a training speaker's clip now validates
        f.write(train_clip + "\n")
    assert E.inventory(data).speakers_in_several_splits() == 1


def test_summary_line(explored):
    lines = explored[3].strip().splitlines()
    assert "standard layout" in lines[0] and "training 6, validation 1, testing 1" in lines[0]
    assert lines[1].startswith("1 clip(s) shorter than 1 s; 1 background-noise files; 1 unreadable")
    assert lines[2].startswith("wrote ") and "15 PNGs" in lines[2]


def test_test_set_layout(tmp_path, capsys):
    root = tmp_path / "test_set"
    for label, n in (("_silence_", 2), ("_unknown_", 3), ("yes", 2), ("no", 2)):
        os.makedirs(root / label)
        for k in range(n):
            write_wav(str(root / label / f"{k:08x}_nohash_{k}.wav"), tone(200 + 50 * k, 1.0))
    out = str(tmp_path / "r")
    assert main(["explore", "--data-dir", str(root), "--out", out]) == 0
    report = open(os.path.join(out, "report.md")).read()
    assert "Layout: **test-set**" in report
    assert _table_row(report, "_unknown_") == ["3"]  # one column: every clip is test data
    assert "No `_background_noise_/` folder" in report
    assert sorted(n for n in os.listdir(out) if n.startswith("example_")) == ["example_no.png", "example_yes.png"]
    assert "test-set layout" in capsys.readouterr().out


def test_examples_use_the_model_feature_code():
    cfg = F.FeatureConfig()
    x = tone(440, 1.0) + tone(1500, 1.0, level=0.05)
    feats = E.example_features(x, cfg)
    np.testing.assert_allclose(feats["logmel"], F.compute_features(x, F.FeatureConfig(kind="logmel")), atol=1e-5)
    np.testing.assert_allclose(feats["mfcc"], F.compute_features(x, F.FeatureConfig(kind="mfcc")), atol=1e-4)
    np.testing.assert_allclose(feats["spectrogram"], F.compute_features(x, F.FeatureConfig(kind="spectrogram")),
                               atol=1e-4)
    assert feats["mfcc"].shape == F.FeatureConfig(kind="mfcc").shape


def test_describe_matches_pandas_convention():
    d = E.describe([1, 2, 3, 4, 10])
    assert d["count"] == 5 and d["min"] == 1 and d["max"] == 10
    assert d["mean"] == pytest.approx(4.0)
    assert d["std"] == pytest.approx(np.std([1, 2, 3, 4, 10], ddof=1))  # sample std, as pandas
    assert (d["25%"], d["50%"], d["75%"]) == (2.0, 3.0, 4.0)
    assert E.describe([]) == {"count": 0}


def test_missing_folder_is_one_line_error(tmp_path, capsys):
    assert main(["explore", "--data-dir", str(tmp_path / "nope"), "--out", str(tmp_path / "r")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no such data folder" in err[0]

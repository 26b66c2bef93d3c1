"""`kws-train compare`: the study rerun on a tiny synthetic dataset (1 epoch)."""
from __future__ import annotations

import json
import os

import pytest

from conftest import make_tiny_dataset
from trainer import compare
from trainer.cli import main

# Batch 8 on 3 speakers: one small step per epoch keeps the 14 runs quick.
ARGS = ["--epochs", "1", "--batch-size", "8", "--curve-epochs", "2", "--dropouts", "0.4,0.6", "--quiet"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    data = make_tiny_dataset(str(tmp_path_factory.mktemp("data") / "tiny"), speakers=3)
    out = str(tmp_path_factory.mktemp("reports"))
    rc = main(["compare", "--data-dir", data, "--out", out] + ARGS)
    assert rc == 0
    return data, out


def _load(out):
    with open(os.path.join(out, "study.json")) as f:
        return json.load(f)


def _settings(data):
    return compare.StudySettings(data_dir=data, epochs=1, batch_size=8, curve_epochs=2, dropouts=(0.4, 0.6))


def test_full_report_has_every_cell_and_chart(study):
    data, out = study
    s = _settings(data)
    report = _load(out)
    results = report["results"]
    runs = compare.main_runs(s) + compare.dropout_runs(s) + [compare.curve_run(results, s)]
    assert len(compare.main_runs(s)) == 12  # 3 study models + vgg_small, 3 features each
    for r in runs:
        rec = results[r.key]
        for k in ("train_accuracy", "val_accuracy", "test_accuracy"):
            assert 0.0 <= rec[k] <= 1.0
        assert rec["params"] > 0 and rec["macs"] > 0 and rec["infer_ms"] > 0 and rec["fit_time_s"] > 0
        assert rec["n_test"] > 0 and len(rec["history"]["val_accuracy"]) == r.epochs
    curve = compare.curve_run(results, s)
    assert curve.model in compare.STUDY_MODELS and curve.epochs == 2
    # The study's three models keep its parameter counts despite the resized input.
    for m, n in compare.PUBLISHED_PARAMS.items():
        for f in compare.FEATURES:
            assert results[f"{m}/{f}/e1/d{compare.STUDY_DROPOUT[m]:g}"]["params"] == n
    md = open(os.path.join(out, "study.md")).read()
    assert compare.PENDING not in md
    assert "{" not in md and "}" not in md  # every placeholder filled in
    curve_rec = results[curve.key]
    assert f"Test accuracy of the kept epoch ({curve_rec['best_epoch']}): " in md
    # Test table, custom VGG row: ours beside the study's 0.8824 in the mel columns.
    test_section = md.split("## Accuracy on testing set")[1].split("##")[0]
    row = next(line for line in test_section.splitlines() if line.startswith("| custom_vgg"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[3:5] == [f"{results['custom_vgg/logmel/e1/d0.4']['test_accuracy']:.4f}", "0.8824"]
    vgg_small = next(line for line in test_section.splitlines() if line.startswith("| vgg_small"))
    assert vgg_small.count("not in study") == 3
    for name in ("study_accuracy.png", "study_epochs.png", "study_dropout.png"):
        with open(os.path.join(out, name), "rb") as f:
            assert f.read(8) == PNG_MAGIC, name


def test_rerun_trains_only_missing_runs(study, monkeypatch):
    data, out = study
    path = os.path.join(out, "study.json")
    report = _load(out)
    gone = "stacked_fc/mfcc/e1/d0.2"
    kept = {k: v["finished_at"] for k, v in report["results"].items() if k != gone}
    del report["results"][gone]
    with open(path, "w") as f:
        json.dump(report, f)
    calls = []
    real_train = compare.train

    def counting(cfg):
        calls.append((cfg.model, cfg.features.kind, cfg.epochs, cfg.dropout))
        return real_train(cfg)

    monkeypatch.setattr(compare, "train", counting)
    assert main(["compare", "--data-dir", data, "--out", out] + ARGS) == 0
    assert calls == [("stacked_fc", "mfcc", 1, 0.2)]
    after = _load(out)["results"]
    assert gone in after
    assert {k: after[k]["finished_at"] for k in kept} == kept
    assert compare.PENDING not in open(os.path.join(out, "study.md")).read()


def test_force_retrains_finished_runs(study, monkeypatch, capsys):
    data, out = study

    def refuse(cfg):
        raise compare.KwsError(f"would train {cfg.model}")

    monkeypatch.setattr(compare, "train", refuse)
    assert main(["compare", "--data-dir", data, "--out", out, "--stages", "main"] + ARGS) == 0
    assert main(["compare", "--data-dir", data, "--out", out, "--stages", "main", "--force"] + ARGS) == 1
    assert "would train stacked_fc" in capsys.readouterr().err


def test_changed_settings_are_not_reused(study):
    data, out = study
    report = _load(out)
    run = compare.main_runs(_settings(data))[0]
    assert compare.is_done(report, run, _settings(data))
    other = compare.StudySettings(data_dir=data, epochs=1, batch_size=32, curve_epochs=2, dropouts=(0.4, 0.6))
    assert not compare.is_done(report, run, other)


def test_report_only_redraws_from_json(study, tmp_path):
    data, out = study
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "study.json").write_text(open(os.path.join(out, "study.json")).read())
    assert main(["compare", "--data-dir", data, "--out", str(copy), "--report-only"] + ARGS) == 0
    redrawn = (copy / "study.md").read_text().replace(str(copy), out)
    assert redrawn == open(os.path.join(out, "study.md")).read()
    assert (copy / "study_dropout.png").read_bytes()[:8] == PNG_MAGIC


@pytest.mark.parametrize("extra, message, status", [
    (["--data-dir", "/nonexistent/speech"], "no such data folder", 1),  # runtime: the folder is missing
    (["--dropouts", "0.2,x"], "--dropouts", 2),  # usage: the option values are wrong
    (["--stages", "main,tables"], "--stages", 2),
    (["--epochs", "0"], "--epochs must be at least 1", 2),
])
def test_bad_input_is_one_line(tmp_path, capsys, extra, message, status):
    args = ["compare", "--data-dir", str(tmp_path), "--out", str(tmp_path / "r")] + extra
    assert main(args) == status
    err = capsys.readouterr().err.strip()
    assert err.startswith("kws-train: error:") and message in err and "\n" not in err


def test_corrupt_results_file_is_reported(tmp_path, capsys):
    out = tmp_path / "r"
    out.mkdir()
    (out / "study.json").write_text("{not json")
    assert main(["compare", "--data-dir", str(tmp_path), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "not a compare report" in err and "study.json" in err


def test_results_of_an_older_network_revision_are_not_reused(study, monkeypatch):
    data, out = study
    report = _load(out)
    s = _settings(data)
    run = next(r for r in compare.main_runs(s) if r.model == "vgg_small")
    assert compare.is_done(report, run, s)
    from trainer.models import REVISION

    assert report["results"][run.key]["model_revision"] == REVISION["vgg_small"]
    monkeypatch.setitem(REVISION, "vgg_small", REVISION["vgg_small"] + 1)
    assert not compare.is_done(report, run, s)  # vgg_small changed: its row is pending again
    other = next(r for r in compare.main_runs(s) if r.model == "stacked_fc")
    assert compare.is_done(report, other, s)  # unchanged networks keep theirs

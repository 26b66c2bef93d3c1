"""`kws-train compare`: the study rerun on a tiny synthetic dataset. The orchestration (which runs,
in which order, what is reused, the report) runs on a stand-in for one run's training; one real
run checks what a run records; the study models' sizes are checked by building them."""
from __future__ import annotations

import hashlib
import json
import os

import pytest
from conftest import make_tiny_dataset

from kwstrain import compare, models
from kwstrain.cli import main

# Batch 8 on 3 speakers: one small step per epoch keeps the real run quick.
ARGS = ["--epochs", "1", "--batch-size", "8", "--curve-epochs", "2", "--dropouts", "0.4,0.6", "--quiet"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _stand_in(run, s, model_dir, verbose):
    """A run's record without training (14 real tiny trainings cost over 3 minutes of the suite):
    accuracies drawn from the run's key, so the best pair is known and differs between keys."""
    h = hashlib.sha1(run.key.encode()).digest()
    val, test = 0.5 + h[0] / 600, 0.5 + h[1] / 600
    return {"model": run.model, "feature": run.feature, "epochs": run.epochs, "dropout": run.dropout,
            "settings": s.fingerprint(), "model_revision": compare._revision(run.model),
            "input_shape": [98, 40], "params": 1000 + h[2], "macs": 10_000 + h[3], "train_accuracy": 0.9,
            "val_accuracy": val, "test_accuracy": test, "best_epoch": run.epochs, "n_train": 100, "n_val": 13,
            "n_test": 13, "fit_time_s": 1.0, "train_time_s": 2.0, "wall_s": 3.0, "infer_ms": 0.5,
            "history": {k: [0.5] * run.epochs for k in ("loss", "accuracy", "val_loss", "val_accuracy")},
            "finished_at": f"2026-01-01T00:00:{h[4] % 60:02d}+00:00"}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_tiny_dataset(str(tmp_path_factory.mktemp("data") / "tiny"), speakers=3)


def _recording(mp) -> list:
    """Replace run_one by the stand-in; the returned list fills with the keys of the runs made."""
    calls = []

    def recording(run, s, model_dir, verbose):
        calls.append(run.key)
        return _stand_in(run, s, model_dir, verbose)

    mp.setattr(compare, "run_one", recording)
    return calls


@pytest.fixture(scope="module")
def study(data, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("reports"))
    with pytest.MonkeyPatch.context() as mp:
        calls = _recording(mp)
        assert main(["compare", "--data-dir", data, "--out", out] + ARGS) == 0
    return data, out, calls


@pytest.fixture
def stand_in(monkeypatch):
    return _recording(monkeypatch)


def _load(out):
    with open(os.path.join(out, "study.json")) as f:
        return json.load(f)


def _settings(data):
    return compare.StudySettings(data_dir=data, epochs=1, batch_size=8, curve_epochs=2, dropouts=(0.4, 0.6))


def test_full_report_has_every_cell_and_chart(study):
    data, out, calls = study
    s = _settings(data)
    report = _load(out)
    results = report["results"]
    curve = compare.curve_run(results, s)
    runs = compare.main_runs(s) + [curve] + compare.dropout_runs(s)
    assert len(compare.main_runs(s)) == 12  # 3 study models + vgg_small, 3 features each
    # Each distinct run once: the main table, the curve, the sweep (its 0.4 is the main table's).
    assert calls == list(dict.fromkeys(r.key for r in runs))
    assert len(calls) == 14 and set(results) == set(calls)
    # The curve is the study pair with the best validation accuracy, trained curve_epochs long.
    study_pairs = [r for r in compare.main_runs(s) if r.model in compare.STUDY_MODELS]
    best = max(study_pairs, key=lambda r: results[r.key]["val_accuracy"])
    assert (curve.model, curve.feature, curve.epochs) == (best.model, best.feature, 2)
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


def test_one_real_run_records_every_figure(data, tmp_path):
    s = _settings(data)
    run = compare.Run("stacked_fc", "mfcc", 2, 0.2)  # a study model on a resized input, two epochs
    rec = compare.run_one(run, s, str(tmp_path / "m"), 0)
    for k in ("train_accuracy", "val_accuracy", "test_accuracy"):
        assert 0.0 <= rec[k] <= 1.0
    assert rec["params"] == compare.PUBLISHED_PARAMS["stacked_fc"] and rec["macs"] > 0
    assert rec["infer_ms"] > 0 and rec["fit_time_s"] > 0 and rec["wall_s"] >= rec["train_time_s"] > 0
    assert rec["n_train"] > 0 and rec["n_val"] > 0 and rec["n_test"] > 0
    assert len(rec["history"]["val_accuracy"]) == 2 and 1 <= rec["best_epoch"] <= 2
    assert rec["settings"] == s.fingerprint() and rec["input_shape"] == [98, 13]
    assert compare.is_done({"results": {run.key: rec}}, run, s)


@pytest.mark.parametrize("model", sorted(compare.PUBLISHED_PARAMS))
@pytest.mark.parametrize("feature", compare.FEATURES)
def test_study_models_keep_the_published_size_on_every_feature(model, feature):
    # The study's models resize every feature to 98x98, so their size does not depend on it.
    from kwsapp.core.features import FeatureConfig

    m = models.build(model, FeatureConfig(kind=feature).shape, 12, compare.STUDY_DROPOUT[model])
    assert m.count_params() == compare.PUBLISHED_PARAMS[model]


def test_rerun_trains_only_missing_runs(study, stand_in):
    data, out, _ = study
    path = os.path.join(out, "study.json")
    report = _load(out)
    gone = "stacked_fc/mfcc/e1/d0.2"
    kept = {k: v["finished_at"] for k, v in report["results"].items() if k != gone}
    del report["results"][gone]
    with open(path, "w") as f:
        json.dump(report, f)
    assert main(["compare", "--data-dir", data, "--out", out] + ARGS) == 0
    assert stand_in == [gone]
    after = _load(out)["results"]
    assert gone in after
    assert {k: after[k]["finished_at"] for k in kept} == kept
    assert compare.PENDING not in open(os.path.join(out, "study.md")).read()


def test_force_retrains_finished_runs(study, stand_in, tmp_path):
    data, out, _ = study
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "study.json").write_text(open(os.path.join(out, "study.json")).read())
    assert main(["compare", "--data-dir", data, "--out", str(copy), "--stages", "dropout"] + ARGS) == 0
    assert stand_in == []
    assert main(["compare", "--data-dir", data, "--out", str(copy), "--stages", "dropout", "--force"] + ARGS) == 0
    assert stand_in == [r.key for r in compare.dropout_runs(_settings(data))]


def test_changed_settings_are_not_reused(study):
    data, out, _ = study
    report = _load(out)
    run = compare.main_runs(_settings(data))[0]
    assert compare.is_done(report, run, _settings(data))
    other = compare.StudySettings(data_dir=data, epochs=1, batch_size=32, curve_epochs=2, dropouts=(0.4, 0.6))
    assert not compare.is_done(report, run, other)


def test_report_only_redraws_from_json(study, tmp_path):
    data, out, _ = study
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
    data, out, _ = study
    report = _load(out)
    s = _settings(data)
    run = next(r for r in compare.main_runs(s) if r.model == "vgg_small")
    assert compare.is_done(report, run, s)
    from kwstrain.models import REVISION

    assert report["results"][run.key]["model_revision"] == REVISION["vgg_small"]
    monkeypatch.setitem(REVISION, "vgg_small", REVISION["vgg_small"] + 1)
    assert not compare.is_done(report, run, s)  # vgg_small changed: its row is pending again
    other = next(r for r in compare.main_runs(s) if r.model == "stacked_fc")
    assert compare.is_done(report, other, s)  # unchanged networks keep theirs

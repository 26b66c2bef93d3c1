"""``kws-train compare``: rerun the original study beside its published figures.

The study (``original_study.md``) trained three models (stacked fully connected, simple
CNN, custom VGG) on three features (spectrogram, mel-spectrogram, MFCC) for 4 epochs,
batch 64, Adam, and published train / validation / test accuracy for the nine pairs; then
it looked at more epochs and at custom VGG's dropout (0.2-0.6). This command does the
same with this project's own trainer (``train.train``), models (``models.py``) and
evaluation (``evaluate.evaluate``), adds our ``vgg_small`` as a fourth row, and writes
``study.md``, ``study.json`` and PNG charts.

A full run takes hours on a small CPU, so every finished run is saved into
``study.json`` at once and a rerun skips the runs already there (``--force`` redoes
them). Runs are keyed by what defines them (model, feature, epochs, dropout), so the
dropout sweep reuses the main table's custom VGG run at the study's dropout.
"""
from __future__ import annotations

import datetime
import inspect
import json
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass

import numpy as np

from kwsapp.core.errors import KwsError, UsageError
from kwsapp.core.features import FeatureConfig

from . import dataset as D
from . import pipeline as P
from .evaluate import evaluate, evaluate_splits
from .train import TrainConfig, train

log = logging.getLogger(__name__)

FEATURES = ("spectrogram", "logmel", "mfcc")  # the study's column order
FEATURE_TITLES = {"spectrogram": "Spectrograms", "logmel": "Mel-Spectrograms", "mfcc": "MFCC"}
STUDY_MODELS = ("stacked_fc", "simple_cnn", "custom_vgg")
OUR_MODEL = "vgg_small"
ROWS = STUDY_MODELS + (OUR_MODEL,)
STUDY_NAMES = {"stacked_fc": "stacked_fc_model", "simple_cnn": "cnn_3l_model", "custom_vgg": "custom_vgg_model"}
SPLIT_TITLES = {"train": "training set", "validation": "validation set", "test": "testing set"}
RECORD_KEYS = {"train": "train_accuracy", "validation": "val_accuracy", "test": "test_accuracy"}

# The study's published accuracies ("Spectrograms vs Mel-Spectrograms vs MFCC"), in FEATURES order.
PUBLISHED = {
    "train": {"stacked_fc": (0.8777, 0.6688, 0.6758), "simple_cnn": (0.9697, 0.9411, 0.9274),
              "custom_vgg": (0.9466, 0.9499, 0.9454)},
    "validation": {"stacked_fc": (0.6967, 0.6270, 0.6332), "simple_cnn": (0.8366, 0.8573, 0.8468),
                   "custom_vgg": (0.8723, 0.8781, 0.8587)},
    "test": {"stacked_fc": (0.6817, 0.6226, 0.6338), "simple_cnn": (0.8389, 0.8447, 0.8434),
             "custom_vgg": (0.8739, 0.8824, 0.8668)},
}
# Parameter counts of the study's model summaries (98x98x1 input).
PUBLISHED_PARAMS = {"stacked_fc": 5_449_228, "simple_cnn": 17_464_004, "custom_vgg": 8_311_116}
# The study's final model: custom VGG, mel-spectrogram, dropout 0.5, 4 epochs.
PUBLISHED_FINAL_TEST = 0.8865
# Dropout in the study's model code, which produced its tables; custom VGG's final 0.5
# came afterwards, from the sweep (our builder defaults to that 0.5).
STUDY_DROPOUT = {"stacked_fc": 0.2, "simple_cnn": 0.35, "custom_vgg": 0.4}
SWEEP_MODEL, SWEEP_FEATURE = "custom_vgg", "logmel"  # the pair the study tuned
# The study's augmentation: time shift and background noise only (no gain, no SpecAugment).
STUDY_AUGMENT = P.AugmentConfig(gain_db=0.0, time_masks=0, freq_masks=0)
FULL_DATASET_CLIPS = 105_829  # speech_commands_v0.02
STUDY_DATASET_CLIPS = 65_000  # v0.01, as the study says
PENDING = "pending"
OUT_NAMES = {"json": "study.json", "md": "study.md", "accuracy": "study_accuracy.png",
             "curve": "study_epochs.png", "dropout": "study_dropout.png"}


@dataclass(frozen=True)
class StudySettings:
    data_dir: str
    epochs: int = 4
    batch_size: int = 64
    learning_rate: float = 1e-3  # Keras' Adam default, which the study used
    curve_epochs: int = 10
    dropouts: tuple[float, ...] = (0.2, 0.3, 0.4, 0.5, 0.6)
    seed: int = 1

    def fingerprint(self) -> dict:
        """What, besides a run's own key, must match for a saved result to be reused."""
        return {"data_dir": os.path.abspath(self.data_dir), "batch_size": self.batch_size,
                "learning_rate": self.learning_rate, "seed": self.seed, "protocol": 1}


@dataclass(frozen=True)
class Run:
    model: str
    feature: str
    epochs: int
    dropout: float

    @property
    def key(self) -> str:
        return f"{self.model}/{self.feature}/e{self.epochs}/d{self.dropout:g}"


def model_dropout(model: str) -> float:
    if model in STUDY_DROPOUT:
        return STUDY_DROPOUT[model]
    from .models import BUILDERS

    return float(inspect.signature(BUILDERS[model]).parameters["dropout"].default)


# ---- which runs make up the study -------------------------------------------------------

def main_runs(s: StudySettings) -> list[Run]:
    """The 4x3 table, cheapest models first so the table fills early; mel first per model."""
    order = ("stacked_fc", OUR_MODEL, "simple_cnn", "custom_vgg")
    return [Run(m, f, s.epochs, model_dropout(m)) for m in order for f in ("logmel", "spectrogram", "mfcc")]


def main_table(s: StudySettings) -> dict[tuple[str, str], Run]:
    return {(r.model, r.feature): r for r in main_runs(s)}


def best_pair(results: dict, s: StudySettings) -> Run | None:
    """The study pair with the best validation accuracy (test breaks ties), among those done."""
    done = [r for r in main_runs(s)
            if r.model in STUDY_MODELS and results.get(r.key, {}).get("settings") == s.fingerprint()]
    if not done:
        return None
    return max(done, key=lambda r: (results[r.key]["val_accuracy"], results[r.key]["test_accuracy"]))


def curve_run(results: dict, s: StudySettings) -> Run | None:
    best = best_pair(results, s)
    return None if best is None else Run(best.model, best.feature, s.curve_epochs, best.dropout)


def dropout_runs(s: StudySettings) -> list[Run]:
    return [Run(SWEEP_MODEL, SWEEP_FEATURE, s.epochs, d) for d in s.dropouts]


# ---- running one pair -------------------------------------------------------------------

def train_config(run: Run, s: StudySettings, out: str, verbose: int) -> TrainConfig:
    return TrainConfig(
        data_dir=s.data_dir, out=out, model=run.model, features=FeatureConfig(kind=run.feature),
        epochs=run.epochs, batch_size=s.batch_size, learning_rate=s.learning_rate,
        warmup_epochs=0.0, label_smoothing=0.0,  # the study: plain Adam, plain cross-entropy
        dropout=run.dropout, seed=s.seed, augment=STUDY_AUGMENT, verbose=verbose,
    )


def time_inference(model_dir: str, runs: int = 30, budget_s: float = 3.0) -> float:
    """Median milliseconds for one window, batch 1, as the app runs it (TFLite, 1 thread)."""
    from kwsapp.core.model import Classifier

    clf = Classifier(model_dir, backend="tflite")
    x = np.random.default_rng(0).standard_normal((1, *clf.config.features.shape)).astype(np.float32)
    for _ in range(3):
        clf.predict(x)
    times: list[float] = []
    stop = time.perf_counter() + budget_s
    while len(times) < runs and (len(times) < 5 or time.perf_counter() < stop):
        t = time.perf_counter()
        clf.predict(x)
        times.append(time.perf_counter() - t)
    return round(float(np.median(times)) * 1000, 2)


def run_one(run: Run, s: StudySettings, model_dir: str, verbose: int) -> dict:
    t0 = time.time()
    result = train(train_config(run, s, model_dir, verbose))
    info, history = result.info, result.history
    scores = evaluate_splits(model_dir, s.data_dir, ("validation", "testing"))
    val, test = scores["validation"], scores["testing"]
    infer_ms = time_inference(model_dir)
    return {
        "model": run.model, "feature": run.feature, "epochs": run.epochs, "dropout": run.dropout,
        "settings": s.fingerprint(), "model_revision": _revision(run.model),
        "input_shape": list(FeatureConfig(kind=run.feature).shape),
        "params": info["params"], "macs": info["macs"],
        # As the study's figures: Keras' running accuracy on augmented batches (dropout on),
        # here at the kept epoch.
        "train_accuracy": info["train_accuracy_at_best"],
        "val_accuracy": val["accuracy"], "test_accuracy": test["accuracy"],
        "best_epoch": info["best_epoch"],
        "n_train": info["n_train"], "n_val": val["n"], "n_test": test["n"],
        "fit_time_s": info["fit_time_s"], "train_time_s": info["train_time_s"],
        "wall_s": round(time.time() - t0, 1), "infer_ms": infer_ms,
        "history": history,
        "finished_at": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
    }


# ---- the results file -------------------------------------------------------------------

def load_report(path: str) -> dict:
    if not os.path.exists(path):
        return {"version": 1, "results": {}}
    try:
        with open(path) as f:
            data = json.load(f)
        if not isinstance(data, dict) or not isinstance(data.get("results"), dict):
            raise ValueError("no 'results' object")
    except (OSError, ValueError) as e:
        raise KwsError(f"{path} is not a compare report ({e}); move it away or pass another --out") from None
    return data


def save_entry(path: str, section: str, key: str | None, value) -> dict:
    """Re-read the file, set one entry, write it atomically: an interrupted run keeps all
    earlier results, and a concurrent --report-only never sees half a file."""
    data = load_report(path)
    if key is None:
        data[section] = value
    else:
        data.setdefault(section, {})[key] = value
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=1)
    os.replace(tmp, path)
    return data


def _revision(model: str) -> int:
    from .models import REVISION  # keras: imported only when needed, after the CLI silenced TF

    return REVISION.get(model, 1)


def is_done(data: dict, run: Run, s: StudySettings) -> bool:
    rec = data["results"].get(run.key)
    return (rec is not None and rec.get("settings") == s.fingerprint()
            and rec.get("model_revision", 1) == _revision(run.model))


def current(data: dict, run: Run | None, s: StudySettings) -> dict | None:
    """The saved record for ``run`` if it was made with these settings."""
    return data["results"][run.key] if run is not None and is_done(data, run, s) else None


# ---- the report -------------------------------------------------------------------------

def _acc(rec: dict | None, split: str) -> str:
    return PENDING if rec is None else f"{rec[RECORD_KEYS[split]]:.4f}"


def _fmt_s(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min" if seconds >= 3600 else \
        f"{seconds // 60} min {seconds % 60:02d} s"


def accuracy_table(data: dict, s: StudySettings, split: str) -> list[str]:
    head = "| Model / Input | " + " | ".join(f"{FEATURE_TITLES[f]} (ours) | study" for f in FEATURES) + " |"
    lines = [head, "|---" * (1 + 2 * len(FEATURES)) + "|"]
    table = main_table(s)
    for m in ROWS:
        cells = []
        for i, f in enumerate(FEATURES):
            pub = PUBLISHED[split].get(m)
            cells += [_acc(current(data, table[(m, f)], s), split),
                      f"{pub[i]:.4f}" if pub else "not in study"]
        name = f"{m} ({STUDY_NAMES[m]})" if m in STUDY_NAMES else f"{m} (ours)"
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def cost_table(data: dict, s: StudySettings) -> list[str]:
    lines = ["| Model | Input | feature shape -> model input | parameters | multiply-adds | "
             "training time | ms per window | epoch kept |", "|---" * 8 + "|"]
    for r in main_runs(s):
        rec = current(data, r, s)
        pub = f" (study: {PUBLISHED_PARAMS[r.model]:,})" if r.model in PUBLISHED_PARAMS else ""
        shape = "x".join(map(str, FeatureConfig(kind=r.feature).shape))
        into = "98x98 (resized)" if r.model in STUDY_MODELS else "as is"
        if rec is None:
            lines.append(f"| {r.model} | {r.feature} | {shape} -> {into} | {PENDING} | {PENDING} | {PENDING} "
                         f"| {PENDING} | {PENDING} |")
            continue
        lines.append(f"| {r.model} | {r.feature} | {shape} -> {into} | {rec['params']:,}{pub} | "
                     f"{rec['macs'] / 1e6:,.1f} M | {_fmt_s(rec['fit_time_s'])} | {rec['infer_ms']:.1f} | "
                     f"{rec['best_epoch']} of {rec['epochs']} |")
    return lines


def data_summary(data: dict, s: StudySettings) -> str:
    recs = [current(data, r, s) for r in main_runs(s)]
    rec = next((r for r in recs if r is not None), None)
    if rec is None:
        return f"Data: `{s.data_dir}` (no run finished yet)."
    n_clips = data.get("data", {}).get("clips")
    share = (f" ({n_clips:,} clips: about {100 * n_clips / FULL_DATASET_CLIPS:.1f}% of the full Speech "
             f"Commands v0.02, {FULL_DATASET_CLIPS:,} clips, and about "
             f"{100 * n_clips / STUDY_DATASET_CLIPS:.1f}% of the ~{STUDY_DATASET_CLIPS:,} the study used)"
             if n_clips else "")
    return (f"Data: `{s.data_dir}`{share}. Examples per run: {rec['n_train']:,} training (commands plus "
            f"sampled unknown words and silence), {rec['n_val']:,} validation, {rec['n_test']:,} test; "
            "the splits are the dataset's speaker-disjoint lists.")


def refinement_lines(data: dict, s: StudySettings, out: str) -> list[str]:
    lines = ["## Refinement 1: accuracy versus epochs", ""]
    cr = curve_run(data["results"], s)
    rec = current(data, cr, s)
    if rec is None or cr is None:  # no record without its run
        lines += [f"{PENDING}: one {s.curve_epochs}-epoch run of the best pair of the main table "
                  "(by validation accuracy), after the main table.", ""]
    else:
        h = rec["history"]
        lines += [f"Best pair of the main table (validation accuracy): **{cr.model} + {cr.feature}**, trained "
                  f"once for {_epochs(cr.epochs)} (the learning rate follows one cosine decay over the "
                  f"whole run). Test accuracy of the kept epoch ({rec['best_epoch']}): "
                  f"{rec['test_accuracy']:.4f}. Training time {_fmt_s(rec['fit_time_s'])}.", "",
                  "| epoch | train accuracy | validation accuracy | train loss | validation loss |",
                  "|---|---|---|---|---|"]
        for i in range(len(h["accuracy"])):
            lines.append(f"| {i + 1} | {h['accuracy'][i]:.4f} | {h['val_accuracy'][i]:.4f} | "
                         f"{h['loss'][i]:.4f} | {h['val_loss'][i]:.4f} |")
        lines += ["", f"![accuracy versus epochs]({OUT_NAMES['curve']})", ""]
    lines += ["## Refinement 2: dropout of the custom VGG", "",
              f"{SWEEP_MODEL} + {SWEEP_FEATURE} (the study's chosen pair), {_epochs(s.epochs)}; the study "
              "settled on 0.5. The row at the study's table dropout (0.4) is the main table's run.", "",
              "| dropout | train accuracy | validation accuracy | test accuracy | training time |",
              "|---|---|---|---|---|"]
    missing = []
    for r in dropout_runs(s):
        rec = current(data, r, s)
        if rec is None:
            missing.append(f"{r.dropout:g}")
            lines.append(f"| {r.dropout:g} | {PENDING} | {PENDING} | {PENDING} | {PENDING} |")
        else:
            lines.append(f"| {r.dropout:g} | {rec['train_accuracy']:.4f} | {rec['val_accuracy']:.4f} | "
                         f"{rec['test_accuracy']:.4f} | {_fmt_s(rec['fit_time_s'])} |")
    lines.append("")
    if missing:
        lines += [f"Not finished yet: dropout {', '.join(missing)}. To finish: "
                  f"`{rerun_command(s, out, stages='dropout')}`.", ""]
    else:
        lines += [f"![dropout sweep]({OUT_NAMES['dropout']})", ""]
    return lines


def _epochs(n: int) -> str:
    return f"{n} epoch" + ("" if n == 1 else "s")


def rerun_command(s: StudySettings, out: str, stages: str | None = None) -> str:
    defaults = StudySettings(data_dir=s.data_dir)
    parts = ["kws-train compare", f"--data-dir {s.data_dir}", f"--out {out}"]
    for flag, name in (("--epochs", "epochs"), ("--batch-size", "batch_size"), ("--lr", "learning_rate"),
                       ("--curve-epochs", "curve_epochs"), ("--seed", "seed")):
        if getattr(s, name) != getattr(defaults, name):
            parts.append(f"{flag} {getattr(s, name):g}")
    if s.dropouts != defaults.dropouts:
        parts.append("--dropouts " + ",".join(f"{d:g}" for d in s.dropouts))
    if stages:
        parts.append(f"--stages {stages}")
    return " ".join(parts)


def all_runs(data: dict, s: StudySettings) -> list[Run]:
    runs = main_runs(s) + [r for r in [curve_run(data["results"], s)] if r] + dropout_runs(s)
    return list({r.key: r for r in runs}.values())


def render_markdown(data: dict, s: StudySettings, out: str) -> str:
    runs = all_runs(data, s)
    records = [current(data, r, s) for r in runs]
    done = [d for d in records if d is not None]
    total_s = sum(d["wall_s"] for d in done)
    n_planned = len(runs) + (0 if curve_run(data["results"], s) else 1)
    lines = [
        "# The original study, rerun on this machine", "",
        f"Made by `{rerun_command(s, out)}`. {len(done)} of {n_planned} runs done; "
        f"machine time {'' if len(done) == n_planned else 'so far '}{_fmt_s(total_s)} on a 2-core CPU "
        "without GPU, shared with other jobs."
        + (f" Runs finished between {min(d['finished_at'] for d in done)} and "
           f"{max(d['finished_at'] for d in done)}." if done else ""), "",
        "## What was run, and how it differs from the study", "",
        "- " + data_summary(data, s) + " Accuracy on this little data is a small-data figure: expect it "
        "below the study's; and with a few hundred test clips each accuracy has a sampling "
        "standard error of about 0.02.",
        f"- Protocol as the study: {_epochs(s.epochs)}, batch {s.batch_size}, Adam (learning rate "
        f"{s.learning_rate:g}), plain cross-entropy, augmentation by time shift (up to 100 ms) and "
        "background noise only. Differences: the trainer decays the learning rate on a cosine over the "
        "run (the study kept it constant), and keeps the epoch with the best validation accuracy (the "
        "study kept the last). Train accuracy is, as in the study, Keras' running accuracy on the "
        "augmented training batches.",
        "- Models as the study's code: the same layers, sizes and parameter counts (see the cost "
        "table). The study's models take a 98x98 input; our features are 98 frames x 257 "
        "(spectrogram), 40 (mel) or 13 (MFCC) bins, so the three study models start with a bilinear "
        "resize to 98x98. Dropout as in the study's code: stacked_fc 0.2, simple_cnn 0.35, "
        "custom_vgg 0.4. Our `vgg_small` takes the features as they are (dropout 0.2) and is trained "
        "with the same protocol here, not with its own recipe (`make model`: 100 epochs, warm-up, "
        "label smoothing, SpecAugment, all unknown-word clips). Its input is normalised with fixed "
        "per-bin statistics of the training features and its batch normalisation uses momentum 0.9 "
        "(revision 2: the first version's input batch-norm, momentum 0.99, had running statistics far "
        "from settled after the ~160 steps of a 4-epoch run, and scored near chance on validation).",
        "- Published figures are the study's, trained on the ~65,000-clip dataset: they are beside "
        "ours for orientation, not as a target this data could reach.",
        "",
    ]
    for split in ("train", "validation", "test"):
        lines += [f"## Accuracy on {SPLIT_TITLES[split]}", ""] + accuracy_table(data, s, split) + [""]
    lines += [f"![test accuracy, ours beside the study's]({OUT_NAMES['accuracy']})", "",
              "## Cost of each pair", "",
              "Training time is Keras `fit` alone; ms per window is the median time of one model call "
              "(batch 1, TFLite, 1 thread, as the app runs it; features not included), measured while "
              "other jobs shared the CPU.", ""] + cost_table(data, s) + [""]
    lines += refinement_lines(data, s, out)
    ref = data.get("reference")
    if ref:
        lines += ["## Reference: the bundled model", "",
                  f"`assets/model`, the model the app ships ({ref['architecture']}, {ref['feature']}, "
                  f"{ref['params']:,} parameters; trained by `make model`, not by this protocol): test "
                  f"accuracy {ref['test_accuracy']:.4f} on the same {ref['n_test']} test clips. The study's "
                  f"final model reached {PUBLISHED_FINAL_TEST} on its own, much larger, test split.", ""]
    lines += ["## Rerun", "", "```", rerun_command(s, out), "```", "",
              "Each finished run is saved into `study.json` at once; rerunning skips runs already "
              "there with the same settings (`--force` redoes them), so an interrupted study resumes "
              "where it stopped. `--stages main,curve,dropout` picks parts; `--report-only` rewrites "
              "this page and the charts from `study.json`.", ""]
    return "\n".join(lines)


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_accuracy(data: dict, s: StudySettings, path: str) -> None:
    plt = _plt()
    fig, axes = plt.subplots(1, len(FEATURES), figsize=(12, 4), sharey=True)
    table = main_table(s)
    x = np.arange(len(ROWS))
    for ax, (i, f) in zip(axes, enumerate(FEATURES)):
        ours = [(current(data, table[(m, f)], s) or {}).get("test_accuracy", np.nan) for m in ROWS]
        pub = [PUBLISHED["test"][m][i] if m in PUBLISHED["test"] else np.nan for m in ROWS]
        ax.bar(x - 0.2, ours, 0.4, label="ours (this data)", color="tab:blue")
        ax.bar(x + 0.2, pub, 0.4, label="study (published)", color="tab:gray", hatch="//", alpha=0.6)
        ax.set_xticks(x, ROWS, rotation=20)
        ax.set(title=FEATURE_TITLES[f], ylim=(0, 1))
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel("test accuracy")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=2)
    fig.tight_layout(rect=(0, 0, 1, 0.92))
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_curve(rec: dict, title: str, path: str) -> None:
    plt = _plt()
    h = rec["history"]
    ep = np.arange(1, len(h["accuracy"]) + 1)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(ep, h["accuracy"], "o-", label="train (augmented)")
    ax.plot(ep, h["val_accuracy"], "o-", label="validation")
    ax.set(title=title, xlabel="epoch", ylabel="accuracy", ylim=(0, 1))
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_dropout(recs: list[dict], path: str) -> None:
    plt = _plt()
    d = [r["dropout"] for r in recs]
    fig, ax = plt.subplots(figsize=(6, 4))
    for split, style in (("train", "o--"), ("val", "o-"), ("test", "s-")):
        ax.plot(d, [r[f"{split}_accuracy"] for r in recs], style, label=split)
    ax.set(title=f"{SWEEP_MODEL} + {SWEEP_FEATURE}: dropout", xlabel="dropout", ylabel="accuracy", ylim=(0, 1))
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_outputs(data: dict, s: StudySettings, out: str) -> None:
    """study.md and every chart whose runs are done (charts are redrawn, never half-empty)."""
    plot_accuracy(data, s, os.path.join(out, OUT_NAMES["accuracy"]))
    cr = curve_run(data["results"], s)
    rec = current(data, cr, s)
    if rec is not None and cr is not None:  # no record without its run
        plot_curve(rec, f"{cr.model} + {cr.feature}: accuracy per epoch", os.path.join(out, OUT_NAMES["curve"]))
    sweep = [current(data, r, s) for r in dropout_runs(s)]
    if sweep and all(sweep):
        plot_dropout([d for d in sweep if d is not None], os.path.join(out, OUT_NAMES["dropout"]))
    tmp = os.path.join(out, OUT_NAMES["md"] + ".tmp")
    with open(tmp, "w") as f:
        f.write(render_markdown(data, s, out))
    os.replace(tmp, os.path.join(out, OUT_NAMES["md"]))


# ---- the command ------------------------------------------------------------------------

STAGES = ("main", "curve", "dropout")


def stage_runs(stage: str, data: dict, s: StudySettings) -> list[Run]:
    if stage == "main":
        return main_runs(s)
    if stage == "curve":
        r = curve_run(data["results"], s)
        return [r] if r else []
    return dropout_runs(s)


def reference_entry(data_dir: str) -> dict | None:
    """The bundled model on the same test clips (cheap: it is small)."""
    from kwsapp.core.model import BUNDLED_MODEL_DIR, read_config

    if not os.path.exists(os.path.join(BUNDLED_MODEL_DIR, "config.json")):
        return None
    try:
        cfg = read_config(BUNDLED_MODEL_DIR)
        r = evaluate(BUNDLED_MODEL_DIR, data_dir, split="testing")
    except KwsError as e:
        log.warning("note: bundled model not evaluated: %s", e)
        return None
    import keras

    net = keras.models.load_model(os.path.join(BUNDLED_MODEL_DIR, "model.keras"), compile=False)
    return {"architecture": cfg.architecture, "feature": cfg.features.kind, "params": int(net.count_params()),
            "test_accuracy": r["accuracy"], "n_test": r["n"]}


def _settings(args) -> StudySettings:
    for name in ("epochs", "batch_size", "curve_epochs"):
        if getattr(args, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be at least 1")
    try:
        dropouts = tuple(float(d) for d in args.dropouts.split(",") if d.strip())
    except ValueError:
        raise UsageError(f"--dropouts {args.dropouts!r}: give comma-separated rates, e.g. 0.2,0.4,0.6") from None
    if not dropouts or not all(0 <= d < 1 for d in dropouts):
        raise UsageError(f"--dropouts {args.dropouts!r}: rates must be in [0, 1)")
    return StudySettings(data_dir=args.data_dir, epochs=args.epochs, batch_size=args.batch_size,
                         learning_rate=args.lr, curve_epochs=args.curve_epochs, dropouts=dropouts,
                         seed=args.seed)


def _stages(text: str) -> list[str]:
    stages = [t.strip() for t in text.split(",") if t.strip()]
    bad = [t for t in stages if t not in STAGES]
    if bad or not stages:
        raise UsageError(f"--stages {text!r}: choose from {', '.join(STAGES)} (comma-separated)")
    return stages


def cmd_compare(args) -> int:
    s = _settings(args)
    stages = _stages(args.stages)
    out = args.out
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as e:
        raise KwsError(f"cannot create --out {out}: {e.strerror}") from None
    json_path = os.path.join(out, OUT_NAMES["json"])
    data = load_report(json_path)
    if args.report_only:
        write_outputs(data, s, out)
        print(f"wrote {os.path.join(out, OUT_NAMES['md'])} from {json_path}")
        return 0
    spec = D.scan(s.data_dir)  # fails early, with one line, on a wrong folder
    for split in ("training", "validation", "testing"):
        if not spec.split(split):
            raise KwsError(f"{s.data_dir}: no clips in the {split} split; the study needs all three")
    data = save_entry(json_path, "data", None, {"clips": sum(spec.words.values()),
                                                 "data_dir": os.path.abspath(s.data_dir)})
    ref = reference_entry(s.data_dir)
    if ref:
        data = save_entry(json_path, "reference", None, ref)
    verbose = 0 if args.quiet else 2
    fresh: set[str] = set()  # redone in this invocation (main and sweep share a key)
    t_start = time.time()
    for stage in stages:
        for run in stage_runs(stage, data, s):
            if run.key in fresh or (is_done(data, run, s) and not args.force):
                print(f"[{stage}] {run.key}: done already, skipped")
                continue
            print(f"[{stage}] {run.key}: training ...", flush=True)
            if args.keep_models:
                folder = os.path.join(args.keep_models, run.key.replace("/", "_"))
            else:
                folder = tempfile.mkdtemp(prefix="kws-compare-")
            try:
                rec = run_one(run, s, folder, verbose)
            finally:
                if not args.keep_models:
                    shutil.rmtree(folder, ignore_errors=True)
            data = save_entry(json_path, "results", run.key, rec)
            fresh.add(run.key)
            write_outputs(data, s, out)
            print(f"[{stage}] {run.key}: val {rec['val_accuracy']:.4f}, test {rec['test_accuracy']:.4f}, "
                  f"{_fmt_s(rec['wall_s'])}", flush=True)
    write_outputs(data, s, out)
    print(f"wrote {os.path.join(out, OUT_NAMES['md'])} ({len(fresh)} run(s) trained, "
          f"{_fmt_s(time.time() - t_start)})")
    return 0


def add_parser(sub) -> None:
    from .options import add_data_dir

    p = sub.add_parser(
        "compare", help="rerun the original study (3 models x 3 features, plus vgg_small) beside its figures",
        description="Train the original study's models on its three features with this trainer, beside the "
                    "study's published accuracies; then accuracy versus epochs for the best pair and a "
                    "dropout sweep of the custom VGG. Resumable: finished runs are kept in OUT/study.json.")
    add_data_dir(p)
    p.add_argument("--out", default="reports", help="folder for study.md, study.json and charts (default: reports)")
    p.add_argument("--epochs", type=int, default=4, help="epochs per pair (the study: 4)")
    p.add_argument("--batch-size", type=int, default=64, help="batch size (the study: 64)")
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (default: 1e-3, Keras' default)")
    p.add_argument("--curve-epochs", type=int, default=10,
                   help="epochs of the accuracy-versus-epochs run of the best pair (the study: 10)")
    p.add_argument("--dropouts", default="0.2,0.3,0.4,0.5,0.6",
                   help="custom VGG dropout rates to sweep (default: 0.2,0.3,0.4,0.5,0.6)")
    p.add_argument("--stages", default=",".join(STAGES),
                   help="parts to run, in order: main (the table), curve (epochs), dropout (default: all)")
    p.add_argument("--seed", type=int, default=1, help="random seed of every run")
    p.add_argument("--force", action="store_true", help="redo runs already saved in study.json")
    p.add_argument("--report-only", action="store_true", help="only rewrite study.md and charts from study.json")
    p.add_argument("--keep-models", default=None, metavar="DIR",
                   help="keep each run's model folder under DIR (default: delete after measuring)")
    p.add_argument("--quiet", action="store_true", help="no per-epoch lines")
    p.set_defaults(func=cmd_compare)

"""The only writer of model folders (and of verifier folders); kwsapp/core/model.py reads them.

Every file is written under a temporary name in its folder and renamed into place, so an
interrupted save leaves the old file or the new one, never half of one; the best epoch's
model.keras during training too. An interrupted run resumes from its backup (kwstrain/backup.py).
"""
from __future__ import annotations

import json
import os
import shlex
import shutil
from dataclasses import asdict, replace

from kwsapp.core.model import ModelConfig, read_config
from kwsapp.core.verifier import CONFIG_FILE as VERIFIER_CONFIG
from kwsapp.core.verifier import VerifierConfig

CONFIG = "config.json"
KERAS = "model.keras"
TFLITE = "model.tflite"
METRICS = "metrics.json"
TRAIN_INFO = "train_info.json"
HISTORY_CSV = "history.csv"
CURVES_PNG = "training_curves.png"
CONFUSION_PNG = "confusion_test.png"
README = "README.md"


def _replace_into(path: str, write) -> None:
    """``write(tmp)``, then rename tmp to ``path``. The temporary name keeps the file's
    extension: Keras and matplotlib choose the format by it."""
    folder, name = os.path.split(path)
    tmp = os.path.join(folder, f".partial-{os.getpid()}-{name}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _write_text(path: str, text: str) -> None:
    def write(tmp):
        with open(tmp, "w") as f:
            f.write(text)

    _replace_into(path, write)


def write_json(model_dir: str, name: str, data: dict) -> None:
    _write_text(os.path.join(model_dir, name), json.dumps(data, indent=2))


def write_config(model_dir: str, cfg: ModelConfig) -> None:
    os.makedirs(model_dir, exist_ok=True)
    _write_text(os.path.join(model_dir, CONFIG), json.dumps(cfg.to_dict(), indent=2) + "\n")


def save_smoothing(model_dir: str, threshold: float | None, average_window_ms: float | None = None,
                   word_thresholds=()) -> None:
    """Store the tuned detection threshold, averaging window and per-word thresholds in the
    folder's config.json (None / empty: the engine's default). Only the trainer's tuning
    commands call it: the app never changes a model folder."""
    write_config(model_dir, replace(read_config(model_dir), detection_threshold=threshold,
                                    average_window_ms=average_window_ms,
                                    word_thresholds=tuple(sorted(dict(word_thresholds).items()))))


def write_keras(model_dir: str, model) -> None:
    _replace_into(os.path.join(model_dir, KERAS), model.save)


def write_tflite(model_dir: str, model, features, clips=()) -> dict:
    """model.tflite, checked against TensorFlow first (kwstrain.export.write_tflite, which
    renames it into place); the check's largest differences."""
    from .export import write_tflite

    return write_tflite(model, features, os.path.join(model_dir, TFLITE), clips)


def write_train_info(model_dir: str, info: dict, history: dict) -> None:
    write_json(model_dir, TRAIN_INFO, {"info": info, "history": history})


def write_metrics(model_dir: str, metrics: dict) -> None:
    write_json(model_dir, METRICS, metrics)


def write_history_csv(model_dir: str, history: dict) -> None:
    """history.csv from the whole history: CSVLogger's file of a resumed run may repeat the
    epoch that was interrupted after its row was written but before its backup was."""
    keys = sorted(history)
    n = max((len(v) for v in history.values()), default=0)
    rows = [",".join(["epoch"] + keys)]
    rows += [",".join([str(i)] + [repr(history[k][i]) if i < len(history[k]) else "" for k in keys])
             for i in range(n)]
    _write_text(os.path.join(model_dir, HISTORY_CSV), "".join(r + "\n" for r in rows))


def write_training_curves(model_dir: str, history: dict) -> None:
    from .export import plot_history

    _replace_into(os.path.join(model_dir, CURVES_PNG), lambda tmp: plot_history(history, tmp))


def write_test_confusion(model_dir: str, cm, labels) -> None:
    from .export import plot_confusion

    _replace_into(os.path.join(model_dir, CONFUSION_PNG), lambda tmp: plot_confusion(cm, labels, tmp, "test split"))


def training_callbacks(keras, model_dir: str, best: float | None, append: bool) -> list:
    """Keras callbacks that write into the folder while it trains: the best epoch's model.keras
    (``best``: the validation accuracy to beat, from before an interruption), renamed into place
    like every other file here, and history.csv (appended a row per epoch: fine-tuning's progress
    lines read it as it grows; :func:`write_history_csv` rewrites it whole at the end)."""

    class BestEpoch(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.best = float("-inf") if best is None else best

        def on_epoch_end(self, epoch, logs=None):
            value = (logs or {}).get("val_accuracy")
            if value is not None and value > self.best:  # strictly better, as Keras's ModelCheckpoint
                self.best = float(value)
                write_keras(model_dir, self.model)

    return [BestEpoch(), keras.callbacks.CSVLogger(os.path.join(model_dir, HISTORY_CSV), append=append)]


def publish(tmp: str, out: str) -> None:
    """Put the finished folder ``tmp`` in the place of ``out`` (whatever was there goes)."""
    if os.path.exists(out):
        shutil.rmtree(out)
    os.replace(tmp, out)


def write_readme(model_dir: str, argv, metrics: dict) -> None:
    """The model folder's README: how it was made and what it scores."""
    info = metrics["training"]
    cmd = "kws-train " + " ".join(shlex.quote(a) for a in argv[1:])
    lines = [
        f"# {info['model']} keyword-spotting model",
        "",
        "Made by this project's own trainer with exactly this command (from the repository root):",
        "",
        "```",
        cmd,
        "```",
        "",
        "| what | value |",
        "| --- | --- |",
        f"| architecture | {info['model']} |",
        f"| parameters | {info['params']:,} |",
        f"| multiply-adds per 1 s window | {info['macs']:,} |",
        f"| epochs (best on validation) | {info['epochs']} ({info['best_epoch']}) |",
        f"| training time | {info['train_time_s']:.0f} s |",
        f"| training examples/s (fit) | {info['train_examples_per_s']:.0f} |",
        f"| input pipeline alone, examples/s | {info.get('input_pipeline_examples_per_s', 'n/a')} |",
        f"| CPU cores busy during fit | {info.get('cpu_cores_busy', 'n/a')} of {info.get('cpu_cores', '?')} |",
        f"| validation accuracy | {metrics['validation']['accuracy']:.4f} (n={metrics['validation']['n']}) |",
    ]
    if metrics.get("test"):
        t = metrics["test"]
        lines.append(f"| test accuracy | {t['accuracy']:.4f} (n={t['n']}) |")
        lines += ["", "Per-class test accuracy:", "", "| label | accuracy | n |", "| --- | --- | --- |"]
        for label, acc in t["per_class"].items():
            lines.append(f"| {label} | {'' if acc is None else f'{acc:.3f}'} | {t['support'][label]} |")
    lines += [
        "",
        "Files: `config.json` (labels and feature settings, read by the app), `model.keras`,",
        "`model.tflite` (float, batch 1), `metrics.json`, `train_info.json` (history),",
        "`training_curves.png`, `confusion_test.png`.",
        "",
    ]
    _write_text(os.path.join(model_dir, README), "\n".join(lines))


def write_verifier_config(folder: str, cfg: VerifierConfig) -> None:
    _write_text(os.path.join(folder, VERIFIER_CONFIG), json.dumps(asdict(cfg) | {"labels": list(cfg.labels)}, indent=2))

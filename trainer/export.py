"""Writing model artefacts: TFLite, plots, the model folder's README."""
from __future__ import annotations

import os

import numpy as np


def write_tflite(model, feat_cfg, path: str) -> None:
    """Float TFLite model for batch-1 streaming inference."""
    import tensorflow as tf

    frames, bins = feat_cfg.shape
    fn = tf.function(lambda x: model(x, training=False))
    concrete = fn.get_concrete_function(tf.TensorSpec([1, frames, bins, 1], tf.float32))
    # The tf.function (not the Keras 3 model) must be the trackable object: with the model,
    # the converter leaves READ_VARIABLE ops whose variables are missing at run time (NaN).
    conv = tf.lite.TFLiteConverter.from_concrete_functions([concrete], fn)
    data = conv.convert()
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_history(history: dict, path: str) -> None:
    plt = _plt()
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    ep = np.arange(1, len(history["loss"]) + 1)
    a.plot(ep, history["loss"], label="train")
    a.plot(ep, history["val_loss"], label="validation")
    a.set(title="loss", xlabel="epoch")
    b.plot(ep, history["accuracy"], label="train")
    b.plot(ep, history["val_accuracy"], label="validation")
    b.set(title="accuracy", xlabel="epoch", ylim=(0, 1))
    for ax in (a, b):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_confusion(cm: np.ndarray, labels, path: str, title: str = "confusion matrix") -> None:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7.5, 6.5))
    norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=60, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set(xlabel="predicted", ylabel="true", title=title)
    for i in range(len(labels)):
        for j in range(len(labels)):
            if cm[i, j]:
                ax.text(j, i, int(cm[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if norm[i, j] > 0.5 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_model_readme(model_dir: str, argv, metrics: dict) -> None:
    """The model folder's README: how it was made and what it scores."""
    import shlex

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
    with open(os.path.join(model_dir, "README.md"), "w") as f:
        f.write("\n".join(lines))

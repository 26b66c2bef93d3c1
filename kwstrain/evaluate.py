"""Evaluating a model folder on a split of a dataset folder."""
from __future__ import annotations

import numpy as np

from kwsapp.core.model import Classifier

from . import dataset as D
from . import pipeline as P


def evaluate(model_dir: str, data_dir: str, layout: str = "auto", split: str = "testing",
             backend: str = "keras", batch_size: int = 128, seed: int = 59185) -> dict:
    return evaluate_splits(model_dir, data_dir, (split,), layout, backend, batch_size, seed)[split]


def evaluate_splits(model_dir: str, data_dir: str, splits, layout: str = "auto", backend: str = "keras",
                    batch_size: int = 128, seed: int = 59185) -> dict:
    """{split: evaluate's result} with one model load and one scan for all of them."""
    clf = Classifier(model_dir, backend=backend)
    commands = tuple(l for l in clf.labels if l not in (D.SILENCE, D.UNKNOWN))
    spec = D.scan(data_dir, commands, layout=layout, seed=seed)
    return {split: evaluate_spec(clf, spec, split, batch_size, seed) for split in splits}


def evaluate_spec(clf: Classifier, spec: D.DataSpec, split: str, batch_size: int = 128,
                  seed: int = 59185) -> dict:
    """Score ``clf`` on one split of ``spec``. The model's labels may differ from the
    spec's (a model before fine-tuning to new words): predictions are compared by name."""
    labels = spec.labels
    cfg = clf.config.features
    decoded = P.decode(spec, cfg)
    if split not in decoded:
        from kwsapp.core.errors import KwsError

        raise KwsError(f"{spec.data_dir}: no readable clips in the {split} split")
    ds = decoded[split]
    noise = P.load_background(spec.background_files, cfg.sample_rate)
    batches, ys = [], []
    for f, y in P.make_dataset(ds, cfg, batch_size, False, noise, seed=seed):
        batches.append(clf.predict(f.numpy()))
        ys.append(y.numpy())
    probs = np.concatenate(batches)
    y = np.concatenate(ys)
    index = {l: i for i, l in enumerate(labels)}
    # A model label the spec does not know can never be right: map it past the end.
    pred = np.array([index.get(clf.labels[k], len(labels)) for k in probs.argmax(1)])
    cm = np.zeros((len(labels), len(labels) + 1), np.int64)
    np.add.at(cm, (y, pred), 1)
    cm = cm[:, : len(labels)]
    support = np.bincount(y, minlength=len(labels))
    per_class = {l: (float(cm[i, i] / support[i]) if support[i] else None) for i, l in enumerate(labels)}
    return {
        "accuracy": float((pred == y).mean()),
        "n": int(len(y)),
        "per_class": per_class,
        "support": {l: int(support[i]) for i, l in enumerate(labels)},
        "confusion": cm.tolist(),
        "labels": list(labels),
        "split": split,
        "layout": spec.layout,
        "skipped_clips": len(ds.skipped),
        "skipped": list(ds.skipped),  # "path: why" of every file that was left out
    }

"""Teacher targets for knowledge distillation: the file `kws-train teacher` writes and
`kws-train train --teacher-targets` reads, and how its soft targets mix with the hard labels.

A targets file (``targets.npz``) holds, for every fixed augmented copy of every training example,
its hard label and the teacher's probabilities; the copies themselves (int16 audio) are in
``copies.npy`` beside it, read memory-mapped like the decoded-audio cache. A fingerprint of the
training examples they were made from lets the trainer refuse targets made for other data.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

import numpy as np

from kwsapp.core.errors import KwsError

TARGETS_FILE = "targets.npz"
COPIES_FILE = "copies.npy"


@dataclass(frozen=True)
class TeacherTargets:
    copies: np.ndarray  # int16 [n_copies, clip_samples], memory-mapped
    labels: np.ndarray  # int32 [n_copies]: the hard label of each copy
    probs: np.ndarray  # float32 [n_copies, n_labels]: the teacher's probabilities
    label_names: tuple[str, ...]
    fingerprint: str  # of the training examples the copies were made from (see fingerprint())


def fingerprint(clips, labels) -> str:
    """Identifies a training split: its clips (path, or "-" for generated silence) and labels in
    order. The scan's seed draws the `_unknown_` sample, so the same folders with other options
    give another fingerprint."""
    h = hashlib.sha1()
    for c, y in zip(clips, labels):
        h.update(f"{c.path or '-'}\0{int(y)}\n".encode())
    return h.hexdigest()[:20]


def save(folder: str, labels: np.ndarray, probs: np.ndarray, label_names, fp: str, **extra) -> str:
    """Write ``targets.npz`` (``copies.npy`` must already be in ``folder``); ``extra`` arrays are
    stored too (e.g. the head's and the VGG's probabilities separately, for inspection)."""
    path = os.path.join(folder, TARGETS_FILE)
    np.savez(path, labels=labels.astype(np.int32), probs=probs.astype(np.float32),
             label_names=np.array(label_names), fingerprint=np.array(fp), **extra)
    return path


def load(path: str) -> TeacherTargets:
    """Read a targets file (or the folder holding one); one-line errors for what is missing."""
    if os.path.isdir(path):
        path = os.path.join(path, TARGETS_FILE)
    if not os.path.isfile(path):
        raise KwsError(f"{path}: no such teacher-targets file; make one with `kws-train teacher --out DIR`")
    copies_path = os.path.join(os.path.dirname(path) or ".", COPIES_FILE)
    if not os.path.isfile(copies_path):
        raise KwsError(f"{copies_path}: missing (the augmented audio the targets in {path} were computed for)")
    try:
        with np.load(path) as z:
            labels, probs = z["labels"], z["probs"]
            names, fp = tuple(str(s) for s in z["label_names"]), str(z["fingerprint"])
        copies = np.load(copies_path, mmap_mode="r")
    except (OSError, ValueError, KeyError) as e:
        raise KwsError(f"{path}: not a teacher-targets file ({e})") from None
    if not (len(copies) == len(labels) == len(probs)) or probs.shape[1] != len(names):
        raise KwsError(f"{path}: {len(labels)} labels, {len(probs)} targets and {len(copies)} audio copies "
                       f"do not match; make it again with `kws-train teacher`")
    return TeacherTargets(copies, labels.astype(np.int32), probs.astype(np.float32), names, fp)


def check_matches(t: TeacherTargets, clips, labels, label_names, where: str) -> None:
    """Refuse targets made for another training split or other labels, in one line."""
    if tuple(label_names) != t.label_names:
        raise KwsError(f"{where}: made for labels {','.join(t.label_names)}, not this run's {','.join(label_names)}")
    if fingerprint(clips, labels) != t.fingerprint:
        raise KwsError(f"{where}: made for another training split; run `kws-train teacher` with this run's "
                       f"--data-dir, --extra-data, --unknown-share, --silence-share and --seed")


def mixed_targets(labels: np.ndarray, probs: np.ndarray, weight: float, label_smoothing: float) -> np.ndarray:
    """(1 - weight) x the label-smoothed one-hot labels + weight x the teacher's probabilities.

    Cross-entropy is linear in its target, so training on this mixture with plain cross-entropy
    is exactly (1 - w) CE(hard labels) + w CE(teacher): one loss, no custom training step, and
    the same code path under every tf.distribute strategy. No temperature: the teacher's
    probabilities are already soft (the averaged pair is well calibrated; see docs/training.md)."""
    k = probs.shape[1]
    hard = np.full((len(labels), k), label_smoothing / k, np.float32)
    hard[np.arange(len(labels)), labels] += 1.0 - label_smoothing
    return ((1.0 - weight) * hard + weight * probs).astype(np.float32)

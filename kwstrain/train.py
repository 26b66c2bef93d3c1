"""Training: data -> tf.data -> Keras model under a tf.distribute strategy -> model folder."""
from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from kwsapp.core.errors import KwsError, UsageError
from kwsapp.core.features import FeatureConfig
from kwsapp.core.model import ModelConfig

from . import backup, modelfolder
from . import dataset as D
from . import pipeline as P
from .distributed import (
    broadcast_from_chief,
    fit_custom,
    is_chief,
    is_multi_worker,
    lost_worker_message,
    mirrored_devices,
    multi_worker_strategy,
    own_task,
    worker_dir,
)

log = logging.getLogger(__name__)


# The names of kwstrain.models.BUILDERS, spelled out so that checking a config or building the
# parser does not import Keras (that takes seconds; tests keep the two in step).
MODEL_NAMES = ("vgg_small", "vgg_deep", "stacked_fc", "simple_cnn", "custom_vgg")
STRATEGIES = ("default", "mirrored", "multi-worker")


@dataclass(frozen=True)
class TrainConfig:
    data_dir: str
    out: str
    model: str = "vgg_small"
    features: FeatureConfig = field(default_factory=FeatureConfig)
    epochs: int = 40
    batch_size: int = 64
    learning_rate: float = 3e-3
    warmup_epochs: float = 2.0
    label_smoothing: float = 0.1
    dropout: float | None = None
    seed: int = 1
    strategy: str = "default"
    unknown_share: float = 0.1
    repeat_unknown: bool = False  # reach unknown_share by repeating other-word clips when too few
    silence_share: float = 0.1
    extra_data: str | tuple[str, ...] | None = None  # one folder or several
    strict: bool = False
    ema: float = 0.0  # momentum of an exponential moving average of the weights; 0 turns it off
    weight_decay: float = 0.0  # decoupled (AdamW-style), times the learning rate
    mixup: float = 0.0  # Beta(a, a) parameter of mixup on training batches; 0 turns it off
    augment: P.AugmentConfig = field(default_factory=P.AugmentConfig)
    commands: tuple[str, ...] = D.COMMANDS
    init_from: str | None = None  # a model folder whose weights start the training (same labels/features)
    # A `kws-train teacher` targets file: train on its fixed augmented copies towards its soft
    # targets mixed with the hard labels (kwstrain/distill.py); None trains on the hard labels.
    teacher_targets: str | None = None
    distill_weight: float = 0.5  # the teacher's share of the target (0 = hard labels only)
    verbose: int = 1

    def __post_init__(self):
        # Each message names the `kws-train train` option: the CLI's errors are these.
        def need(ok: bool, message: str) -> None:
            if not ok:
                raise UsageError(message)

        need(self.model in MODEL_NAMES, f"--model {self.model}: give one of {', '.join(MODEL_NAMES)}")
        need(self.strategy in STRATEGIES, f"--strategy {self.strategy}: give one of {', '.join(STRATEGIES)}")
        need(self.epochs >= 1, f"--epochs {self.epochs}: give at least 1, e.g. 40")
        need(self.batch_size >= 1, f"--batch-size {self.batch_size}: give at least 1, e.g. 64")
        need(self.learning_rate > 0, f"--lr {self.learning_rate:g}: give a positive learning rate, e.g. 3e-3")
        need(self.warmup_epochs >= 0, f"--warmup-epochs {self.warmup_epochs:g}: give 0 (none) or more, e.g. 2")
        need(0.0 <= self.label_smoothing <= 1.0,
             f"--label-smoothing {self.label_smoothing:g}: give a value from 0 (off) to 1, e.g. 0.1")
        need(self.dropout is None or 0.0 <= self.dropout < 1.0,
             f"--dropout {self.dropout}: give a rate from 0 to below 1, e.g. 0.2, or leave it out")
        need(self.unknown_share >= 0, f"--unknown-share {self.unknown_share:g}: give 0 or more, e.g. 0.1")
        need(self.silence_share >= 0, f"--silence-share {self.silence_share:g}: give 0 or more, e.g. 0.1")
        need(0.0 <= self.ema < 1.0, f"--ema {self.ema:g}: give a momentum from 0 (off) to below 1, e.g. 0.99")
        need(self.weight_decay >= 0, f"--weight-decay {self.weight_decay:g}: give 0 (off) or more, e.g. 1e-4")
        need(self.mixup >= 0, f"--mixup {self.mixup:g}: give 0 (off) or more, e.g. 0.2")
        aug = self.augment
        need(aug.time_shift_ms >= 0, f"--time-shift-ms {aug.time_shift_ms:g}: give 0 (off) or more, e.g. 100")
        need(0.0 <= aug.speed_perturb <= 0.5,
             f"--speed-perturb {aug.speed_perturb:g}: give a value from 0 (off) to 0.5, e.g. 0.1")
        need(-60.0 <= aug.level_low_db <= aug.level_high_db <= 20.0,
             f"--level-db {aug.level_low_db:g},{aug.level_high_db:g}: give LOW,HIGH in dB with "
             "-60 <= LOW <= HIGH <= 20, e.g. --level-db=-40,20")
        P.check_room_shares(aug)
        if self.teacher_targets:  # its copies are fixed: a waveform option would do nothing
            for flag, share in (("--reverb", aug.reverb), ("--band-limit", aug.band_limit)):
                need(not share, f"{flag} acts on the waveforms, which --teacher-targets fixes: give it to "
                                "`kws-train teacher` when making the targets instead")
        need(0.0 <= self.distill_weight <= 1.0,
             f"--distill-weight {self.distill_weight:g}: give a share from 0 to 1, e.g. 0.5")


def make_strategy(name: str):
    import tensorflow as tf

    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        devices = mirrored_devices([d.name for d in tf.config.list_logical_devices("GPU")],
                                   [d.name for d in tf.config.list_logical_devices("CPU")])
        return tf.distribute.MirroredStrategy(devices=devices)
    if name == "multi-worker":
        return multi_worker_strategy()
    raise ValueError(f"unknown strategy {name!r}")


def split_cpu(n: int) -> None:
    """Expose the CPU as ``n`` logical devices (to exercise MirroredStrategy without GPUs)."""
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * n)


def prepare_data(cfg: TrainConfig, spec: D.DataSpec | None = None):
    if spec is None:
        spec = D.scan(cfg.data_dir, cfg.commands, unknown_share=cfg.unknown_share,
                      silence_share=cfg.silence_share, seed=cfg.seed, repeat_unknown=cfg.repeat_unknown)
    extra_dirs = (cfg.extra_data,) if isinstance(cfg.extra_data, str) else cfg.extra_data or ()
    extra = sum(D.add_extra_training_data(spec, d, cfg.commands) for d in extra_dirs)
    decoded = P.decode(spec, cfg.features, strict=cfg.strict)
    noise = P.load_background(spec.background_files, cfg.features.sample_rate)
    return spec, decoded, noise, extra


def _one_hot(ds, n):
    import tensorflow as tf

    return ds.map(lambda f, y: (f, tf.one_hot(y, n)))


def _mixup(ds, alpha: float, seed: int):
    """Mix each training example with another of its batch: features and one-hot labels
    by the same weight lam ~ Beta(alpha, alpha). Stateless randomness keyed by the batch
    number, so a seed still fixes the run."""
    import tensorflow as tf

    def mix(step, f, y):
        n = tf.shape(f)[0]
        key = tf.stack([tf.cast(seed, tf.int64) + 7919, step])
        g1 = tf.random.stateless_gamma([n], key, alpha)
        g2 = tf.random.stateless_gamma([n], key + [0, 1 << 40], alpha)
        lam = g1 / (g1 + g2)
        lam = tf.maximum(lam, 1.0 - lam)  # the first example stays the main one
        other = tf.argsort(tf.random.stateless_uniform([n], key + [0, 2 << 40]))
        lf = tf.reshape(lam, [-1, 1, 1, 1])
        f = lf * f + (1.0 - lf) * tf.gather(f, other)
        y = lam[:, None] * y + (1.0 - lam[:, None]) * tf.gather(y, other)
        return f, y

    return ds.enumerate().map(lambda step, fy: mix(step, *fy))


def _padded_with_weights(ds, n, batch_size):
    """One-hot labels, and the last short batch padded to ``batch_size`` with weight-0
    examples: MirroredStrategy cannot split an uneven final batch across replicas, and
    zero weights keep the accuracy exact."""
    import tensorflow as tf

    def pad(f, y):
        k = batch_size - tf.shape(f)[0]
        w = tf.pad(tf.ones_like(y, tf.float32), [[0, k]])
        f = tf.pad(f, [[0, k], [0, 0], [0, 0], [0, 0]])
        return f, tf.one_hot(tf.pad(y, [[0, k]]), n), w

    return ds.map(pad)


@contextlib.contextmanager
def stop_between_batches(keras):
    """A Keras callback that turns Ctrl-C or SIGTERM during ``fit`` into KeyboardInterrupt at
    the next batch boundary. Raised by the default handler at an arbitrary point inside
    Keras, the interrupt can be swallowed half-way and resurface as an unrelated error with a
    traceback ("None values not supported"), instead of a clean stop. Off the main thread
    (signals cannot be handled there) it does nothing."""
    requested = threading.Event()

    class Stopper(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if requested.is_set():
                raise KeyboardInterrupt

        on_test_batch_end = on_train_batch_end

    if threading.current_thread() is not threading.main_thread():
        yield Stopper()
        return
    # A signal that is ignored (e.g. SIGINT of a job started with `&`) stays ignored.
    old = {sig: signal.signal(sig, lambda signum, frame: requested.set())
           for sig in (signal.SIGINT, signal.SIGTERM) if signal.getsignal(sig) is not signal.SIG_IGN}
    try:
        yield Stopper()
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
    if requested.is_set():  # the signal came after the last batch
        raise KeyboardInterrupt


def _starting_weights(cfg: TrainConfig):
    """``build_model`` for ``cfg.init_from``: that model, refused in one line unless its
    architecture and features are the ones asked for (the weights would not fit or would
    see other inputs). Its input normalisation is kept, not re-fitted."""
    from kwsapp.core.model import read_config

    from .models import transfer_head

    init_from = cfg.init_from
    assert init_from is not None  # called for --init-from only
    base = read_config(init_from)
    if base.architecture != cfg.model or base.features != cfg.features:
        norm = f", --level-norm {base.features.level_norm}" if base.features.level_norm != "none" else ""
        raise KwsError(f"--init-from {cfg.init_from} is a {base.architecture} on {base.features.kind} features{norm}; "
                       f"train with the same --model and feature options, or drop --init-from")
    return lambda labels: transfer_head(os.path.join(init_from, "model.keras"), base.labels, labels)


def _build_metrics(model, shape, n_labels) -> None:
    """Create the accuracy metric's variables now, on one silent example. Keras (without a
    distribution strategy) creates them inside the first traced training step, and a variable
    created there makes tf.function trace the whole step a second time (2 s to 10 s a fit)."""
    x = np.zeros((1, *shape, 1), np.float32)
    model.compute_metrics(x, np.eye(n_labels, dtype=np.float32)[:1], model(x, training=False))
    model.reset_metrics()


def _fit(keras, cfg, model, strategy, multi, train_ds, val_ds, loss_fn, steps, initial_epoch, callbacks):
    """Keras ``fit`` on one machine; our own training step under MultiWorkerMirroredStrategy,
    which Keras 3's ``fit`` does not support (see kwstrain/distributed.py)."""
    with stop_between_batches(keras) as stopper:
        if multi:
            def dataset_fn(ctx):
                per_replica = ctx.get_per_replica_batch_size(cfg.batch_size)
                start = initial_epoch * steps * strategy.num_replicas_in_sync
                ds = train_ds(per_replica, start, (ctx.input_pipeline_id, ctx.num_input_pipelines))
                return _mixup(ds, cfg.mixup, cfg.seed) if cfg.mixup > 0 else ds

            fit_custom(model, strategy, dataset_fn, val_ds, loss_fn, steps, cfg.epochs, initial_epoch,
                       callbacks + [stopper], cfg.verbose, cfg.batch_size)
        else:
            ds = train_ds(cfg.batch_size, initial_epoch * steps)
            if cfg.mixup > 0:
                ds = _mixup(ds, cfg.mixup, cfg.seed)
            model.fit(ds, epochs=cfg.epochs, initial_epoch=initial_epoch, steps_per_epoch=steps,
                      validation_data=val_ds, callbacks=callbacks + [stopper], verbose=cfg.verbose)


@dataclass(frozen=True)
class TrainResult:
    """What a training run tells its caller; the model folder holds the rest."""
    chief: bool  # False on the other workers of a multi-worker run, which write nothing
    replicas: int  # in the whole cluster
    history: dict  # Keras's per-epoch history of the whole run (a resumed one included)
    info: dict  # train_info.json's "info"; empty where not the chief
    splits: tuple[str, ...]  # the data's decoded splits, e.g. whether it has a test split


@dataclass(frozen=True)
class _Data:
    spec: D.DataSpec
    train: P.DecodedSet
    val: P.DecodedSet
    noise: np.ndarray  # the background noise (pipeline.load_background)
    n_extra: int
    splits: tuple[str, ...]


@dataclass(frozen=True)
class _Cluster:
    strategy: Any  # a tf.distribute.Strategy (TensorFlow is untyped)
    multi: bool  # MultiWorkerMirroredStrategy: our own training step (distributed.fit_custom)
    chief: bool  # the one that writes the model folder and the backup


def _load_data(cfg: TrainConfig, spec: D.DataSpec | None) -> _Data:
    spec, decoded, noise, n_extra = prepare_data(cfg, spec)
    if "training" not in decoded or "validation" not in decoded:
        raise KwsError(f"{cfg.data_dir}: need clips in both the training and validation splits")
    tr = decoded["training"]
    if tr.skipped:
        log.warning("warning: %s", P.describe_skipped(tr.skipped))
    return _Data(spec, tr, decoded["validation"], noise, n_extra, tuple(decoded))


def _cluster(cfg: TrainConfig) -> _Cluster:
    strategy = make_strategy(cfg.strategy)
    n = strategy.num_replicas_in_sync
    if cfg.batch_size % n:
        raise KwsError(f"--batch-size {cfg.batch_size} does not split evenly over the "
                       f"{n} replicas: give a multiple of {n}")
    return _Cluster(strategy, is_multi_worker(strategy), is_chief(strategy))


def _soft_targets(cfg: TrainConfig, data: _Data):
    """The teacher's targets file and its mixed targets, or (None, None) without a teacher."""
    if not cfg.teacher_targets:
        return None, None
    from . import distill

    targets = distill.load(cfg.teacher_targets)
    distill.check_matches(targets, data.train.clips, data.train.labels, data.spec.labels, cfg.teacher_targets)
    return targets, distill.mixed_targets(targets.labels, targets.probs, cfg.distill_weight, cfg.label_smoothing)


def _compiled_model(keras, cfg: TrainConfig, cluster: _Cluster, data: _Data, build_model, loss_fn, total: int,
                    warmup: int, state):
    """The model built (or ``build_model``'s), compiled with the warm-up + cosine schedule, and
    restored from ``state`` (a backup) where there is one; multi-worker, the chief's weights."""
    from . import models

    labels = data.spec.labels
    with cluster.strategy.scope():
        if build_model is not None:
            model = build_model(labels)
        else:
            model = models.build(cfg.model, cfg.features.shape, len(labels), cfg.dropout)
            # Fixed input normalisation from the clean training features (no augmentation).
            models.adapt_input_norm(model, P.make_dataset(data.train, cfg.features, 256, False, data.noise,
                                                          seed=cfg.seed).map(lambda f, y: f))
        lr_peak = cfg.learning_rate
        schedule = keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=lr_peak / 100 if warmup else lr_peak,
            decay_steps=max(total - warmup, 1),
            warmup_target=lr_peak if warmup else None,
            warmup_steps=warmup,
        )
        model.compile(
            optimizer=keras.optimizers.Adam(schedule, weight_decay=cfg.weight_decay or None,
                                            use_ema=cfg.ema > 0, ema_momentum=cfg.ema or 0.99),
            loss=loss_fn,
            metrics=["accuracy"],
        )
        model.optimizer.build(model.trainable_variables)
        if not cluster.multi:  # its own training step (distributed.fit_custom) reads no compiled metric
            _build_metrics(model, cfg.features.shape, len(labels))
        if state is not None:
            backup.restore(model, state)
        if cluster.multi:
            broadcast_from_chief(cluster.strategy, model.weights + model.optimizer.variables, cluster.chief)
    return model


def _datasets(cfg: TrainConfig, cluster: _Cluster, data: _Data, distill_targets, soft):
    """``train_ds(per_batch, start_step, shard=None)`` and the validation dataset."""
    labels = data.spec.labels
    silence_id = labels.index(D.SILENCE)
    train_ds = lambda per_batch, start, shard=None: _one_hot(  # noqa: E731
        P.make_dataset(data.train, cfg.features, per_batch, True, data.noise, cfg.augment, cfg.seed, silence_id,
                       start_step=start, shard=shard), len(labels))
    if soft is not None:
        # An epoch stays one pass's worth of the training split (steps above), drawn from the
        # pool of its fixed copies: epochs and the learning-rate schedule mean what they mean
        # without a teacher.
        train_ds = lambda per_batch, start, shard=None: P.make_distill_dataset(  # noqa: E731
            distill_targets.copies, soft, cfg.features, per_batch, cfg.augment, cfg.seed, start, shard)
    val_ds = P.make_dataset(data.val, cfg.features, cfg.batch_size, False, data.noise, seed=cfg.seed)
    if cluster.strategy.num_replicas_in_sync > 1 and not cluster.multi:
        val_ds = _padded_with_weights(val_ds, len(labels), cfg.batch_size)
    else:
        val_ds = _one_hot(val_ds, len(labels))
    return train_ds, val_ds


def _info(cfg: TrainConfig, config: dict, best, data: _Data, cluster: _Cluster, history: dict, resumed_at,
          t0: float, fit_s: float, cores_busy: float, examples_per_s: float) -> dict:
    from . import models

    best_i = int(np.argmax(history["val_accuracy"]))
    return {
        "model": cfg.model,
        "params": int(best.count_params()),
        "macs": models.count_macs(best),
        "epochs": cfg.epochs,
        # Epochs already done each time the run was resumed (empty: never interrupted). Times
        # and throughput below are of the last session only.
        "resumed_at_epochs": resumed_at,
        "best_epoch": best_i + 1,
        "best_val_accuracy": float(max(history["val_accuracy"])),
        "train_accuracy_at_best": float(history["accuracy"][best_i]),
        "train_time_s": round(time.time() - t0, 1),
        "fit_time_s": round(fit_s, 1),
        "train_examples_per_s": round(examples_per_s, 1),
        "cpu_cores_busy": round(cores_busy, 2),
        "cpu_cores": os.cpu_count(),
        "n_train": len(data.train.labels),
        "n_val": len(data.val.labels),
        "n_extra": data.n_extra,
        "skipped_clips": len(data.train.skipped),
        "strategy": cfg.strategy,
        "replicas": cluster.strategy.num_replicas_in_sync,
        "config": config,
        "chief": True,
    }


def train(cfg: TrainConfig, spec: D.DataSpec | None = None, build_model=None) -> TrainResult:
    """Train and write ``cfg.out``. ``spec`` replaces scanning ``cfg.data_dir`` (fine-tuning
    mixes in the user's clips); ``build_model(labels)`` replaces building ``cfg.model``."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(cfg.seed)
    t0 = time.time()
    data = _load_data(cfg, spec)
    cluster = _cluster(cfg)
    config = _jsonable(asdict(cfg))
    # Only the chief writes the model folder and the backup; another worker trains into a
    # temporary folder it removes (the same code path, nothing of it kept).
    out = cfg.out if cluster.chief else worker_dir()
    state = backup.load(cfg.out, config) if cluster.chief else None
    steps = P.steps_per_epoch(data.train, cfg.batch_size)
    total = steps * cfg.epochs
    warmup = min(int(cfg.warmup_epochs * steps), max(total - 1, 0))
    if build_model is None and cfg.init_from:
        build_model = _starting_weights(cfg)
    distill_targets, soft = _soft_targets(cfg, data)
    # With teacher targets the smoothing is already in the mixed target (distill.mixed_targets).
    loss_fn = keras.losses.CategoricalCrossentropy(label_smoothing=0.0 if soft is not None else cfg.label_smoothing,
                                                   reduction=None if cluster.multi else "sum_over_batch_size")
    model = _compiled_model(keras, cfg, cluster, data, build_model, loss_fn, total, warmup, state)
    # The step counter restored (and, multi-worker, sent by the chief) says where to go on.
    initial_epoch = min(int(model.optimizer.iterations.numpy()) // steps, cfg.epochs)
    history = state["history"] if state else {}
    resumed_at = (state["resumed_at"] if state else []) + ([initial_epoch] if initial_epoch else [])
    if initial_epoch and cluster.chief:
        log.info("resuming the interrupted run in %s: %d of %d epochs were done, training goes on from epoch %d",
                 cfg.out, initial_epoch, cfg.epochs, initial_epoch + 1)
    train_ds, val_ds = _datasets(cfg, cluster, data, distill_targets, soft)
    os.makedirs(out, exist_ok=True)
    # The backup first, then (with EMA) the swap, then the checkpoint: validation and the kept
    # checkpoint use the averaged weights, the backup the raw ones (see backup.callback).
    callbacks = [backup.callback(keras, cfg.out, config, history, resumed_at, write=cluster.chief)]
    callbacks += [keras.callbacks.SwapEMAWeights(swap_on_epoch=True)] if cfg.ema > 0 else []
    callbacks += modelfolder.training_callbacks(keras, out, max(history.get("val_accuracy", []), default=None),
                                                append=bool(initial_epoch))
    t_fit, cpu_fit = time.time(), time.process_time()
    try:
        _fit(keras, cfg, model, cluster.strategy, cluster.multi, train_ds, val_ds, loss_fn, steps, initial_epoch,
             callbacks)
    except tf.errors.OpError as e:
        if not cluster.multi:
            raise
        # A peer lost: the collectives were aborted. The history counts the finished epochs,
        # each of which the chief has backed up.
        raise KwsError(lost_worker_message(e, own_task(cluster.strategy), len(history.get("loss", [])),
                                           cfg.epochs)) from None
    finally:
        if not cluster.chief:
            shutil.rmtree(out, ignore_errors=True)
    fit_s = max(time.time() - t_fit, 1e-6)
    # process_time counts every thread of this process: ~2.0 means both cores were busy.
    cores_busy = (time.process_time() - cpu_fit) / fit_s
    replicas = cluster.strategy.num_replicas_in_sync
    if not cluster.chief:
        return TrainResult(chief=False, replicas=replicas, history=history, info={}, splits=data.splits)
    best = keras.models.load_model(os.path.join(out, modelfolder.KERAS), compile=False)
    examples_per_s = steps * (cfg.epochs - initial_epoch) * cfg.batch_size / fit_s
    _write_folder(cfg, best, data, history)
    info = _info(cfg, config, best, data, cluster, history, resumed_at, t0, fit_s, cores_busy, examples_per_s)
    modelfolder.write_train_info(cfg.out, info, history)
    backup.remove(cfg.out)  # finished: the same command now trains afresh
    return TrainResult(chief=True, replicas=replicas, history=history, info=info, splits=data.splits)


def _write_folder(cfg: TrainConfig, best, data: _Data, history: dict) -> None:
    """What the app reads (config.json, model.tflite) and the history's CSV and plot."""
    modelfolder.write_config(cfg.out, ModelConfig(labels=data.spec.labels, features=cfg.features,
                                                  architecture=cfg.model))
    # Checked on a dozen real validation clips (rows after row 0, the zeros for silence).
    real = data.val.audio[1:13].astype(np.float32) / 32768.0
    modelfolder.write_tflite(cfg.out, best, cfg.features, list(real))
    modelfolder.write_training_curves(cfg.out, history)
    modelfolder.write_history_csv(cfg.out, history)


def score(cfg: TrainConfig, result: TrainResult, argv) -> dict:
    """Evaluate the trained folder on its validation and test splits and write metrics.json,
    confusion_test.png and the README (``argv``: the command that made it). The metrics."""
    from .evaluate import evaluate_splits

    splits = ("validation", "testing") if "testing" in result.splits else ("validation",)
    scores = evaluate_splits(cfg.out, cfg.data_dir, splits)
    val, test = scores["validation"], scores.get("testing")
    if test:
        modelfolder.write_test_confusion(cfg.out, np.array(test["confusion"]), test["labels"])
    training = result.info | {"input_pipeline_examples_per_s": round(input_pipeline_throughput(cfg), 1)}
    metrics = {"validation": _summary(val), "test": _summary(test) if test else None, "training": training}
    modelfolder.write_metrics(cfg.out, metrics)
    modelfolder.write_readme(cfg.out, argv, metrics)
    return metrics


def _summary(r: dict) -> dict:
    keys = ("accuracy", "n", "per_class", "support", "split", "layout", "skipped_clips")
    return {k: r[k] for k in keys}


def _jsonable(d):
    if isinstance(d, dict):
        return {k: _jsonable(v) for k, v in d.items()}
    if isinstance(d, (list, tuple)):
        return [_jsonable(v) for v in d]
    return d


def input_pipeline_throughput(cfg: TrainConfig, batches: int = 60) -> float:
    """Examples/s the augmenting input pipeline delivers alone (no model)."""
    spec, decoded, noise, _ = prepare_data(cfg)
    ds = P.make_dataset(decoded["training"], cfg.features, cfg.batch_size, True, noise, cfg.augment,
                        cfg.seed, spec.labels.index(D.SILENCE))
    it = iter(ds)
    for _ in range(5):
        next(it)
    t = time.perf_counter()
    for _ in range(batches):
        next(it)
    return batches * cfg.batch_size / (time.perf_counter() - t)


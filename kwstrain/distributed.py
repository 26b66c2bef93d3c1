"""Training on several machines (``--strategy multi-worker``) and on several GPUs (``mirrored``).

Keras 3 ``model.fit`` does not work under ``tf.distribute.MultiWorkerMirroredStrategy``
(checked with Keras 3.15 / TF 2.21; keras-team/keras#20585 is open, and TensorFlow's own
multi-worker Keras tutorial fails the same way since TF 2.16): ``fit`` first reduces an
input batch eagerly across workers (``ValueError: Attempt to convert a value (PerReplica...)``),
and its per-step metric reduction then asks for ``axis=0`` of scalars. So under that strategy
we run our own training step (``fit_custom``): the same model, optimizer, loss, schedule and
callbacks as ``fit`` in kwstrain/train.py, the forward and backward pass in
``strategy.run``; the Keras optimizer all-reduces (sums) the gradients across every replica of
every worker, so each replica's loss is divided by the global batch size. The single-machine
strategies keep ``model.fit``.

Input: each worker builds its own pipeline (``distribute_datasets_from_function``, so
tf.data's auto-sharding does not apply; the policy is in effect OFF). AutoShardPolicy.FILE
cannot apply (the source is a range of clip numbers, not files) and DATA would decode and
augment every batch on every worker, then drop the others' share. Instead every worker
shuffles the clip numbers identically (same seed) and keeps every W-th per-replica batch
before reading any audio (pipeline.make_dataset's ``shard``): in every epoch the workers see
disjoint parts that together are one global batch per step.

A lost worker: TF's coordination service (started by the strategy; the chief is its leader)
notices a peer that stops sending heartbeats (default timeout 10 s) or refuses connections,
and aborts the collectives; the surviving workers then stop with ``lost_worker_message``.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import tempfile

from kwsapp.core.errors import KwsError

CHIEF = "chief"
WORKER_DIR_PREFIX = "kws-worker-"


def worker_dir() -> str:
    """A new temporary folder for a non-chief worker's files, named with its process id. A worker
    killed outright cannot remove its folder; the next worker on the machine removes those whose
    process is gone."""
    remove_stale_worker_dirs(tempfile.gettempdir())
    return tempfile.mkdtemp(prefix=f"{WORKER_DIR_PREFIX}{os.getpid()}-")


def remove_stale_worker_dirs(folder: str) -> list[str]:
    """Remove the worker folders in ``folder`` whose process no longer runs; returns their names.
    A folder of a live process (or of an unknown one: no process id in its name) is left."""
    removed = []
    for name in sorted(os.listdir(folder)):
        m = re.fullmatch(re.escape(WORKER_DIR_PREFIX) + r"(\d+)-[^/]+", name)
        if m and not _running(int(m.group(1))) and os.path.isdir(os.path.join(folder, name)):
            shutil.rmtree(os.path.join(folder, name), ignore_errors=True)
            removed.append(name)
    return removed


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def multi_worker_strategy():
    import tensorflow as tf

    raw = os.environ.get("TF_CONFIG")
    if not raw:
        raise KwsError("--strategy multi-worker needs TF_CONFIG set on every worker (see docs/training.md)")
    try:
        conf = json.loads(raw)
        cluster, task = conf["cluster"], conf["task"]
        n = sum(len(v) for v in cluster.values())
        task["type"], int(task["index"])
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise KwsError(f"TF_CONFIG is not a cluster and task description ({e!r}): see docs/training.md") from None
    if n < 2:
        raise KwsError("TF_CONFIG names one machine: use --strategy default (or mirrored) for one")
    return tf.distribute.MultiWorkerMirroredStrategy()


def is_chief(strategy) -> bool:
    """The task that writes the model folder: the "chief", or worker 0 when the cluster has none."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    if resolver.task_type == CHIEF:
        return True
    return resolver.task_type == "worker" and resolver.task_id == 0 and CHIEF not in resolver.cluster_spec().as_dict()


def _lost_peer(error, own_task: tuple[str, int] | None) -> str:
    """Which peer was lost and how, as far as TF's error message tells (else the error's type)."""
    text = str(error)
    peers = [(job, int(i)) for job, i in re.findall(r"/job:(\w+)/(?:replica:\d+/)?task:(\d+)", text)]
    peer = next((p for p in peers if p != own_task), None)
    if peer is None and "CoordinationService/Heartbeat" in text:
        # A heartbeat this worker sent timed out: the coordination service runs on the chief.
        return "the chief stopped answering heartbeats"
    who = "" if peer is None else "the chief " if peer[0] == CHIEF else f"{peer[0]} {peer[1]} "
    if "heartbeat" in text:
        return who + "stopped sending heartbeats"
    if "connect" in text.lower():
        return who + "unreachable"
    return who + type(error).__name__


def lost_worker_message(error, own_task: tuple[str, int] | None, epochs_done: int, epochs: int) -> str:
    """The one line a surviving worker stops with when the cluster lost a peer (``error``, the
    tf.errors.OpError that aborted the collectives; ``own_task`` is this worker's (type, index)),
    and from which epoch the rerun goes on."""
    where = (f"resume from epoch {epochs_done + 1} ({epochs_done} of {epochs} epochs were done)" if epochs_done
             else "start again (no epoch was finished)")
    return (f"training stopped: a worker was lost ({_lost_peer(error, own_task)}); "
            f"rerun the same command on every machine to {where}")


def own_task(strategy) -> tuple[str, int] | None:
    resolver = getattr(strategy, "cluster_resolver", None)
    return (resolver.task_type, int(resolver.task_id)) if resolver is not None and resolver.task_type else None


def is_multi_worker(strategy) -> bool:
    import tensorflow as tf

    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and strategy.extended._in_multi_worker_mode()


def mirrored_devices(gpus: list[str], cpus: list[str]) -> list[str]:
    """What ``--strategy mirrored`` replicates over: every GPU when there is one (the CPU then
    only feeds them), else the CPU devices (several only when split with --cpu-devices)."""
    return list(gpus) or list(cpus)


def broadcast_from_chief(strategy, variables, chief: bool) -> None:
    """Give every worker the chief's values of ``variables`` (a resumed run's weights and
    optimizer state: only the chief reads the backup, the workers need not share its disk).
    An all-reduce sum in which only the chief's replicas contribute, each 1/its local
    replica count (float64, exact for the int64 step counter)."""
    import tensorflow as tf

    share = 1.0 / len(strategy.extended.worker_devices) if chief else 0.0

    @tf.function
    def run():
        def fn():
            ctx = tf.distribute.get_replica_context()
            return ctx.all_reduce(tf.distribute.ReduceOp.SUM,
                                  [tf.cast(tf.convert_to_tensor(v), tf.float64) * share for v in variables])

        return strategy.run(fn)

    values = run()
    for v, x in zip(variables, values):
        v.assign(tf.cast(strategy.experimental_local_results(x)[0], v.dtype))


def fit_custom(model, strategy, dataset_fn, val_ds, loss_fn, steps: int, epochs: int, initial_epoch: int,
               callbacks: list, verbose: int, global_batch: int) -> None:
    """``model.fit`` for MultiWorkerMirroredStrategy (see the module docstring). Every worker
    validates on the whole validation set with the synchronised weights (no collective
    needed, and the accuracy is exact, as on one machine)."""
    import keras
    import tensorflow as tf

    opt = model.optimizer
    it = iter(strategy.distribute_datasets_from_function(dataset_fn))
    total = tf.distribute.ReduceOp.SUM

    @tf.function
    def train_step(iterator):
        def step(f, y):
            with tf.GradientTape() as tape:
                p = model(f, training=True)
                loss = tf.reduce_sum(loss_fn(y, p)) / global_batch
            grads = tape.gradient(loss, model.trainable_variables)
            opt.apply_gradients(zip(grads, model.trainable_variables))
            hits = tf.reduce_sum(tf.cast(tf.equal(tf.argmax(p, -1), tf.argmax(y, -1)), tf.float32))
            return loss, hits

        loss, hits = strategy.run(step, args=next(iterator))
        return strategy.reduce(total, loss, axis=None), strategy.reduce(total, hits, axis=None)

    @tf.function
    def eval_step(f, y):
        p = model(f, training=False)
        hits = tf.reduce_sum(tf.cast(tf.equal(tf.argmax(p, -1), tf.argmax(y, -1)), tf.float32))
        return tf.reduce_sum(loss_fn(y, p)), hits, tf.cast(tf.shape(y)[0], tf.float32)

    cbs = keras.callbacks.CallbackList(callbacks, add_history=False, add_progbar=verbose != 0, model=model,
                                       verbose=verbose, epochs=epochs, steps=steps)
    cbs.on_train_begin()
    logs = {}
    for epoch in range(initial_epoch, epochs):
        cbs.on_epoch_begin(epoch)
        loss_sum = hit_sum = 0.0
        for b in range(steps):
            cbs.on_train_batch_begin(b)
            loss, hits = train_step(it)
            loss_sum += float(loss)
            hit_sum += float(hits)
            logs = {"accuracy": hit_sum / ((b + 1) * global_batch), "loss": loss_sum / (b + 1)}
            cbs.on_train_batch_end(b, logs)
        cbs.on_test_begin()
        v_loss = v_hits = v_n = 0.0
        for b, (f, y) in enumerate(val_ds):
            cbs.on_test_batch_begin(b)
            l, h, n = eval_step(f, y)
            v_loss, v_hits, v_n = v_loss + float(l), v_hits + float(h), v_n + float(n)
            cbs.on_test_batch_end(b)
        val = {"val_accuracy": v_hits / max(v_n, 1.0), "val_loss": v_loss / max(v_n, 1.0)}
        cbs.on_test_end(val)
        logs = {**logs, **val}
        cbs.on_epoch_end(epoch, logs)
    cbs.on_train_end(logs)

"""Resumable training: the whole training state saved after every epoch, and restored when
the same command is run again after an interruption (Ctrl-C, SIGTERM, a killed process, a
lost worker).

Our own format rather than Keras' BackupAndRestore: that callback only works inside
``model.fit``, which Keras 3 cannot run under MultiWorkerMirroredStrategy (see
kwstrain/distributed.py), and it keeps neither the history nor the best validation accuracy
so far, which the resumed run needs to keep the best checkpoint and write train_info.json.
One .npz file (model weights, optimizer variables incl. the step counter that drives the
learning-rate schedule and the EMA weights, and a JSON state) replaced atomically, so a
kill at any moment leaves either the previous epoch's backup or this one's, never a mix.
"""
from __future__ import annotations

import json
import os
import shutil

import numpy as np

from kwsapp.core.errors import KwsError

NAME = "backup"
FILE = "state.npz"
# Options that may change between the interrupted run and its resumption: they do not
# change what is trained (the backup is plain arrays, readable under any strategy).
MAY_DIFFER = ("verbose", "strategy")


def folder(out: str) -> str:
    return os.path.join(out, NAME)


def _comparable(config: dict) -> dict:
    return {k: v for k, v in config.items() if k not in MAY_DIFFER}


def load(out: str, config: dict) -> dict | None:
    """The backup of an unfinished run of this same ``config`` in ``out``, or None.
    A backup of different options is refused in one line (resuming it would silently
    train another recipe)."""
    path = os.path.join(folder(out), FILE)
    if not os.path.exists(path):
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            state = json.loads(str(z["state"]))
            arrays = {k: z[k] for k in z.files if k != "state"}
    except (OSError, ValueError, KeyError) as e:
        raise KwsError(f"{path}: unreadable training backup ({e}); delete {folder(out)} to start afresh") from None
    if _comparable(state["config"]) != _comparable(config):
        diff = sorted(k for k in set(state["config"]) | set(config)
                      if k not in MAY_DIFFER and state["config"].get(k) != config.get(k))
        raise KwsError(f"{out} holds an unfinished run with other options ({', '.join(diff)}): rerun it with "
                       f"the same options to resume it, or delete {folder(out)} to start afresh")
    state["weights"] = [arrays[f"w{i}"] for i in range(state["n_weights"])]
    state["optimizer"] = [arrays[f"o{i}"] for i in range(state["n_optimizer"])]
    return state


def save(out: str, model, config: dict, epochs_done: int, history: dict, resumed_at: list[int]) -> None:
    weights = [np.asarray(v) for v in model.get_weights()]
    opt = [np.asarray(v.numpy()) for v in model.optimizer.variables]
    state = {"config": config, "epochs_done": epochs_done, "history": history, "resumed_at": resumed_at,
             "n_weights": len(weights), "n_optimizer": len(opt)}
    os.makedirs(folder(out), exist_ok=True)
    path = os.path.join(folder(out), FILE)
    tmp = path + f".tmp{os.getpid()}.npz"
    arrays = {f"w{i}": w for i, w in enumerate(weights)} | {f"o{i}": o for i, o in enumerate(opt)}
    # mypy matches the ** arrays to savez's allow_pickle: bool.
    np.savez(tmp, state=np.array(json.dumps(state)), **arrays)  # type: ignore[arg-type]
    os.replace(tmp, path)


def restore(model, state: dict) -> None:
    """Put the saved weights and optimizer state into ``model`` (built and compiled, under the
    strategy's scope so the optimizer's variables are created there)."""
    model.set_weights(state["weights"])
    opt = model.optimizer
    if not opt.built:
        opt.build(model.trainable_variables)
    if len(opt.variables) != len(state["optimizer"]):
        raise KwsError("the training backup does not fit this optimizer; delete the backup folder to start afresh")
    for v, a in zip(opt.variables, state["optimizer"]):
        v.assign(a)


def remove(out: str) -> None:
    shutil.rmtree(folder(out), ignore_errors=True)


def callback(keras, out: str, config: dict, history: dict, resumed_at: list[int], write: bool = True):
    """A callback that extends ``history`` with each epoch's logs and, if ``write``, saves the
    backup. It must come before SwapEMAWeights in the callback list: at that point of
    on_epoch_end the model holds the raw weights and the optimizer the averaged ones, as
    training expects them when it restarts."""

    class Backup(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            for k, v in (logs or {}).items():
                history.setdefault(k, []).append(float(v))
            if write:
                save(out, self.model, config, epoch + 1, history, resumed_at)

    return Backup()

"""`kws-train verifier`: the app's optional second-stage check (kwsapp/core/verifier.py) from the
heads of a `kws-train teacher` run, averaged into one LiteRT model with the labels and the gate.
"""
from __future__ import annotations

import glob
import os
import shutil
import sys
import tempfile

import numpy as np

from kwsapp.core.errors import KwsError, UsageError
from kwsapp.core.verifier import CLIP_EMBEDDINGS, EMBEDDING_DIM, HEAD_FILE, VerifierConfig

from . import distill
from .modelfolder import write_verifier_config

# The exported head against Keras's (probabilities), checked on every export.
SCORE_TOLERANCE = 1e-4


def averaged_heads(paths):
    """One Keras model: the mean of the heads' probabilities (the teacher's own 'head' mix)."""
    import keras

    heads = []
    for k, p in enumerate(paths):  # all saved as "embedding_head"; a model's parts need their own names
        saved = keras.models.load_model(p, compile=False)
        head = keras.Model.from_config(saved.get_config() | {"name": f"head{k}"})
        head.set_weights(saved.get_weights())
        heads.append(head)
    inp = keras.Input((CLIP_EMBEDDINGS, EMBEDDING_DIM), batch_size=1, name="embeddings")
    outs = [h(inp, training=False) for h in heads]
    out = outs[0] if len(outs) == 1 else keras.layers.Average()(outs)
    return keras.Model(inp, out, name="verifier_head")


def write_tflite(model, path: str, seed: int = 0) -> float:
    """model.tflite of ``model``; checked with LiteRT on random embeddings (the largest difference
    in probability is returned; a KwsError beyond SCORE_TOLERANCE)."""
    import tensorflow as tf
    from ai_edge_litert.interpreter import Interpreter

    from kwsapp.core.tfquiet import parked_stderr

    fn = tf.function(lambda x: {"probs": model(x, training=False)},
                     input_signature=[tf.TensorSpec([1, CLIP_EMBEDDINGS, EMBEDDING_DIM], tf.float32, name="embeddings")])
    with tempfile.TemporaryDirectory() as tmpdir:
        # As kwstrain/export.py: the Keras weights tracked through their tf.Variables, else the
        # converter leaves variable reads with nothing to read.
        holder = tf.Module()
        holder.weights = [v.value for v in model.weights]
        saved = os.path.join(tmpdir, "saved")
        tf.saved_model.save(holder, saved, signatures={"serving_default": fn.get_concrete_function()})
        data = tf.lite.TFLiteConverter.from_saved_model(saved).convert()
    tmp = path + ".tmp"  # the checked file replaces the old one, never an unchecked one
    with open(tmp, "wb") as f:
        f.write(data)
    with parked_stderr():
        interp = Interpreter(model_path=tmp, num_threads=1)
        interp.allocate_tensors()
    i, o = interp.get_input_details()[0]["index"], interp.get_output_details()[0]["index"]
    rng = np.random.default_rng(seed)
    worst = 0.0
    for _ in range(8):
        # Small inputs: large random ones saturate the softmax, where any two models agree.
        x = (0.3 * rng.standard_normal((1, CLIP_EMBEDDINGS, EMBEDDING_DIM))).astype(np.float32)
        interp.set_tensor(i, x)
        interp.invoke()
        worst = max(worst, float(np.abs(interp.get_tensor(o) - model(x, training=False).numpy()).max()))
    if worst > SCORE_TOLERANCE:
        os.remove(tmp)
        raise KwsError(f"{path}: the exported head differs from Keras's by {worst:.2g} in probability "
                       f"(more than {SCORE_TOLERANCE:g}); not written")
    os.replace(tmp, path)
    return worst


def target_labels(teacher: str) -> tuple[str, ...]:
    """The labels the heads score, in order (the teacher's targets file says; its copies are not needed)."""
    path = os.path.join(teacher, distill.TARGETS_FILE)
    try:
        with np.load(path, allow_pickle=False) as z:
            return tuple(str(s) for s in z["label_names"])
    except FileNotFoundError:
        raise KwsError(f"{path} is missing: give the folder of a `kws-train teacher` run") from None
    except (KeyError, ValueError, OSError) as e:
        raise KwsError(f"{path} is unreadable ({e}); run `kws-train teacher` again") from None


def cmd_verifier(args) -> int:
    if not 0.0 <= args.gate <= 1.0:
        raise UsageError(f"--gate must be between 0 and 1 (got {args.gate:g})")
    heads = sorted(glob.glob(os.path.join(args.teacher, "head*.keras")))
    if not heads:
        raise KwsError(f"{args.teacher}: no head*.keras; give the folder of a `kws-train teacher` run")
    labels = target_labels(args.teacher)
    head = averaged_heads(heads)
    if head.output_shape[-1] != len(labels):
        raise KwsError(f"{args.teacher}: the heads give {head.output_shape[-1]} scores, its targets name "
                       f"{len(labels)} labels; run `kws-train teacher` again")
    os.makedirs(args.out, exist_ok=True)
    worst = write_tflite(head, os.path.join(args.out, HEAD_FILE))
    write_verifier_config(args.out, VerifierConfig(labels=labels, gate=args.gate,
                                                   made_from=os.path.normpath(args.teacher)))
    for name in ("teacher.json",):  # what the heads scored on validation, for the record
        if os.path.isfile(os.path.join(args.teacher, name)):
            shutil.copy(os.path.join(args.teacher, name), os.path.join(args.out, name))
    print(f"wrote {args.out}: the mean of {len(heads)} head(s) as {HEAD_FILE} (LiteRT within {worst:.1g} of Keras), "
          f"gate {args.gate:g}; use it with: kwsapp --verifier {args.out}", file=sys.stdout)
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("verifier", help="the app's optional second-stage check, from a `kws-train teacher` run",
                       description="Average the speech_embedding heads of a `kws-train teacher` run into one "
                                   "LiteRT model and write a verifier folder (head.tflite, verifier.json) for "
                                   "`kwsapp --verifier` and `kwsapp listen --verifier`: a detection then stands "
                                   "only if the head gives its word at least the gate. Needs the train extra; "
                                   "the app needs the verify extra to run it.")
    p.add_argument("--teacher", required=True, metavar="DIR", help="a `kws-train teacher` output folder (its heads)")
    p.add_argument("--out", required=True, metavar="DIR", help="verifier folder to write")
    p.add_argument("--gate", type=float, default=0.5,
                   help="the head's probability of the detected word a detection needs (default: 0.5)")
    p.set_defaults(func=cmd_verifier)

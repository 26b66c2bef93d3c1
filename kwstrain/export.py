"""Writing model artefacts: TFLite, plots, the model folder's README."""
from __future__ import annotations

import os

import numpy as np

# model.tflite's two signatures (described in kwsapp/core/model.py, which reads them): raw audio in,
# scores and log-mel out, by the same tf.signal code (kwsapp.core.features) the model was trained on;
# and features in, scores out.
from kwsapp.core.model import AUDIO_SIGNATURE, FEATURES_SIGNATURE

# How close the exported front end and model must stay to TensorFlow's own (checked on every
# export): log-mel is log(mel + 1e-6), so float32 rounding of a near-silent band is magnified
# there; scores are probabilities.
LOG_MEL_TOLERANCE = 1e-3
SCORE_TOLERANCE = 1e-4


def _signatures(model, feat_cfg):
    import tensorflow as tf

    from kwsapp.core import features as F

    display = F.display_config(feat_cfg)
    frames, bins = feat_cfg.shape

    @tf.function(input_signature=[tf.TensorSpec([feat_cfg.clip_samples], tf.float32, name="audio")])
    def audio(audio):
        log_mel = F.log_mel_spectrogram(audio, display)
        feats = (F.magnitude_spectrogram(audio, feat_cfg) if feat_cfg.kind == "spectrogram"
                 else F.features_from_log_mel(log_mel, feat_cfg))
        return {"scores": model(feats[None, :, :, None], training=False), "log_mel": log_mel}

    @tf.function(input_signature=[tf.TensorSpec([1, frames, bins, 1], tf.float32, name="features")])
    def features(features):
        return {"scores": model(features, training=False)}

    return {AUDIO_SIGNATURE: audio.get_concrete_function(), FEATURES_SIGNATURE: features.get_concrete_function()}


def probe_audio(feat_cfg, seed: int = 0) -> list:
    """Synthetic windows every export is checked on besides the real clips: silence, faint and
    loud noise. (Not a pure tone: two float32 FFTs differ by ~1e-7 of the loudest bin, which the log
    turns into differences of 0.1 in a band 100 dB below a loud tone; speech has no such bands.)"""
    rng = np.random.default_rng(seed)
    n = feat_cfg.clip_samples
    return [np.zeros(n, np.float32), (1e-3 * rng.standard_normal(n)).astype(np.float32),
            np.clip(0.3 * rng.standard_normal(n), -1, 1).astype(np.float32)]


def check_tflite(model, feat_cfg, path: str, clips) -> dict:
    """Run ``path``'s two signatures with LiteRT and the Keras model on TensorFlow features on each
    window of ``clips``; a KwsError when they differ by more than the tolerances. Returns the
    largest differences seen."""
    from ai_edge_litert.interpreter import Interpreter

    from kwsapp.core import features as F
    from kwsapp.core.errors import KwsError
    from kwsapp.core.tfquiet import parked_stderr

    with parked_stderr():  # LiteRT announces its XNNPACK delegate on stderr
        interp = Interpreter(model_path=path, num_threads=1)
        audio = interp.get_signature_runner(AUDIO_SIGNATURE)
        feats_in = interp.get_signature_runner(FEATURES_SIGNATURE)
        audio(audio=np.zeros(feat_cfg.clip_samples, np.float32))
    display = F.display_config(feat_cfg)
    n = feat_cfg.clip_samples
    x = np.stack([np.pad(np.asarray(c, np.float32)[:n], (0, max(0, n - len(c)))) for c in clips])
    # TensorFlow's side in one batch: eager calls per window cost far more than the check
    # itself, and batched kernels differ from one-window ones by ~1e-7, far inside the tolerances.
    want_mel = F.log_mel_spectrogram(x, display).numpy()
    feats = F.compute_features(x, feat_cfg).numpy()[..., None]
    want = model(feats, training=False).numpy()
    worst = {"log_mel": 0.0, "scores": 0.0, "clips": len(x)}
    for i in range(len(x)):
        got = audio(audio=x[i])
        got_f = feats_in(features=feats[i : i + 1])["scores"]
        worst["log_mel"] = max(worst["log_mel"], float(np.abs(got["log_mel"] - want_mel[i]).max()))
        worst["scores"] = max(worst["scores"], float(np.abs(got["scores"] - want[i : i + 1]).max()),
                              float(np.abs(got_f - want[i : i + 1]).max()))
    if not worst["log_mel"] <= LOG_MEL_TOLERANCE or not worst["scores"] <= SCORE_TOLERANCE:
        raise KwsError(f"the exported {os.path.basename(path)} differs from TensorFlow by up to "
                       f"{worst['log_mel']:.2g} in log-mel (allowed {LOG_MEL_TOLERANCE:g}) and "
                       f"{worst['scores']:.2g} in scores (allowed {SCORE_TOLERANCE:g}); not written")
    return worst


def write_tflite(model, feat_cfg, path: str, clips=()) -> dict:
    """Float TFLite model for batch-1 streaming inference (both signatures above), written only
    after :func:`check_tflite` passed on ``clips`` (real clips, where the caller has them) and
    :func:`probe_audio`. Returns the check's largest differences."""
    import shutil
    import tempfile

    import tensorflow as tf

    sigs = _signatures(model, feat_cfg)
    with tempfile.TemporaryDirectory() as tmpdir:
        # One converter call for both signatures goes through a SavedModel. Keras 3 models are not
        # tf.Modules: their weights are tracked through the underlying tf.Variables, else the
        # converter leaves READ_VARIABLE ops with nothing to read (NaN at run time).
        holder = tf.Module()
        holder.weights = [v.value for v in model.weights]
        saved = os.path.join(tmpdir, "saved")
        tf.saved_model.save(holder, saved, signatures=sigs)
        conv = tf.lite.TFLiteConverter.from_saved_model(saved, signature_keys=list(sigs))
        data = conv.convert()
        tmp = os.path.join(tmpdir, "model.tflite")
        with open(tmp, "wb") as f:
            f.write(data)
        worst = check_tflite(model, feat_cfg, tmp, [*clips, *probe_audio(feat_cfg)])
        shutil.copyfile(tmp, path + ".tmp")
    os.replace(path + ".tmp", path)
    return worst


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

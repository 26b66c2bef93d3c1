"""``kws-train``: train, evaluate and export keyword-spotting models."""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import sys

from kwsapp.cli_util import parser_class, run_main, stdout_only_json
from kwsapp.core.features import KINDS, LEVEL_NORMS, FeatureConfig

from . import dataset as D


def _add_data_dir(p):
    p.add_argument("--data-dir", default=D.default_data_dir(), help=D.DATA_DIR_HELP)


def add_feature_args(p):
    p.add_argument("--feature", choices=KINDS, default="logmel", help="input feature (default: logmel)")
    p.add_argument("--mel-bins", type=int, default=40, help="mel filters (default: 40)")
    p.add_argument("--mfccs", type=int, default=13, help="MFCCs kept for --feature mfcc (default: 13)")
    p.add_argument("--level-norm", choices=LEVEL_NORMS, default="none",
                   help="window: features relative to each window's level, so a quiet or distant talker "
                        "looks like a near one (not for --feature spectrogram; default: none)")


def feature_config(args) -> FeatureConfig:
    from kwsapp.core.errors import UsageError

    try:
        return FeatureConfig(kind=args.feature, num_mel_bins=args.mel_bins, num_mfcc=args.mfccs,
                             level_norm=getattr(args, "level_norm", "none"))
    except ValueError as e:
        raise UsageError(f"{e}; change --feature or --level-norm") from None


def level_range(text: str) -> tuple[float, float]:
    """``--level-db LOW,HIGH`` -> (low, high) in dB, or a one-line error."""
    from kwsapp.core.errors import UsageError

    try:
        low, high = (float(v) for v in text.split(","))
    except ValueError:
        low = high = float("nan")
    if not -60.0 <= low <= high <= 20.0:
        raise UsageError(f"--level-db {text!r}: give LOW,HIGH in dB with -60 <= LOW <= HIGH <= 20, e.g. --level-db=-40,20")
    return low, high


# The names of trainer.models.BUILDERS, spelled out so that building the parser does not
# import Keras (that takes seconds; tests keep the two in step).
MODEL_NAMES = ("vgg_small", "stacked_fc", "simple_cnn", "custom_vgg")


def add_train_args(p):
    _add_data_dir(p)
    p.add_argument("--model", choices=MODEL_NAMES, default="vgg_small", help="architecture (default: vgg_small)")
    add_feature_args(p)
    p.add_argument("--epochs", type=int, default=40, help="passes over the training split")
    p.add_argument("--batch-size", type=int, default=64, help="clips per training step")
    p.add_argument("--lr", type=float, default=3e-3, help="peak learning rate after warm-up (default: 3e-3)")
    p.add_argument("--warmup-epochs", type=float, default=2.0,
                   help="epochs of linear learning-rate warm-up before the cosine decay")
    p.add_argument("--label-smoothing", type=float, default=0.1, help="label smoothing of the cross-entropy loss")
    p.add_argument("--dropout", type=float, default=None, help="override the model's dropout rate")
    p.add_argument("--seed", type=int, default=1, help="random seed (weights, augmentation, clip order)")
    p.add_argument("--unknown-share", type=float, default=0.1,
                   help="unknown-word clips per command clip in training (TF example: 0.1)")
    p.add_argument("--repeat-unknown", action="store_true",
                   help="when the data has fewer other-word clips than --unknown-share asks for, repeat "
                        "them (each repeat augmented afresh) to reach it; default: use the ones there are")
    p.add_argument("--silence-share", type=float, default=0.1, help="silence clips per command clip (default: 0.1)")
    p.add_argument("--time-shift-ms", type=float, default=100.0,
                   help="random time shift of training clips, up to +/- this (default: 100)")
    p.add_argument("--speed-perturb", type=float, default=0.0, metavar="S",
                   help="play training clips at a random speed in [1-S, 1+S] (tempo and pitch together), "
                        "e.g. 0.1; 0 = off (default: 0)")
    p.add_argument("--reverb", type=float, default=0.0, metavar="SHARE",
                   help="share of training clips heard in a simulated room (reverberation time 0.15-0.8 s), "
                        "e.g. 0.3; 0 = off (default: 0)")
    p.add_argument("--band-limit", type=float, default=0.0, metavar="SHARE",
                   help="share of training clips heard through a narrow-band microphone (high-pass 100-400 Hz, "
                        "low-pass 2.5-7 kHz), e.g. 0.3; 0 = off (default: 0)")
    p.add_argument("--level-db", default="0,0", metavar="LOW,HIGH",
                   help="play each training clip, noise included, at a random level LOW..HIGH dB from its own "
                        "(a near or a distant talker at the same signal-to-noise ratio), e.g. --level-db=-40,20 "
                        "(default: 0,0, off)")
    p.add_argument("--ema", type=float, default=0.0, metavar="MOMENTUM",
                   help="validate and keep an exponential moving average of the weights, e.g. 0.99 (default: 0, off)")
    p.add_argument("--weight-decay", type=float, default=0.0, help="decoupled weight decay (default: 0)")
    p.add_argument("--mixup", type=float, default=0.0, metavar="ALPHA",
                   help="mixup on training batches with weights ~ Beta(ALPHA, ALPHA); 0 = off (default: 0)")
    p.add_argument("--extra-data", action="append", default=None, metavar="DIR",
                   help="another standard-layout folder added to training only; repeat for several "
                        "(e.g. kws-train synth and kws-train negatives output; default: none)")
    p.add_argument("--init-from", default=None, metavar="MODEL_DIR",
                   help="start from this model's weights instead of random ones (same --model and features; "
                        "used to fine-tune on hard negatives; default: none)")
    p.add_argument("--teacher-targets", default=None, metavar="FILE",
                   help="knowledge distillation: train on the fixed augmented copies in this `kws-train teacher` "
                        "output (its targets.npz, or the folder) towards the teacher's probabilities mixed with "
                        "the hard labels; give the same data options the teacher was run with (default: none)")
    p.add_argument("--distill-weight", type=float, default=0.5, metavar="W",
                   help="with --teacher-targets: the teacher's share of each target, 0-1; the rest is the "
                        "label-smoothed hard label (default: 0.5)")
    p.add_argument("--strategy", choices=["default", "mirrored", "multi-worker"], default="default",
                   help="tf.distribute strategy; multi-worker reads TF_CONFIG")
    p.add_argument("--cpu-devices", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--strict", action="store_true", help="stop at the first unreadable clip instead of skipping it")
    p.add_argument("--quiet", action="store_true", help="no per-step progress bar")


def train_config(args, out: str):
    from kwsapp.core.errors import UsageError

    from .pipeline import AugmentConfig, check_room_shares
    from .train import TrainConfig

    if not 0.0 <= args.speed_perturb <= 0.5:
        raise UsageError(f"--speed-perturb {args.speed_perturb:g}: give a value from 0 (off) to 0.5, e.g. 0.1")
    low, high = level_range(args.level_db)
    augment = AugmentConfig(time_shift_ms=args.time_shift_ms, speed_perturb=args.speed_perturb,
                            reverb=args.reverb, band_limit=args.band_limit, level_low_db=low, level_high_db=high)
    check_room_shares(augment)
    if args.teacher_targets:  # its copies are fixed: a waveform option would do nothing
        for flag, share in (("--reverb", args.reverb), ("--band-limit", args.band_limit)):
            if share:
                raise UsageError(f"{flag} acts on the waveforms, which --teacher-targets fixes: give it to "
                                 "`kws-train teacher` when making the targets instead")
    if not 0.0 <= args.distill_weight <= 1.0:
        raise UsageError(f"--distill-weight {args.distill_weight:g}: give a share from 0 to 1, e.g. 0.5")
    return TrainConfig(
        data_dir=args.data_dir, out=out, model=args.model, features=feature_config(args),
        epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.lr,
        warmup_epochs=args.warmup_epochs, label_smoothing=args.label_smoothing, dropout=args.dropout,
        seed=args.seed, strategy=args.strategy, unknown_share=args.unknown_share,
        repeat_unknown=args.repeat_unknown,
        silence_share=args.silence_share, extra_data=tuple(args.extra_data or ()) or None, strict=args.strict,
        mixup=args.mixup, ema=args.ema, weight_decay=args.weight_decay,
        init_from=args.init_from, teacher_targets=args.teacher_targets, distill_weight=args.distill_weight,
        augment=augment,
        verbose=2 if args.quiet else 1,
    )


def cmd_train(args) -> int:
    from . import export
    from .evaluate import evaluate_splits
    from .train import input_pipeline_throughput, split_cpu, train

    if args.cpu_devices:
        split_cpu(args.cpu_devices)
    cfg = train_config(args, args.out)
    result = train(cfg)
    info = result["info"]
    if not info["chief"]:
        print(f"worker done ({info['replicas']} replicas in the cluster): the chief writes the model folder")
        return 0
    splits = ("validation", "testing") if "testing" in result["decoded"] else ("validation",)
    scores = evaluate_splits(args.out, args.data_dir, splits)
    val, test = scores["validation"], scores.get("testing")
    if test:
        export.plot_confusion(__import__("numpy").array(test["confusion"]), test["labels"],
                              os.path.join(args.out, "confusion_test.png"), "test split")
    info["input_pipeline_examples_per_s"] = round(input_pipeline_throughput(cfg), 1)
    metrics = {"validation": _summary(val), "test": _summary(test) if test else None, "training": info}
    with open(os.path.join(args.out, "metrics.json"), "w") as f:
        json.dump(metrics, f, indent=2)
    export.write_model_readme(args.out, sys.argv, metrics)
    acc = f"test accuracy {test['accuracy']:.4f} (n={test['n']})" if test else "no test split"
    print(f"saved {args.out}: best validation accuracy {val['accuracy']:.4f}, {acc}, "
          f"{info['params']:,} params, {info['macs'] / 1e6:.1f} M multiply-adds, {info['train_time_s']:.0f} s")
    return 0


def _summary(r: dict) -> dict:
    keys = ("accuracy", "n", "per_class", "support", "split", "layout", "skipped_clips")
    return {k: r[k] for k in keys}


def cmd_evaluate(args) -> int:
    with stdout_only_json(args.json) as emit:
        return _evaluate(args, emit)


def _evaluate(args, emit) -> int:
    from . import export
    from .evaluate import evaluate
    from .pipeline import describe_skipped

    split = args.split
    r = evaluate(args.model, args.data_dir, layout=args.layout, split=split)
    # Only where asked: a report should not leave files in the current folder (often a checkout).
    out_png = args.confusion
    if out_png:
        try:
            export.plot_confusion(__import__("numpy").array(r["confusion"]), r["labels"], out_png, f"{split} split")
        except (OSError, ValueError) as e:  # an unwritable path or unknown image type must not lose the report
            why = (e.strerror if isinstance(e, OSError) else None) or str(e).split("\n")[0]
            print(f"confusion matrix not written: cannot write {out_png} ({why}); choose another --confusion, "
                  "e.g. confusion.png")
            out_png = None
    print(f"accuracy {r['accuracy']:.4f} on {r['n']} clips ({r['layout']} layout, {split} split)")
    for label, acc in r["per_class"].items():
        if acc is not None:
            print(f"  {label:>10}: {acc:.3f}  (n={r['support'][label]})")
    if out_png:
        print(f"confusion matrix: {out_png}")
    if r["skipped"]:
        print(describe_skipped(r["skipped"]))
    if args.json:
        emit(r)
    return 0


def cmd_export(args) -> int:
    """Re-create model.tflite from model.keras (raw audio in: see trainer.export), in place,
    checked against TensorFlow on real clips first."""
    import keras

    from kwsapp.core.model import read_config
    from kwsapp.core.wavio import load_audio

    from . import export
    from .streamtest import pick_clips

    cfg = read_config(args.model)
    if not os.path.isdir(args.data_dir):
        from kwsapp.core.errors import KwsError

        raise KwsError(f"{args.data_dir}: no such data folder (the export is checked on real clips); "
                       "run `kws-train download` to fetch it, or pass --data-dir")
    clips = [load_audio(p, cfg.features.sample_rate) for _, p in pick_clips(args.data_dir, "testing")]
    model = keras.models.load_model(os.path.join(args.model, "model.keras"), compile=False)
    path = os.path.join(args.model, "model.tflite")
    worst = export.write_tflite(model, cfg.features, path, clips)
    print(f"wrote {path}: on {worst['clips']} windows ({len(clips)} real clips) it matches TensorFlow within "
          f"{worst['log_mel']:.1g} in log-mel and {worst['scores']:.1g} in scores "
          f"(allowed {export.LOG_MEL_TOLERANCE:g} and {export.SCORE_TOLERANCE:g})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from kwsapp import __version__

    ap = parser_class(prog="kws-train", description=__doc__)
    # One version for the package: the trainer ships in the same distribution as the app.
    ap.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    # The trainer is TensorFlow: imported (quietly) before any command runs; without the train
    # extra, one line says what to install.
    ap.set_defaults(needs_tensorflow=True)
    sub = ap.add_subparsers(dest="cmd", required=True, metavar="COMMAND", parser_class=parser_class)
    p = sub.add_parser("train", help="train a model and write a model folder")
    add_train_args(p)
    p.add_argument("--out", required=True, help="model folder to write (e.g. assets/model)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="accuracy, per-class accuracy and confusion matrix of a model folder")
    p.add_argument("--model", default=os.path.join("assets", "model"), help="model folder (default: assets/model)")
    _add_data_dir(p)
    p.add_argument("--layout", choices=["auto", "standard", "test-set"], default="auto",
                   help="dataset layout: standard (word folders and split lists) or test-set (_silence_, _unknown_ and command folders, all test); auto tells them apart")
    p.add_argument("--split", default="testing", choices=D.SPLITS, type=D.split_name,
                   help="split to score, or test, val, train (default: testing; the test-set layout is all test)")
    p.add_argument("--confusion", default=None,
                   help="also write the confusion matrix as this PNG (default: none; never into the model folder "
                        "unless you name a path there)")
    p.add_argument("--json", action="store_true", help="print the results as one JSON object on stdout; the human report goes to stderr")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("export", help="re-create a model folder's model.tflite from its model.keras",
                       description="Write model.tflite (raw 16 kHz audio in; scores and log-mel out, so the app "
                                   "runs without TensorFlow) from model.keras, after checking on real test clips "
                                   "that it gives TensorFlow's features and scores.")
    p.add_argument("--model", required=True, help="model folder")
    _add_data_dir(p)
    p.set_defaults(func=cmd_export)

    for mod in _PLUGINS:
        if importlib.util.find_spec(f"trainer.{mod}") is not None:
            importlib.import_module(f"trainer.{mod}").add_parser(sub)
    return ap


# Further subcommands, each a module with add_parser(sub) that sets func.
_PLUGINS = ("compare", "explore", "download", "synth", "negatives", "finetune", "streamtest", "falsealarms", "robustness",
            "teacher", "verifier")


def main(argv=None) -> int:
    return run_main(build_parser, argv, prog="kws-train")


if __name__ == "__main__":
    sys.exit(main())

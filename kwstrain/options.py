"""The trainer's shared command-line options, and Namespace -> config for them."""
from __future__ import annotations

import argparse
import dataclasses

from kwsapp.core.errors import UsageError
from kwsapp.core.features import KINDS, LEVEL_NORMS, FeatureConfig
from kwsapp.core.model import read_config

from . import dataset as D
from .pipeline import AugmentConfig
from .train import MODEL_NAMES, STRATEGIES, TrainConfig


def add_data_dir(p):
    p.add_argument("--data-dir", default=D.default_data_dir(), help=D.DATA_DIR_HELP)


def add_feature_args(p):
    # None = not given: the defaults below, or with --init-from the starting model's own.
    p.add_argument("--feature", choices=KINDS, default=None, help="input feature (default: logmel, or --init-from's)")
    p.add_argument("--mel-bins", type=int, default=None, help="mel filters (default: 40, or --init-from's)")
    p.add_argument("--mfccs", type=int, default=None, help="MFCCs kept for --feature mfcc (default: 13, or --init-from's)")
    p.add_argument("--level-norm", choices=LEVEL_NORMS, default=None,
                   help="window: features relative to each window's level, so a quiet or distant talker "
                        "looks like a near one (not for --feature spectrogram; default: none, or --init-from's)")


def feature_config(args, base: FeatureConfig | None = None) -> FeatureConfig:
    """The feature options given, the rest from ``base`` (a starting model's) or the defaults."""
    names = {"feature": "kind", "mel_bins": "num_mel_bins", "mfccs": "num_mfcc", "level_norm": "level_norm"}
    given = {field: getattr(args, opt) for opt, field in names.items() if getattr(args, opt, None) is not None}
    try:
        return dataclasses.replace(base or FeatureConfig(), **given)
    except ValueError as e:
        raise UsageError(f"{e}; change --feature or --level-norm") from None


def level_range(text: str, option: str = "--level-db", low: float = -60.0, high: float = 20.0,
                example: str = "-40,20") -> tuple[float, float]:
    """``LOW,HIGH`` in dB -> (low, high), or a one-line error naming ``option``."""
    lo, hi = _two_numbers(text) or (high + 1.0, low - 1.0)
    if not low <= lo <= hi <= high:
        raise UsageError(f"{option} {text!r}: give LOW,HIGH in dB with {low:g} <= LOW <= HIGH <= {high:g}, "
                         f"e.g. {option}={example}")
    return lo, hi


def number_pair(text: str, option: str, example: str) -> tuple[float, float]:
    """``LOW,HIGH`` -> (low, high), or a one-line error naming ``option`` (ranges are checked later)."""
    pair = _two_numbers(text)
    if pair is None:
        raise UsageError(f"{option} {text!r}: give two numbers LOW,HIGH, e.g. {option}={example}")
    return pair


def _two_numbers(text: str) -> tuple[float, float] | None:
    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError:
        return None
    return lo, hi


def add_train_args(p):
    add_data_dir(p)
    p.add_argument("--model", choices=MODEL_NAMES, default=None,
                   help="architecture (default: vgg_small, or --init-from's)")
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
                   help="share of training clips heard in a simulated room (--reverb-rt60, --reverb-drr-db), "
                        "e.g. 0.3; 0 = off (default: 0)")
    p.add_argument("--reverb-rt60", default="0.15,0.8", metavar="LOW,HIGH",
                   help="with --reverb: the rooms' reverberation times, seconds, drawn uniformly (default: 0.15,0.8)")
    p.add_argument("--reverb-drr-db", default="0,12", metavar="LOW,HIGH",
                   help="with --reverb: direct-to-reverberant ratios, dB, drawn uniformly; 0-12 is a talker near "
                        "the microphone, below 0 beyond the room's critical distance, e.g. --reverb-drr-db=-12,12 "
                        "(default: 0,12)")
    p.add_argument("--reverb-rooms", type=float, default=0.0, metavar="SHARE",
                   help="with --reverb: this share of the rooms are image-source rooms (pyroomacoustics: walls, "
                        "reflections, talkers 0.3-5 m away; drawn once per run, --reverb-rt60's times) instead of "
                        "statistical tails, e.g. 0.5 (default: 0)")
    p.add_argument("--reverb-hf-ratio", default="1,1", metavar="LOW,HIGH",
                   help="with --reverb: above a crossover (1-4 kHz, drawn per room) the tails ring for this share "
                        "of their reverberation time, drawn uniformly, as real rooms' highs die sooner (air, "
                        "curtains, people), e.g. --reverb-hf-ratio=0.3,1 (default: 1,1, the same at all frequencies)")
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
                   help="start from this model's weights instead of random ones (its --model and feature options "
                        "unless given, and refused if given otherwise; used to fine-tune on hard negatives; "
                        "default: none)")
    p.add_argument("--teacher-targets", default=None, metavar="FILE",
                   help="knowledge distillation: train on the fixed augmented copies in this `kws-train teacher` "
                        "output (its targets.npz, or the folder) towards the teacher's probabilities mixed with "
                        "the hard labels; give the same data options the teacher was run with (default: none)")
    p.add_argument("--distill-weight", type=float, default=0.5, metavar="W",
                   help="with --teacher-targets: the teacher's share of each target, 0-1; the rest is the "
                        "label-smoothed hard label (default: 0.5)")
    p.add_argument("--strategy", choices=STRATEGIES, default="default",
                   help="tf.distribute strategy; multi-worker reads TF_CONFIG")
    p.add_argument("--cpu-devices", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--strict", action="store_true", help="stop at the first unreadable clip instead of skipping it")
    p.add_argument("--quiet", action="store_true", help="no per-step progress bar")


def train_config(args, out: str) -> TrainConfig:
    """The TrainConfig of `kws-train train`'s options (TrainConfig checks the values). With
    --init-from, the architecture and feature options not given are the starting model's."""
    base = read_config(args.init_from) if args.init_from else None
    low, high = level_range(args.level_db)
    augment = AugmentConfig(time_shift_ms=args.time_shift_ms, speed_perturb=args.speed_perturb,
                            reverb=args.reverb, band_limit=args.band_limit, level_low_db=low, level_high_db=high,
                            reverb_rt60_s=number_pair(args.reverb_rt60, "--reverb-rt60", "0.15,1.2"),
                            reverb_drr_db=number_pair(args.reverb_drr_db, "--reverb-drr-db", "-12,12"),
                            reverb_rooms=args.reverb_rooms,
                            reverb_hf_ratio=number_pair(args.reverb_hf_ratio, "--reverb-hf-ratio", "0.3,1"))
    return TrainConfig(
        data_dir=args.data_dir, out=out, model=args.model or (base.architecture if base else "vgg_small"),
        features=feature_config(args, base.features if base else None),
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

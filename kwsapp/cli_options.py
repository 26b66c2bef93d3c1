"""The command-line options both programs share: smoothing, --verifier, and the checked number
types (``kwsapp listen``/``bench`` and ``kws-train streamtest``/``falsealarms``/``robustness``)."""
from __future__ import annotations

import argparse

from .core.smoothing import SmoothingConfig, chosen, parse_thresholds
from .core.verifier import BUNDLED_VERIFIER_DIR


def thresholds_arg(text: str):
    try:
        return parse_thresholds(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def hop_ms_arg(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of milliseconds") from None
    if not 20 <= v <= 1000 or v % 10:
        raise argparse.ArgumentTypeError(f"{v} ms: use a multiple of 10 between 20 and 1000")
    return v


def positive_arg(kind, minimum=None):
    low = (1 if kind is int else 0) if minimum is None else minimum

    def parse(text: str):
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if v < low:
            raise argparse.ArgumentTypeError(f"{text} must not be {f'below {low}' if low else 'negative'}")
        return v

    return parse


def add_smoothing_args(p) -> None:
    d = SmoothingConfig()
    g = p.add_argument_group("smoothing (how window scores become detections)")
    g.add_argument("--threshold", type=thresholds_arg, default=None, metavar="T | WORD=T,...",
                   help="averaged score a command needs: one number for every word, WORD=T pairs for "
                        "some (yes=0.7,go=0.5), or both (0.6,yes=0.7) (default: the thresholds tuned for "
                        f"the model, from its config.json; {d.detection_threshold} for a model without them)")
    g.add_argument("--average-window-ms", type=positive_arg(float), default=None,
                   help="scores are averaged over this long (default: the window tuned for the model, "
                        f"from its config.json; {d.average_window_ms:g} for a model without one)")
    g.add_argument("--suppression-ms", type=positive_arg(float), default=d.suppression_ms,
                   help=f"no new detection this soon after one (default: {d.suppression_ms:g})")
    g.add_argument("--minimum-count", type=positive_arg(int), default=d.minimum_count,
                   help=f"results needed in the window before deciding (default: {d.minimum_count})")


def add_verifier_arg(p, under_kwsapp: bool = False) -> None:
    """``under_kwsapp``: a subcommand of ``kwsapp``, which has its own --verifier: a value given
    before the subcommand then stays (the subcommand's default does not replace it)."""
    p.add_argument("--verifier", nargs="?", const=BUNDLED_VERIFIER_DIR,
                   default=argparse.SUPPRESS if under_kwsapp else None, metavar="DIR",
                   help="confirm each detection with a second model before reporting it (Google's "
                        "speech_embedding and a small head): fewer false alarms and wrong words, a few more "
                        "missed commands, about 60 ms per detection (see docs/usage.md). DIR: a `kws-train "
                        "verifier` folder (given without DIR: the bundled assets/verifier). Needs pip install "
                        "'kwsapp[verify]' (default: off)")


def smoothing_from_args(args) -> SmoothingConfig:
    """The smoothing options given; the model's own tuned threshold and window where
    --threshold and --average-window-ms are not."""
    return chosen(args.model, SmoothingConfig(suppression_ms=args.suppression_ms, minimum_count=args.minimum_count),
                  threshold=args.threshold, average_window_ms=args.average_window_ms,
                  words=getattr(args, "words", None))

"""``kws-train falsealarms``: false alarms per hour on running speech, and a DET curve.

The real streaming detector (the app's engine, model, features and smoother) runs over running
speech that contains none of the commands (default: ``continuous_speech/eval_list.txt`` beside
the data folder, its files joined in list order); every detection there is a false alarm. The
same scores are replayed at each threshold of ``--sweep``, and the same thresholds are scored on
generated command streams (``streamtest``'s streams), giving one DET point per threshold: miss rate
on the streams against false alarms per hour on the speech. ``--quiet-voice-dbfs`` adds the voice of
``robustness``'s quiet room to the speech, so that a setting can be tuned on what that room measures.
"""
from __future__ import annotations

import dataclasses
import json
import os
import sys
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from kwsapp.core.errors import AudioFileError, KwsError, UsageError
from kwsapp.core.wavio import load_audio

from . import dataset as D
from . import streamtest as ST

RATE = 16000
DEFAULT_SWEEP = "0.3,0.35,0.4,0.45,0.5,0.55,0.6,0.65,0.7,0.75,0.8,0.85,0.9"


def default_speech_list(data_dir: str) -> str:
    return os.path.join(os.path.dirname(os.path.abspath(data_dir)), "continuous_speech", "eval_list.txt")


def speech_audio(list_path: str) -> tuple[np.ndarray, int]:
    """The files of a list (paths relative to it), joined in list order -> (audio, files)."""
    try:
        with open(list_path) as f:
            names = [ln.strip() for ln in f if ln.strip() and not ln.startswith("#")]
    except OSError as e:
        raise KwsError(f"cannot read {list_path} ({e.strerror}); pass --speech-list FILE (one WAV per line)") from None
    if not names:
        raise KwsError(f"{list_path} lists no files; pass --speech-list FILE (one WAV per line)")
    folder = os.path.dirname(os.path.abspath(list_path))
    parts = []
    for n in names:
        try:
            parts.append(load_audio(os.path.join(folder, n), RATE))
        except AudioFileError as e:
            raise KwsError(f"{list_path}: {e}") from None
    return np.concatenate(parts), len(names)


def _poisson_cdf(k: int, mean: float) -> float:
    """P(X <= k) for a Poisson count of this mean (summed in log space: no overflow for large k)."""
    if mean <= 0:
        return 1.0
    i = np.arange(k + 1)
    logs = i * np.log(mean) - mean - np.cumsum(np.log(np.maximum(i, 1)))
    return float(np.exp(logs).sum())


def poisson_interval(k: int, confidence: float = 0.95) -> tuple[float, float]:
    """Exact (Garwood) interval for the mean of a Poisson count ``k``: the means under which ``k``
    or more, and ``k`` or fewer, events each have probability (1 - confidence) / 2. A few false
    alarms pin the rate down only loosely: 2 events give 0.24-7.2."""
    tail = (1.0 - confidence) / 2.0

    def solve(f):  # f rises with the mean; bisection, to well below the figures printed
        lo, hi = 0.0, 10.0 + 10.0 * k
        for _ in range(100):
            mid = (lo + hi) / 2.0
            lo, hi = (mid, hi) if f(mid) < 0 else (lo, mid)
        return (lo + hi) / 2.0

    lower = 0.0 if k == 0 else solve(lambda m: (1.0 - _poisson_cdf(k - 1, m)) - tail)
    upper = solve(lambda m: tail - _poisson_cdf(k, m))
    return lower, upper


def false_alarms(detections, hours: float) -> dict:
    """detections: [(label, time_s)] on speech without commands -> counts and rates, with the
    rate's 95 % interval (events are few: the interval is the honest figure)."""
    per_word = Counter(label for label, _ in detections)
    lo, hi = poisson_interval(len(detections))
    return {"false_alarms": len(detections), "per_hour": len(detections) / hours,
            "per_hour_95": [lo / hours, hi / hours],
            "per_word": dict(sorted(per_word.items(), key=lambda kv: (-kv[1], kv[0]))),
            "times_s": [round(t, 2) for _, t in detections]}


def det_rows(labels, base, speech_hops, hours, stream_runs, settings, tolerance_s) -> list[dict]:
    """One row per (window ms, threshold) of ``settings``: false alarms per hour on the speech,
    and the streams' scores."""
    rows = []
    for window, th in settings:
        cfg = dataclasses.replace(base, average_window_ms=window, detection_threshold=th)
        fa = false_alarms(ST.replay(labels, cfg, speech_hops), hours)
        row = {"average_window_ms": window, "threshold": th, "false_alarms": fa["false_alarms"],
               "per_hour": fa["per_hour"], "per_hour_95": fa["per_hour_95"], "per_word": fa["per_word"]}
        if stream_runs:
            t = ST.total([ST.score(ST.replay(labels, cfg, hops), truth, tolerance_s) for hops, truth in stream_runs])
            row.update(correct_pct=t["correct_pct"], wrong_pct=t["wrong_pct"],
                       false_positive_pct=t["false_positive_pct"], miss_pct=100.0 - t["correct_pct"])
        rows.append(row)
    return rows


def pick_setting(rows, max_per_hour: float, max_wrong_pct: float, max_fp_pct: float) -> tuple[dict, str]:
    """The row to ship: the most correct on the streams among rows within all three limits
    (fewer false alarms per hour break ties); when none is, the fewest false alarms per hour
    among rows within the stream limits, else overall."""
    within_streams = [r for r in rows if r["wrong_pct"] <= max_wrong_pct and r["false_positive_pct"] <= max_fp_pct]
    ok = [r for r in within_streams if r["per_hour"] <= max_per_hour]
    if ok:
        return max(ok, key=lambda r: (r["correct_pct"], -r["per_hour"])), (
            f"most correct with <= {max_per_hour:g} false alarms per hour, wrong <= {max_wrong_pct:g}% "
            f"and false positives <= {max_fp_pct:g}%")
    pool = within_streams or rows
    return min(pool, key=lambda r: (r["per_hour"], -r["correct_pct"])), (
        f"no setting reached <= {max_per_hour:g} false alarms per hour within the stream limits: "
        "the fewest false alarms per hour")


def raise_word_thresholds(labels, cfg, speech_hops, stream_runs, candidates, tolerance_s) -> dict[str, float]:
    """Per-word thresholds above ``cfg``'s: for each word that fires on the speech, the highest
    of ``candidates`` that removes some of its false alarms without losing a single correct
    detection on the streams (words in turn, most false alarms first). Only raising, and only
    when free on the streams: with a few false alarms per word, anything bolder would fit the
    eval speech rather than speech in general."""
    def measure(c):
        fa = false_alarms(ST.replay(labels, c, speech_hops), 1.0)["per_word"]
        correct = sum(ST.score(ST.replay(labels, c, hops), truth, tolerance_s)["correct"] for hops, truth in stream_runs)
        return fa, correct

    fa, correct = measure(cfg)
    chosen: dict[str, float] = {}
    for word in list(fa):
        for th in sorted((t for t in candidates if t > cfg.threshold_for(word)), reverse=True):
            trial = dataclasses.replace(cfg, word_thresholds=chosen | {word: th})
            fa_t, correct_t = measure(trial)
            if correct_t >= correct and fa_t.get(word, 0) < fa[word]:
                chosen[word] = th
                break
    return chosen


def plot_det(curves, path: str, title: str) -> None:
    """Miss rate on the streams against false alarms per hour, one point per threshold.
    ``curves``: [(name, rows, marked)], ``marked`` the row of the setting in use (it may carry
    per-word thresholds, so it need not lie on its curve) or None."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def x(row):  # a log axis has no 0: plot 0 at 0.5/h, labelled
        return max(row["per_hour"], 0.5)

    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=110)
    for (name, rows, marked), colour in zip(curves, ("#1f77b4", "#7f7f7f", "#2ca02c", "#9467bd")):
        ax.plot([x(r) for r in rows], [r["miss_pct"] for r in rows], "o-", color=colour, ms=4, label=name)
        for r in rows:
            ax.annotate(f"{r['threshold']:g}", (x(r), r["miss_pct"]), textcoords="offset points", xytext=(4, 3),
                        fontsize=6.5, color=colour)
        if marked is not None:
            what = f"in use: {marked['threshold']:g}" + (" + per-word" if marked.get("word_thresholds") else "")
            ax.plot([x(marked)], [marked["miss_pct"]], "o", ms=11, mfc="none", color="#d62728")
            ax.annotate(what, (x(marked), marked["miss_pct"]), textcoords="offset points", xytext=(8, -12),
                        fontsize=7, color="#d62728")
    ax.set_xscale("log")
    ax.set_xlabel("false alarms per hour of running speech (0 plotted at 0.5)")
    ax.set_ylabel("missed commands on the streams, %")
    ax.set_title(title, fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


@dataclass(frozen=True)
class Recorded:
    """The detector's scores on the speech and on the command streams, replayable at any setting."""

    labels: tuple
    base: Any  # the detector's SmoothingConfig
    speech_hops: Any
    hours: float
    stream_runs: list  # [(hops, truth)]
    tolerance_s: float

    def rows(self, settings, base=None) -> list[dict]:
        return det_rows(self.labels, self.base if base is None else base, self.speech_hops, self.hours,
                        self.stream_runs, settings, self.tolerance_s)


@dataclass(frozen=True)
class Limits:
    max_per_hour: float = 10.0
    max_wrong_pct: float = 2.0
    max_fp_pct: float = 1.0


@dataclass(frozen=True)
class Tuned:
    row: dict  # the chosen sweep row
    why: str
    word_thresholds: dict  # raised per-word thresholds ({} without per-word tuning)
    per_word_row: dict | None  # the chosen row with them, or None


def record(detector, speech: np.ndarray, streams, tolerance_s: float = 1.5) -> Recorded:
    """Run ``detector`` once over ``speech`` and each (audio, truth) of ``streams``."""
    return Recorded(tuple(detector.labels), detector.settings.smoothing, ST.record(detector, speech),
                    len(speech) / RATE / 3600.0, [(ST.record(detector, a), truth) for a, truth in streams],
                    tolerance_s)


def tune(rec: Recorded, rows: list[dict], thresholds: list[float], limits: Limits, per_word: bool) -> Tuned:
    """The setting ``make model`` saves: the best row by :func:`pick_setting`, then (``per_word``)
    single words' thresholds raised where that is free on the streams."""
    best, why = pick_setting(rows, limits.max_per_hour, limits.max_wrong_pct, limits.max_fp_pct)
    if not per_word:
        return Tuned(best, why, {}, None)
    cfg = dataclasses.replace(rec.base, average_window_ms=best["average_window_ms"],
                              detection_threshold=best["threshold"], word_thresholds=())
    words = raise_word_thresholds(rec.labels, cfg, rec.speech_hops, rec.stream_runs, thresholds, rec.tolerance_s)
    tuned = dataclasses.replace(cfg, word_thresholds=tuple(words.items()))
    row = dict(rec.rows([(cfg.average_window_ms, cfg.detection_threshold)], tuned)[0], word_thresholds=words)
    return Tuned(best, why, words, row)


def run(args) -> int:
    """The command line: check the options, build the detector and the audio, tune, print the report."""
    from kwsapp.cli_options import smoothing_from_args
    from kwsapp.core.detector import Detector, EngineSettings

    from .modelfolder import save_smoothing

    def say(text):  # with --json, stdout carries only the JSON
        print(text, file=sys.stderr if args.json else sys.stdout, flush=True)

    if args.streams < 0:
        raise UsageError("--streams must be 0 or more")
    thresholds = ST._values(args.sweep, "--sweep", 0.0, 1.0, "0.5,0.6,0.7")
    if args.per_word and not args.save_smoothing:
        raise UsageError("--per-word tunes with --save-smoothing; give both")
    if args.save_smoothing and (args.split != "validation" or not args.streams):
        raise UsageError("--save-smoothing needs --split validation and --streams 1 or more "
                       "(tune on validation streams and the eval speech, report on testing)")
    if args.save_smoothing and args.verifier:
        raise UsageError("--save-smoothing writes the model's own setting, which applies without the check too: "
                         "tune without --verifier, or measure with --verifier and set --threshold by hand")
    if args.det and not args.streams:
        raise UsageError("--det needs command streams for the miss rate; give --streams 1 or more")
    list_path = args.speech_list or default_speech_list(args.data_dir)
    smoothing = smoothing_from_args(args)
    settings = EngineSettings(hop_ms=args.hop_ms, smoothing=smoothing, backend=args.backend,
                              verifier=args.verifier)
    detector = Detector(args.model, settings)
    audio, n_files = speech_audio(list_path)
    voice_s = 0.0
    if args.quiet_voice_dbfs:
        from . import quietroom as QR

        voice_levels = ST._values(args.quiet_voice_dbfs, "--quiet-voice-dbfs", -100.0, -20.0, QR.DEFAULT_LEVELS)
        voice = QR.voice_at_levels(args.data_dir, voice_levels, args.seed)
        voice_s = len(voice) / RATE
        audio = np.concatenate([audio, voice])
    say(f"running speech: {n_files} files, {len(audio) / RATE / 60:.1f} min ({list_path}"
        + (f", and the quiet room's voice, {voice_s / 60:.1f} min)" if voice_s else ")"))
    base = smoothing
    windows = (ST._values(args.sweep_window, "--sweep-window", 1.0, 10000.0, "300,400,500")
               if args.sweep_window else [base.average_window_ms])
    streams = [ST.make_stream(args.data_dir, args.split, ST.StreamSpec(duration_s=args.duration, seed=args.seed + k))
               for k in range(args.streams)]
    rec = record(detector, audio, streams, args.tolerance_ms / 1000.0)
    hours = rec.hours
    at_row = dict(rec.rows([(base.average_window_ms, base.detection_threshold)])[0],
                  word_thresholds=dict(base.word_thresholds))
    at = false_alarms(ST.replay(rec.labels, base, rec.speech_hops), hours)
    r = {"model": args.model, "speech_list": list_path, "speech_files": n_files, "speech_hours": hours,
         "quiet_voice_s": voice_s, "smoothing": base.to_dict(), **at}
    say(f"at threshold {base.detection_threshold:g}, window {base.average_window_ms:g} ms: "
        f"{at['false_alarms']} false alarms in {hours * 60:.1f} min = {at['per_hour']:.1f} per hour, "
        f"95 % interval {at['per_hour_95'][0]:.1f}-{at['per_hour_95'][1]:.1f}"
        + (f" ({', '.join(f'{w} {n}' for w, n in at['per_word'].items())})" if at["per_word"] else ""))
    # The sweep is of one threshold for every word (the model's per-word values set aside).
    rows = rec.rows([(w, th) for w in windows for th in thresholds], dataclasses.replace(base, word_thresholds=()))
    r.update(split=args.split, streams=args.streams, seed=args.seed, duration_s=args.duration,
             at_setting=at_row, sweep=rows)
    head = "window ms  threshold  false alarms/h" + ("  streams: correct  wrong  false pos.  missed" if streams else "")
    say(head)
    for row in rows:
        line = f"{row['average_window_ms']:9g}  {row['threshold']:9g}  {row['per_hour']:14.1f}"
        if streams:
            line += (f"  {row['correct_pct']:15.1f}%  {row['wrong_pct']:4.1f}%  {row['false_positive_pct']:9.1f}%"
                     f"  {row['miss_pct']:5.1f}%")
        say(line)
    shown = (base.average_window_ms, base.detection_threshold, at_row)  # the DET curve's window, marked point
    if args.save_smoothing:
        t = tune(rec, rows, thresholds, Limits(args.max_per_hour, args.max_wrong_pct, args.max_fp_pct), args.per_word)
        best, words = t.row, t.word_thresholds
        shown = (best["average_window_ms"], best["threshold"], t.per_word_row or best)
        if t.per_word_row is not None:
            r["per_word_tuned"] = t.per_word_row
        save_smoothing(args.model, best["threshold"], best["average_window_ms"], words)
        r["saved_smoothing"] = {"detection_threshold": best["threshold"],
                                "average_window_ms": best["average_window_ms"], "word_thresholds": words, "why": t.why}
        say(f"saved threshold {best['threshold']:g} and window {best['average_window_ms']:g} ms in "
            f"{os.path.join(args.model, 'config.json')} ({t.why})")
        if t.per_word_row is not None:
            w = t.per_word_row
            say(f"per-word thresholds {', '.join(f'{k}={v:g}' for k, v in words.items()) or '(none raised)'}: "
                f"{w['per_hour']:.1f} false alarms per hour, streams {w['correct_pct']:.1f}% correct, "
                f"{w['wrong_pct']:.1f}% wrong, {w['false_positive_pct']:.1f}% false positives")
    if args.det:
        title = (f"{os.path.basename(os.path.abspath(args.model))}: {hours * 60:.1f} min of speech, "
                 f"{args.streams} x {args.duration:g} s {args.split} streams, window {shown[0]:g} ms")
        name = os.path.basename(os.path.abspath(args.model))
        plot_det([(f"{name}, one threshold for every word", [row for row in rows if row["average_window_ms"] == shown[0]],
                   shown[2])], args.det, title)
        say(f"wrote {args.det}")
    if args.json:
        print(json.dumps(r))
    return 0


def add_parser(sub) -> None:
    from kwsapp.core.model import BUNDLED_MODEL_DIR

    p = sub.add_parser("falsealarms", help="false alarms per hour on running speech, and a DET curve",
                       description=__doc__.split("\n\n", 1)[1].replace("``", ""))
    p.add_argument("--model", default=BUNDLED_MODEL_DIR, help="model folder (default: the bundled assets/model)")
    p.add_argument("--data-dir", default=D.default_data_dir(), help=D.DATA_DIR_HELP + " for the command streams")
    p.add_argument("--speech-list", default=None, metavar="FILE",
                   help="running speech without commands, one WAV per line (default: "
                        "continuous_speech/eval_list.txt beside the data folder)")
    p.add_argument("--quiet-voice-dbfs", default=None, metavar="DB1,DB2,...",
                   help="also count as running speech the voice among the dataset's background noise files (a "
                        "person imitating a cat), once at each of these levels (dBFS RMS) as `robustness`'s quiet "
                        "room plays it, e.g. --quiet-voice-dbfs=-70,-60,-50 (default: none)")
    p.add_argument("--sweep", default=DEFAULT_SWEEP, metavar="T1,T2,...",
                   help=f"thresholds for the DET curve (default: {DEFAULT_SWEEP})")
    p.add_argument("--sweep-window", default=None, metavar="MS1,MS2,...",
                   help="also score these averaging windows, each with every --sweep threshold "
                        "(default: the model's window only)")
    p.add_argument("--save-smoothing", action="store_true",
                   help="with --split validation: write the best swept threshold and window into the model's "
                        "config.json (most correct on the streams within --max-per-hour, --max-wrong-pct and "
                        "--max-fp-pct)")
    p.add_argument("--per-word", action="store_true",
                   help="with --save-smoothing: also raise single words' thresholds (from the --sweep values) "
                        "where that removes their false alarms at no loss of correct detections on the streams")
    p.add_argument("--max-per-hour", type=float, default=10.0,
                   help="false alarms per hour a saved setting may have (default: 10)")
    p.add_argument("--max-wrong-pct", type=float, default=2.0,
                   help="wrong detections on the streams a saved setting may have, %% (default: 2)")
    p.add_argument("--max-fp-pct", type=float, default=1.0,
                   help="false positives on the streams a saved setting may have, %% (default: 1)")
    p.add_argument("--streams", type=int, default=3,
                   help="command streams for the miss rate, seeds SEED, SEED+1, ... (default: 3; 0: none)")
    p.add_argument("--split", choices=["testing", "validation"], default="testing", type=D.split_name,
                   help="clips for the command streams, or test, val (default: testing)")
    p.add_argument("--seed", type=int, default=0, help="first stream seed (default: 0)")
    p.add_argument("--duration", type=float, default=600.0, help="seconds per stream (default: 600)")
    ST.add_detector_args(p)
    p.add_argument("--det", default=None, metavar="PNG", help="draw the DET curve into this PNG (default: none)")
    p.add_argument("--json", action="store_true", help="print the results as one JSON object (stdout holds only it)")
    p.set_defaults(func=run)

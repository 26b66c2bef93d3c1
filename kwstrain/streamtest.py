"""``kws-train streamtest``: streaming accuracy of a model, as the TF speech_commands
example measures it (``generate_streaming_test_wav`` + ``test_streaming_accuracy``).

The stream: background noise throughout (1.5 s segments every second at a random volume
up to ``background_volume``, cross-faded), and one clip of the chosen split in every 3 s
slot at a random offset in its first 2 s; 30% of the clips are unknown words. Labels
are written as the TF example does: ``label, start_ms`` per line.

Scoring: each detection (commands only; silence and unknown are never reported) is
matched to the first clip whose start lies within +-tolerance of the detection's stream
time: same label and that clip not matched before -> correct, else wrong; no clip in
range -> false positive. Rates are over the number of command clips. Unknown-word clips
are in the ground truth, so a command reported on an unknown word counts as wrong.
"""
from __future__ import annotations

import dataclasses
import math
import os
import sys
from dataclasses import dataclass

import numpy as np

from kwsapp.cli_util import stdout_only_json
from kwsapp.core.errors import KwsError, UsageError
from kwsapp.core.wavio import load_audio, write_wav

from . import dataset as D

SAMPLE_RATE = 16000


@dataclass(frozen=True)
class StreamSpec:
    duration_s: float = 600.0
    clip_ms: int = 1000
    word_gap_ms: int = 2000
    unknown_share: float = 0.3
    background_volume: float = 0.1
    seed: int = 0


def _mix_in(out, offset, src, src_offset, length, volume, ramp_in, ramp_out):
    """The TF example's mix_in_audio_sample: add src with linear fade in/out."""
    length = min(length, len(src) - src_offset, len(out) - offset)
    if length <= 0:
        return
    env = np.full(length, volume, np.float32)
    if ramp_in:
        k = min(ramp_in, length)
        env[:k] *= np.arange(k, dtype=np.float32) / ramp_in
    if ramp_out:
        k = min(ramp_out, length)
        env[length - k :] *= np.arange(k, 0, -1, dtype=np.float32) / ramp_out
    out[offset : offset + length] += src[src_offset : src_offset + length] * env


def make_stream(data_dir: str, split: str = "testing", spec: StreamSpec = StreamSpec(),
                commands=D.COMMANDS) -> tuple[np.ndarray, list[tuple[str, float]]]:
    """-> (16 kHz mono audio, [(label, start_s)] for every clip mixed in)."""
    ds = D.scan(data_dir, commands)
    clips = [c for c in ds.split(split) if c.path and c.label != D.SILENCE]
    known = [c for c in clips if c.label != D.UNKNOWN]
    unknown = [c for c in clips if c.label == D.UNKNOWN]
    if not known:
        raise KwsError(f"{data_dir}: no command clips in the {split} split")
    rng = np.random.default_rng(spec.seed)
    n = int(spec.duration_s * SAMPLE_RATE)
    out = np.zeros(n, np.float32)
    clip_n = spec.clip_ms * SAMPLE_RATE // 1000

    noise = [load_audio(p, SAMPLE_RATE) for p in ds.background_files]
    noise = [x for x in noise if len(x) > clip_n]
    if noise:
        seg, stride, ramp = clip_n * 3 // 2, clip_n, clip_n // 2
        for i in range(math.ceil(n / stride)):
            bg = noise[rng.integers(len(noise))]
            _mix_in(out, i * stride, bg, int(rng.integers(0, len(bg) - clip_n)), seg,
                    float(rng.uniform(0, spec.background_volume)), ramp, ramp)

    cache: dict[str, np.ndarray] = {}
    labels = []
    stride = (spec.clip_ms + spec.word_gap_ms) * SAMPLE_RATE // 1000
    gap = spec.word_gap_ms * SAMPLE_RATE // 1000
    for i in range(n // stride):
        offset = i * stride + int(rng.integers(gap))
        pool = unknown if unknown and rng.random() < spec.unknown_share else known
        if pool is known:  # a command chosen uniformly first, then one of its clips, as TF does
            word = commands[rng.integers(len(commands))]
            pool = [c for c in known if c.label == word] or known
        clip = pool[rng.integers(len(pool))]
        path = clip.path
        assert path is not None  # a word's clip is a file (only silence clips have none)
        if path not in cache:
            cache[path] = load_audio(path, SAMPLE_RATE)
        _mix_in(out, offset, cache[path], 0, clip_n, 1.0, 500, 500)
        labels.append((clip.label, offset / SAMPLE_RATE))
    return np.clip(out, -1.0, 1.0), labels


def pick_clips(data_dir: str, split: str = "testing", words=D.COMMANDS, per_word: int = 1) -> list:
    """The first ``per_word`` clips (by path) of each word in ``split``: a fixed, repeatable
    choice for tests and demos."""
    ds = D.scan(data_dir, D.COMMANDS)
    chosen = []
    for w in words:
        paths = sorted(c.path for c in ds.split(split) if c.path and c.word == w)
        chosen += [(w, p) for p in paths[:per_word]]
    return chosen


def sequence_stream(clips, gap_s: float = 1.0, lead_s: float = 0.5, noise: float = 0.002,
                    seed: int = 0) -> tuple[np.ndarray, list[tuple[str, float]]]:
    """[(label, path)] -> (audio: the clips one after another with ``gap_s`` of faint noise
    between, [(label, start_s)])."""
    rng = np.random.default_rng(seed)
    parts, truth, t = [np.zeros(int(lead_s * SAMPLE_RATE), np.float32)], [], lead_s
    for label, path in clips:
        x = load_audio(path, SAMPLE_RATE)
        truth.append((label, t))
        parts += [x, np.zeros(int(gap_s * SAMPLE_RATE), np.float32)]
        t += (len(x) + int(gap_s * SAMPLE_RATE)) / SAMPLE_RATE
    audio = np.concatenate(parts)
    audio += noise * rng.standard_normal(len(audio)).astype(np.float32)
    return np.clip(audio, -1.0, 1.0), truth


def write_labels(path: str, labels) -> None:
    with open(path, "w") as f:
        for label, t in labels:
            f.write(f"{label}, {t * 1000:f}\n")


def read_labels(path: str) -> list[tuple[str, float]]:
    out = []
    with open(path) as f:
        for line in f:
            parts = line.split(",")
            if len(parts) == 2:
                out.append((parts[0].strip(), float(parts[1]) / 1000.0))
    return sorted(out, key=lambda x: x[1])


def score(detections, truth, tolerance_s: float = 1.5, ignore=(D.SILENCE, D.UNKNOWN)) -> dict:
    """detections: [(label, time_s)]; truth: [(label, start_s)]. TF's matching rule."""
    truth = sorted(truth, key=lambda x: x[1])
    n_commands = sum(1 for l, _ in truth if l not in ignore)
    matched = set()
    correct = wrong = fp = 0
    for label, t in detections:
        hit = next((i for i, (_, gt) in enumerate(truth) if abs(gt - t) <= tolerance_s), None)
        if hit is None:
            fp += 1
            continue
        if truth[hit][0] == label and hit not in matched:
            correct += 1
        else:
            wrong += 1
        matched.add(hit)
    denom = max(n_commands, 1)
    return {"commands": n_commands, "detections": len(detections), "correct": correct, "wrong": wrong,
            "false_positives": fp, "correct_pct": 100.0 * correct / denom,
            "wrong_pct": 100.0 * wrong / denom, "false_positive_pct": 100.0 * fp / denom}


class Recorded(list):
    """Per-window scores [(time_ms, scores)] recorded from a stream, and, when the detector had a
    verifier, the check that replays its answers (:class:`VerifierReplay`); ``detections``: what the
    detector itself reported."""
    check: VerifierReplay | None = None
    detections: tuple = ()  # replaced by record(); never a list shared by every instance


def record(detector, audio) -> Recorded:
    """Run ``detector`` over ``audio``; its per-window scores, with a verifier replay if it has one."""
    hops = Recorded()
    hops.detections = detector.run_offline(audio, on_hop=lambda h: hops.append((h.stream_time_s * 1000.0,
                                                                                 h.scores.copy())))
    if detector.verifier is not None:
        hops.check = VerifierReplay(detector.verifier, hops, audio, detector.sample_rate)
    return hops


class VerifierReplay:
    """The verifier's answer for a detection replayed at hop ``i``: the same window the live
    Detector would ask about (kwsapp.core.verifier.best_hop), cut from the recorded stream's audio;
    each (window, label) is asked once."""

    def __init__(self, verifier, hops, audio, sample_rate: int):
        self.verifier, self.audio, self.rate = verifier, audio, sample_rate
        self.times = np.array([t for t, _ in hops])
        self.scores = [s for _, s in hops]
        self._cache: dict[tuple[int, str], float] = {}

    def __call__(self, label: str, i: int, window_ms: float) -> bool:
        from kwsapp.core.verifier import best_hop

        j = best_hop(self.times, self.scores, self.verifier.labels.index(label), self.times[i], window_ms)
        if (j, label) not in self._cache:
            end = round(self.times[j] * self.rate / 1000.0)
            n = self.verifier.config.clip_samples
            w = np.asarray(self.audio[max(0, end - n):end], np.float32)
            self._cache[j, label] = self.verifier.check(np.pad(w, (n - len(w), 0)), label)
        return self._cache[j, label] >= self.verifier.gate


def replay(labels, smoothing, hops) -> list[tuple[str, float]]:
    """Detections that ``smoothing`` makes of recorded per-window scores ``hops``
    [(time_ms, scores)]: the engine's smoother without re-running the model (and, for hops
    recorded with a verifier, its check: a rejected detection still starts the suppression,
    as live)."""
    from kwsapp.core.smoothing import Smoother

    sm = Smoother(labels, smoothing)
    check = getattr(hops, "check", None)
    out = []
    for i, (t_ms, scores) in enumerate(hops):
        r = sm.update(scores, t_ms)
        if r.is_new and r.label is not None and (check is None or check(r.label, i, smoothing.average_window_ms)):
            out.append((r.label, t_ms / 1000.0))
    return out


COUNTS = ("commands", "detections", "correct", "wrong", "false_positives")


def total(results: list[dict]) -> dict:
    """Counts summed over streams, rates recomputed over all their command clips."""
    t = {k: sum(r[k] for r in results) for k in COUNTS}
    denom = max(t["commands"], 1)
    t.update(correct_pct=100.0 * t["correct"] / denom, wrong_pct=100.0 * t["wrong"] / denom,
             false_positive_pct=100.0 * t["false_positives"] / denom)
    return t


def _values(text: str, option: str, low: float, high: float, example: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values or not all(low <= v <= high for v in values):
        raise UsageError(f"{option} {text!r}: give comma-separated values between {low:g} and {high:g}, e.g. {example}")
    return values


MAX_ERROR_PCT = 3.0  # wrong and false-positive rates tuned smoothing must keep to (issue's targets)


def pick_smoothing(rows: list[dict], max_error_pct: float = MAX_ERROR_PCT) -> tuple[dict, str]:
    """The swept row (threshold and window) to adopt: the most correct detections among rows
    whose wrong and false-positive rates are both within ``max_error_pct`` (fewer errors break
    ties); when none is, the best correct - wrong - false positives. Returns (row, why)."""
    ok = [r for r in rows if r["wrong_pct"] <= max_error_pct and r["false_positive_pct"] <= max_error_pct]
    if ok:
        best = max(ok, key=lambda r: (r["correct_pct"], -(r["wrong_pct"] + r["false_positive_pct"])))
        return best, f"most correct with wrong and false positives each at most {max_error_pct:g}%"
    best = max(rows, key=lambda r: r["correct_pct"] - r["wrong_pct"] - r["false_positive_pct"])
    return best, (f"no setting kept both error rates at most {max_error_pct:g}%: best "
                  "correct - wrong - false positives")


def evaluate(detector, streams, sweep=(), tolerance_s: float = 1.5) -> dict:
    """Score ``detector`` on each (audio, truth, seed) of ``streams`` at its setting, and each
    (window ms, threshold) of ``sweep`` replayed on the same scores: the totals, per stream too."""
    per_stream: list[dict] = []
    swept: dict[tuple[float, float], list[dict]] = {key: [] for key in sweep}
    for audio, truth, seed in streams:
        hops = record(detector, audio)
        per_stream.append(dict(score([(d.label, d.stream_time_s) for d in hops.detections], truth, tolerance_s),
                               seed=seed))
        for w, th in sweep:
            cfg = dataclasses.replace(detector.settings.smoothing, average_window_ms=w, detection_threshold=th)
            swept[w, th].append(score(replay(detector.labels, cfg, hops), truth, tolerance_s))
    r = total(per_stream) if len(streams) > 1 else {k: v for k, v in per_stream[0].items() if k != "seed"}
    if len(streams) > 1:
        r["per_stream"] = per_stream
    if sweep:
        r["sweep"] = [dict(average_window_ms=w, threshold=th, **total(swept[w, th])) for w, th in sweep]
    return r


def run(args) -> int:
    with stdout_only_json(args.json) as emit:
        return _run(args, emit)


def _run(args, emit) -> int:
    from kwsapp.cli_options import smoothing_from_args
    from kwsapp.core.detector import Detector, EngineSettings

    from .modelfolder import save_smoothing

    if args.streams < 1:
        raise UsageError("--streams must be at least 1")
    smoothing = smoothing_from_args(args)
    settings = EngineSettings(hop_ms=args.hop_ms, smoothing=smoothing, backend=args.backend,
                              verifier=args.verifier)
    thresholds = _values(args.sweep, "--sweep", 0.0, 1.0, "0.4,0.5,0.6") if args.sweep else []
    windows = (_values(args.sweep_window, "--sweep-window", 1.0, 10000.0, "300,500,750") if args.sweep_window
               else [smoothing.average_window_ms])
    if args.sweep_window and not thresholds:
        thresholds = [smoothing.detection_threshold]
    sweep = [(w, th) for w in windows for th in thresholds]
    if args.save_smoothing and args.verifier:
        raise UsageError("--save-smoothing writes the model's own setting, which applies without the check too: "
                         "tune without --verifier")
    if args.save_smoothing and (not sweep or args.split != "validation"):
        raise UsageError("--save-smoothing needs --sweep or --sweep-window, and --split validation (tune on validation, report on testing)")
    detector = Detector(args.model, settings)
    if detector.warning:
        print(f"warning: {detector.warning}", file=sys.stderr)
    streams = []
    for k in range(args.streams):
        spec = StreamSpec(duration_s=args.duration, seed=args.seed + k, unknown_share=args.unknown_share,
                          background_volume=args.background_volume)
        audio, truth = make_stream(args.data_dir, args.split, spec)
        if args.out_wav and k == 0:
            write_wav(args.out_wav, audio)
            write_labels(os.path.splitext(args.out_wav)[0] + "_labels.txt", truth)
        streams.append((audio, truth, spec.seed))
    r = evaluate(detector, streams, sweep, args.tolerance_ms / 1000.0)
    r.update(split=args.split, duration_s=args.duration, seed=args.seed, streams=args.streams,
             hop_ms=args.hop_ms, smoothing=smoothing.to_dict(), model=args.model)
    what = f"{args.streams} streams of {args.duration:g} s" if args.streams > 1 else f"{args.duration:g} s"
    print(f"{r['commands']} command clips in {what} ({args.split} split): "
          f"{r['correct_pct']:.1f}% correct, {r['wrong_pct']:.1f}% wrong, "
          f"{r['false_positive_pct']:.1f}% false positives ({r['detections']} detections)")
    if sweep:
        print("window ms  threshold  correct  wrong  false pos.  (same streams, other settings unchanged)")
        for row in r["sweep"]:
            print(f"{row['average_window_ms']:9g}  {row['threshold']:9.3g}  {row['correct_pct']:6.1f}%  "
                  f"{row['wrong_pct']:4.1f}%  {row['false_positive_pct']:9.1f}%")
        if args.save_smoothing:
            best, why = pick_smoothing(r["sweep"])
            save_smoothing(args.model, best["threshold"], best["average_window_ms"])
            r["saved_smoothing"] = {"detection_threshold": best["threshold"],
                                    "average_window_ms": best["average_window_ms"]}
            print(f"saved threshold {best['threshold']:g} and window {best['average_window_ms']:g} ms in "
                  f"{os.path.join(args.model, 'config.json')} ({why})")
    if args.json:
        emit(r)
    return 0


def add_detector_args(p) -> None:
    """How detections are made and matched: shared by streamtest and falsealarms."""
    from kwsapp.cli_options import add_smoothing_args, add_verifier_arg

    p.add_argument("--tolerance-ms", type=float, default=1500.0,
                   help="max distance between a detection and its clip's start (default: 1500)")
    p.add_argument("--hop-ms", type=int, default=100, help="engine hop (default: 100)")
    p.add_argument("--backend", choices=["auto", "tflite", "keras"], default="auto",
                   help="runtime: tflite (model.tflite), keras (model.keras, needs TensorFlow) or auto (tflite when there)")
    add_verifier_arg(p)
    add_smoothing_args(p)


def add_parser(sub) -> None:
    from kwsapp.core.model import BUNDLED_MODEL_DIR

    p = sub.add_parser("streamtest", help="streaming accuracy on a generated long WAV (TF example's method)",
                       description=__doc__.split("\n\n", 1)[1])
    p.add_argument("--model", default=BUNDLED_MODEL_DIR, help="model folder (default: the bundled assets/model)")
    p.add_argument("--data-dir", default=D.default_data_dir(), help=D.DATA_DIR_HELP)
    p.add_argument("--split", choices=["testing", "validation"], default="testing", type=D.split_name,
                   help="clips to draw from, or test, val (tune smoothing on validation, report testing)")
    p.add_argument("--duration", type=float, default=600.0, help="stream length in seconds (default: 600)")
    p.add_argument("--seed", type=int, default=0, help="stream seed (default: 0)")
    p.add_argument("--streams", type=int, default=1,
                   help="score this many streams, seeds SEED, SEED+1, ..., and report the totals (default: 1)")
    p.add_argument("--sweep", default=None, metavar="T1,T2,...",
                   help="also score these detection thresholds on the same streams (the model runs once)")
    p.add_argument("--sweep-window", default=None, metavar="MS1,MS2,...",
                   help="also score these averaging windows, each with every --sweep threshold")
    p.add_argument("--save-smoothing", action="store_true",
                   help="with --sweep or --sweep-window on --split validation: write the best swept threshold "
                        "and window into the model's config.json (most correct with wrong and false positives "
                        f"each <= {MAX_ERROR_PCT:g}%%), where listen, streamtest and the app read them as the model's "
                        "defaults")
    p.add_argument("--unknown-share", type=float, default=0.3, help="share of unknown-word clips (default: 0.3)")
    p.add_argument("--background-volume", type=float, default=0.1, help="max noise volume (default: 0.1)")
    add_detector_args(p)
    p.add_argument("--out-wav", default=None, help="also write the stream here (and <name>_labels.txt)")
    p.add_argument("--json", action="store_true", help="print the results as one JSON object on stdout; the human report goes to stderr")
    p.set_defaults(func=run)

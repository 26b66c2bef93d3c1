"""``kwsapp bench``: how fast the streaming engine runs on this machine.

Per window (after warm-up): the model call for each runtime (tflite: features and network in
one LiteRT call; keras, when TensorFlow is installed: its feature part too), and the whole hop
(window to smoothed scores) — median and p99. Then the real-time factor of ``listen --input``
(a WAV decoded and processed as fast as possible) and the CPU used while listening live at
real-time speed (share of one core, all threads). With --verifier, also the second-stage check's
time per proposed detection, and how many hops it holds the worker up at this hop.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import sys
import tempfile
import time
from typing import Any

import numpy as np

from .audio.filesource import load_stream_audio
from .audio.sources import SourceSpec
from .cli_options import hop_ms_arg, positive_arg
from .core.detector import Detector, EngineSettings
from .core.errors import KwsError
from .core.verifier import BUNDLED_VERIFIER_DIR, Verifier
from .core.wavio import write_wav
from .engine import Engine


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _stats(ms) -> dict:
    ms = np.asarray(ms, np.float64)
    return {"median_ms": round(float(np.median(ms)), 3), "p99_ms": round(float(np.percentile(ms, 99)), 3),
            "n": int(len(ms))}


def _signal(seconds: float, seed: int = 0) -> np.ndarray:
    """Noise with speech-like bursts: content does not change the cost, but real levels
    keep the log-mel away from its silent floor."""
    rng = np.random.default_rng(seed)
    n = int(seconds * 16000)
    x = 0.01 * rng.standard_normal(n)
    for start in range(8000, n - 8000, 24000):
        t = np.arange(8000) / 16000
        x[start : start + 8000] += 0.3 * np.sin(2 * np.pi * (300 + 200 * t) * t) * np.hanning(8000)
    return x.astype(np.float32)


def _cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _verifier_time(folder: str, wins, hop_ms: int, checks: int) -> dict:
    """The check's cost per proposed detection (it runs on the worker thread, between hops)."""
    try:
        v = Verifier(folder)
    except KwsError as e:  # e.g. the verify extra not installed
        return {"error": str(e).splitlines()[0]}
    label = v.labels[0]  # the cost does not depend on the word asked about
    ms = []
    for i in range(checks + 2):  # the first two warm the ONNX sessions up
        t = time.perf_counter()
        v.check(wins[i % len(wins)], label)
        if i >= 2:
            ms.append(1000.0 * (time.perf_counter() - t))
    s = _stats(ms)
    # A detection's hop takes its own work plus the check: hops late behind it, caught up from
    # the ring's slack afterwards.
    s["hops_spanned"] = math.ceil(s["median_ms"] / hop_ms)
    return s


def measure(model_dir: str, windows: int = 500, warmup: int = 50, hop_ms: int = 100,
            rtf_seconds: float = 60.0, cpu_seconds: float = 20.0, progress=None,
            verifier: str | None = None, checks: int = 30) -> dict:
    say = progress or (lambda msg: None)
    warmup = min(warmup, windows)  # a short run (tests) needs no more warm-up than it times
    settings = EngineSettings(hop_ms=hop_ms)
    detector = Detector(model_dir, settings)
    hop = detector.hop_samples
    w = detector.window_samples
    audio = _signal((windows + warmup) * hop / detector.sample_rate + w / detector.sample_rate)
    wins = [audio[i * hop : i * hop + w] for i in range(windows + warmup)]

    model: dict[str, dict[str, Any]] = {}
    for backend in ("tflite", "keras"):
        say(f"model ({backend})")
        try:
            r = detector if detector.backend == backend else Detector(model_dir, EngineSettings(backend=backend))
        except KwsError as e:  # e.g. keras without TensorFlow installed
            model[backend] = {"error": str(e).splitlines()[0]}
            continue
        rec, ms, feat_ms = r.recognizer, [], []
        for i, x in enumerate(wins):
            rec(x)
            if i >= warmup:
                ms.append(rec.last_model_ms)
                feat_ms.append(rec.last_feature_ms)
        model[backend] = _stats(ms)
        if backend == "keras":
            model[backend]["features"] = _stats(feat_ms)

    say("whole hop")
    detector.reset()
    hop_ms_list = [result.hop_ms for result in detector.process(audio)][warmup : warmup + windows]

    say("listen --input real-time factor")
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "bench.wav")
        write_wav(path, _signal(rtf_seconds, seed=1))
        t0 = time.perf_counter()
        detector.run_offline(load_stream_audio(path)[0])
        rtf_wall = time.perf_counter() - t0

        cpu = None
        if cpu_seconds > 0:
            say(f"live listening CPU ({cpu_seconds:g} s)")
            live = Engine(SourceSpec("file", path=path, realtime=True), detector)
            live.start()
            time.sleep(1.0)  # past start-up
            c0, w0 = _cpu_seconds(), time.monotonic()
            time.sleep(cpu_seconds)
            c1, w1 = _cpu_seconds(), time.monotonic()
            live.stop()
            cpu = round(100.0 * (c1 - c0) / (w1 - w0), 1)

    check = None
    if verifier is not None:
        say("verifier check per detection")
        check = _verifier_time(verifier, wins, hop_ms, checks)

    return {
        "machine": {"cpu": _cpu_name(), "cores": os.cpu_count(), "device": detector.device,
                    "python": platform.python_version()},
        "model": os.path.abspath(model_dir),
        "backend": detector.backend,
        "hop_ms": hop_ms,
        "model_time": model,
        "hop": _stats(hop_ms_list),
        "listen_input": {"audio_s": rtf_seconds, "wall_s": round(rtf_wall, 3),
                         "real_time_factor": round(rtf_wall / rtf_seconds, 4)},
        "live_cpu_pct_of_one_core": cpu,
        "verifier_check": check,
    }


def cmd_bench(args) -> int:
    progress = None if args.json else (lambda m: print(f"measuring {m} ...", file=sys.stderr, flush=True))
    r = measure(args.model, windows=args.windows, hop_ms=args.hop_ms, rtf_seconds=args.rtf_seconds,
                cpu_seconds=args.cpu_seconds, progress=progress, verifier=getattr(args, "verifier", None),
                checks=args.checks)
    if args.json:
        print(json.dumps(r))
        return 0
    m = r["machine"]
    print(f"machine: {m['cpu']}, {m['cores']} cores, {m['device']}; runtime used: {r['backend']}")
    print(f"per window ({r['hop']['n']} windows after warm-up)      median      p99")
    for b, s in r["model_time"].items():
        if "error" in s:
            print(f"  model call, {b:<8}                 unavailable: {s['error']}")
            continue
        print(f"  model call, {b:<8}                {s['median_ms']:8.2f} ms {s['p99_ms']:8.2f} ms"
              + ("   (features and network)" if b == "tflite" else ""))
        if "features" in s:
            f = s["features"]
            print(f"    of which features (TensorFlow)     {f['median_ms']:8.2f} ms {f['p99_ms']:8.2f} ms")
    print(f"  whole hop ({r['backend']})                 {r['hop']['median_ms']:8.2f} ms {r['hop']['p99_ms']:8.2f} ms")
    li = r["listen_input"]
    print(f"listen --input: {li['audio_s']:g} s of audio in {li['wall_s']:.2f} s "
          f"(real-time factor {li['real_time_factor']:.4f}, {1 / li['real_time_factor']:.0f}x faster than real time)")
    if r["live_cpu_pct_of_one_core"] is not None:
        print(f"live listening at {r['hop_ms']} ms hop: {r['live_cpu_pct_of_one_core']:.1f}% of one core")
    v = r["verifier_check"]
    if v is not None and "error" in v:
        print(f"verifier check: unavailable: {v['error']}")
    elif v is not None:
        print(f"verifier check, per proposed detection ({v['n']} checks): median {v['median_ms']:.1f} ms, "
              f"p99 {v['p99_ms']:.1f} ms; holds the worker up for {v['hops_spanned']} hop(s) at {r['hop_ms']} ms")
    return 0


def add_parser(sub, add_source_args, add_model_arg) -> None:
    p = sub.add_parser("bench", help="measure feature, model and hop times on this machine",
                       description=__doc__.split("\n\n", 1)[1])
    add_model_arg(p)
    p.add_argument("--json", action="store_true", help="print the results as one JSON object")
    p.add_argument("--windows", type=int, default=500, help="timed windows per measurement (default: 500)")
    p.add_argument("--hop-ms", type=hop_ms_arg, default=100, help="engine hop (default: 100)")
    p.add_argument("--rtf-seconds", type=float, default=60.0,
                   help="length of the WAV for the listen --input real-time factor (default: 60)")
    p.add_argument("--cpu-seconds", type=float, default=20.0,
                   help="how long to measure live CPU use; 0 skips it (default: 20)")
    # SUPPRESS: `kwsapp --verifier DIR bench` keeps the DIR given before the subcommand.
    p.add_argument("--verifier", nargs="?", const=BUNDLED_VERIFIER_DIR, default=argparse.SUPPRESS, metavar="DIR",
                   help="also time the second-stage check of this `kws-train verifier` folder per proposed "
                        "detection (given without DIR: the bundled one; needs pip install 'kwsapp[verify]')")
    p.add_argument("--checks", type=positive_arg(int), default=30,
                   help="timed verifier checks, with --verifier (default: 30)")
    p.set_defaults(func=cmd_bench)

"""Soak benchmark: the live listener on a virtual microphone for a long time.

    python scripts/soak.py --minutes 30 [--loop-s 120] [--hop-ms 100] [--json soak.json]

A private PulseAudio server (``tests/pulse.py``: a null sink and a virtual source, so no
sound card is needed and the user's own audio is not touched) plays a streaming-test WAV
(``kws-train streamtest``'s stream builder: commands, unknown words and background noise)
in a loop into the virtual microphone. The same pieces as ``kwsapp listen`` (MicSource ->
ring -> Engine) recognise it for the whole run while this samples the process's resident
memory (psutil) and counts input overflows, hops the engine dropped and audio the device
failed to deliver. Every loop of the WAV is scored against its ground truth
(``kwstrain.streamtest.score``), so "still right at the end" is the last loop's score beside
the first's.

Needs the repository checkout with the test extras (``make setup-test``: pulseaudio,
psutil) and the Speech Commands clips (``--data-dir`` or ``$KWSAPP_DATA_DIR``). Exit status:
0 when every target holds (memory growth after warm-up under 20 MB, no overflow, no
dropped hop, last loop's correct rate within 10 points of the first's), 1 otherwise or on an
error (missing model, no clips), 2 for a usage error.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Benchmark code, kept out of the package (it needs the repository: tests/pulse.py, the trainer's
# stream builder, psutil); run from a checkout, it uses the checkout's kwsapp.
sys.path.insert(0, ROOT)
MAX_GROWTH_MB = 20.0
MAX_ACCURACY_DROP = 10.0  # percentage points, last loop against the first


@dataclass
class SoakResult:
    minutes: float
    hop_ms: int
    loop_s: float
    warmup_s: float
    rss_mb: list = field(default_factory=list)  # [(seconds since start, MB)]
    rss_at_warmup_mb: float = 0.0
    rss_end_mb: float = 0.0
    rss_max_after_warmup_mb: float = 0.0
    growth_mb: float = 0.0
    wall_s: float = 0.0
    audio_s: float = 0.0  # audio the device delivered while we listened
    hops: int = 0
    overflows: int = 0
    dropped_hops: int = 0
    hop_ms_median: float = 0.0
    hop_ms_p99: float = 0.0
    hop_ms_max: float = 0.0
    cpu_percent: float = 0.0  # of one core, whole process
    loops: list = field(default_factory=list)  # per complete loop: streamtest.score dict + start_s
    device_error: str | None = None

    def checks(self) -> dict:
        first, last = (self.loops[0], self.loops[-1]) if self.loops else (None, None)
        return {
            "memory growth under 20 MB": self.growth_mb < MAX_GROWTH_MB,
            "no input overflow": self.overflows == 0,
            "no dropped hop": self.dropped_hops == 0,
            "device kept delivering": self.device_error is None and self.audio_s >= 0.98 * self.wall_s,
            "last loop as right as the first": first is not None
            and last["correct_pct"] >= first["correct_pct"] - MAX_ACCURACY_DROP,
        }

    @property
    def ok(self) -> bool:
        return all(self.checks().values())


def _loop_wav(data_dir: str, loop_s: float, folder: str, seed: int):
    from kwsapp.core.wavio import write_wav
    from kwstrain.streamtest import StreamSpec, make_stream

    audio, truth = make_stream(data_dir, "testing", StreamSpec(duration_s=loop_s, seed=seed))
    path = os.path.join(folder, "soak-loop.wav")
    write_wav(path, audio)
    return path, truth


class _Player:
    """Plays the WAV into the virtual microphone again and again, noting where in the
    recorded stream (ring position) each pass began."""

    def __init__(self, vm, path, ring, sample_rate):
        self.vm, self.path, self.ring, self.rate = vm, path, ring, sample_rate
        self.starts: list[float] = []  # stream seconds at which each pass was started
        self._stop = threading.Event()
        self._proc = None
        self._thread = threading.Thread(target=self._run, name="soak-player", daemon=True)

    def start(self):
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            self.starts.append(self.ring.total_written / self.rate)
            self._proc = self.vm.play(self.path, wait=False)
            while self._proc.poll() is None and not self._stop.wait(0.1):
                pass

    def stop(self):
        self._stop.set()
        p = self._proc
        if p is not None and p.poll() is None:
            p.kill()
            p.wait(5)
        self._thread.join(5)


def _score_loops(dets, starts, truth, loop_s, end_s) -> list[dict]:
    from kwstrain.streamtest import score

    out = []
    for i, s in enumerate(starts):
        stop = starts[i + 1] if i + 1 < len(starts) else None
        if stop is None or stop > end_s or stop - s < loop_s * 0.98:
            continue  # the pass still playing at the end (or cut short) is not a complete loop
        got = [(d.label, d.stream_time_s - s) for d in dets if s <= d.stream_time_s < stop]
        r = score(got, truth)
        r["start_s"] = round(s, 2)
        out.append(r)
    return out


def run(minutes: float, data_dir: str, model_dir: str, hop_ms: int = 100, loop_s: float = 120.0,
        warmup_s: float | None = None, sample_s: float = 5.0, seed: int = 0, progress=None,
        threshold: float | None = None) -> SoakResult:
    import psutil

    sys.path.insert(0, os.path.join(ROOT, "tests"))
    from pulse import VirtualMic

    from kwsapp.audio.sources import SourceSpec
    from kwsapp.core.detector import EngineSettings
    from kwsapp.core.smoothing import for_model
    from kwsapp.engine import Engine

    duration = minutes * 60.0
    warmup_s = min(120.0, duration / 4) if warmup_s is None else warmup_s
    res = SoakResult(minutes=minutes, hop_ms=hop_ms, loop_s=loop_s, warmup_s=warmup_s)
    proc = psutil.Process()
    dets, last, errors = [], {}, []
    # Allocated up front so the bookkeeping itself does not show up as memory growth.
    hop_times = np.zeros(int(duration * 1000 / hop_ms * 1.2) + 1000, np.float32)
    n_hops = [0]

    def on_hop(h):
        last["hop"] = h
        if n_hops[0] < len(hop_times):
            hop_times[n_hops[0]] = h.hop_ms
        n_hops[0] += 1

    with tempfile.TemporaryDirectory(prefix="kws-soak-") as tmp, VirtualMic() as vm:
        path, truth = _loop_wav(data_dir, loop_s, tmp, seed)
        # threshold: None keeps the model's tuned setting (what a user runs)
        smoothing = None if threshold is None else dataclasses.replace(for_model(model_dir), detection_threshold=threshold)
        engine = Engine(SourceSpec("mic", device=vm.device), model_dir, EngineSettings(hop_ms=hop_ms, smoothing=smoothing),
                        on_hop=on_hop, on_detection=dets.append, on_error=errors.append)
        ring = engine.source.ring
        engine.start()
        deadline = time.monotonic() + 10
        while ring.total_written == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        player = _Player(vm, path, ring, 16000)
        t0 = time.monotonic()
        cpu0 = proc.cpu_times()
        audio0 = ring.total_written
        player.start()
        next_sample = 0.0
        try:
            while (now := time.monotonic() - t0) < duration and not errors:
                if now >= next_sample:
                    res.rss_mb.append((round(now, 1), round(proc.memory_info().rss / 2**20, 2)))
                    next_sample += sample_s
                    if progress and len(res.rss_mb) % max(1, int(60 / sample_s)) == 0:
                        h = last.get("hop")
                        progress(f"{now / 60:5.1f} min  rss {res.rss_mb[-1][1]:.1f} MB  "
                                 f"detections {len(dets)}  overflows {h.overflows if h else 0}  "
                                 f"dropped {h.dropped_hops if h else 0}")
                time.sleep(0.2)
        finally:
            res.wall_s = time.monotonic() - t0
            cpu1 = proc.cpu_times()
            res.audio_s = (ring.total_written - audio0) / 16000
            player.stop()
            engine.stop()
    res.rss_mb.append((round(res.wall_s, 1), round(proc.memory_info().rss / 2**20, 2)))
    res.cpu_percent = round(100.0 * ((cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)) / res.wall_s, 1)
    after = [mb for t, mb in res.rss_mb if t >= warmup_s]
    res.rss_at_warmup_mb = after[0]
    res.rss_end_mb = float(np.median(after[-3:]))
    res.rss_max_after_warmup_mb = max(after)
    res.growth_mb = round(res.rss_end_mb - res.rss_at_warmup_mb, 2)
    h = last.get("hop")
    res.hops = n_hops[0]
    hop_times = hop_times[: min(n_hops[0], len(hop_times))]
    res.overflows = h.overflows if h else 0
    res.dropped_hops = h.dropped_hops if h else 0
    if len(hop_times):
        res.hop_ms_median = round(float(np.median(hop_times)), 2)
        res.hop_ms_p99 = round(float(np.percentile(hop_times, 99)), 2)
        res.hop_ms_max = round(float(np.max(hop_times)), 2)
    res.device_error = str(errors[0]) if errors else None
    end_s = (h.stream_time_s if h else 0.0)
    res.loops = _score_loops(dets, player.starts, truth, loop_s, end_s)
    return res


def report(res: SoakResult) -> str:
    lines = [
        f"soak: {res.wall_s / 60:.1f} min live at {res.hop_ms} ms hop, loop {res.loop_s:g} s, "
        f"warm-up {res.warmup_s:g} s",
        f"memory (RSS): {res.rss_at_warmup_mb:.1f} MB after warm-up -> {res.rss_end_mb:.1f} MB at the end "
        f"(growth {res.growth_mb:+.1f} MB, max {res.rss_max_after_warmup_mb:.1f} MB)",
        f"audio delivered {res.audio_s:.1f} s in {res.wall_s:.1f} s; hops {res.hops}; input overflows "
        f"{res.overflows}; dropped hops {res.dropped_hops}; hop time median {res.hop_ms_median} ms, "
        f"p99 {res.hop_ms_p99} ms, max {res.hop_ms_max} ms; CPU {res.cpu_percent}% of one core",
    ]
    if res.device_error:
        lines.append(f"device error: {res.device_error}")
    for i in sorted({0, len(res.loops) - 1}) if res.loops else []:
        r = res.loops[i]
        lines.append(f"loop {i + 1} of {len(res.loops)} (from {r['start_s']:.0f} s): {r['correct_pct']:.1f}% "
                     f"correct, {r['wrong_pct']:.1f}% wrong, {r['false_positive_pct']:.1f}% false positives "
                     f"({r['commands']} commands)")
    for name, ok in res.checks().items():
        lines.append(f"  [{'ok' if ok else 'FAIL'}] {name}")
    return "\n".join(lines)


def _soak(args) -> int:
    res = run(args.minutes, args.data_dir, args.model, args.hop_ms, args.loop_s, args.warmup_s, seed=args.seed,
              threshold=args.threshold,
              progress=lambda s: print(s, file=sys.stderr, flush=True))
    print(report(res), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(asdict(res), checks=res.checks()), f, indent=1)
    return 0 if res.ok else 1


def build_parser() -> argparse.ArgumentParser:
    from kwsapp.core.envvars import DATA_DIR, getenv
    from kwsapp.core.model import BUNDLED_MODEL_DIR

    ap = argparse.ArgumentParser(prog="python scripts/soak.py", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=30.0, help="how long to listen (default: 30)")
    ap.add_argument("--loop-s", type=float, default=120.0, help="length of the looped test stream (default: 120)")
    ap.add_argument("--hop-ms", type=int, default=100, help="engine hop (default: 100)")
    ap.add_argument("--warmup-s", type=float, default=None,
                    help="memory growth is measured from here (default: 2 min, or a quarter of a shorter run)")
    ap.add_argument("--seed", type=int, default=0, help="stream builder seed (default: 0)")
    ap.add_argument("--threshold", type=float, default=None,
                    help="detection threshold for every word (default: the model's tuned one)")
    # A development script: its default is the checkout's copy (as for the tests and the
    # screenshot), not the per-user folder the installed commands default to.
    ap.add_argument("--data-dir", default=getenv(DATA_DIR) or os.path.join(ROOT, "..", "shared", "speech_commands"),
                    help=f"Speech Commands folder (default: ${DATA_DIR} or ../shared/speech_commands)")
    ap.add_argument("--model", default=BUNDLED_MODEL_DIR, help="model folder (default: the bundled one)")
    ap.add_argument("--json", metavar="FILE", help="also write every figure (and the RSS samples) here")
    ap.set_defaults(func=_soak)
    return ap


def main(argv=None) -> int:
    # Through the CLIs' wrapper: TF start-up chatter parked, KwsError as one line.
    from kwsapp.cli_util import run_main

    return run_main(build_parser, argv, "scripts/soak.py")


if __name__ == "__main__":
    sys.exit(main())

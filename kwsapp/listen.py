"""``kwsapp listen`` (print detected commands) and ``kwsapp devices`` (list inputs)."""
from __future__ import annotations

import argparse
import json
import queue
import sys

from .engine.smoothing import SmoothingConfig
from .errors import KwsError

_RING_SECONDS = 2  # one window plus a second of slack for a worker that is briefly late


def _fraction(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= v <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not between 0 and 1")
    return v


def _hop_ms(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of milliseconds") from None
    if not 20 <= v <= 1000 or v % 10:
        raise argparse.ArgumentTypeError(f"{v} ms: use a multiple of 10 between 20 and 1000")
    return v


def _positive(kind):
    def parse(text: str):
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if v < (1 if kind is int else 0):
            raise argparse.ArgumentTypeError(f"{text} must not be {'below 1' if kind is int else 'negative'}")
        return v

    return parse


def add_smoothing_args(p) -> None:
    d = SmoothingConfig()
    g = p.add_argument_group("smoothing (how window scores become detections)")
    g.add_argument("--threshold", type=_fraction, default=d.detection_threshold,
                   help=f"averaged score a command needs (default: {d.detection_threshold})")
    g.add_argument("--average-window-ms", type=_positive(float), default=d.average_window_ms,
                   help=f"scores are averaged over this long (default: {d.average_window_ms:g})")
    g.add_argument("--suppression-ms", type=_positive(float), default=d.suppression_ms,
                   help=f"no new detection this soon after one (default: {d.suppression_ms:g})")
    g.add_argument("--minimum-count", type=_positive(int), default=d.minimum_count,
                   help=f"results needed in the window before deciding (default: {d.minimum_count})")


def smoothing_from_args(args) -> SmoothingConfig:
    return SmoothingConfig(average_window_ms=args.average_window_ms, detection_threshold=args.threshold,
                           suppression_ms=args.suppression_ms, minimum_count=args.minimum_count)


def format_detection(det, as_json: bool) -> str:
    if as_json:
        return json.dumps(det.to_json())
    return f"{det.stream_time_s:8.2f} s  {det.label:<6} {det.score:.2f}"


def cmd_listen(args) -> int:
    from .audio.filesource import FileSource
    from .audio.mic import MicSource
    from .audio.ringbuffer import RingBuffer
    from .engine.engine import Engine, EngineSettings

    settings = EngineSettings(hop_ms=args.hop_ms, smoothing=smoothing_from_args(args), backend=args.backend)
    ring = RingBuffer(_RING_SECONDS * 16000)
    if args.input:
        source = FileSource(ring, args.input, realtime=args.realtime)
        source.load()  # a bad file is reported before the model is loaded
    elif args.realtime:
        raise KwsError("--realtime only applies to --input FILE.wav")
    else:
        source = MicSource(ring, args.device)
    events: queue.Queue = queue.Queue()
    engine = Engine(source, args.model, settings, on_detection=events.put, on_error=events.put)
    if engine.recognizer.warning:
        print(f"kwsapp listen: warning: {engine.recognizer.warning}", file=sys.stderr)

    def show(det):
        print(format_detection(det, args.json), flush=True)

    if args.input and not args.realtime:
        engine.on_detection = show
        engine.run_offline(source.load())
        return 0
    engine.start()
    print(f"listening: {source.describe()}, hop {args.hop_ms} ms, {engine.device} "
          f"({engine.recognizer.backend}); Ctrl-C to stop", file=sys.stderr)
    try:
        while True:
            try:
                ev = events.get(timeout=0.1)
            except queue.Empty:
                if not engine.running and events.empty():
                    break
                continue
            if isinstance(ev, Exception):
                raise ev
            show(ev)
    except KeyboardInterrupt:
        pass  # Ctrl-C is how a live listen ends: stop cleanly, exit 0
    finally:
        engine.stop()
    return 0


def cmd_devices(args) -> int:
    from .audio.devices import list_input_devices

    devices = list_input_devices()
    if args.json:
        print(json.dumps([d.__dict__ for d in devices]))
        return 0
    if not devices:
        print("no audio input devices found (no sound card, or PulseAudio/PipeWire not running)",
              file=sys.stderr)
        return 0
    print(f"{'index':>5}  {'channels':>8}  {'rate':>7}  name")
    for d in devices:
        mark = "  (default)" if d.is_default else ""
        print(f"{d.index:>5}  {d.channels:>8}  {d.default_rate:>7.0f}  {d.name}{mark}")
    return 0


def add_parser(sub, add_source_args, add_model_arg) -> None:
    # Heavy imports (TensorFlow, PortAudio) happen inside the commands, so --help stays fast.
    p = sub.add_parser(
        "listen", help="print detected commands from a microphone or a WAV file",
        description="Print one line per detected command (never _silence_/_unknown_) as it happens: "
                    "'<stream time> s  <label> <score>', or with --json one object per line "
                    '{"time_s": float, "label": str, "score": float}. time_s is seconds of audio since '
                    "the start. --input files are processed as fast as possible unless --realtime. "
                    "Ctrl-C stops.")
    add_source_args(p)
    add_model_arg(p)
    p.add_argument("--realtime", action="store_true", help="play --input at real-time speed, like a microphone")
    p.add_argument("--json", action="store_true", help="one JSON object per detection")
    p.add_argument("--hop-ms", type=_hop_ms, default=100,
                   help="how often a 1 s window is scored, 20-1000 ms in steps of 10 (default: 100)")
    p.add_argument("--backend", choices=["auto", "tflite", "keras"], default="auto",
                   help="model runtime (default: auto = tflite on a CPU, keras on a GPU)")
    add_smoothing_args(p)
    p.set_defaults(func=cmd_listen)

    p = sub.add_parser("devices", help="list audio input devices",
                       description="List the audio input devices: index, channels, default sample rate, name.")
    p.add_argument("--json", action="store_true", help="print the list as one JSON array")
    p.set_defaults(func=cmd_devices)

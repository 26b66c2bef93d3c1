"""``kwsapp listen`` (print detected commands) and ``kwsapp devices`` (list inputs)."""
from __future__ import annotations

import argparse
import dataclasses
import json
import queue
import signal
import sys
import threading
import time

from .engine.smoothing import SmoothingConfig
from .errors import DeviceError, KwsError

RETRY_DELAYS_S = (1.0, 2.0, 4.0)  # waits before the 1st, 2nd, 3rd (and later) reconnect tries
RETRY_RESET_S = 30.0  # a reconnected input that ran this long earns a fresh set of tries


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


def _positive(kind, minimum=None):
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
    g.add_argument("--threshold", type=_fraction, default=None,
                   help="averaged score a command needs (default: the threshold tuned for the model, "
                        f"from its config.json; {d.detection_threshold} for a model without one)")
    g.add_argument("--average-window-ms", type=_positive(float), default=None,
                   help="scores are averaged over this long (default: the window tuned for the model, "
                        f"from its config.json; {d.average_window_ms:g} for a model without one)")
    g.add_argument("--suppression-ms", type=_positive(float), default=d.suppression_ms,
                   help=f"no new detection this soon after one (default: {d.suppression_ms:g})")
    g.add_argument("--minimum-count", type=_positive(int), default=d.minimum_count,
                   help=f"results needed in the window before deciding (default: {d.minimum_count})")


def smoothing_from_args(args) -> SmoothingConfig:
    """The smoothing options given; the model's own tuned threshold and window where
    --threshold and --average-window-ms are not."""
    from .engine.smoothing import for_model

    cfg = for_model(args.model, SmoothingConfig(suppression_ms=args.suppression_ms,
                                                minimum_count=args.minimum_count))
    if args.threshold is not None:
        cfg = dataclasses.replace(cfg, detection_threshold=args.threshold)
    if args.average_window_ms is not None:
        cfg = dataclasses.replace(cfg, average_window_ms=args.average_window_ms)
    return cfg


def format_detection(det, as_json: bool) -> str:
    if as_json:
        return json.dumps(det.to_json())
    return f"{det.stream_time_s:8.2f} s  {det.label:<6} {det.score:.2f}"


class _Health:
    """Audio lost on the way in, counted over the whole run and reported on stderr: at most
    one warning every WARN_EVERY_S while it keeps happening, and a summary at the end."""

    WARN_EVERY_S = 10.0

    def __init__(self):
        # Audio time of the sources that have ended: added to the running source's stream
        # time, so detection times keep counting seconds of audio across reconnects.
        self.offset_s = 0.0
        self._time_now = 0.0
        self.overflows = 0  # of sources that have ended (a reconnect starts a new source)
        self.dropped = 0
        self._dropped_now = 0  # the running engine's count (written by its worker thread)
        self._reported = (0, 0)
        self._last_warning = -float("inf")

    def on_hop(self, hop) -> None:
        self._dropped_now = hop.dropped_hops
        self._time_now = hop.stream_time_s

    def totals(self, source) -> tuple[int, int]:
        return self.overflows + int(source.overflows or 0), self.dropped + self._dropped_now

    def source_ended(self, source) -> None:
        self.overflows, self.dropped = self.totals(source)
        self._dropped_now = 0
        self.offset_s += self._time_now
        self._time_now = 0.0

    def run_time(self, det):
        """``det`` with its stream time counted from the start of the run."""
        return dataclasses.replace(det, stream_time_s=det.stream_time_s + self.offset_s) if self.offset_s else det

    def maybe_warn(self, source) -> None:
        now = time.monotonic()
        totals = self.totals(source)
        if totals != self._reported and now - self._last_warning >= self.WARN_EVERY_S:
            print(f"kwsapp listen: warning: audio lost so far: {self._describe(*totals)}", file=sys.stderr)
            self._reported, self._last_warning = totals, now

    def summary(self) -> str | None:
        if self.overflows or self.dropped:
            return f"kwsapp listen: audio lost in this run: {self._describe(self.overflows, self.dropped)}"
        return None

    @staticmethod
    def _describe(overflows: int, dropped: int) -> str:
        return (f"{overflows} input overflow(s) (the device delivered faster than it was read), "
                f"{dropped} dropped hop(s) (recognition fell behind); the machine is too busy")


def _sigterm_as_ctrl_c():
    """A SIGTERM (service manager, `kill`) ends a live listen the way Ctrl-C does: the engine
    and the stream are stopped, not cut off. Returns the previous handler (None when this
    is not the main thread, where handlers cannot be set)."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    return signal.signal(signal.SIGTERM, interrupt)


def cmd_listen(args) -> int:
    from .audio.filesource import load_stream_audio
    from .audio.sources import SourceSpec
    from .engine.detector import Detector, EngineSettings
    from .engine.engine import Engine

    settings = EngineSettings(hop_ms=args.hop_ms, smoothing=smoothing_from_args(args), backend=args.backend)
    if args.realtime and not args.input:
        raise KwsError("--realtime only applies to --input FILE.wav")
    spec = (SourceSpec("file", path=args.input, realtime=args.realtime) if args.input
            else SourceSpec("mic", device=args.device))
    audio = load_stream_audio(args.input)[0] if args.input and not args.realtime else None  # a bad file: at once
    detector = Detector(args.model, settings)
    if detector.warning:
        print(f"kwsapp listen: warning: {detector.warning}", file=sys.stderr)
    health = _Health()

    def show(det):
        print(format_detection(health.run_time(det), args.json), flush=True)

    if audio is not None:
        detector.run_offline(audio, on_hop=lambda hop: hop.detection and show(hop.detection))
        return 0
    events: queue.Queue = queue.Queue()
    engine = Engine(spec, detector, on_hop=health.on_hop, on_detection=events.put, on_error=events.put)
    previous = _sigterm_as_ctrl_c()
    try:
        _listen_with_retries(engine, events, show, health, args, lambda: engine.open(SourceSpec("mic")))
    except KeyboardInterrupt:
        pass  # Ctrl-C (or SIGTERM) is how a live listen ends: stopped cleanly, exit 0
    finally:
        engine.stop()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        health.source_ended(engine.source)
        if health.summary():
            print(health.summary(), file=sys.stderr)
    return 0


def _listen_with_retries(engine, events, show, health, args, default_source) -> None:
    """Listen until Ctrl-C or the file's end. A microphone that goes away mid-stream is
    replaced by the system's default input (re-scanned, since a re-plugged device or a
    restarted sound server is invisible until then), up to ``args.retries`` tries per
    outage, RETRY_DELAYS_S apart. A device that fails at start is not retried: a mistyped
    --device must not silently record from another microphone."""
    lost = _listen_once(engine, events, show, health)
    outage, tries = lost, 0
    while lost is not None:
        if not isinstance(lost, DeviceError) or args.input or tries >= args.retries:
            if tries:
                raise DeviceError(f"{outage}; the default input did not come back after {tries} "
                                  f"tr{'y' if tries == 1 else 'ies'} (last: {lost})") from None
            raise lost
        delay = RETRY_DELAYS_S[min(tries, len(RETRY_DELAYS_S) - 1)]
        tries += 1
        print(f"kwsapp listen: {lost}; trying the default input in {delay:g} s "
              f"(try {tries} of {args.retries})", file=sys.stderr)
        time.sleep(delay)
        from .audio import devices

        try:
            devices.refresh()
            health.source_ended(engine.source)
            engine.source = default_source()
            started = time.monotonic()
            lost = _listen_once(engine, events, show, health, again=True)
        except DeviceError as e:
            lost = e
            continue
        if time.monotonic() - started > RETRY_RESET_S:
            outage, tries = lost, 0  # it worked for a good while: a new outage, full tries again


def _listen_once(engine, events, show, health, again: bool = False):
    """Start the engine and print detections until the source ends (None) or fails (the
    error; the engine has stopped itself). A failure to start is raised."""
    engine.start()
    note = " (stream time goes on from the audio heard before)" if again else ""
    print(f"listening: {engine.source.describe()}, hop {engine.settings.hop_ms} ms, {engine.device} "
          f"({engine.detector.backend}){note}; Ctrl-C to stop", file=sys.stderr)
    while True:
        try:
            ev = events.get(timeout=0.1)
        except queue.Empty:
            health.maybe_warn(engine.source)
            if not engine.running and events.empty():
                return engine.error
            continue
        if isinstance(ev, Exception):
            engine.stop()
            return ev
        show(ev)


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
    # Heavy imports (LiteRT, PortAudio) happen inside the commands, so --help stays fast.
    p = sub.add_parser(
        "listen", help="print detected commands from a microphone or a WAV file",
        description="Print one line per detected command (never _silence_/_unknown_) as it happens: "
                    "'<stream time> s  <label> <score>', or with --json one object per line "
                    '{"time_s": float, "label": str, "score": float}. time_s is seconds of audio since '
                    "the start. --input files are processed as fast as possible unless --realtime. "
                    "Ctrl-C or SIGTERM stops (exit status 0). Lost audio (input overflows, hops "
                    "dropped because the machine was too busy) is reported on stderr. A microphone "
                    "that goes away while listening is replaced by the default input (see --retries).")
    add_source_args(p)
    add_model_arg(p)
    p.add_argument("--realtime", action="store_true", help="play --input at real-time speed, like a microphone")
    p.add_argument("--json", action="store_true", help="one JSON object per detection")
    p.add_argument("--hop-ms", type=_hop_ms, default=100,
                   help="how often a 1 s window is scored, 20-1000 ms in steps of 10 (default: 100)")
    p.add_argument("--backend", choices=["auto", "tflite", "keras"], default="auto",
                   help="model runtime: tflite (LiteRT on the CPU) or keras (TensorFlow, on a GPU when it "
                        "sees one; needs the train extra) (default: auto = tflite)")
    p.add_argument("--retries", type=_positive(int, minimum=0), default=3, metavar="N",
                   help="if the microphone goes away while listening, try the system's default input "
                        "up to N times (1, 2, then 4 s apart) before giving up; 0: give up at once "
                        "(default: 3)")
    add_smoothing_args(p)
    p.set_defaults(func=cmd_listen)

    p = sub.add_parser("devices", help="list audio input devices",
                       description="List the audio input devices: index, channels, default sample rate, name.")
    p.add_argument("--json", action="store_true", help="print the list as one JSON array")
    p.set_defaults(func=cmd_devices)

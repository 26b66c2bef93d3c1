"""``kwsapp listen`` (print detected commands) and ``kwsapp devices`` (list inputs)."""
from __future__ import annotations

import collections
import dataclasses
import json
import queue
import sys
import time

from .actions import (
    CLIP_S,
    ActionRunner,
    ClipSaver,
    DetectionLog,
    load_actions,
    missing_program,
    now,
    parse_command,
    wall_time_text,
)
from .audio import devices
from .audio.decode import STDIN, expand_inputs, is_stream, load_input
from .audio.devices import list_input_devices
from .audio.sources import SourceSpec
from .cli_options import add_smoothing_args, add_verifier_arg, hop_ms_arg, positive_arg, smoothing_from_args
from .core.detector import Detector, EngineSettings
from .core.errors import DeviceError, KwsError, UsageError
from .core.model import read_config
from .core.peak import PeakFollower
from .core.sigterm import sigterm_as_ctrl_c
from .core.smoothing import SmoothingConfig
from .engine import Engine

RETRY_DELAYS_S = (1.0, 2.0, 4.0)  # waits before the 1st, 2nd, 3rd (and later) reconnect tries
RETRY_RESET_S = 30.0  # a reconnected input that ran this long earns a fresh set of tries


def format_detection(det, as_json: bool, record: dict | None = None, file: str | None = None) -> str:
    """One output line; ``record`` (the JSON object with wall_time etc.) replaces det.to_json()."""
    if as_json:
        return json.dumps(record if record is not None else det.to_json())
    line = f"{det.stream_time_s:8.2f} s  {det.label:<6} {det.score:.2f}"
    if det.verified is not None:
        line += f"  (checked {det.verified:.2f})"
    return f"{file}  {line}" if file is not None else line


ACTIONS_WAIT_S = 3.0  # at the end, running actions get this long to finish (and report a failure)


def parse_words(text: str | None, labels) -> tuple[str, ...] | None:
    if text is None:
        return None
    words = tuple(w.strip() for w in text.split(",") if w.strip())
    commands = [label for label in labels if label not in SmoothingConfig().ignore_labels]
    unknown = [w for w in words if w not in commands]
    if unknown or not words:
        raise UsageError(f"--words {text}: {', '.join(unknown) or 'no word given'} is not a word of the model "
                       f"(its words: {','.join(commands)})")
    return words


class _Outputs:
    """Everything a detection leads to: the output line, the --log line, the saved clip and the
    action. A failing action or clip is one line on stderr; the next detection is handled as usual."""

    def __init__(self, args, labels, sample_rate: int, several_files: bool):
        self.as_json = args.json
        self.several_files = several_files
        commands, problems = (load_actions(args.actions, args.words or labels) if args.actions else ({}, []))
        default = parse_command(args.exec) if args.exec else None
        for word, argv in [*commands.items(), ("--exec", default)]:
            why = argv and missing_program(argv)
            if why:  # reported once now rather than at every detection; listening goes on without it
                problems.append(f"{args.actions + ': [actions] ' + word if word != '--exec' else '--exec'}: "
                                f"{why}; ignored")
                if word == "--exec":
                    default = None
                else:
                    del commands[word]
        for line in problems:
            print(f"kwsapp listen: error: {line}", file=sys.stderr, flush=True)
        self.actions = ActionRunner(commands, default, report=_stderr) if commands or default else None
        self.clips = ClipSaver(args.save_clips, sample_rate) if args.save_clips else None
        self.log = DetectionLog(args.log) if args.log else None
        self._waiting: collections.deque = collections.deque()  # (record, file) of each crossing not yet over

    def crossed(self, det, clip=None, file: str | None = None) -> None:
        """At the hop that crossed the threshold: the clip is saved and the action starts at once
        (KWSAPP_SCORE is that hop's score); the line waits for :meth:`over`."""
        wall = now()
        record = {"wall_time": wall_time_text(wall)}
        if file is not None:
            record["file"] = file
        path = self.clips.save(clip, wall, det.label, det.score) if self.clips and clip is not None else None
        if path:
            record["clip"] = path
        self._waiting.append((record, file))
        if self.actions:
            extra = {k: v for k, v in (("KWSAPP_FILE", file), ("KWSAPP_CLIP", path)) if v}
            self.actions.fire(det, record["wall_time"], extra)

    def over(self, det) -> None:
        """The word is over (kwsapp/core/peak.py): its line, and --log's, with the peak score."""
        record, file = self._waiting.popleft()
        record = det.to_json() | record
        print(format_detection(det, self.as_json, record, file if self.several_files else None), flush=True)
        if self.log:
            self.log.write(record)

    def close(self) -> None:
        if self.actions:
            summary = self.actions.finish(ACTIONS_WAIT_S)
            if summary:
                _stderr(f"kwsapp listen: {summary}")
        if self.log:
            self.log.close()


def _stderr(line: str) -> None:
    print(line if line.startswith("kwsapp") else f"kwsapp listen: {line}", file=sys.stderr, flush=True)


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


def cmd_listen(args) -> int:
    labels = read_config(args.model).labels
    args.words = parse_words(args.words, labels)
    inputs = expand_inputs(args.input) if args.input else []
    if args.realtime and len(inputs) != 1:
        raise UsageError("--realtime applies to one --input file" if inputs else "--realtime only applies to --input FILE")
    if args.raw and inputs != [STDIN]:
        raise UsageError("--raw applies only to --input - (raw 16-bit 16 kHz mono samples on standard input)")
    if args.raw and args.realtime:
        raise UsageError("--raw input is read as fast as possible; leave out --realtime")
    settings = EngineSettings(hop_ms=args.hop_ms, smoothing=smoothing_from_args(args), backend=args.backend,
                              verifier=getattr(args, "verifier", None))
    # A WAV stream (stdin, a FIFO) or --realtime goes to the live engine: a stream is read as it
    # arrives, with the ring's back-pressure. Raw samples are read whole (FileSource reads WAV only).
    live = len(inputs) == 1 and (args.realtime or (is_stream(inputs[0]) and not args.raw))
    path = "/dev/stdin" if inputs == [STDIN] else (inputs[0] if inputs else None)
    spec = SourceSpec("file", path=path, realtime=args.realtime) if live else SourceSpec("mic", device=args.device)
    # One file is decoded before the model loads, so a bad one fails at once; of several, each in turn.
    audio = load_input(inputs[0], raw=args.raw)[0] if len(inputs) == 1 and not live else None
    detector = Detector(args.model, settings)
    if detector.warning:
        print(f"kwsapp listen: warning: {detector.warning}", file=sys.stderr)
    outputs = _Outputs(args, labels, detector.sample_rate, several_files=len(inputs) > 1)
    clip_n = int(CLIP_S * detector.sample_rate)
    try:
        if inputs and not live:
            return _listen_to_files(detector, inputs, audio, outputs, clip_n, args.raw)
        return _listen_live(detector, spec, outputs, args, file=inputs[0] if inputs else None)
    finally:
        outputs.close()


def _listen_to_files(detector, inputs, audio, outputs, clip_n: int, raw: bool) -> int:
    """Each input as its own stream, as fast as possible; a bad one of several is one line on
    stderr and the next is read (exit status 1 at the end)."""
    failed = 0
    for name in inputs:
        if audio is None:
            try:
                audio = load_input(name, raw=raw)[0]
            except KwsError as e:
                print(f"kwsapp listen: error: {e}", file=sys.stderr, flush=True)
                failed += 1
                continue

        peaks = PeakFollower(detector.labels)

        def on_hop(hop, audio=audio, name=name, peaks=peaks):
            if hop.detection:
                end = round(hop.stream_time_s * detector.sample_rate)
                _over(outputs, peaks.start(hop.detection))
                outputs.crossed(hop.detection, audio[max(0, end - clip_n): end], file=name)
            else:
                _over(outputs, peaks.hop(hop.smoothed, hop.stream_time_s)[1])

        detector.run_offline(audio, on_hop=on_hop)
        _over(outputs, peaks.finish())
        audio = None
    if failed:
        print(f"kwsapp listen: {failed} of {len(inputs)} inputs could not be read", file=sys.stderr)
    return 1 if failed else 0


def _over(outputs, det) -> None:
    if det is not None:
        outputs.over(det)


def _listen_live(detector, spec, outputs, args, file: str | None) -> int:
    health = _Health()
    events: queue.Queue = queue.Queue()
    peaks = PeakFollower(detector.labels)  # used on the engine's worker while it runs

    def on_hop(hop):
        health.on_hop(hop)
        if hop.detection is None:
            done = peaks.hop(hop.smoothed, hop.stream_time_s)[1]
            if done is not None:
                events.put(("over", done))

    def on_detection(det):
        # On the engine's worker, before it reads on: the ring still holds the audio of this
        # detection (the engine keeps CLIP_S of it). The clip is written on the main thread.
        done = peaks.start(det)
        if done is not None:
            events.put(("over", done))
        events.put(("crossed", det, engine.audio_before(det, CLIP_S) if outputs.clips else None))

    def show(event):
        if event[0] == "ended":  # the worker has stopped: the word followed is over too
            event = ("over", peaks.finish())
            if event[1] is None:
                return
        if event[0] == "over":
            outputs.over(health.run_time(event[1]))
        else:
            outputs.crossed(health.run_time(event[1]), event[2], file=file)

    context_s = max(0.0, CLIP_S - detector.window_samples / detector.sample_rate) if outputs.clips else 0.0
    engine = Engine(spec, detector, on_hop=on_hop, on_detection=on_detection, on_error=events.put,
                    context_s=context_s)
    with sigterm_as_ctrl_c():
        try:
            _listen_with_retries(engine, events, show, health, args, lambda: engine.open(SourceSpec("mic")))
        except KeyboardInterrupt:
            pass  # Ctrl-C (or SIGTERM) is how a live listen ends: stopped cleanly, exit 0
        finally:
            engine.stop()
            _drain(events, show)
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
                show(("ended",))
                return engine.error
            continue
        if isinstance(ev, Exception):
            engine.stop()
            _drain(events, show)
            return ev
        show(ev)


def _drain(events, show) -> None:
    """After the engine stopped: what its worker queued, then the end of the word followed."""
    while True:
        try:
            ev = events.get_nowait()
        except queue.Empty:
            break
        if not isinstance(ev, Exception):
            show(ev)
    show(("ended",))


def cmd_devices(args) -> int:
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
    # LiteRT and PortAudio load when a command first needs them (kwsapp.core.model, kwsapp.audio.devices),
    # so --help stays fast although this module imports the whole runtime.
    p = sub.add_parser(
        "listen", help="print detected commands from a microphone or a WAV file",
        description="Print one line per detected command (never _silence_/_unknown_) as it happens: "
                    "'<stream time> s  <label> <score>', or with --json one object per line "
                    '{"time_s": float, "label": str, "score": float}. time_s is seconds of audio since '
                    "the start, when the smoothed score crossed the threshold; score is the peak it reached "
                    "for that word, so the line comes when the word is over (at most 1 s later); actions "
                    "start at the crossing. --input files are processed as fast as possible unless --realtime. An --input "
                    "that is a FIFO or a pipe (/dev/stdin) is read as a stream: listen waits for a "
                    "writer and detects while the audio arrives; a WAV header of unknown length (as "
                    "sox or ffmpeg write to a pipe) plays to the end of the stream. "
                    "Ctrl-C or SIGTERM stops (exit status 0). Lost audio (input overflows, hops "
                    "dropped because the machine was too busy) is reported on stderr. A microphone "
                    "that goes away while listening is replaced by the default input (see --retries).")
    # listen's own --input (several files, folders, stdin), not the window's single WAV (add_source_args)
    g = p.add_mutually_exclusive_group()
    g.add_argument("--input", nargs="+", metavar="FILE",
                   help="read these audio files (WAV, FLAC, OGG, MP3 ...) or the audio files in these folders "
                        "instead of a microphone, each as its own stream; - reads a WAV stream from standard "
                        "input (or raw samples with --raw)")
    g.add_argument("--device", metavar="NAME_OR_INDEX",
                   help="input device index or (part of its) name (default: the system's default input)")
    add_model_arg(p)
    p.add_argument("--realtime", action="store_true", help="play --input at real-time speed, like a microphone")
    p.add_argument("--raw", action="store_true",
                   help="with --input -: standard input is raw 16-bit little-endian mono samples at 16 kHz")
    p.add_argument("--json", action="store_true",
                   help="one JSON object per detection (with wall_time, and file for --input)")
    p.add_argument("--words", metavar="WORD,...",
                   help="report (and act on) only these words, e.g. yes,no,stop (default: all the model's commands)")
    a = p.add_argument_group("doing something on a detection (see README: Make it do something)")
    a.add_argument("--exec", metavar="COMMAND",
                   help="run COMMAND on every detection, split into words like a shell would but without a "
                        "shell (write sh -c '...' for one); the detection is in its environment: KWSAPP_LABEL, "
                        "KWSAPP_SCORE, KWSAPP_TIME (stream seconds), KWSAPP_WALL_TIME (ISO 8601), KWSAPP_FILE, "
                        "KWSAPP_CLIP. Started as soon as the score crosses the threshold (KWSAPP_SCORE is the score "
                        "then, not the peak the printed line shows). Never waited for; one instance per word at a time (detections meanwhile "
                        "are counted and reported)")
    a.add_argument("--actions", metavar="FILE.toml",
                   help='per-word commands: [actions] yes = ["notify-send", "heard yes"]; same rules as --exec, '
                        "which serves the words the file leaves out")
    a.add_argument("--log", metavar="FILE.jsonl", help="append every detection to FILE as a JSON line with wall_time")
    a.add_argument("--save-clips", metavar="DIR",
                   help=f"save the {CLIP_S:g} s of audio that ends at each detection (the window that fired and "
                        "what came before) as DIR/<wall time>_<label>_<score>.wav, with the score that fired it")
    p.add_argument("--hop-ms", type=hop_ms_arg, default=100,
                   help="how often a 1 s window is scored, 20-1000 ms in steps of 10 (default: 100)")
    p.add_argument("--backend", choices=["auto", "tflite", "keras"], default="auto",
                   help="model runtime: tflite (LiteRT on the CPU) or keras (TensorFlow, on a GPU when it "
                        "sees one; needs the train extra) (default: auto = tflite)")
    p.add_argument("--retries", type=positive_arg(int, minimum=0), default=3, metavar="N",
                   help="if the microphone goes away while listening, try the system's default input "
                        "up to N times (1, 2, then 4 s apart) before giving up; 0: give up at once "
                        "(default: 3)")
    add_verifier_arg(p, under_kwsapp=True)
    add_smoothing_args(p)
    p.set_defaults(func=cmd_listen)

    p = sub.add_parser("devices", help="list audio input devices",
                       description="List the audio input devices: index, channels, default sample rate, name.")
    p.add_argument("--json", action="store_true", help="print the list as one JSON array")
    p.set_defaults(func=cmd_devices)

"""Doing something when a word is heard: the user's commands, saved clips and a detection log.

A command is an argument list run directly (``subprocess`` without a shell): a shell runs only
when the user writes one (``sh -c '...'``). The detection reaches the command only through
environment variables (KWSAPP_LABEL, KWSAPP_SCORE, KWSAPP_TIME, KWSAPP_WALL_TIME, and
KWSAPP_FILE / KWSAPP_CLIP when there is one), never inside its arguments, so nothing that comes
from the audio or the model can be read as shell syntax or as an option.

Starting a command never waits for it: each runs on its own, a thread per running command
reaps it and reports a failure in one line. At most one instance per word runs at a time; a
detection that finds its word's command still running is counted and reported, not queued,
so a burst of detections never starts a burst of processes.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import shlex
import shutil
import sys
import threading

from .core.errors import KwsError
from .core.wavio import write_wav


def now() -> _dt.datetime:
    return _dt.datetime.now().astimezone()  # local time with its UTC offset: ISO 8601 that sorts and converts


def wall_time_text(t: _dt.datetime) -> str:
    return t.isoformat(timespec="milliseconds")


def parse_command(text: str, what: str = "--exec") -> list[str]:
    """``text`` split like a shell would split words (quotes honoured), but never run by one."""
    try:
        argv = shlex.split(text)
    except ValueError as e:
        raise KwsError(f"{what} {text!r}: {e}") from None
    if not argv:
        raise KwsError(f"{what} is empty: give a program and its arguments")
    return argv


def missing_program(argv: list[str]) -> str | None:
    """Why ``argv[0]`` cannot be started (None when it can): checked up front so a typo is
    reported once at start, not at every detection."""
    prog = argv[0]
    found = shutil.which(prog)
    if found is None:
        if os.sep in prog and os.path.exists(prog):
            return f"{prog} is not executable"
        return f"{prog}: no such program" + ("" if os.sep in prog else " on PATH")
    return None


def load_actions(path: str, words) -> tuple[dict[str, list[str]], list[str]]:
    """The ``[actions]`` table of a TOML file: ``word = ["program", "arg", ...]`` per word.
    Returns (word -> argv, one line per bad entry); bad entries are left out so the rest still
    work. A file that cannot be read or is not TOML is a KwsError: nothing in it can be trusted."""
    import tomllib

    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise KwsError(f"{path}: no such actions file") from None
    except OSError as e:
        raise KwsError(f"{path}: cannot be read ({e.strerror})") from None
    except tomllib.TOMLDecodeError as e:
        raise KwsError(f"{path}: not valid TOML ({e})") from None
    table = data.get("actions")
    if not isinstance(table, dict):
        raise KwsError(f'{path}: no [actions] table; write e.g.  [actions]  yes = ["notify-send", "yes"]')
    words = list(words)
    commands, problems = {}, []
    for key in sorted(set(data) - {"actions"}):
        problems.append(f"{path}: [{key}] is not a known table (only [actions] is read); ignored")
    for word, argv in table.items():
        where = f"{path}: [actions] {word}"
        if word not in words:
            problems.append(f"{where}: not a word of the model (its words: {', '.join(words)}); ignored")
        elif not (isinstance(argv, list) and argv and all(isinstance(a, str) for a in argv) and argv[0]):
            problems.append(f'{where}: must be a list of strings, program first, e.g. ["notify-send", "{word}"]; '
                            "ignored")
        else:
            commands[word] = argv
    return commands, problems


class ActionRunner:
    """Runs each word's command on its detections; never blocks the caller for longer than a fork.

    ``commands`` maps words to argument lists; ``default`` (if any) serves the other words.
    ``report(line)`` receives every one-line message (a failure, a skipped detection)."""

    def __init__(self, commands: dict[str, list[str]], default: list[str] | None = None, report=None):
        self.commands = dict(commands)
        self.default = default
        self.report = report or (lambda line: print(line, file=sys.stderr, flush=True))
        self.started = 0
        self.failed = 0
        self.skipped: dict[str, int] = {}
        self._running: dict[str, object] = {}  # word -> its Popen while it runs
        self._lock = threading.Lock()
        self._reapers: list[threading.Thread] = []

    def command_for(self, word: str) -> list[str] | None:
        return self.commands.get(word, self.default)

    def fire(self, det, wall_time: str, extra_env: dict[str, str] | None = None) -> None:
        argv = self.command_for(det.label)
        if argv is None:
            return
        import subprocess

        with self._lock:
            if det.label in self._running:
                n = self.skipped[det.label] = self.skipped.get(det.label, 0) + 1
                self.report(f"action for {det.label!r} at {det.stream_time_s:.2f} s skipped: the previous one "
                            f"is still running ({n} skipped for {det.label!r} so far)")
                return
            env = dict(os.environ)
            env.update({"KWSAPP_LABEL": det.label, "KWSAPP_SCORE": f"{det.score:.4f}",
                        "KWSAPP_TIME": f"{det.stream_time_s:.3f}", "KWSAPP_WALL_TIME": wall_time})
            env.update(extra_env or {})
            try:
                # stdin: nothing (listen may be reading audio from its own stdin); stdout: our stderr,
                # so a command's output never mixes with the detection lines a pipe reads from stdout.
                proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=2, close_fds=True)
            except OSError as e:
                self.failed += 1
                self.report(f"action for {det.label!r} ({argv[0]}) could not start: {e.strerror or e}")
                return
            self.started += 1
            self._running[det.label] = proc
            t = threading.Thread(target=self._reap, args=(det.label, argv[0], proc), daemon=True,
                                 name=f"kws-action-{det.label}")
            self._reapers.append(t)
        t.start()

    def _reap(self, word: str, program: str, proc) -> None:
        code = proc.wait()
        with self._lock:
            self._running.pop(word, None)
            if code:
                self.failed += 1
        if code:
            how = f"was killed by signal {-code}" if code < 0 else f"failed (exit status {code})"
            self.report(f"action for {word!r} ({program}) {how}")

    @property
    def running(self) -> list[str]:
        with self._lock:
            return sorted(self._running)

    def finish(self, wait_s: float = 5.0) -> str | None:
        """Wait up to ``wait_s`` for running commands (so their failures are still reported);
        ones still running then are left running. Returns a summary line, or None if there is
        nothing to say."""
        import time

        deadline = time.monotonic() + wait_s
        for t in list(self._reapers):
            t.join(max(0.0, deadline - time.monotonic()))
        still = self.running
        parts = []
        if sum(self.skipped.values()):
            parts.append("skipped (previous still running): "
                         + ", ".join(f"{w} {n}" for w, n in sorted(self.skipped.items())))
        if self.failed:
            parts.append(f"{self.failed} failed")
        if still:
            parts.append(f"still running, left running: {', '.join(still)}")
        return f"actions: {self.started} started; " + "; ".join(parts) if parts else None


def clip_name(wall: _dt.datetime, label: str, score: float) -> str:
    """``<wall time>_<label>_<score>.wav``: ISO 8601 basic format (no colons, which some file
    systems refuse), so the names sort by time."""
    stamp = wall.strftime("%Y%m%dT%H%M%S.") + f"{wall.microsecond // 1000:03d}"
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in label)  # a custom model's label is not a path
    return f"{stamp}_{safe}_{score:.2f}.wav"


CLIP_S = 1.5  # a saved clip: the 1 s window that fired and 0.5 s before it (the word's onset)


class ClipSaver:
    """Writes the audio of each detection to ``folder`` (created if missing)."""

    def __init__(self, folder: str, sample_rate: int):
        self.folder = folder
        self.sample_rate = sample_rate
        try:
            os.makedirs(folder, exist_ok=True)
        except OSError as e:
            raise KwsError(f"--save-clips {folder}: cannot create the folder ({e.strerror})") from None
        if not os.access(folder, os.W_OK | os.X_OK):
            raise KwsError(f"--save-clips {folder}: the folder is not writable")

    def save(self, audio, wall: _dt.datetime, label: str, score: float) -> str | None:
        """The clip's path, or None after a one-line message when it could not be written."""
        name = clip_name(wall, label, score)
        path = os.path.join(self.folder, name)
        n = 1
        while os.path.exists(path):  # two files of one run may detect in the same millisecond
            path = os.path.join(self.folder, f"{name[:-4]}-{n}.wav")
            n += 1
        try:
            write_wav(path, audio, self.sample_rate)
        except OSError as e:
            print(f"kwsapp listen: clip {path} not saved ({e.strerror})", file=sys.stderr, flush=True)
            return None
        return path


class DetectionLog:
    """Appends one JSON object per detection to a file, flushed at once (a `tail -f` sees it)."""

    def __init__(self, path: str):
        self.path = path
        try:
            self._f = open(path, "a", encoding="utf-8")
        except OSError as e:
            raise KwsError(f"--log {path}: cannot be opened for appending ({e.strerror})") from None

    def write(self, record: dict) -> None:
        self._f.write(json.dumps(record) + "\n")
        self._f.flush()

    def close(self) -> None:
        self._f.close()

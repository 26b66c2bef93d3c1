"""One ``kws-train finetune`` subprocess for Train on my voice: progress, cancel, result.

The trainer is a separate process (TensorFlow training must not share the GUI's interpreter,
and the trainer may import kwsapp, never the reverse). With ``--progress json`` it prints one
JSON object per line on stdout: ``start`` (epochs), ``epoch`` (epoch, epochs, val_accuracy …)
as each ends, and ``done`` with the before/after report; Keras's text goes to stderr, which
is kept only for the one-line problem when it fails.
"""
from __future__ import annotations

import glob
import json
import logging
import shutil
import sys

from PyQt6 import QtCore

KILL_AFTER_MS = 15000  # a fine-tune that ignores SIGTERM this long is killed (then we tidy up)

log = logging.getLogger(__name__)


def finetune_command(model_dir, takes_dir, base_dir, out, commands, epochs, extra=()) -> list[str]:
    """argv of the fine-tune (the same ``kws-train finetune`` a user would type)."""
    return [sys.executable, "-m", "kwstrain", "finetune", "--model", model_dir, "--user-data", takes_dir,
            "--data-dir", base_dir, "--out", out, "--labels", ",".join(commands), "--epochs", str(epochs),
            "--quiet", "--progress", "json", *extra]


def remove_partials(out: str) -> None:
    """What a killed fine-tune may leave (it removes its own on SIGTERM)."""
    for p in glob.glob(glob.escape(out) + ".partial-*"):
        shutil.rmtree(p, ignore_errors=True)


def parse_event(line: str) -> dict | None:
    """One progress line as a dict with an ``event``, or None for anything else."""
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        event = json.loads(line)
    except ValueError:
        return None
    return event if isinstance(event, dict) and isinstance(event.get("event"), str) else None


class FinetuneRun(QtCore.QObject):
    progress = QtCore.pyqtSignal(int, int)  # epochs done, epochs in all
    done = QtCore.pyqtSignal(object, str)  # (report dict or None, "" or the one-line problem)

    def __init__(self, argv: list[str], out: str, epochs: int, parent=None, stage: str | None = None):
        """``stage``: a folder made for this run only (:func:`.marks.stage_takes`), removed when it ends."""
        super().__init__(parent)
        self.argv, self.out, self.epochs, self.stage = argv, out, epochs, stage
        self.epochs_done = 0
        self.cancelled = False
        self.report: dict | None = None  # from the ``done`` event
        self._stdout = ""
        self.lines: list[str] = []  # complete stdout lines
        self._stderr: list[str] = []
        self._err_part = ""  # an unfinished stderr line
        self.proc = QtCore.QProcess(self)
        env = QtCore.QProcessEnvironment.systemEnvironment()
        env.insert("PYTHONUNBUFFERED", "1")  # a pipe is block-buffered: each epoch's line must come as it ends
        env.insert("TF_CPP_MIN_LOG_LEVEL", "2")
        self.proc.setProcessEnvironment(env)
        self.proc.readyReadStandardOutput.connect(self._read_stdout)
        self.proc.readyReadStandardError.connect(self._read_stderr)
        self.proc.finished.connect(self._finished)
        self.proc.errorOccurred.connect(self._error)
        self._killer = QtCore.QTimer(self)
        self._killer.setSingleShot(True)
        self._killer.timeout.connect(self.proc.kill)

    def start(self) -> None:
        self.proc.start(self.argv[0], self.argv[1:])

    @property
    def running(self) -> bool:
        return self.proc.state() != QtCore.QProcess.ProcessState.NotRunning

    def cancel(self, wait_ms: int = 0) -> None:
        """SIGTERM: the command removes its half-written folder and exits."""
        if not self.running:
            return
        self.cancelled = True
        self.proc.terminate()
        self._killer.start(KILL_AFTER_MS)
        if wait_ms and not self.proc.waitForFinished(wait_ms):
            self.proc.kill()
            self.proc.waitForFinished(2000)

    def _read_stdout(self) -> None:
        self._stdout += self.proc.readAllStandardOutput().data().decode(errors="replace")
        *lines, self._stdout = self._stdout.split("\n")  # keep an unfinished line for later
        self.lines += lines
        for line in lines:
            self._on_event(parse_event(line), line)

    def _on_event(self, event: dict | None, line: str) -> None:
        event = event or {}  # parse_event gives None for a line that is not an event
        kind = event.get("event")
        if kind in ("start", "epoch"):
            self.epochs = int(event.get("epochs", self.epochs))
            self.epochs_done = int(event.get("epoch", 0))
            self.progress.emit(self.epochs_done, self.epochs)
        elif kind == "done":
            self.report = event.get("report")
        elif line.strip():
            log.debug("fine-tune stdout: %s", line)

    def _read_stderr(self) -> None:
        self._err_part += self.proc.readAllStandardError().data().decode(errors="replace")
        *lines, self._err_part = self._err_part.split("\n")
        self._stderr = (self._stderr + lines)[-200:]

    def _problem(self) -> str:
        for line in reversed(self._stderr):  # the command's own one-line error, if it gave one
            if line.startswith("kws-train: error:"):
                return line.split("error:", 1)[1].strip()
        tail = [l for l in self._stderr if l.strip()]
        return f"the fine-tune stopped (exit code {self.proc.exitCode()}): {tail[-1] if tail else 'no message'}"

    def _remove_stage(self) -> None:
        if self.stage:
            shutil.rmtree(self.stage, ignore_errors=True)  # links and copies only: the takes stay
            self.stage = None

    def _finished(self, code, status) -> None:
        self._killer.stop()
        self._remove_stage()
        self._read_stdout()
        self._read_stderr()
        self._stderr.append(self._err_part)  # a last line without a newline
        if self._stdout:
            self.lines.append(self._stdout)
            self._on_event(parse_event(self._stdout), self._stdout)
            self._stdout = ""
        if self.cancelled:
            remove_partials(self.out)
            self.done.emit(None, "cancelled")
            return
        ok = code == 0 and status == QtCore.QProcess.ExitStatus.NormalExit
        if not ok or self.report is None:
            remove_partials(self.out)
            self.done.emit(None, self._problem() if not ok else "the fine-tune ended without its report")
        else:
            self.done.emit(self.report, "")

    def _error(self, err) -> None:
        if err == QtCore.QProcess.ProcessError.FailedToStart:
            self._remove_stage()
            self.done.emit(None, f"cannot start the trainer ({self.argv[0]}): {self.proc.errorString()}")

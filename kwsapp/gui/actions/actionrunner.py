"""The window's side of running the user's commands: kwsapp/actions.py's ActionRunner, fed off
the GUI thread, its one-line reports brought back to the GUI thread as a signal.

Starting a process is a fork and exec, which can take a while in a process as big as this one
(the model runtime's pages): that, and ActionRunner's lock, must never stall a repaint, so
``fire`` hands the detection to one worker thread. The runner's own reaper threads wait for
the processes; the GUI thread never does.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from PyQt6 import QtCore

from ...actions import ActionRunner, ClipSaver, missing_program, now, parse_command, wall_time_text
from ...core.errors import KwsError


class GuiActions(QtCore.QObject):
    report = QtCore.pyqtSignal(str)  # one line: a failure or a skipped detection (any thread emits)
    clip_saved = QtCore.pyqtSignal(object, str)  # (the caller's token, the clip's path)

    def __init__(self, parent=None):
        super().__init__(parent)
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="kwsapp-actions")
        self.runner = ActionRunner({}, report=self._report)

    def _report(self, line: str) -> None:
        try:
            self.report.emit(line)  # queued to the GUI thread by Qt (emitted from a worker)
        except RuntimeError:  # the window is gone
            pass

    def set_actions(self, actions: dict) -> None:
        """``word -> WordAction``: words switched on with a command run it. Commands that do not
        parse were refused in the settings already; a stray one is left out here."""
        commands = {}
        for word, a in actions.items():
            if a.on and a.command:
                try:
                    commands[word] = parse_command(a.command)
                except Exception:
                    continue
        # A new runner per change would forget what is running (the one-per-word rule), so the
        # table is swapped in place; a dict assignment is atomic for the worker reading it.
        self.runner.commands = commands

    def missing(self, actions: dict) -> list[str]:
        """One line per word switched on whose program cannot be started."""
        return [f"{w}: {why}" for w, a in actions.items() if a.on and a.command and w in self.runner.commands
                and (why := missing_program(self.runner.commands[w]))]

    def fire(self, det, clip=None, folder: str = "", sample_rate: int = 16000, token=None) -> None:
        """Save ``clip`` in ``folder`` (if both), then run the word's command (if any) with
        KWSAPP_CLIP naming the clip: in that order, on the worker."""
        save = clip is not None and bool(folder)
        if self.runner.command_for(det.label) is None and not save:
            return
        wall = now()  # the time it was heard, not when the worker got to it
        try:
            self._pool.submit(self._handle, det, wall, clip if save else None, folder, sample_rate, token)
        except RuntimeError:  # shut down: the window is closing, a straggling detection is dropped
            pass

    def _handle(self, det, wall, clip, folder, sample_rate, token) -> None:
        path = None
        if clip is not None:
            try:
                path = ClipSaver(folder, sample_rate).save(clip, wall, det.label, det.score)
            except KwsError as e:
                self._report(str(e).replace("--save-clips ", "clips folder "))
            if path:
                self._emit_saved(token, path)
            else:
                self._report(f"the clip of {det.label!r} was not saved in {folder}")
        self.runner.fire(det, wall_time_text(wall), {"KWSAPP_CLIP": path} if path else None)

    def _emit_saved(self, token, path: str) -> None:
        try:
            self.clip_saved.emit(token, path)
        except RuntimeError:  # the window is gone
            pass

    def shutdown(self) -> None:
        """Stop taking detections; running commands are left to finish on their own."""
        self._pool.shutdown(wait=False, cancel_futures=True)

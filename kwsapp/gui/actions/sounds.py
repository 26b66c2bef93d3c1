"""Plays a detection's sound (the chime or a WAV the user chose) without ever waiting for it.

QSoundEffect loads and plays on Qt's own audio threads, so ``play`` returns at once on the GUI
thread and detection goes on. One effect per file, kept: loaded once, each later detection
replays it without reading the file again. A file that is missing, unreadable or not a WAV is
one line through ``problem``; nothing else happens.
"""
from __future__ import annotations

import os

from PyQt6 import QtCore


def wav_problem(path: str) -> str | None:
    """Why ``path`` cannot be played as a WAV (one line), or None. Reads 12 bytes: cheap enough
    for the GUI thread, and it names a bad file at once instead of playing nothing."""
    try:
        with open(path, "rb") as f:
            head = f.read(12)
    except FileNotFoundError:
        return f"sound file {path} not found"
    except OSError as e:
        return f"sound file {path} cannot be read: {e.strerror or e}"
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return f"sound file {path} is not a WAV file"
    return None


class SoundPlayer(QtCore.QObject):
    problem = QtCore.pyqtSignal(str)  # one line: a file that could not be played

    def __init__(self, parent=None):
        super().__init__(parent)
        self._effects = {}  # path -> QSoundEffect

    def play(self, path: str, what: str = "") -> bool:
        """Start playing ``path``; ``what`` names it in a problem ("the sound for 'yes'")."""
        why = wav_problem(path)
        if why:
            self.problem.emit(f"{what}: {why}" if what else why)
            return False
        effect = self._effects.get(path)
        if effect is None:
            from PyQt6 import QtMultimedia  # loaded at the first sound: many sessions never play one

            effect = self._effects[path] = QtMultimedia.QSoundEffect(self)
            effect.statusChanged.connect(lambda e=effect, p=path, w=what: self._status(e, p, w))
            effect.setSource(QtCore.QUrl.fromLocalFile(os.path.abspath(path)))
        effect.play()  # queued by Qt until loaded: the first play of a file is not lost
        return True

    def _status(self, effect, path: str, what: str) -> None:
        from PyQt6 import QtMultimedia

        if effect.status() == QtMultimedia.QSoundEffect.Status.Error:
            # A WAV header with a format Qt cannot play (or no audio device): said once per
            # load, and forgotten so that a fixed file is tried again next time.
            self._effects.pop(path, None)
            effect.deleteLater()
            why = f"sound file {path} could not be played (a format Qt cannot play, or no audio output)"
            self.problem.emit(f"{what}: {why}" if what else why)

"""Plays a saved detection clip (the ▶ of a history row) without waiting for it.

QSoundEffect decodes and plays on Qt's own threads, so ``play`` returns at once; Qt's
multimedia module is loaded at the first play, as most sessions never play a clip.
"""
from __future__ import annotations

import os

from PyQt6 import QtCore


class ClipPlayer(QtCore.QObject):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.effect = None
        self.played: str | None = None  # the last clip handed to Qt (offscreen has no sound device to hear it on)

    def play(self, path: str) -> str:
        """Start ``path`` (stopping the one playing); "" or the one-line reason it cannot play."""
        if not os.path.isfile(path):
            return f"{path}: the clip is no longer there"
        from PyQt6 import QtMultimedia

        if self.effect is None:
            self.effect = QtMultimedia.QSoundEffect(self)
        self.effect.stop()
        self.effect.setSource(QtCore.QUrl.fromLocalFile(path))
        self.effect.play()
        self.played = path
        return ""

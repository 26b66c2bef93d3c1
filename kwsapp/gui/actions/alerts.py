"""A detection's sound and desktop notification (Settings → Actions), on the GUI thread.

Both are quick to start and never waited for: the sound plays on Qt's audio threads
(:mod:`.sounds`), the notification is the tray icon's balloon. Only the label and score are
shown; nothing heard goes anywhere near a command line.
"""
from __future__ import annotations

import time

from .chime import chime_path

SOUND_OFF, SOUND_CHIME, SOUND_FILE = "off", "chime", "file"
SOUNDS = (SOUND_OFF, SOUND_CHIME, SOUND_FILE)


def sound_for(action) -> str:
    """The file to play for a word's WordAction: "" for none. Raises OSError if the chime
    cannot be written (a cache folder that is not writable)."""
    if action.sound == SOUND_CHIME:
        return chime_path()
    if action.sound == SOUND_FILE:
        return action.sound_file
    return ""


class DetectionAlerts:
    def __init__(self, player, report, tray=None):
        """``player``: a SoundPlayer; ``report``: takes one line; ``tray``: a Tray, or None where
        the desktop has none (then no notifications: Settings says so)."""
        self.player, self.report, self.tray = player, report, tray
        self.actions: dict = {}

    def heard(self, label: str, score: float) -> None:
        a = self.actions.get(label)
        if a is None:
            return
        try:
            path = sound_for(a)
        except OSError as e:
            path = ""
            self.report(f"the chime for {label!r} could not be written: {e.strerror or e}")
        if path:
            self.player.play(path, f"the sound for {label!r}")
        if a.notify and self.tray is not None:
            self.tray.notify(f"Heard “{label}”", f"score {score:.2f} at {time.strftime('%H:%M:%S')}")

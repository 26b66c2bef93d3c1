"""What the window remembers between runs: a typed view of QSettings; damaged values read as defaults."""
from __future__ import annotations

import dataclasses
import json
import os

from PyQt6 import QtCore

ORG, APP = "kwsapp", "kwsapp"


def open_settings(path: str | None = None) -> QtCore.QSettings:
    """The user's settings store, or an INI file at ``path`` (tests, portable use)."""
    if path:
        return QtCore.QSettings(path, QtCore.QSettings.Format.IniFormat)
    return QtCore.QSettings(ORG, APP)


def _setting(key: str, default=None):
    def get(self):
        return self._get(key, default)

    def put(self, value) -> None:
        self.qs.setValue(key, value or "")

    return property(get, put)


class Store:
    """Typed access to the few things we persist. Unreadable values fall back to defaults:
    a damaged settings file must never stop the app from opening."""

    def __init__(self, qs: QtCore.QSettings):
        self.qs = qs

    def _get(self, key, default=None):
        v = self.qs.value(key, default)
        return default if v in (None, "") else v

    device = _setting("input/device")  # name (or index) of the input device; None = default
    model_dir = _setting("model/dir")  # a model folder chosen in the window; None = bundled
    wav_folder = _setting("input/wav_folder", "")  # where "Open WAV file…" starts
    model_folder = _setting("model/browse_folder", "")  # where "Model folder…" starts
    csv_folder = _setting("history/csv_folder", "")  # where "Save CSV…" starts
    clips_folder = _setting("actions/clips_folder", "")  # where each detection's audio is saved; "" = not saved

    def start_folder(self, key: str) -> str:
        """The folder a file dialog last used for ``key`` if it still exists, else home (never
        the working folder, which is wherever the app happened to be started from)."""
        d = getattr(self, key)
        return d if d and os.path.isdir(d) else os.path.expanduser("~")

    def smoothing(self, cls):
        """A ``cls`` (the engine's SmoothingConfig) from the stored JSON, defaults if none/bad."""
        raw = self._get("engine/smoothing")
        if raw:
            try:
                return cls.from_dict(json.loads(raw))
            except (ValueError, TypeError, KeyError):
                pass
        return cls()

    def has_smoothing(self) -> bool:
        """Whether the user has set smoothing (else the model's tuned settings apply)."""
        return bool(self._get("engine/smoothing"))

    def set_smoothing(self, cfg) -> None:
        self.qs.setValue("engine/smoothing", json.dumps(cfg.to_dict()))

    def actions(self) -> dict:
        """word -> WordAction (Settings → Actions); {} if none or unreadable."""
        from ..actions.actionstab import WordAction

        raw = self._get("actions/words")
        try:
            return {str(w): WordAction.from_dict(a) for w, a in json.loads(raw).items()} if raw else {}
        except (ValueError, TypeError, AttributeError):
            return {}

    def set_actions(self, actions: dict) -> None:
        self.qs.setValue("actions/words", json.dumps({w: dataclasses.asdict(a) for w, a in actions.items()}))

    @property
    def close_to_tray(self) -> bool:
        # INI files hand booleans back as strings
        return str(self._get("window/close_to_tray", "false")).lower() == "true"

    @close_to_tray.setter
    def close_to_tray(self, on: bool) -> None:
        self.qs.setValue("window/close_to_tray", "true" if on else "false")

    def geometry(self) -> QtCore.QByteArray | None:
        return self._get("window/geometry")

    def set_geometry(self, g: QtCore.QByteArray) -> None:
        self.qs.setValue("window/geometry", g)

    def sync(self) -> None:
        self.qs.sync()

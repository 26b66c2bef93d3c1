"""The names kwsapp and its trainer share: the labels, where data, caches, the user's takes and
models live, and the environment variables that move them. The trainer imports these; kwsapp
(the GUI included) never imports the trainer.
"""
from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

from . import envvars
from .errors import UsageError

# ---- labels
SILENCE = "_silence_"
UNKNOWN = "_unknown_"
BACKGROUND = "_background_noise_"  # the dataset's folder of long noise recordings
COMMANDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
LABELS = (SILENCE, UNKNOWN) + COMMANDS


def labels_for(commands: Iterable[str]) -> tuple[str, ...]:
    return (SILENCE, UNKNOWN) + tuple(commands)


def parse_commands(text: str | None, current: tuple[str, ...]) -> tuple[str, ...]:
    """``yes,no,...`` -> the command words in order (``_silence_``/``_unknown_`` stay); empty: the
    commands of the ``current`` labels."""
    if not text:
        return tuple(l for l in current if l not in (SILENCE, UNKNOWN))
    words = tuple(w.strip().lower() for w in text.split(",") if w.strip())
    bad = [w for w in words if w.startswith("_") or not all(c.isalnum() or c in "-'" for c in w)]
    if bad or len(set(words)) != len(words) or not words:
        raise UsageError(f"--labels {text!r}: give distinct plain words separated by commas, e.g. yes,no,up")
    return words


# ---- the app's own data: the user's takes, fine-tuned models, the downloaded dataset; settings
DATA_ENV = envvars.USER_DATA
SETTINGS_ENV = "KWSAPP_SETTINGS"  # a settings file instead of the user's (QSettings) store


data_home = envvars.data_home


# ---- the Speech Commands folder
DATA_DIR_ENV = envvars.DATA_DIR
# The development checkout's copy, which the tests, the Makefile and CI pass explicitly.
DEFAULT_DATA_DIR = os.path.join("..", "shared", "speech_commands")


def downloaded_dataset_dir() -> str:
    """Where `kws-train download` puts the dataset by default: a per-user folder, so the
    default works from any working folder, not only from the development checkout."""
    return os.path.join(data_home(), "speech_commands")


def default_data_dir() -> str:
    """--data-dir's default: ``$KWSAPP_DATA_DIR`` (or the deprecated ``$KWS_DATA_DIR``), else
    the per-user folder `kws-train download` fills."""
    return envvars.getenv(DATA_DIR_ENV) or downloaded_dataset_dir()


# ---- the trainer's decoded-audio cache
CACHE_DIR_ENV = envvars.CACHE_DIR
CACHE_MAX_MB_ENV = envvars.CACHE_MAX_MB
CACHE_MAX_MB = 4096


def cache_dir() -> str:
    return envvars.getenv(CACHE_DIR_ENV) or os.path.join(os.path.expanduser("~"), ".cache", "kwsapp")


def default_takes_dir(env: Mapping[str, str] = os.environ) -> str:
    return os.path.join(data_home(env), "my_voice")


def models_home(env: Mapping[str, str] = os.environ) -> str:
    """Where fine-tuned models go: beside, never inside, the bundled model."""
    return os.path.join(data_home(env), "models")

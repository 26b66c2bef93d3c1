"""Environment variables: one prefix, KWSAPP_. The trainer's older KWS_ names still work for
one release, with a one-line deprecation note on stderr (issue 20)."""
from __future__ import annotations

import os
import sys
from collections.abc import Mapping

DATA_DIR = "KWSAPP_DATA_DIR"  # the Speech Commands folder (--data-dir's default)
CACHE_DIR = "KWSAPP_CACHE_DIR"  # decoded-audio cache of the trainer
CACHE_MAX_MB = "KWSAPP_CACHE_MAX_MB"  # its size budget
USER_DATA = "KWSAPP_DATA"  # kwsapp's own per-user data folder (takes, models, the dataset)

# New name -> the name it replaces. Drop these (and the fallback) in the release after next.
DEPRECATED = {DATA_DIR: "KWS_DATA_DIR", CACHE_DIR: "KWS_CACHE_DIR", CACHE_MAX_MB: "KWS_CACHE_MAX_MB"}

_warned: set[str] = set()


def getenv(name: str, default: str | None = None, env: Mapping[str, str] | None = None) -> str | None:
    """``$name``, else its deprecated KWS_ name (with a note on stderr, once per process), else
    ``default``. The new name wins when both are set."""
    env = os.environ if env is None else env
    if env.get(name):
        return env[name]
    old = DEPRECATED.get(name)
    if old and env.get(old):
        if old not in _warned:
            _warned.add(old)
            print(f"kwsapp: warning: {old} is deprecated and will stop working in the next release; "
                  f"set {name} instead", file=sys.stderr)
        return env[old]
    return default


def data_home(env: Mapping[str, str] | None = None) -> str:
    """kwsapp's own per-user data folder: ``$KWSAPP_DATA``, else ``$XDG_DATA_HOME/kwsapp``
    (``~/.local/share/kwsapp``). It holds ``my_voice/`` (takes), ``marked/``, ``models/`` and the
    dataset `kws-train download` fetches."""
    env = os.environ if env is None else env
    if env.get(USER_DATA):
        return os.path.abspath(os.path.expanduser(env[USER_DATA]))
    base = env.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(base, "kwsapp")

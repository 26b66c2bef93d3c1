"""How the window names a model and an input to the user (title, status bar, history, About)."""
from __future__ import annotations

import os
import re

from ..core.errors import REBUILD_HINT
from ..core.model import BUNDLED_MODEL_DIR
from .live.scores import QUIET_LABELS


def is_bundled(model_dir: str) -> bool:
    return os.path.abspath(model_dir) == os.path.abspath(BUNDLED_MODEL_DIR)


def model_name(model_dir: str) -> str:
    """The bundled model is "bundled"; any other is known by its folder's name."""
    return "bundled" if is_bundled(model_dir) else os.path.basename(os.path.normpath(model_dir))


def model_words(config) -> list[str]:
    """The words a model listens for (its labels without silence and unknown)."""
    return [l for l in config.labels if l not in QUIET_LABELS] if config is not None else []


def source_name(spec) -> str:
    """A file by its name, a microphone by its device (the full path goes in tooltips)."""
    if spec.kind == "file":
        return os.path.basename(spec.path or "")
    return "default microphone" if spec.device is None else str(spec.device)


def model_message(e: Exception, model_dir: str, still_using: str | None = None) -> str:
    """'no model in X …', naming the model still in use if there is one. `make model` is
    advice for the bundled folder only: a folder the user picked is fixed by picking another."""
    reason = str(e)
    if is_bundled(model_dir):
        if "make model" not in reason:
            reason += f"; {REBUILD_HINT}"
    else:
        reason = re.sub(rf"[;,]?\s*{re.escape(REBUILD_HINT)}( or pass --model DIR)?", "", reason).strip()
    if still_using is not None:
        return f"no model in {model_dir} ({reason}) — still using {model_name(still_using)}"
    return f"no model in {model_dir}: {reason} — choose a model folder"

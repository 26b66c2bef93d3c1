"""How the window names a model and an input to the user (title, status bar, history, About)."""
from __future__ import annotations

import os

from ..model import BUNDLED_MODEL_DIR
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

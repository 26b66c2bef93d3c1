"""Which model folder the window runs, and the one to go back to if a new one's weights fail.

A folder is accepted when its config.json reads; its weights are only tried when the engine
loads them, so until the engine is ready the model that worked is kept to return to.
No Qt here: the window shows what these methods return.
"""
from __future__ import annotations

import os

from ...core.errors import ModelError
from ...core.model import ModelConfig, read_config
from ..modelinfo import model_message


class ModelChoice:
    def __init__(self, folder: str):
        self.folder = folder
        self.config: ModelConfig | None = None
        self.problem: str | None = None  # why ``folder`` has no usable config, said when the window shows
        self._previous: tuple[str, ModelConfig] | None = None  # what worked, while a new one's weights are untried
        try:
            self.config = read_config(folder)
        except ModelError as e:
            self.problem = model_message(e, folder)

    def choose(self, folder: str) -> str | None:
        """Switch to ``folder``; None, or why not (the current model is kept then)."""
        try:
            cfg = read_config(folder)
        except ModelError as e:
            return model_message(e, folder, self.folder if self.config is not None else None)
        if self.config is not None and os.path.abspath(folder) != os.path.abspath(self.folder):
            self._previous = (self.folder, self.config)
        self.folder, self.config, self.problem = folder, cfg, None
        return None

    def loaded(self) -> None:
        """The engine runs the chosen model: nothing to go back to."""
        self._previous = None

    def weights_failed(self, err: Exception) -> tuple[str, bool]:
        """The engine could not load the chosen model: (what to say, whether it went back to the previous)."""
        previous, self._previous = self._previous, None
        if previous is None:
            return model_message(err, self.folder), False
        bad = self.folder
        self.folder, self.config = previous
        return model_message(err, bad, self.folder), True

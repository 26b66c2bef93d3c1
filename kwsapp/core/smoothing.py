"""Turning a stream of per-window scores into discrete detections.

Follows the TF speech_commands example's ``RecognizeCommands``: scores are averaged over
the last ``average_window_ms``; nothing is decided until ``minimum_count`` results span at
least a quarter of that window; the top averaged label is reported when it beats its
threshold (``word_thresholds`` where a word has its own, else ``detection_threshold``), at least ``suppression_ms`` after the previous report. A word is
reported again only after another label (silence, unknown or another command) has been on
top in between, so one long "yes" is one detection but "yes ... yes" is two.

Labels in ``ignore_labels`` (silence, unknown) are never reported and never start a
suppression period, but being on top they do re-arm a repeated word.
"""
from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from .errors import KwsError, UsageError
from .model import ModelConfig, read_config

if TYPE_CHECKING:
    from _typeshed import DataclassInstance


def checked_fields(cls: type[DataclassInstance], d: dict[str, Any], what: str) -> dict[str, Any]:
    """``d`` unchanged if every key is a field of dataclass ``cls``; else a ValueError
    naming the strangers (a typo in a saved settings file should not pass silently)."""
    unknown = set(d) - {f.name for f in dataclasses.fields(cls)}
    if unknown:
        raise ValueError(f"unknown {what} settings: {', '.join(sorted(unknown))}")
    return dict(d)


@dataclass(frozen=True)
class SmoothingConfig:
    # Defaults chosen on 10-minute validation-list streams (`kws-train streamtest
    # --split validation`). Models are trained with label smoothing, so their averaged
    # scores seldom reach TF's 0.7. A model's config.json may carry its own tuned
    # threshold and window (see ``for_model``), which then replace these defaults.
    average_window_ms: float = 500.0
    detection_threshold: float = 0.45
    suppression_ms: float = 1500.0
    minimum_count: int = 3
    ignore_labels: tuple[str, ...] = ("_silence_", "_unknown_")
    # (word, threshold) pairs that replace detection_threshold for those words: some words
    # fire on ordinary speech more than others ("right", "on"), see `kws-train falsealarms`.
    word_thresholds: tuple[tuple[str, float], ...] = ()

    def __post_init__(self) -> None:
        if self.average_window_ms <= 0:
            raise ValueError("average_window_ms must be positive")
        if not 0.0 <= self.detection_threshold <= 1.0:
            raise ValueError("detection_threshold must be between 0 and 1")
        if self.suppression_ms < 0:
            raise ValueError("suppression_ms must not be negative")
        if self.minimum_count < 1:
            raise ValueError("minimum_count must be at least 1")
        object.__setattr__(self, "ignore_labels", tuple(self.ignore_labels))
        pairs = self.word_thresholds.items() if isinstance(self.word_thresholds, dict) else self.word_thresholds
        pairs = tuple(sorted((str(w), float(t)) for w, t in pairs))
        if any(not 0.0 <= t <= 1.0 for _, t in pairs):
            raise ValueError("word thresholds must be between 0 and 1")
        object.__setattr__(self, "word_thresholds", pairs)

    def threshold_for(self, label: str) -> float:
        return dict(self.word_thresholds).get(label, self.detection_threshold)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["ignore_labels"] = list(self.ignore_labels)
        d["word_thresholds"] = dict(self.word_thresholds)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "SmoothingConfig":
        return cls(**checked_fields(cls, d, "smoothing"))


def tuned(model_config: ModelConfig, base: SmoothingConfig | None = None) -> SmoothingConfig:
    """``base`` (default settings if None) with the detection threshold(s) and averaging window
    tuned for a model (its ``ModelConfig``), where it has them."""
    base = base or SmoothingConfig()
    changes: dict[str, Any] = {}
    if model_config.detection_threshold is not None:
        changes["detection_threshold"] = model_config.detection_threshold
    if model_config.average_window_ms is not None:
        changes["average_window_ms"] = model_config.average_window_ms
    if model_config.word_thresholds:
        changes["word_thresholds"] = model_config.word_thresholds
    return dataclasses.replace(base, **changes) if changes else base


def for_model(model_dir: str, base: SmoothingConfig | None = None) -> SmoothingConfig:
    """:func:`tuned` for the model in ``model_dir`` (its config.json), before it is loaded.
    A missing or broken model changes nothing here: loading it reports that properly."""
    try:
        config = read_config(model_dir)
    except KwsError:
        return base or SmoothingConfig()
    return tuned(config, base)


def chosen(model_dir: str, base: SmoothingConfig,
           threshold: tuple[float | None, tuple[tuple[str, float], ...]] | None = None,
           average_window_ms: float | None = None, words: Collection[str] | None = None) -> SmoothingConfig:
    """:func:`for_model` with the user's choices on top: ``threshold`` as :func:`parse_thresholds`
    returns it (one number replaces the model's per-word values too), ``average_window_ms``, and
    ``words``, the only words to report. A word the model does not know is a UsageError."""
    cfg = for_model(model_dir, base)
    if threshold is not None:
        default, pairs = threshold
        unknown = sorted({w for w, _ in pairs} - set(read_config(model_dir).labels)) if pairs else []
        if unknown:
            raise UsageError(f"--threshold names {', '.join(unknown)}, not a word of the model {model_dir}")
        if default is not None:
            cfg = dataclasses.replace(cfg, detection_threshold=default, word_thresholds=())
        if pairs:
            cfg = dataclasses.replace(cfg, word_thresholds=tuple((dict(cfg.word_thresholds) | dict(pairs)).items()))
    if average_window_ms is not None:
        cfg = dataclasses.replace(cfg, average_window_ms=average_window_ms)
    if words:
        # The others become like _unknown_: never reported, and (unlike a filter on the output)
        # they start no suppression time that would hide a wanted word said right after them.
        others = [w for w in read_config(model_dir).labels if w not in words]
        cfg = dataclasses.replace(cfg, ignore_labels=tuple(dict.fromkeys([*cfg.ignore_labels, *others])))
    return cfg


TIME_TOLERANCE_MS = 1e-3


@dataclass(frozen=True)
class SmoothedResult:
    smoothed: np.ndarray  # averaged scores over the window (the raw scores until enough results)
    label: str | None  # top averaged label, None while there are too few results
    score: float
    is_new: bool  # a detection of a reportable label


class Smoother:
    def __init__(self, labels: Iterable[str], config: SmoothingConfig = SmoothingConfig()) -> None:
        self.labels = tuple(labels)
        self.config = config
        self.reset()

    def reset(self) -> None:
        self._history: deque[tuple[float, np.ndarray]] = deque()
        self._last_label: str | None = None  # last reported label
        self._last_time = -np.inf
        self._rearmed = True

    def set_config(self, config: SmoothingConfig) -> None:
        """New parameters take effect from the next result; history and state are kept."""
        self.config = config

    def update(self, scores: npt.ArrayLike, time_ms: float) -> SmoothedResult:
        cfg = self.config
        scores = np.asarray(scores, np.float32)
        if scores.shape != (len(self.labels),):
            raise ValueError(f"expected {len(self.labels)} scores, got shape {scores.shape}")
        if self._history and time_ms < self._history[-1][0]:
            raise ValueError("results must arrive in increasing time order")
        self._history.append((time_ms, scores))
        # A result exactly one window old stays in. The tolerance keeps that true for times
        # computed in float seconds (0.1 * 3 * 1000 is 300.00000000000006), which would
        # otherwise drop it on some hops and not others.
        while self._history[0][0] < time_ms - cfg.average_window_ms - TIME_TOLERANCE_MS:
            self._history.popleft()
        count = len(self._history)
        span = time_ms - self._history[0][0]
        if count < cfg.minimum_count or span < cfg.average_window_ms / 4:
            return SmoothedResult(scores, None, 0.0, False)
        avg = np.mean([s for _, s in self._history], axis=0)
        top = int(np.argmax(avg))
        label, score = self.labels[top], float(avg[top])
        if label != self._last_label:
            self._rearmed = True
        new = (
            label not in cfg.ignore_labels
            and score > cfg.threshold_for(label)
            and self._rearmed
            and time_ms - self._last_time > cfg.suppression_ms
        )
        if new:
            self._last_label, self._last_time, self._rearmed = label, time_ms, False
        return SmoothedResult(avg.astype(np.float32), label, score, new)


def parse_thresholds(text: str) -> tuple[float | None, tuple[tuple[str, float], ...]]:
    """``"0.6"``, ``"yes=0.7,go=0.5"`` or both (``"0.6,yes=0.7"``) -> (threshold for every
    word or None, per-word pairs). ValueError with a one-line reason otherwise."""
    default, pairs = None, {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        word, _, value = part.rpartition("=")
        try:
            v = float(value)
        except ValueError:
            raise ValueError(f"{part!r} is not a number or WORD=NUMBER") from None
        if not 0.0 <= v <= 1.0:
            raise ValueError(f"{part!r}: thresholds are between 0 and 1")
        if word.strip():
            pairs[word.strip()] = v
        elif default is None:
            default = v
        else:
            raise ValueError("give one threshold for every word at most, e.g. 0.6,yes=0.7")
    if default is None and not pairs:
        raise ValueError("empty; give e.g. 0.6 or yes=0.7,go=0.5")
    return default, tuple(sorted(pairs.items()))

"""The one confidence figure of a detection: the peak of its smoothed score.

The smoother reports a detection on the hop where the averaged score first crosses the
threshold, so that number follows the threshold setting (0.56 at 0.55, 0.71 at 0.70) while the
score goes on rising to 0.95. A ``PeakFollower`` follows the detected label over the next hops
until the word is over: another label takes the top, the next detection comes, or ``max_s`` of
stream time has passed (a word held longer is still one figure, reported without waiting).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterable

import numpy as np
import numpy.typing as npt

from .detector import Detection

MAX_FOLLOW_S = 1.0


class PeakFollower:
    def __init__(self, labels: Iterable[str], max_s: float = MAX_FOLLOW_S) -> None:
        self.labels = tuple(labels)
        self.max_s = max_s
        self.detection: Detection | None = None  # the one followed, its score the peak so far

    @property
    def following(self) -> str | None:
        return None if self.detection is None else self.detection.label

    @property
    def peak(self) -> float:
        return 0.0 if self.detection is None else self.detection.score

    def start(self, det: Detection) -> Detection | None:
        """Follow ``det``; returns the detection followed until now (its peak final), if any."""
        done, self.detection = self.detection, det
        return done

    def finish(self) -> Detection | None:
        """The stream ended or stopped: the detection followed, its peak as it stands."""
        done, self.detection = self.detection, None
        return done

    def hop(self, smoothed: npt.ArrayLike, stream_time_s: float) -> tuple[float | None, Detection | None]:
        """One hop's smoothed scores: (the new peak if the score rose, the detection if it is now over)."""
        det = self.detection
        if det is None:
            return None, None
        i = self.labels.index(det.label)
        smoothed = np.asarray(smoothed)
        if int(np.argmax(smoothed)) != i:
            return None, self.finish()
        raised = None
        if float(smoothed[i]) > det.score:
            raised = float(smoothed[i])
            self.detection = det = dataclasses.replace(det, score=raised)
        if stream_time_s - det.stream_time_s >= self.max_s - 1e-9:
            return raised, self.finish()
        return raised, None

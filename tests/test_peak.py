"""kwsapp/core/peak.py: a detection's figure is the peak of its smoothed score, and its word
is over when another label takes the top, the next detection comes or MAX_FOLLOW_S passes."""
from __future__ import annotations

import numpy as np

from kwsapp.core.detector import Detection
from kwsapp.core.peak import PeakFollower

LABELS = ("_silence_", "_unknown_", "yes", "no")


def scores(yes: float, no: float = 0.0) -> np.ndarray:
    rest = max(0.0, 1.0 - yes - no)
    return np.array([rest / 2, rest / 2, yes, no], np.float32)


def test_the_score_rises_to_its_peak_and_the_word_ends_when_another_label_tops():
    f = PeakFollower(LABELS)
    assert f.start(Detection(1.0, "yes", 0.61)) is None
    assert f.hop(scores(0.75), 1.1) == (np.float32(0.75), None)
    assert f.hop(scores(0.92), 1.2)[0] == np.float32(0.92)
    assert f.hop(scores(0.80), 1.3) == (None, None)  # lower: the peak stands, still the word
    raised, done = f.hop(scores(0.2), 1.4)  # _silence_ on top: over
    assert raised is None and done == Detection(1.0, "yes", float(np.float32(0.92)))
    assert f.following is None and f.hop(scores(0.99), 1.5) == (None, None)


def test_the_next_detection_ends_the_one_followed():
    f = PeakFollower(LABELS)
    f.start(Detection(1.0, "yes", 0.6))
    f.hop(scores(0.7), 1.1)
    done = f.start(Detection(1.2, "no", 0.65))
    assert done.label == "yes" and abs(done.score - 0.7) < 1e-6 and f.following == "no"
    assert f.finish().label == "no" and f.finish() is None


def test_a_word_held_on_is_reported_after_max_s():
    f = PeakFollower(LABELS, max_s=0.5)
    f.start(Detection(2.0, "yes", 0.6))
    assert f.hop(scores(0.8), 2.3)[1] is None
    raised, done = f.hop(scores(0.9), 2.5)  # still on top, but 0.5 s have passed: the new high counts
    assert abs(raised - 0.9) < 1e-6 and abs(done.score - 0.9) < 1e-6 and done.stream_time_s == 2.0

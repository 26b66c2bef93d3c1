"""kwsapp/core/centring.py: the one cut of a word's second, used by the trainer's decoded clips
and synthetic words (and meant for the recorded takes)."""
import numpy as np

from kwsapp.core.centring import cut_around, place_in_middle


def test_the_cut_is_centred_and_stays_inside_the_audio():
    x = np.arange(100, dtype=np.float32)
    assert list(cut_around(x, 50, 10)) == list(range(45, 55))
    assert list(cut_around(x, 2, 10)) == list(range(0, 10))  # near the start: shifted, not padded
    assert list(cut_around(x, 99, 10)) == list(range(90, 100))
    assert list(cut_around(x, -30, 10)) == list(range(0, 10))


def test_short_audio_is_padded_at_the_end():
    y = cut_around(np.ones(6, np.float32), 3, 10)
    assert y.dtype == np.float32 and list(y) == [1] * 6 + [0] * 4


def test_a_word_is_placed_in_the_middle_of_silence():
    y = place_in_middle(np.ones(4), 10)
    assert y.dtype == np.float32 and list(y) == [0, 0, 0, 1, 1, 1, 1, 0, 0, 0]
    assert list(place_in_middle(np.ones(10), 10)) == [1] * 10

"""The image-source rooms the trainer draws (--reverb-rooms) and how reverberate uses them."""
import numpy as np
import pytest
import tensorflow as tf
from conftest import rt60_t20

from kwsapp.core.errors import UsageError
from kwstrain import pipeline as P
from kwstrain import rooms as R


@pytest.fixture(scope="module")
def bank():
    return R.draw_rooms(12, 5, (0.2, 1.0), 16000, 16000)


def test_drawn_rooms_start_at_their_direct_path_at_unit_energy_and_repeat_with_the_seed(bank):
    assert bank.shape == (12, 16000) and bank.dtype == np.float32
    np.testing.assert_allclose(np.sum(bank.astype(np.float64) ** 2, axis=1), 1.0, rtol=1e-5)
    # the direct path is the loudest tap, right after the fractional-delay filter's pre-ringing
    assert np.all(np.argmax(np.abs(bank), axis=1) == R.PRE_RING)
    np.testing.assert_array_equal(R.draw_rooms(12, 5, (0.2, 1.0), 16000, 16000), bank)
    assert not np.array_equal(R.draw_rooms(12, 6, (0.2, 1.0), 16000, 16000), bank)


def test_drawn_rooms_ring_for_the_asked_times_and_differ(bank):
    times = np.array([rt60_t20(h) for h in bank])
    # Sabine's formula lands the image-source method near the asked times (0.2-1.0 s, middle 0.6),
    # not on them: uneven walls ring longer where the bare pair of walls faces each other
    assert 0.36 < np.median(times) < 0.96 and times.max() < 2.5
    assert times.max() > 2 * times.min()  # drawn across the range, not one room
    # talkers near and far: how much of the energy is the direct path varies widely
    direct = np.sum(bank[:, : 2 * R.PRE_RING] ** 2, axis=1)
    assert direct.max() > 3 * direct.min()


def test_reverberate_hears_bank_rooms_for_their_share_and_is_unchanged_without_them(bank):
    imp = np.zeros((6, 32000), np.float32)
    imp[:, 1000] = 0.5
    seed = tf.constant([2, 3], tf.int64)
    rt60, taps = (0.2, 1.0), P.reverb_taps((0.2, 1.0), 16000)
    rooms = tf.constant(bank[:, :taps])

    def from_bank(row):  # the output is one of the bank's responses, delayed to the impulse
        seg = row[1000:1000 + taps]
        cos = np.abs(bank[:, :taps] @ seg) / np.linalg.norm(bank[:, :taps], axis=1) / np.linalg.norm(seg)
        return cos.max() > 0.999

    y = P.reverberate(tf.constant(imp), seed, 1.0, 16000, rt60, rooms=rooms, rooms_share=1.0).numpy()
    assert all(from_bank(row) for row in y)
    tails = P.reverberate(tf.constant(imp), seed, 1.0, 16000, rt60).numpy()
    # Bit-exact on purpose: a share of 0 (the default) takes no other random stream
    np.testing.assert_array_equal(P.reverberate(tf.constant(imp), seed, 1.0, 16000, rt60, rooms=rooms,
                                                rooms_share=0.0).numpy(), tails)
    x = tf.constant(np.repeat(imp, 8, axis=0))
    half = P.reverberate(x, seed, 1.0, 16000, rt60, rooms=rooms, rooms_share=0.5).numpy()
    assert 10 <= sum(from_bank(row) for row in half) <= 38  # about half of 48


def test_training_batches_with_rooms_differ_and_repeat_with_the_seed(tiny_dataset, monkeypatch):
    from kwsapp.core import features as F
    from kwstrain import dataset as D

    monkeypatch.setattr(P, "ROOM_BANK", 4)  # 300 rooms take 40 s; four show the path
    cfg = F.FeatureConfig()
    spec = D.scan(tiny_dataset, unknown_share=1.0)
    dec = P.decode(spec, cfg)["training"]
    take = lambda aug: next(iter(P.make_dataset(dec, cfg, 8, True, None, aug, seed=3)))[0].numpy()  # noqa: E731
    tails = P.AugmentConfig(reverb=1.0, background_frequency=0)
    walls = P.AugmentConfig(reverb=1.0, reverb_rooms=1.0, background_frequency=0)
    assert np.abs(take(walls) - take(tails)).mean() > 1e-3
    np.testing.assert_array_equal(take(walls), take(walls))  # same seed, same rooms, same batch
    assert P.room_bank(tails, 3, 16000) is None


def test_rooms_without_reverb_or_out_of_range_are_refused_in_one_line():
    with pytest.raises(UsageError, match="give --reverb too"):
        P.check_room_shares(P.AugmentConfig(reverb_rooms=0.5))
    with pytest.raises(UsageError, match="--reverb-rooms 1.5"):
        P.check_room_shares(P.AugmentConfig(reverb=0.3, reverb_rooms=1.5))

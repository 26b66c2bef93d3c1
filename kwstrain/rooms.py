"""Image-source shoebox rooms (pyroomacoustics): the impulse response from a talker to a microphone.

``shoebox_rir`` is the one room model; ``kws-train robustness`` measures in three fixed rooms with
it, and ``draw_rooms`` draws a bank of random ones for training (``--reverb-rooms``): walls of
uneven absorption, rooms from 3 m to 15 m, talkers 0.3-5 m away, none of them the measured three.
"""
from __future__ import annotations

import logging

import numpy as np

from kwsapp.core.errors import KwsError

log = logging.getLogger(__name__)

WALLS = ("east", "west", "north", "south", "floor", "ceiling")
MAX_ORDER = 100  # reflections per path; rooms needing more (a bathroom at 1 s) are drawn again: they take seconds each
PRE_RING = 40  # taps pyroomacoustics' fractional-delay filter rings before the direct path


def _pra():
    try:
        import pyroomacoustics as pra
    except ImportError:
        raise KwsError("simulated rooms need pyroomacoustics: pip install '.[train]'") from None
    return pra


def shoebox_rir(dims, rt60_s: float, mic, talker, rate: int, wall_scale=None) -> np.ndarray:
    """The impulse response of a ``dims`` (metres) room whose Sabine reverberation time is
    ``rt60_s``, from ``talker`` to ``mic`` (x, y, z). ``wall_scale`` (six factors, WALLS' order)
    makes the walls' absorption uneven around the room's mean, as carpet, glass and plaster are.
    Raises ValueError for a room that cannot reverberate that long or short."""
    pra = _pra()
    absorption, max_order = pra.inverse_sabine(rt60_s, list(dims))
    if wall_scale is None:
        materials = pra.Material(absorption)
    else:
        materials = {w: pra.Material(float(np.clip(absorption * k, 0.01, 0.99))) for w, k in zip(WALLS, wall_scale)}
    room = pra.ShoeBox(list(dims), fs=rate, materials=materials, max_order=max_order)
    room.add_source(list(talker))
    room.add_microphone(list(mic))
    room.compute_rir()
    return np.asarray(room.rir[0][0], np.float64)


def draw_rooms(n: int, seed: int, rt60_s: tuple[float, float], rate: int, taps: int,
               talker_m: tuple[float, float] = (0.3, 5.0)) -> np.ndarray:
    """``n`` random rooms' impulse responses [n, taps] float32, each starting at its direct path
    (no propagation delay: the clip stays where it was cut) and at unit energy. Reverberation
    times are drawn uniformly from ``rt60_s`` (Sabine's; measured, uneven walls spread them wider:
    0.1-2.2 s, median 0.58 s, for 0.15-1.2), talkers ``talker_m`` metres from a microphone at desk
    height; the same ``seed`` gives the same rooms."""
    rng = np.random.default_rng(seed)
    pra = _pra()
    out = np.zeros((n, taps), np.float32)
    k = 0
    while k < n:
        length = rng.uniform(3.0, 15.0)
        dims = np.array([length, rng.uniform(2.5, length), rng.uniform(2.4, min(5.0, 2.0 + length / 4))])
        rt60 = rng.uniform(*rt60_s)
        mic = np.array([rng.uniform(0.5, dims[0] - 0.5), rng.uniform(0.5, dims[1] - 0.5), rng.uniform(0.7, 1.2)])
        angle, dist = rng.uniform(0, 2 * np.pi), rng.uniform(*talker_m)
        talker = mic + np.array([dist * np.cos(angle), dist * np.sin(angle), 0.0])
        talker[2] = rng.uniform(1.1, 1.8)
        if np.any(talker < 0.3) or np.any(talker > dims - 0.3):
            continue  # the talker would stand outside the room
        try:
            _, order = pra.inverse_sabine(rt60, list(dims))
        except ValueError:
            continue  # too small a room for so long a time, or too large for so short a one
        if order > MAX_ORDER:
            continue
        h = shoebox_rir(dims, rt60, mic, talker, rate, wall_scale=rng.uniform(0.5, 1.5, 6))
        h = h[max(0, int(np.argmax(np.abs(h))) - PRE_RING):][:taps]
        out[k, : len(h)] = h / np.sqrt(np.sum(h ** 2))
        k += 1
    log.info("drew %d image-source rooms (RT60 %.2f-%.2f s, talkers %.1f-%.1f m)", n, *rt60_s, *talker_m)
    return out

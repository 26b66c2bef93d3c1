"""Decoded-audio cache and the tf.data input pipeline with on-the-fly augmentation.

Audio is decoded once (in parallel, broken clips skipped and counted) into one int16
array, cached on disk keyed by the file list, and gathered batch by batch. The cache is an
.npy file used memory-mapped: at full scale (105k clips, 3.4 GB) no process holds its own
copy; the pages are the OS's page cache, shared by every worker on a machine and by the
evaluations that follow training, and dropped under memory pressure. All
randomness uses stateless ops seeded by (seed, batch number), so the same seed gives the
same batches whatever the thread scheduling. Augmentation is vectorised over a batch,
which keeps both cores busy with few, large ops.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from kwsapp.core import envvars
from kwsapp.core import features as F
from kwsapp.core.centring import cut_around
from kwsapp.core.errors import AudioFileError, KwsError, UsageError
from kwsapp.core.vocabulary import CACHE_MAX_MB, CACHE_MAX_MB_ENV, cache_dir  # noqa: F401  (shared names)
from kwsapp.core.wavio import load_audio

from .dataset import Clip, DataSpec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AugmentConfig:
    time_shift_ms: float = 100.0
    speed_perturb: float = 0.0  # resample by a factor in [1 - s, 1 + s] (tempo and pitch); 0 = off
    background_frequency: float = 0.8  # share of clips with noise mixed in
    background_volume: float = 0.1  # max noise gain on speech clips
    gain_db: float = 6.0  # random gain in [-gain_db, +gain_db]
    reverb: float = 0.0  # share of clips heard in a simulated room (reverberate); 0 = off
    reverb_rt60_s: tuple[float, float] = (0.15, 0.8)  # the rooms' reverberation times, drawn uniformly
    reverb_drr_db: tuple[float, float] = (0.0, 12.0)  # direct-to-reverberant ratios: 0-12 dB is near the microphone
    reverb_rooms: float = 0.0  # share of those rooms that are image-source rooms (rooms.draw_rooms), not tails
    reverb_hf_ratio: tuple[float, float] = (1.0, 1.0)  # the tails' high-band RT60 as a share of theirs; 1 = flat
    band_limit: float = 0.0  # share of clips heard through a narrow-band microphone (band_limit); 0 = off
    level_low_db: float = 0.0  # the whole mix (speech and noise) played LOW..HIGH dB from its level
    level_high_db: float = 0.0
    time_masks: int = 2
    time_mask_frames: int = 10
    freq_masks: int = 2
    freq_mask_bins: int = 5


@dataclass
class DecodedSet:
    audio: np.ndarray  # [n, clip_samples] int16; row 0 is all zeros (for generated silence)
    labels: np.ndarray  # [n] int32
    index: np.ndarray  # [n] row of audio for each example
    clips: list[Clip]
    skipped: list[str]  # "path: problem" for every clip that could not be decoded


def _cache_key(paths, cfg: F.FeatureConfig) -> str:
    h = hashlib.sha1()
    h.update(json.dumps([cfg.sample_rate, cfg.clip_samples]).encode())
    for p in paths:
        try:
            st = os.stat(p)
            stamp = f"{st.st_size}\0{int(st.st_mtime)}"
        except OSError:
            stamp = "gone"  # removed or broken since the scan; decoding reports it as skipped
        h.update(f"{p}\0{stamp}\n".encode())
    return h.hexdigest()[:20]


def describe_skipped(skipped: list[str], most: int = 20) -> str:
    """The report of skipped files: a count, then one "path: why" line each (the first
    ``most``), so a broken file can be found and fixed."""
    lines = [f"skipped {len(skipped)} unreadable clip(s):"] + [f"  {s}" for s in skipped[:most]]
    if len(skipped) > most:
        lines.append(f"  ... and {len(skipped) - most} more")
    return "\n".join(lines)


def prune_cache(keep: str) -> list[str]:
    """Delete the least recently used decoded-audio caches until the folder's caches fit
    in ``$KWSAPP_CACHE_MAX_MB`` (default 4096); ``keep`` (the one in use) always stays.
    Every fine-tune with new takes makes a new cache of the whole base dataset, so
    without this the folder only grows. Returns the deleted paths."""
    try:
        budget = float(envvars.getenv(CACHE_MAX_MB_ENV) or CACHE_MAX_MB) * 1e6
    except ValueError:
        budget = CACHE_MAX_MB * 1e6
    folder = os.path.dirname(keep)
    entries = []
    for name in os.listdir(folder):
        if name.startswith("audio-") and name.endswith(".npy") and ".tmp" not in name:
            path = os.path.join(folder, name)
            try:
                st = os.stat(path)
            except OSError:
                continue
            entries.append((st.st_mtime, st.st_size, path))
    used = sum(size for _, size, _ in entries)
    deleted = []
    for _, size, path in sorted(entries):  # oldest use first
        if used <= budget:
            break
        if os.path.abspath(path) == os.path.abspath(keep):
            continue
        try:
            os.remove(path)
        except OSError:
            continue
        with contextlib.suppress(OSError):
            os.remove(path[: -len(".npy")] + ".json")
        used -= size
        deleted.append(path)
    return deleted


def _decode_one(path, cfg: F.FeatureConfig):
    try:
        x = load_audio(path, cfg.sample_rate)
    except AudioFileError as e:
        return None, str(e)
    n = cfg.clip_samples
    if len(x) > n:
        # Longer clips: keep the loudest second, where the word most likely is.
        energy = np.convolve(x * x, np.ones(1600), mode="valid")[::160]
        x = cut_around(x, int(np.argmax(energy)) * 160 + 800, n)  # the middle of the loudest 100 ms
    out = np.zeros(n, np.int16)
    # Scale by 32768 so 16-bit clips round-trip exactly (load_audio divides by 32768).
    out[: len(x)] = np.clip(np.round(x * 32768.0), -32768, 32767).astype(np.int16)
    return out, None


def decode(spec: DataSpec, cfg: F.FeatureConfig, strict: bool = False, use_cache: bool = True,
           workers: int | None = None) -> dict[str, DecodedSet]:
    """Decode every clip once; return one DecodedSet per split present."""
    if strict and spec.skipped:
        raise KwsError(f"{spec.skipped[0]} (stopped by --strict)")
    paths = sorted({c.path for c in spec.clips if c.path})
    key = _cache_key(paths, cfg)
    cache_file = os.path.join(cache_dir(), f"audio-{key}.npy")
    index_file = cache_file[: -len(".npy")] + ".json"  # paths and skipped clips; written first
    rows: dict[str, int] = {}
    skipped: list[str] = []  # clips that failed to decode (cached); the scan's skips are added below
    if use_cache and os.path.exists(cache_file) and os.path.exists(index_file):
        with open(index_file) as f:
            meta = json.load(f)
        ok, skipped = meta["paths"], meta["skipped"]
        audio = np.load(cache_file, mmap_mode="r")
        rows = {p: i + 1 for i, p in enumerate(ok)}
        try:
            os.utime(cache_file)  # its modification time records the last use, for pruning
        except OSError:
            pass
    else:
        shape = (len(paths) + 1, cfg.clip_samples)
        if use_cache:
            os.makedirs(cache_dir(), exist_ok=True)
            tmp = cache_file + f".tmp{os.getpid()}.npy"
            audio = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.int16, shape=shape)
        else:
            audio = np.zeros(shape, np.int16)
        ok = []
        # Each clip goes straight to its row (no list of arrays, no stacked copy): memory
        # stays flat however many clips there are. Rows of skipped clips stay unused at the end.
        with ThreadPoolExecutor(workers or os.cpu_count() or 2) as pool:
            for p, (x, err) in zip(paths, pool.map(lambda p: _decode_one(p, cfg), paths)):
                if err is not None:
                    if strict:
                        raise KwsError(f"{err} (stopped by --strict)")
                    skipped.append(err)
                    continue
                ok.append(p)
                rows[p] = len(ok)
                audio[len(ok)] = x
        if use_cache:
            audio.flush()
            del audio
            with open(index_file + f".tmp{os.getpid()}", "w") as f:
                json.dump({"paths": ok, "skipped": skipped}, f)
            os.replace(index_file + f".tmp{os.getpid()}", index_file)
            os.replace(tmp, cache_file)
            audio = np.load(cache_file, mmap_mode="r")
            prune_cache(cache_file)
    skipped = list(spec.skipped) + skipped
    if strict and skipped:
        raise KwsError(f"{skipped[0]} (stopped by --strict)")
    label_index = {l: i for i, l in enumerate(spec.labels)}
    out = {}
    for split in ("training", "validation", "testing"):
        clips = [c for c in spec.clips if c.split == split and (c.path is None or c.path in rows)]
        if not clips:
            continue
        out[split] = DecodedSet(
            audio=audio,
            labels=np.array([label_index[c.label] for c in clips], np.int32),
            index=np.array([rows[c.path] if c.path else 0 for c in clips], np.int64),
            clips=clips,
            skipped=skipped,
        )
    return out


def load_background(paths, sample_rate: int) -> np.ndarray:
    """All background files as one float32 signal (noise segments are cut from it)."""
    parts = []
    for p in paths:
        try:
            parts.append(load_audio(p, sample_rate))
        except AudioFileError as e:
            log.warning("warning: background noise skipped: %s", e)
    if not parts:
        return np.zeros(0, np.float32)
    return np.concatenate(parts).astype(np.float32)


def _tf():
    import tensorflow as tf

    return tf


def change_speed(x, factors):
    """Play each waveform of [B, N] ``factors`` [B] times as fast, around the clip's centre
    (Kaldi-style speed perturbation: tempo and pitch move together, as between speakers).

    Linear interpolation, no low-pass: for factors up to 1.1 only content above
    8000 / 1.1 = 7.3 kHz folds back, where speech has little energy and near the mel
    range's 7.6 kHz top anyway; slowing down (factor < 1) cannot alias."""
    tf = _tf()
    n = tf.shape(x)[1]
    centre = tf.cast(n - 1, tf.float32) / 2.0
    pos = centre + (tf.cast(tf.range(n), tf.float32)[None, :] - centre) * tf.cast(factors, tf.float32)[:, None]
    i0 = tf.floor(pos)
    frac = pos - i0
    i0 = tf.cast(i0, tf.int32)
    last = n - 1
    x0 = tf.gather(x, tf.clip_by_value(i0, 0, last), batch_dims=1)
    x1 = tf.gather(x, tf.clip_by_value(i0 + 1, 0, last), batch_dims=1)
    valid = tf.logical_and(pos >= 0.0, pos <= tf.cast(last, tf.float32))
    return tf.where(valid, x0 + frac * (x1 - x0), 0.0)


RT60_RANGE = (0.05, 2.0, "seconds", "0.15,1.2")  # what --reverb-rt60 allows, and an example
DRR_RANGE = (-20.0, 20.0, "dB", "-12,12")
HF_RATIO_RANGE = (0.1, 1.0, "shares of the tail's reverberation time", "0.3,1")
HF_CROSSOVER_HZ = (1000.0, 4000.0)  # where a tail's highs start dying sooner, drawn per room


def check_room_shares(aug: AugmentConfig) -> None:
    """A one-line error for a --reverb, --reverb-rooms or --band-limit share outside 0-1 (or rooms
    without --reverb), or rooms outside the ranges --reverb-rt60, --reverb-drr-db and --reverb-hf-ratio allow."""
    for flag, share in (("--reverb", aug.reverb), ("--reverb-rooms", aug.reverb_rooms),
                        ("--band-limit", aug.band_limit)):
        if not 0.0 <= share <= 1.0:
            raise UsageError(f"{flag} {share:g}: give a share of the clips from 0 (off) to 1, e.g. 0.3")
    if aug.reverb_rooms > 0 and aug.reverb == 0:
        raise UsageError("--reverb-rooms chooses among the rooms --reverb puts clips in: give --reverb too, "
                         "e.g. --reverb 0.3 --reverb-rooms 0.5")
    for flag, (lo, hi), (low, high, unit, example) in (
            ("--reverb-rt60", aug.reverb_rt60_s, RT60_RANGE), ("--reverb-drr-db", aug.reverb_drr_db, DRR_RANGE),
            ("--reverb-hf-ratio", aug.reverb_hf_ratio, HF_RATIO_RANGE)):
        if not low <= lo <= hi <= high:
            raise UsageError(f"{flag} {lo:g},{hi:g}: give LOW,HIGH in {unit} with {low:g} <= LOW <= HIGH <= {high:g}, "
                             f"e.g. {flag}={example}")


def _fft_length(n: int) -> int:
    return 1 << (n - 1).bit_length()


def _rms(x):
    tf = _tf()
    return tf.sqrt(tf.reduce_mean(tf.square(x), axis=1, keepdims=True) + 1e-12)


ROOM_BANK = 300  # image-source rooms drawn per training run (about 40 s on 2 cores)


def reverb_taps(rt60_s: tuple[float, float], sample_rate: int) -> int:
    """Impulse-response length: where the longest tail has decayed 37.5 dB (0.5 s at least)."""
    return int(max(0.5, 0.625 * rt60_s[1]) * sample_rate)


def room_bank(aug: AugmentConfig, seed: int, sample_rate: int) -> np.ndarray | None:
    """The image-source rooms ``reverberate`` draws from (``aug.reverb_rooms``), or None."""
    if not (aug.reverb > 0 and aug.reverb_rooms > 0):
        return None
    from .rooms import draw_rooms

    return draw_rooms(ROOM_BANK, seed, aug.reverb_rt60_s, sample_rate, reverb_taps(aug.reverb_rt60_s, sample_rate))


def _damp_highs(noise, seed, decay, hf_ratio: tuple[float, float], sample_rate: int):
    """The tail's white ``noise`` [B, taps] split at a crossover drawn from HF_CROSSOVER_HZ into two
    bands that sum to it (zero-phase, 4th-order slopes, circular: the noise stays stationary); the
    low band takes the room's ``decay``, the high band the same decay over ``hf_ratio`` (drawn) of
    its time, ``decay ** (1 / ratio)``."""
    tf = _tf()
    b, taps = tf.shape(noise)[0], int(noise.shape[1])
    s = tf.random.experimental.stateless_split(seed, 2)
    ratio = tf.random.stateless_uniform([b, 1], s[0], hf_ratio[0], hf_ratio[1])
    fc = tf.random.stateless_uniform([b, 1], s[1], *HF_CROSSOVER_HZ)
    f = tf.maximum(tf.linspace(0.0, sample_rate / 2, taps // 2 + 1)[None, :], 1.0)
    high = tf.signal.irfft(tf.signal.rfft(noise) * tf.cast(1.0 / (1.0 + (fc / f) ** 8), tf.complex64), [taps])
    return (noise - high) * decay + high * tf.pow(decay, 1.0 / ratio)


def reverberate(x, seed, share: float, sample_rate: int, rt60_s: tuple[float, float] = (0.15, 0.8),
                drr_db: tuple[float, float] = (0.0, 12.0), rooms=None, rooms_share: float = 0.0,
                hf_ratio: tuple[float, float] = (1.0, 1.0)):
    """About ``share`` of the waveforms [B, N] convolved with a simulated room impulse response,
    at their own RMS level: a direct path, then exponentially decaying noise (reverberation time
    and direct-to-reverberant ratio drawn uniformly from ``rt60_s`` and ``drr_db``; the
    statistical model of late reverberation, without a dependency on a room simulator). A talker
    beyond the room's critical distance (about 0.5-1 m in a home) is heard at a negative ratio.
    The response is cut where the longest tail has decayed 37.5 dB, past the clip's end as a
    one-second window would cut it. With ``hf_ratio`` below 1, a tail's highs die sooner, as air,
    curtains and people make real rooms' do (_damp_highs). With ``rooms`` (a room_bank [R, taps]),
    about ``rooms_share`` of the reverberated waveforms take one of its image-source rooms instead of a tail."""
    tf = _tf()
    b, n = tf.shape(x)[0], int(x.shape[1])
    taps = reverb_taps(rt60_s, sample_rate)
    s = tf.random.experimental.stateless_split(seed, 4)
    rt60 = tf.random.stateless_uniform([b, 1], s[0], rt60_s[0], rt60_s[1])
    drr = tf.random.stateless_uniform([b, 1], s[1], drr_db[0], drr_db[1])
    t = tf.cast(tf.range(1, taps + 1), tf.float32)[None, :] / sample_rate
    noise, decay = tf.random.stateless_normal([b, taps], s[2]), tf.exp(-6.9078 * t / rt60)  # -60 dB at RT60
    if tuple(hf_ratio) != (1.0, 1.0):  # its own stream: runs without it keep their exact batches
        tail = _damp_highs(noise, tf.random.experimental.stateless_fold_in(seed, 2), decay, hf_ratio, sample_rate)
    else:
        tail = noise * decay
    tail = tail * tf.pow(10.0, -drr / 20.0) / _rms(tail) / tf.sqrt(float(taps))  # tail energy vs the direct 1
    rir = tf.concat([tf.ones([b, 1]), tail], axis=1)
    if rooms is not None and rooms_share > 0:  # its own stream: runs without rooms keep their exact batches
        r = tf.random.experimental.stateless_split(tf.random.experimental.stateless_fold_in(seed, 1), 2)
        pick = tf.random.stateless_uniform([b], r[0], 0, int(rooms.shape[0]), tf.int32)
        room = tf.pad(tf.gather(rooms, pick), [[0, 0], [0, 1]])  # as long as rir (taps + 1)
        rir = tf.where(tf.random.stateless_uniform([b, 1], r[1]) < rooms_share, room, rir)
    m = _fft_length(n + taps)
    y = tf.signal.irfft(tf.signal.rfft(x, [m]) * tf.signal.rfft(rir, [m]), [m])[:, :n]
    y = y * _rms(x) / _rms(y)
    use = tf.random.stateless_uniform([b, 1], s[3]) < share
    return tf.where(use, y, x)


def band_limit(x, seed, share: float, sample_rate: int):
    """About ``share`` of the waveforms [B, N] through a narrow-band microphone: a zero-phase
    high-pass at 100-400 Hz (2nd order) and low-pass at 2.5-7 kHz (4th order), Butterworth
    magnitudes, as laptop, phone and headset microphones cut speech."""
    tf = _tf()
    b, n = tf.shape(x)[0], int(x.shape[1])
    s = tf.random.experimental.stateless_split(seed, 3)
    lo = tf.random.stateless_uniform([b, 1], s[0], 100.0, 400.0)
    hi = tf.random.stateless_uniform([b, 1], s[1], 2500.0, 7000.0)
    m = _fft_length(n)
    f = tf.maximum(tf.linspace(0.0, sample_rate / 2, m // 2 + 1)[None, :], 1.0)
    gain = 1.0 / tf.sqrt((1.0 + (lo / f) ** 4) * (1.0 + (f / hi) ** 8))
    y = tf.signal.irfft(tf.signal.rfft(x, [m]) * tf.cast(gain, tf.complex64), [m])[:, :n]
    use = tf.random.stateless_uniform([b, 1], s[2]) < share
    return tf.where(use, y, x)


def augment_waveforms(x, labels, noise, seed, cfg: F.FeatureConfig, aug: AugmentConfig, silence_id: int,
                      rooms=None):
    """Batch of float waveforms [B, N] -> augmented [B, N] (speed, shift, room, gain, noise, microphone);
    ``rooms``: room_bank(aug, ...) as a tensor, when aug.reverb_rooms asks for image-source rooms."""
    tf = _tf()
    b = tf.shape(x)[0]
    n = cfg.clip_samples
    seeds = tf.random.experimental.stateless_split(seed, 6)
    is_silence = tf.equal(labels, silence_id)
    if aug.speed_perturb > 0:
        # Its own stream (fold_in), so runs without speed perturbation keep their exact batches.
        s = tf.random.experimental.stateless_fold_in(seed, 7)
        factors = tf.random.stateless_uniform([b], s, 1.0 - aug.speed_perturb, 1.0 + aug.speed_perturb)
        x = change_speed(x, factors)
    max_shift = int(aug.time_shift_ms * cfg.sample_rate / 1000)
    if max_shift > 0:
        shift = tf.random.stateless_uniform([b, 1], seeds[0], -max_shift, max_shift + 1, tf.int32)
        src = tf.range(n)[None, :] - shift
        valid = tf.logical_and(src >= 0, src < n)
        x = tf.where(valid, tf.gather(x, tf.clip_by_value(src, 0, n - 1), batch_dims=1), 0.0)
    # The room and the microphone draw from streams of their own (fold_in), like speed.
    if aug.reverb > 0:
        x = reverberate(x, tf.random.experimental.stateless_fold_in(seed, 8), aug.reverb, cfg.sample_rate,
                        aug.reverb_rt60_s, aug.reverb_drr_db, rooms, aug.reverb_rooms, aug.reverb_hf_ratio)
    if aug.gain_db > 0:
        db = tf.random.stateless_uniform([b, 1], seeds[1], -aug.gain_db, aug.gain_db)
        x = x * tf.pow(10.0, db / 20.0)
    if noise is not None and int(noise.shape[0]) > n:
        start = tf.random.stateless_uniform([b, 1], seeds[2], 0, int(noise.shape[0]) - n, tf.int32)
        seg = tf.gather(noise, start + tf.range(n)[None, :])
        vol = tf.random.stateless_uniform([b, 1], seeds[3], 0.0, aug.background_volume)
        use = tf.random.stateless_uniform([b, 1], seeds[4]) < aug.background_frequency
        vol = tf.where(use, vol, 0.0)
        # As in the TF example: silence gets noise at any volume up to full scale.
        vol = tf.where(is_silence[:, None], tf.random.stateless_uniform([b, 1], seeds[5]), vol)
        x = x + seg * vol
    if aug.band_limit > 0:  # after the noise: the microphone hears the room's noise too
        x = band_limit(x, tf.random.experimental.stateless_fold_in(seed, 9), aug.band_limit, cfg.sample_rate)
    if aug.level_high_db > aug.level_low_db or aug.level_low_db != 0:
        # Last, on the whole mix: the talker's distance (or the input gain) changes the level the
        # microphone hears, not the signal-to-noise ratio. Its own stream, like the room.
        s = tf.random.experimental.stateless_fold_in(seed, 10)
        db = tf.random.stateless_uniform([b, 1], s, aug.level_low_db, aug.level_high_db)
        x = x * tf.pow(10.0, db / 20.0)
    return tf.clip_by_value(x, -1.0, 1.0)


def spec_augment(feats, seed, aug: AugmentConfig):
    """SpecAugment time and frequency masks, filled with each example's mean."""
    tf = _tf()
    b, t, f = tf.shape(feats)[0], tf.shape(feats)[1], tf.shape(feats)[2]
    fill = tf.reduce_mean(feats, axis=[1, 2], keepdims=True)
    keep = tf.ones_like(feats, dtype=tf.bool)
    seeds = tf.random.experimental.stateless_split(seed, 2 * (aug.time_masks + aug.freq_masks) + 1)
    k = 0
    for axis, count, width, size in ((1, aug.time_masks, aug.time_mask_frames, t),
                                     (2, aug.freq_masks, aug.freq_mask_bins, f)):
        for _ in range(count):
            w = tf.random.stateless_uniform([b, 1, 1], seeds[k], 0, width + 1, tf.int32)
            u = tf.random.stateless_uniform([b, 1, 1], seeds[k + 1])
            s = tf.cast(u * tf.cast(tf.maximum(size - w + 1, 1), tf.float32), tf.int32)
            k += 2
            pos = tf.range(size)
            pos = pos[None, :, None] if axis == 1 else pos[None, None, :]
            keep = keep & ~((pos >= s) & (pos < s + w))
    return tf.where(keep, feats, fill)


def fixed_eval_noise(index: np.ndarray, noise: np.ndarray | None, clip_samples: int,
                     seed: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Evaluation silence without real clips: a fixed noise cut per example, fixed volume, so
    validation numbers are comparable across epochs and runs (and the teacher scores the very
    waveforms the VGG is evaluated on). (cuts, row): example i gets ``cuts[row[i]]`` added; row 0
    is zeros, for real clips. None when nothing is added.

    Only silence examples hold a cut: one for every example held 3 float32 copies of the split
    (numpy, its product, the TensorFlow constant), 2.9 GB for the training set's input-norm pass
    at 15 k examples. The draws stay one per example, so the figures are as before."""
    if noise is None or len(noise) <= clip_samples or not (index == 0).any():
        return None
    n = len(index)
    rng_eval = np.random.default_rng(seed + 1)
    starts = rng_eval.integers(0, len(noise) - clip_samples, n)
    vols = rng_eval.uniform(0, 1, n).astype(np.float32)
    silent = np.flatnonzero(index == 0)
    cuts = np.zeros((len(silent) + 1, clip_samples), np.float32)
    for r, i in enumerate(silent, 1):
        cuts[r] = noise[starts[i] : starts[i] + clip_samples] * vols[i]
    row = np.zeros(n, np.int64)
    row[silent] = np.arange(1, len(silent) + 1)
    return cuts, row


def eval_waveforms(ds: DecodedSet, noise: np.ndarray | None, clip_samples: int, seed: int) -> np.ndarray:
    """The float waveforms [n, clip_samples] that ``make_dataset(..., training=False)`` scores."""
    x = np.asarray(ds.audio[ds.index], np.float32) / 32768.0
    add = fixed_eval_noise(ds.index, noise, clip_samples, seed)
    return x if add is None else np.clip(x + add[0][add[1]], -1.0, 1.0)


def steps_per_epoch(ds: DecodedSet, batch_size: int) -> int:
    return max(1, len(ds.labels) // batch_size)


def make_dataset(ds: DecodedSet, cfg: F.FeatureConfig, batch_size: int, training: bool,
                 noise: np.ndarray | None = None, aug: AugmentConfig | None = None, seed: int = 0,
                 silence_id: int = 0, start_step: int = 0, shard: tuple[int, int] | None = None):
    """tf.data.Dataset of (features [B, frames, bins, 1], labels [B]).

    Training only: ``start_step`` is the first batch's number (a resumed run continues the
    batch counter, so its augmentation does not replay the first epochs'); ``shard`` =
    (index, count) keeps every count-th batch from the index-th, before any audio is read:
    with the same seed every worker shuffles the same way, so the shards are disjoint and
    together are the single-worker stream, and each worker decodes and augments only its own."""
    tf = _tf()
    aug = aug or AugmentConfig()
    n_examples = len(ds.labels)
    audio = ds.audio
    index = ds.index
    labels = ds.labels

    def gather(idx):
        return audio[index[idx]], labels[idx]

    noise_t = tf.constant(noise, tf.float32) if (training and noise is not None and len(noise)) else None
    bank = room_bank(aug, seed, cfg.sample_rate) if training else None
    rooms_t = None if bank is None else tf.constant(bank)
    eval_noise = None if training else fixed_eval_noise(index, noise, cfg.clip_samples, seed)

    def load(idx):
        x, y = tf.numpy_function(gather, [idx], (tf.int16, tf.int32), stateful=False)
        x = tf.ensure_shape(tf.cast(x, tf.float32) / 32768.0, [None, cfg.clip_samples])
        y = tf.ensure_shape(y, [None])
        return idx, x, y

    base = tf.data.Dataset.range(n_examples)
    if training:
        # One endless, reshuffled stream: the batch counter then keeps growing across
        # epochs, so augmentation differs every epoch (fit with steps_per_epoch()).
        # A resumed run shuffles with another seed, or it would replay the first epochs' order;
        # an uninterrupted run keeps the seed (and so its exact batches).
        base = base.shuffle(n_examples, seed=seed + start_step, reshuffle_each_iteration=True).repeat()
        base = base.batch(batch_size, drop_remainder=True).enumerate(start=start_step)
        if shard is not None:
            base = base.shard(shard[1], shard[0])

        def train_map(step, idx):
            _, x, y = load(idx)
            s = tf.stack([tf.cast(seed, tf.int64), step])
            s1, s2 = tf.unstack(tf.random.experimental.stateless_split(s, 2))
            x = augment_waveforms(x, y, noise_t, s1, cfg, aug, silence_id, rooms_t)
            f = F.compute_features(x, cfg)
            f = spec_augment(f, s2, aug)
            return f[..., None], y

        out = base.map(train_map, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    else:
        base = base.batch(batch_size)
        en, en_row = (None, None) if eval_noise is None else (tf.constant(eval_noise[0]), tf.constant(eval_noise[1]))

        def eval_map(idx):
            _, x, y = load(idx)
            if en is not None:
                x = tf.clip_by_value(x + tf.gather(en, tf.gather(en_row, idx)), -1.0, 1.0)
            return F.compute_features(x, cfg)[..., None], y

        out = base.map(eval_map, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return out.prefetch(tf.data.AUTOTUNE)


def make_distill_dataset(copies: np.ndarray, targets: np.ndarray, cfg: F.FeatureConfig, batch_size: int,
                         aug: AugmentConfig | None = None, seed: int = 0, start_step: int = 0,
                         shard: tuple[int, int] | None = None):
    """Endless training stream of (features [B, frames, bins, 1], targets [B, labels]) over fixed
    augmented copies (int16 [n, clip_samples], e.g. memory-mapped) and their target
    distributions (a teacher's soft targets mixed with the hard labels: kwstrain/distill.py).

    The waveforms are used as they are, not augmented again: the targets were computed for
    exactly these. SpecAugment masks are still drawn afresh per batch (a regulariser on the
    student's input, as in every other run). Shuffling, ``start_step`` and ``shard`` work as in
    :func:`make_dataset`."""
    tf = _tf()
    aug = aug or AugmentConfig()
    n = len(targets)
    targets = np.asarray(targets, np.float32)

    def gather(idx):
        idx = np.sort(idx)  # reading a memory map in order; the batch's order does not matter
        return copies[idx], targets[idx]

    base = tf.data.Dataset.range(n).shuffle(n, seed=seed + start_step, reshuffle_each_iteration=True).repeat()
    base = base.batch(batch_size, drop_remainder=True).enumerate(start=start_step)
    if shard is not None:
        base = base.shard(shard[1], shard[0])

    def train_map(step, idx):
        x, y = tf.numpy_function(gather, [idx], (tf.int16, tf.float32), stateful=False)
        x = tf.ensure_shape(tf.cast(x, tf.float32) / 32768.0, [None, cfg.clip_samples])
        y = tf.ensure_shape(y, [None, targets.shape[1]])
        s = tf.random.experimental.stateless_fold_in(tf.stack([tf.cast(seed, tf.int64), step]), 11)
        f = spec_augment(F.compute_features(x, cfg), s, aug)
        return f[..., None], y

    return base.map(train_map, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).prefetch(tf.data.AUTOTUNE)

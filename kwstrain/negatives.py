"""``kws-train negatives``: hard negatives, one-second windows of running speech with none of the commands.

Two sources, both written in the standard layout under ``<out>/speech/`` (a non-command folder, so
``kws-train train --extra-data <out>`` adds every window to training as ``_unknown_``):

* real running speech: windows cut at random offsets from the files of a list such as
  ``continuous_speech/train_list.txt``. Files that the sibling ``eval_list.txt`` names are refused,
  because that list measures false alarms per hour and must stay unseen. ``--speeds`` also cuts
  them from sped-up and slowed-down copies (tempo and pitch together, as Kaldi's speed
  perturbation), new pseudo-speakers from the few real ones;
* synthetic running speech: random sequences of ordinary words (near-misses such as "going",
  "upon", "lift" included, commands and their homophones never) spoken by the offline TTS voices
  of ``kws-train synth``, windows cut the same way.

Windows that are mostly pause are skipped (the ``_silence_`` class covers those); each window is
scaled to a random peak level like the synthetic clips. ``<out>/voices.tsv`` lists the synthetic
speakers, as ``synth`` does.
"""
from __future__ import annotations

import hashlib
import logging
import os
import random
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from kwsapp.core.errors import AudioFileError, KwsError, UsageError
from kwsapp.core.wavio import load_audio, resample, write_wav

from . import dataset as D
from . import streamtest as ST
from . import synth as S
from .options import level_range

log = logging.getLogger(__name__)

RATE = 16000
WINDOW = RATE
FOLDER = "speech"
EVAL_LIST = "eval_list.txt"

# Ordinary words for synthetic sentences. None is a command or sounds exactly like one
# ("know", "write", "right", "rite", "oh no" are out); near-misses are in on purpose, since
# they are what running speech fires on.
SENTENCE_WORDS: Sequence[str] = (
    "the a an and but or if then when while because so as at by for from in into of to with about over under "
    "after before between through during without again once here there where why how all any both each few more "
    "most other some such only own same than very can will just should now I you he she it we they me him her "
    "us them my your his its our their this that these those am is are was were be been being have has had do "
    "does did say said make made take took come came see saw look find give tell ask use work seem feel try leave "
    "call keep let begin show hear play run move live believe bring happen stand lose pay meet include "
    "continue set learn change lead understand watch follow create speak read spend grow open walk win offer "
    "remember love consider appear buy wait serve die send expect build stay fall cut reach kill remain suggest "
    "raise pass sell require report decide pull going gone upon lift bright often yet yellow nose note dawn town "
    "light loft top shop own one gold ghost yeast yesterday noble under dog goal gopher stock stuff step store "
    "lift leaf letter lemon rice ride right-hand rock rope bright bite night kite upward open onion oven office "
    "coffee often awful golden ocean boat coat most almost house water music people time year way day thing man "
    "world life hand part child eye woman place week case point government company number group problem fact "
    "mother father money story room mind door morning evening garden window table chair paper river mountain "
    "city country village church letter master captain doctor lady friend brother sister king queen horse "
    "little great old big high different small large next early young important public bad able long black white "
    "red green blue happy quiet gentle certain clear strong whole free true full simple"
).split()
# Exact homophones of commands: filtered out as well as the commands, so a word added to the
# list above cannot slip one in.
HOMOPHONES = ("know", "noh", "write", "rite", "wright")
SENTENCE_WORDS = tuple(dict.fromkeys(w for w in SENTENCE_WORDS
                                     if "-" not in w and w.lower() not in D.COMMANDS + HOMOPHONES))


def _speaker_id(key: str) -> str:
    return hashlib.sha1(key.encode()).hexdigest()[:8]


PEAK_DB = (-24.0, -3.0)  # a talker at a normal distance, as the synthetic clips


def cut_windows(x: np.ndarray, n: int, rng: np.random.Generator, min_level_db: float = -20.0,
                tries: int = 20, peak_db: tuple[float, float] = PEAK_DB) -> list[np.ndarray]:
    """Up to ``n`` one-second windows of ``x`` at random offsets, each scaled to a random peak
    level in ``peak_db`` (dBFS). A window is kept only if its loudest 10 ms is within ``min_level_db`` of the whole
    recording's: a window of pause would teach ``_unknown_`` what ``_silence_`` sounds like."""
    if len(x) < WINDOW:
        x = np.pad(x, (0, WINDOW - len(x)))
    frame = 160
    m = len(x) // frame
    energy = (x[: m * frame].reshape(m, frame) ** 2).mean(axis=1)
    top = energy.max()
    if top <= 1e-10:
        return []
    out: list[np.ndarray] = []
    for _ in range(n * tries):
        if len(out) == n:
            break
        start = int(rng.integers(0, len(x) - WINDOW + 1))
        f0, f1 = start // frame, (start + WINDOW) // frame
        if energy[f0:f1].max() < top * 10 ** (min_level_db / 10):
            continue
        w = x[start : start + WINDOW].astype(np.float32)
        peak = float(np.abs(w).max())
        out.append(w * (10 ** (rng.uniform(*peak_db) / 20) / peak))
    return out


def read_speech_list(list_path: str) -> list[str]:
    """The files a list names (paths relative to the list's folder), refusing any that the
    sibling evaluation list names."""
    try:
        with open(list_path) as f:
            names = [ln.strip() for ln in f if ln.strip() and not ln.startswith("#")]
    except OSError as e:
        raise KwsError(f"cannot read {list_path} ({e.strerror}); give a list of WAV files, one per line") from None
    folder = os.path.dirname(os.path.abspath(list_path))
    eval_path = os.path.join(folder, EVAL_LIST)
    if os.path.abspath(list_path) == eval_path:
        raise KwsError(f"{list_path} is the evaluation list (false alarms per hour); never train on it: "
                       "use train_list.txt")
    if os.path.exists(eval_path):
        with open(eval_path) as f:
            held_out = {ln.strip() for ln in f if ln.strip()}
        clash = sorted(set(names) & held_out)
        if clash:
            raise KwsError(f"{list_path} names {len(clash)} file(s) of {EVAL_LIST} (first: {clash[0]}); "
                           "those are for evaluation only, remove them from the list")
    return [os.path.join(folder, n) for n in names]


SPEED_RANGE = (0.5, 2.0)


def at_speed(x: np.ndarray, factor: float) -> np.ndarray:
    """A whole recording played ``factor`` times as fast (soxr; unlike ``pipeline.change_speed``,
    which stretches training batches in TF): shorter, and higher by the same ratio (read at
    ``factor`` times the rate, then band-limited back to it)."""
    return x if factor == 1.0 else resample(x, round(RATE * factor), RATE)


def real_negatives(list_path: str, out: str, per_second: float, seed: int, speeds=(1.0,),
                   peak_db: tuple[float, float] = PEAK_DB) -> int:
    """Windows from real running speech: about ``per_second`` windows per second of audio, from
    each of its ``speeds`` (1.0: as recorded)."""
    rng = np.random.default_rng(seed)
    written = 0
    for path in read_speech_list(list_path):
        try:
            x = load_audio(path, RATE)
        except AudioFileError as e:
            log.warning("skipped %s: %s", path, e)
            continue
        who = "speech|" + os.path.relpath(path, os.path.dirname(list_path)).split(os.sep)[0]
        name = os.path.splitext(os.path.basename(path))[0]
        for f in speeds:
            # 1.0 keeps the key (and so the file names) that windows had before speeds existed
            speaker = _speaker_id(who if f == 1.0 else f"{who}|speed {f:g}")
            y = at_speed(x, f)
            for k, w in enumerate(cut_windows(y, max(1, round(len(y) / RATE * per_second)), rng, peak_db=peak_db)):
                write_wav(os.path.join(out, FOLDER, f"{speaker}_nohash_{name}-{k}.wav"), w, RATE)
                written += 1
    return written


def random_sentence(rng: random.Random, n_words: int) -> str:
    return " ".join(rng.choice(SENTENCE_WORDS) for _ in range(n_words))


def _speak(voice: S.Voice, text: str, tmp: str, tag: str) -> np.ndarray | None:
    try:
        return S.speak(voice, text, os.path.join(tmp, f"{voice.speaker_id}-{tag}.wav"))
    except AudioFileError:
        return None


def synthetic_negatives(out: str, sentences: int, windows_per_sentence: int, pool: S.VoicePool, seed: int,
                        jobs: int | None = None, peak_db: tuple[float, float] = PEAK_DB) -> tuple[int, list[S.Voice]]:
    """``sentences`` random word sequences, each by its own synthetic speaker, cut into windows.
    White noise at a random floor is added because TTS pauses are digital silence."""
    rng = random.Random(seed)
    voices = S.draw_voices(pool, sentences, rng)
    texts = [random_sentence(rng, rng.randint(8, 16)) for _ in voices]
    seeds = [rng.getrandbits(32) for _ in voices]
    written = 0
    with tempfile.TemporaryDirectory(prefix="kws-neg-") as tmp, ThreadPoolExecutor(jobs or os.cpu_count() or 2) as ex:
        audios = ex.map(lambda i: _speak(voices[i], texts[i], tmp, str(i)), range(len(voices)))
        for v, x, s in zip(voices, audios, seeds):
            if x is None:
                continue
            g = np.random.default_rng(s)
            for k, w in enumerate(cut_windows(x, windows_per_sentence, g, peak_db=peak_db)):
                w = w + (10 ** (g.uniform(-75.0, -55.0) / 20) * g.standard_normal(WINDOW)).astype(np.float32)
                write_wav(os.path.join(out, FOLDER, f"{v.speaker_id}_nohash_{k}.wav"), w, RATE)
                written += 1
    return written, voices


def cmd_negatives(args) -> int:
    if not args.out:
        raise KwsError("give --out DIR (the folder to write the windows to)")
    if not args.speech_list and not args.sentences:
        raise KwsError("nothing to do: give --speech-list FILE and/or --sentences N")
    if args.per_second <= 0 or args.windows_per_sentence < 1 or args.sentences < 0:
        raise UsageError("--per-second must be above 0, --windows-per-sentence at least 1, --sentences 0 or more")
    if args.speeds and not args.speech_list:
        raise UsageError("--speeds changes the speed of the --speech-list recordings; give --speech-list too")
    speeds = (tuple(dict.fromkeys(ST._values(args.speeds, "--speeds", *SPEED_RANGE, "1,0.9,1.1")))
              if args.speeds else (1.0,))
    peak_db = level_range(args.peak_db, "--peak-db", low=-90.0, high=0.0, example="-24,-3")
    if os.path.isdir(args.out) and os.listdir(args.out) and not args.force:
        raise KwsError(f"{args.out} is not empty; choose an empty --out or pass --force to add to it")
    os.makedirs(os.path.join(args.out, FOLDER), exist_ok=True)
    real = (real_negatives(args.speech_list, args.out, args.per_second, args.seed, speeds, peak_db)
            if args.speech_list else 0)
    synth = 0
    voices: list[S.Voice] = []
    if args.sentences:
        engines = S._words(args.engines, S.available_engines()) if args.engines else S.available_engines()
        pool = S.voice_pool(engines, S._names(args.variants) if args.variants else None)
        synth, voices = synthetic_negatives(args.out, args.sentences, args.windows_per_sentence, pool, args.seed,
                                            args.jobs, peak_db)
        S.write_voices(args.out, voices)  # which engine made which windows, as synth's folders say
    print(f"wrote {real} windows of real running speech and {synth} of synthetic running speech "
          f"({len(voices)} synthetic speakers) to {os.path.join(args.out, FOLDER)}")
    print(f"use it with: kws-train train --extra-data {args.out} ...")
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("negatives", help="hard negatives: 1 s windows of running speech without the commands",
                       description=__doc__.split("\n\n", 1)[1].replace("``", ""))
    p.add_argument("--out", help=f"folder to write (windows go to OUT/{FOLDER}/, labelled _unknown_ in training)")
    p.add_argument("--speech-list", default=None, metavar="FILE",
                   help="list of running-speech WAVs, e.g. ../shared/continuous_speech/train_list.txt "
                        "(never the eval list; default: none)")
    p.add_argument("--per-second", type=float, default=1.5,
                   help="windows per second of real speech, overlapping at random offsets (default: 1.5)")
    p.add_argument("--speeds", default=None, metavar="F1,F2,...",
                   help="cut the real speech at these speeds instead of as recorded only, e.g. 1,0.9,1.1 "
                        f"(tempo and pitch together; {SPEED_RANGE[0]:g}-{SPEED_RANGE[1]:g}; default: 1)")
    p.add_argument("--sentences", type=int, default=0,
                   help="synthetic sentences of random ordinary words, one synthetic speaker each (default: 0)")
    p.add_argument("--windows-per-sentence", type=int, default=2, help="windows cut from each sentence (default: 2)")
    p.add_argument("--engines", default=None, help=f"TTS engines, comma-separated, from {', '.join(S.ENGINES)} "
                        f"(default: {' and '.join(S.DEFAULT_ENGINES)}, those installed)")
    p.add_argument("--variants", default=None, help="only these espeak-ng variants, e.g. m1,f1 (default: all)")
    p.add_argument("--peak-db", default=f"{PEAK_DB[0]:g},{PEAK_DB[1]:g}", metavar="LOW,HIGH",
                   help="each window's peak level, random in this range of dBFS; e.g. --peak-db=-74,-33 for a talker "
                        f"across a quiet room (default: {PEAK_DB[0]:g},{PEAK_DB[1]:g})")
    p.add_argument("--seed", type=int, default=1, help="offsets, levels, voices and sentences (default: 1)")
    p.add_argument("--jobs", type=int, default=None,
                   help="TTS processes at once (threads for piper and kokoro; default: CPU cores)")
    p.add_argument("--force", action="store_true", help="write into a folder that is not empty")
    p.set_defaults(func=cmd_negatives)

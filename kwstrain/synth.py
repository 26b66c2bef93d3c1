"""``kws-train synth``: synthetic speakers for the standard layout, from offline TTS voices.

Every voice setting (engine, voice or accent, variant, pitch, rate) is one synthetic
speaker: its id is the first 8 hex digits of a hash of the setting, and its clips are
named ``<word>/<id>_nohash_0.wav`` like the real dataset's, so the speaker-hash split
rule keeps each setting in one split. Clips are 16 kHz mono, one second, trimmed to the
spoken word and centred, at a random level. ``voices.tsv`` maps each id to its setting.

Engines: espeak-ng (its English accents times its voice variants) and flite (its four
16 kHz voices), whichever are installed; festival, SVOX pico, RHVoice and the neural Piper and
Kokoro voices (``neural_tts``) on request (``--engines``). Only voices whose licence allows
shipping a model trained on them are used (RHVoice's evgeniy-eng and lyubov, CC BY-NC-ND,
never), with one open question: Piper's joe, whose lineage is unsettled (docs/training.md).
Feed the folder to ``kws-train train --extra-data DIR``, which adds it to the training split only.
"""
from __future__ import annotations

import hashlib
import os
import random
import re
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

import numpy as np

from kwsapp.core.centring import place_in_middle
from kwsapp.core.errors import AudioFileError, KwsError, UsageError
from kwsapp.core.wavio import load_audio, write_wav

from . import dataset as D
from . import neural_tts as N

RATE = 16000
CLIP = RATE  # one second

# Words for _unknown_: the dataset's other 25 words plus common short words, none of them
# a homophone of a command (no "know", "write", "too" ...), so the labels stay true.
UNKNOWN_WORDS = (
    "backward", "bed", "bird", "cat", "dog", "eight", "five", "follow", "forward", "four", "happy", "house",
    "learn", "marvin", "nine", "one", "seven", "sheila", "six", "three", "tree", "two", "visual", "wow", "zero",
    "yellow", "yet", "nose", "note", "cup", "town", "lift", "light", "ride", "bright", "in", "of", "often",
    "shop", "top", "stock", "gold", "show", "window", "water", "music", "hello", "please", "maybe", "never",
    "open", "close", "start", "pause", "next", "back", "yeah", "okay", "apple", "table", "door", "dinner",
)

# flite's voices at 16 kHz ("kal" is the 8 kHz twin of kal16, "awb_time" speaks only times).
FLITE_VOICES = {"kal16": (80, 140), "awb": (85, 150), "rms": (80, 140), "slt": (150, 240)}  # f0 range, Hz
# festival's shippable English voices, by the short names speakers are listed under.
FESTIVAL_VOICES = {"kal": "kal_diphone", "ked": "ked_diphone", "slt-hts": "cmu_us_slt_arctic_hts"}
PICO_VOICES = ("en-US", "en-GB")  # libttspico-data carries both
# RHVoice's English voices under LGPL; its evgeniy-eng and lyubov are CC BY-NC-ND and never used.
RHVOICE_VOICES = ("alan", "bdl", "clb", "slt")
RHVOICE_VOICE_DIRS = ("/usr/share/RHVoice/voices", "/usr/local/share/RHVoice/voices")

# What each engine is run as, and the Debian packages that install it with its voices.
BINARY = {"espeak-ng": "espeak-ng", "flite": "flite", "festival": "festival", "pico": "pico2wave",
          "rhvoice": "RHVoice-test"}
APT = {"espeak-ng": "espeak-ng", "flite": "flite",
       "festival": "festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts",
       "pico": "libttspico-utils", "rhvoice": "rhvoice rhvoice-english"}
NON_FREE = ("pico", "rhvoice")  # in Debian's non-free section
NEURAL = ("piper", "kokoro")  # Python packages (the `voices` extra), run in this process; sox shifts their pitch


@dataclass(frozen=True)
class Step:
    """One process of a rendering: its arguments, the file it writes and the text it reads on stdin;
    or, for a neural voice, ``call`` writing ``out`` in this process (``argv`` then only names it)."""

    argv: tuple[str, ...]
    out: str
    stdin: str | None = None
    call: Callable[[], None] | None = None


@dataclass(frozen=True)
class Voice:
    """One synthetic speaker."""

    engine: str  # one of ENGINES
    voice: str  # espeak-ng language/accent or the engine's voice (kokoro: the first style of the blend)
    # espeak-ng variant ("" for none or for the other engines); kokoro: "<second style>@<first's weight>"
    variant: str
    # espeak-ng: 0-99; flite: target mean f0 in Hz; festival, piper, kokoro: semitones (sox shift);
    # pico, rhvoice: percent of the voice's own pitch
    pitch: float
    # espeak-ng: words per minute; flite, festival, piper: duration stretch (>1 is slower);
    # pico, rhvoice: percent of the voice's own speed (>100 is faster); kokoro: speed (>1 is faster)
    rate: float

    @property
    def key(self) -> str:
        return f"{self.engine}|{self.voice}|{self.variant}|{self.pitch:g}|{self.rate:g}"

    @property
    def speaker_id(self) -> str:
        return hashlib.sha1(self.key.encode()).hexdigest()[:8]

    def steps(self, text: str, out_wav: str, rate_scale: float = 1.0) -> list[Step]:
        """The processes that speak ``text`` into ``out_wav``; ``rate_scale`` > 1 speaks faster."""
        return _STEPS[self.engine](self, text, out_wav, rate_scale)


def _espeak_steps(v: Voice, text: str, out_wav: str, rate_scale: float) -> list[Step]:
    name = f"{v.voice}+{v.variant}" if v.variant else v.voice
    return [Step(("espeak-ng", "-v", name, "-p", f"{v.pitch:g}", "-s", str(int(v.rate * rate_scale)),
                  "-w", out_wav, text), out_wav)]


def _flite_steps(v: Voice, text: str, out_wav: str, rate_scale: float) -> list[Step]:
    return [Step(("flite", "-voice", v.voice, "--setf", f"int_f0_target_mean={v.pitch:g}",
                  "--setf", f"duration_stretch={v.rate / rate_scale:.3f}", "-t", text, "-o", out_wav), out_wav)]


def _festival_steps(v: Voice, text: str, out_wav: str, rate_scale: float) -> list[Step]:
    # Tempo is native: the diphone voices read Duration_Stretch; the HTS voice ignores it and
    # reads hts_engine's speed "-r" instead. Pitch is not (HTS ignores its half-tone option
    # "-fm"), so sox shifts it, the same way for all three voices.
    stretch = v.rate / rate_scale
    if v.voice.endswith("-hts"):
        tempo = f"(set! hts_engine_params (append hts_engine_params '((\"-r\" {1 / stretch:.3f}))))"
    else:
        tempo = f"(Parameter.set 'Duration_Stretch {stretch:.3f})"
    raw = out_wav[:-4] + "-raw.wav"
    tts = ("text2wave", "-F", str(RATE), "-o", raw, "-eval", f"(voice_{FESTIVAL_VOICES[v.voice]})", "-eval", tempo)
    return [Step(tts, raw, text), Step(("sox", raw, out_wav, "pitch", f"{v.pitch * 100:g}"), out_wav)]


def _pico_steps(v: Voice, text: str, out_wav: str, rate_scale: float) -> list[Step]:
    # pico2wave has no options for them, but its text markup sets speed and pitch
    markup = f'<speed level="{round(v.rate * rate_scale)}"><pitch level="{v.pitch:g}">{text}</pitch></speed>'
    return [Step(("pico2wave", "-l", v.voice, "-w", out_wav, markup), out_wav)]


def _rhvoice_steps(v: Voice, text: str, out_wav: str, rate_scale: float) -> list[Step]:
    return [Step(("RHVoice-test", "-p", v.voice, "-t", f"{v.pitch:g}", "-r", str(round(v.rate * rate_scale)),
                  "-o", out_wav), out_wav, text)]


def _write(path: str, render) -> Callable[[], None]:
    def call() -> None:
        audio, rate = render()
        write_wav(path, np.clip(audio, -1.0, 1.0), rate)
    return call


def _neural_steps(v: Voice, text: str, out_wav: str, rate_scale: float) -> list[Step]:
    raw = out_wav[:-4] + "-raw.wav"
    if v.engine == "piper":
        render = _write(raw, lambda: N.speak_piper(text, v.rate / rate_scale))
    else:
        second, weight = v.variant.split("@")
        render = _write(raw, lambda: N.speak_kokoro(text, v.voice, second, float(weight), v.rate * rate_scale))
    return [Step((v.engine, text), raw, call=render), Step(("sox", raw, out_wav, "pitch", f"{v.pitch * 100:g}"), out_wav)]


_STEPS = {"espeak-ng": _espeak_steps, "flite": _flite_steps, "festival": _festival_steps, "pico": _pico_steps,
          "rhvoice": _rhvoice_steps, "piper": _neural_steps, "kokoro": _neural_steps}


# ---------------------------------------------------------------- what is installed

def espeak_accents() -> list[str]:
    """espeak-ng's English voices (its own, not mbrola ones, which need extra packages)."""
    out = subprocess.run(["espeak-ng", "--voices=en"], capture_output=True, text=True, check=True).stdout
    accents = []
    for line in out.splitlines()[1:]:
        cols = line.split()
        if len(cols) >= 5 and not cols[4].startswith(("mb/", "!v")) and cols[1] not in accents:
            accents.append(cols[1])
    return accents


def espeak_variants() -> list[str]:
    out = subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True, check=True).stdout
    m = re.search(r"Data at:\s*(\S+)", out)
    folder = os.path.join(m.group(1), "voices", "!v") if m else ""
    return sorted(os.listdir(folder)) if os.path.isdir(folder) else []


def flite_voices() -> list[str]:
    out = subprocess.run(["flite", "-lv"], capture_output=True, text=True, check=True).stdout
    return [v for v in out.split(":")[-1].split() if v in FLITE_VOICES]


def festival_voices() -> list[str]:
    out = subprocess.run(["festival", "--pipe"], input="(print (voice.list))", capture_output=True, text=True,
                         check=True).stdout
    found = set(out.strip().strip("()").split())
    return [short for short, name in FESTIVAL_VOICES.items() if name in found]


def pico_voices() -> list[str]:
    return list(PICO_VOICES)


def rhvoice_voices() -> list[str]:
    # RHVoice-test cannot list its voices (an unknown one falls back to the default voice),
    # so look for the shippable ones where the packages put them.
    return [v for v in RHVOICE_VOICES if any(os.path.isdir(os.path.join(d, v)) for d in RHVOICE_VOICE_DIRS)]


ENGINES = ("espeak-ng", "flite", "festival", "pico", "rhvoice", "piper", "kokoro")
# Without --engines: the two that `make model` has always used, so its synthetic speakers stay the same.
DEFAULT_ENGINES = ("espeak-ng", "flite")
_VOICES = {"espeak-ng": espeak_accents, "flite": flite_voices, "festival": festival_voices, "pico": pico_voices,
           "rhvoice": rhvoice_voices, "piper": lambda: list(N.PIPER_VOICES), "kokoro": lambda: list(N.KOKORO_STYLES)}


def installed(engine: str) -> bool:
    if engine in NEURAL:
        return N.installed(engine) and shutil.which("sox") is not None
    return shutil.which(BINARY[engine]) is not None


def available_engines(engines=DEFAULT_ENGINES) -> list[str]:
    return [e for e in engines if installed(e)]


def install_hint(engines) -> str:
    """What installs ``engines`` with their voices: the apt-get line, and pip's for the neural ones."""
    debs = [APT[e] for e in engines if e not in NEURAL] + (["sox"] if any(e in NEURAL for e in engines) else [])
    hint = f"apt-get install {' '.join(debs)}"
    non_free = [e for e in engines if e in NON_FREE]
    if non_free:
        hint += f", from the non-free section for {' and '.join(non_free)} (`make system-deps-voices` enables it)"
    neural = [e for e in engines if e in NEURAL]
    if neural:
        hint += f"; pip install '.[voices]' (or: pip install {' '.join(N.PIP[e] for e in neural)})"
    return hint


@dataclass(frozen=True)
class VoicePool:
    """The base voices to draw speakers from: (engine, voice) pairs and espeak-ng variants."""

    bases: tuple[tuple[str, str], ...]
    variants: tuple[str, ...]


def voice_pool(engines, variants=None) -> VoicePool:
    unsupported = [e for e in engines if e not in ENGINES]
    if unsupported:
        raise UsageError(f"unsupported engine(s) {', '.join(unsupported)}; choose from {', '.join(ENGINES)}")
    missing = [e for e in engines if not installed(e)]
    if missing:
        raise KwsError(f"{', '.join(missing)} not installed; install it (Debian: {install_hint(missing)}) "
                       f"or choose --engines from: {', '.join(available_engines(ENGINES)) or 'none installed'}")
    bases: list[tuple[str, str]] = []
    all_variants: list[str] = []
    for engine in (e for e in ENGINES if e in engines):  # a fixed order: the same draws for the same seed
        names = _VOICES[engine]()
        # e.g. rhvoice without rhvoice-english (espeak-ng and flite carry their voices)
        if not names and engine not in DEFAULT_ENGINES:
            raise KwsError(f"{engine} has none of its usable voices installed; install them (Debian: "
                           f"{install_hint([engine])})")
        bases += [(engine, name) for name in names]
    if "espeak-ng" in engines:
        all_variants = espeak_variants()
    if variants is not None:
        unknown = sorted(set(variants) - set(all_variants))
        if unknown:
            raise UsageError(f"unknown espeak-ng variant(s) {', '.join(unknown)}; see `kws-train synth --list-voices`")
        all_variants = list(variants)
    if not bases:
        raise KwsError("no usable TTS voice found; install espeak-ng or flite")
    return VoicePool(tuple(bases), tuple(all_variants))


def _draw(engine: str, name: str, variants: tuple[str, ...], rng: random.Random) -> Voice:
    """One random setting of a base voice: pitch and rate within what still sounds like speech."""
    if engine == "espeak-ng":
        variant = rng.choice(("",) + variants)
        return Voice(engine, name, variant, rng.randint(20, 80), rng.randint(120, 200))
    if engine == "flite":
        lo, hi = FLITE_VOICES[name]
        return Voice(engine, name, "", rng.randint(lo, hi), round(rng.uniform(0.8, 1.25), 2))
    if engine in ("festival", "piper"):  # +-3 semitones, the shift that still sounds like a person
        return Voice(engine, name, "", round(rng.uniform(-3, 3), 1), round(rng.uniform(0.85, 1.2), 2))
    if engine == "kokoro":  # a blend of two styles is a speaker of its own
        second = rng.choice([s for s in N.KOKORO_STYLES if s != name])
        return Voice(engine, name, f"{second}@{rng.uniform(0.2, 0.8):.2f}", round(rng.uniform(-2.5, 2.5), 1),
                     round(rng.uniform(0.85, 1.2), 2))
    return Voice(engine, name, "", rng.randint(85, 120), rng.randint(80, 125))  # pico, rhvoice: percent


def draw_voices(pool: VoicePool, n: int, rng: random.Random) -> list[Voice]:
    """``n`` distinct speakers: base voices in turns (each one equally often),
    each with a random variant, pitch and rate."""
    voices: dict[str, Voice] = {}
    order: list[tuple[str, str]] = []
    while len(voices) < n:
        if not order:
            order = list(pool.bases)
            rng.shuffle(order)
        v = _draw(*order.pop(), pool.variants, rng)
        voices.setdefault(v.speaker_id, v)
    return list(voices.values())


# ---------------------------------------------------------------- audio

def trim_and_centre(x: np.ndarray, level_db: float, floor_db: float = 40.0, frame: int = 160,
                    noise_db: float | None = None, rng: np.random.Generator | None = None) -> np.ndarray | None:
    """Cut ``x`` to where it is within ``floor_db`` of its loudest 10 ms, centre that in one
    second and scale its peak to ``level_db`` dBFS. None if silent or longer than a second.

    ``noise_db``: add white noise at that RMS level (dBFS), because TTS output is digital
    silence between words and real microphones never are."""
    n = len(x) // frame
    if n == 0:
        return None
    energy = (x[: n * frame].reshape(n, frame) ** 2).mean(axis=1)
    if energy.max() <= 1e-10:
        return None
    loud = np.flatnonzero(10 * np.log10(energy + 1e-12) > 10 * np.log10(energy.max()) - floor_db)
    start, end = max(loud[0] - 1, 0) * frame, min((loud[-1] + 2) * frame, len(x))  # keep 10 ms either side
    word = x[start:end]
    if len(word) > CLIP:
        return None
    fade = np.minimum(1.0, np.minimum(np.arange(len(word)), np.arange(len(word))[::-1]) / 80.0)  # 5 ms: no clicks
    out = place_in_middle(word * fade * (10 ** (level_db / 20) / np.abs(word).max()), CLIP)
    if noise_db is not None:
        out += (10 ** (noise_db / 20) * (rng or np.random.default_rng()).standard_normal(CLIP)).astype(np.float32)
    return out


def render(voice: Voice, word: str, level_db: float, noise_db: float, seed: int, tmp_dir: str) -> np.ndarray | None:
    """Speak ``word``; if it runs over a second, ask once more at a faster rate."""
    for rate_scale in (1.0, 1.4):
        path = os.path.join(tmp_dir, f"{voice.speaker_id}-{word}-{rate_scale}.wav")
        try:
            clip = trim_and_centre(speak(voice, word, path, rate_scale), level_db, noise_db=noise_db,
                                   rng=np.random.default_rng(seed))
        except AudioFileError:
            clip = None
        if clip is not None:
            return clip
    return None


def speak(voice: Voice, text: str, out_wav: str, rate_scale: float = 1.0) -> np.ndarray:
    """``text`` spoken by ``voice`` as 16 kHz audio; every file its steps wrote is removed again
    (e.g. festival's output before sox). AudioFileError if the engine's WAV is unreadable."""
    steps = voice.steps(text, out_wav, rate_scale)
    try:
        run_steps(voice, steps)
        return load_audio(out_wav, RATE)
    finally:
        for step in steps:
            if os.path.exists(step.out):
                os.remove(step.out)


def run_steps(voice: Voice, steps: list[Step]) -> None:
    for step in steps:
        if step.call is not None:
            try:
                step.call()
            except KwsError:
                raise
            except OSError as e:  # e.g. Kokoro's model is assembled into ~/.cache once
                raise KwsError(f"{voice.engine} failed for voice {voice.key!r}: {e}; free some disk space or "
                               "set KOKORO_JA_CACHE to a writable folder") from None
            except Exception as e:  # onnxruntime, a damaged model package
                raise KwsError(f"{voice.engine} failed for voice {voice.key!r}: {type(e).__name__}: "
                               f"{str(e)[:200]}; reinstall it with pip install '.[voices]'") from None
            continue
        r = subprocess.run(step.argv, input=step.stdin, capture_output=True, text=True)
        # the file too: text2wave exits 0 after a Scheme error
        if r.returncode != 0 or not os.path.exists(step.out):
            raise KwsError(f"{step.argv[0]} failed for voice {voice.key!r}: "
                           f"{(r.stderr or r.stdout).strip()[:200] or 'no audio written'}")


# ---------------------------------------------------------------- the command

@dataclass
class SynthResult:
    written: int
    failed: list[str]  # "voice key: word" that were silent or too long
    speakers: list[Voice]


def synthesise(out: str, words, unknown_words, per_word: int, unknown_per_word: int, pool: VoicePool,
               seed: int = 1, jobs: int | None = None, progress=None) -> SynthResult:
    rng = random.Random(seed)
    speakers = draw_voices(pool, max(per_word, unknown_per_word), rng)
    tasks = [(v, w) for w in words for v in speakers[:per_word]]
    tasks += [(v, w) for w in unknown_words for v in rng.sample(speakers, unknown_per_word)]
    # dBFS: peak level (real clips vary about this much), noise floor, noise seed
    levels = [(rng.uniform(-24.0, -3.0), rng.uniform(-75.0, -55.0), rng.getrandbits(32)) for _ in tasks]
    for w in {w for _, w in tasks}:
        os.makedirs(os.path.join(out, w), exist_ok=True)
    failed: list[str] = []
    written = 0
    with tempfile.TemporaryDirectory(prefix="kws-synth-") as tmp, ThreadPoolExecutor(jobs or os.cpu_count() or 2) as ex:
        def render_one(task: tuple[tuple[Voice, str], tuple[float, float, int]]) -> np.ndarray | None:
            (voice, word), (level_db, noise_db, noise_seed) = task
            return render(voice, word, level_db, noise_db, noise_seed, tmp)

        results = ex.map(render_one, zip(tasks, levels))
        for i, ((voice, word), clip) in enumerate(zip(tasks, results), 1):
            if clip is None:
                failed.append(f"{voice.key}: {word}")
            else:
                write_wav(os.path.join(out, word, f"{voice.speaker_id}_nohash_0.wav"), clip, RATE)
                written += 1
            if progress:
                progress(i, len(tasks))
    used = {v.speaker_id for v, w in tasks}
    speakers = [v for v in speakers if v.speaker_id in used]
    write_voices(out, speakers)
    return SynthResult(written, failed, speakers)


def write_voices(out: str, speakers) -> None:
    """``voices.tsv``: every synthetic speaker id of a folder with its voice setting."""
    with open(os.path.join(out, "voices.tsv"), "w") as f:
        f.write("speaker\tengine\tvoice\tvariant\tpitch\trate\n")
        for v in speakers:
            f.write(f"{v.speaker_id}\t{v.engine}\t{v.voice}\t{v.variant}\t{v.pitch:g}\t{v.rate:g}\n")


def check_sayable(engines, words) -> None:
    """Before any rendering: Kokoro reads words from a lexicon, and a word missing there would
    stop a long run halfway."""
    if "kokoro" in engines:
        missing = N.missing_words(words)
        if missing:
            raise UsageError(f"kokoro cannot say {', '.join(missing)} (not in misaki's lexicon); "
                             "leave these words out or choose other --engines")


def _words(arg: str | None, default) -> list[str]:
    if arg is None:
        return list(default)
    words = [w.strip().lower() for w in arg.replace(",", " ").split() if w.strip()]
    bad = [w for w in words if not re.fullmatch(r"[a-z][a-z' -]*", w)]
    if bad:
        raise UsageError(f"not a plain word: {', '.join(bad)}; give letters only, separated by spaces or commas")
    return list(dict.fromkeys(words))


def _names(arg: str) -> list[str]:
    """Comma-separated voice names as espeak-ng spells them (digits, case and spaces kept:
    ``m1``, ``Alex``, ``Mr serious``)."""
    return list(dict.fromkeys(n.strip() for n in arg.split(",") if n.strip()))


def list_voices(engines) -> int:
    pool = voice_pool(engines)
    for engine, name in pool.bases:
        print(f"{engine}\t{name}")
    if "espeak-ng" in engines:
        print(f"espeak-ng variants ({len(pool.variants)}): {' '.join(pool.variants)}")
    print(f"used without --engines: {', '.join(available_engines()) or 'none installed'}")
    return 0


def cmd_synth(args) -> int:
    engines = _words(args.engines, available_engines()) if args.engines else available_engines()
    if args.list_voices:
        return list_voices(engines if args.engines else available_engines(ENGINES))
    if not args.out:
        raise UsageError("give --out DIR (the folder to write the synthetic clips to)")
    words = _words(args.words, D.COMMANDS)
    unknown = [w for w in _words(args.unknown_words, UNKNOWN_WORDS) if w not in words]
    if args.per_word < 0 or args.unknown_per_word < 0 or not (args.per_word or args.unknown_per_word):
        raise UsageError("--per-word and --unknown-per-word must be 0 or more, and not both 0")
    if os.path.isdir(args.out) and os.listdir(args.out) and not args.force:
        raise KwsError(f"{args.out} is not empty; choose an empty --out or pass --force to add to it")
    variants = _names(args.variants) if args.variants else None
    pool = voice_pool(engines, variants)
    if not args.unknown_per_word:
        unknown = []
    check_sayable(engines, words + unknown)
    try:
        os.makedirs(args.out, exist_ok=True)
    except OSError as e:
        raise KwsError(f"cannot create {args.out} ({e.strerror}); choose another --out") from None

    def progress(i, n):
        if not args.quiet and (i == n or i % 100 == 0):
            print(f"  {i}/{n} clips", flush=True)

    r = synthesise(args.out, words, unknown, args.per_word, args.unknown_per_word, pool, args.seed, args.jobs,
                   progress)
    engines_used = sorted({v.engine for v in r.speakers})
    print(f"wrote {r.written} clips ({len(words)} command words x {args.per_word}, {len(unknown)} other words x "
          f"{args.unknown_per_word}) by {len(r.speakers)} synthetic speakers ({', '.join(engines_used)}) to {args.out}")
    if r.failed:
        print(f"skipped {len(r.failed)} clip(s) that came out silent or longer than 1 s; first: {r.failed[0]}")
    print(f"use it with: kws-train train --extra-data {args.out} ...")
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("synth", help="make synthetic speakers with offline TTS (espeak-ng, flite, festival, pico, "
                                     "RHVoice, Piper, Kokoro)",
                       description="Speak the command words and other words (for _unknown_) with every offline "
                                   "TTS voice installed (espeak-ng and flite; festival, pico, RHVoice and "
                                   "the neural Piper and Kokoro with --engines), each voice setting a speaker of "
                                   "its own, as one-second 16 kHz mono clips in the standard layout. Add them to "
                                   "training with `kws-train train --extra-data DIR`. Only voices whose licence "
                                   "allows shipping a model trained on them are used; Piper's joe is the open "
                                   "question (fine-tuned from a voice whose data is, as far as we know, non-commercial): use it for "
                                   "experiments, Kokoro for a model you ship.")
    p.add_argument("--out", help="folder to write (standard layout: <word>/<speaker>_nohash_0.wav)")
    p.add_argument("--words", default=None, help="command words to speak (default: the 10 commands)")
    p.add_argument("--unknown-words", default=None,
                   help=f"other words, for _unknown_ (default: {len(UNKNOWN_WORDS)} words incl. the dataset's 25)")
    p.add_argument("--per-word", type=int, default=150,
                   help="speakers per command word (default: 150; 0: other words only)")
    # 62 x 3 keeps _unknown_ near the trainer's 10% of command clips once added to the real data
    p.add_argument("--unknown-per-word", type=int, default=3,
                   help="speakers per other word (default: 3; 0: no _unknown_ words)")
    p.add_argument("--engines", default=None,
                   help=f"comma-separated, from {', '.join(ENGINES)} (default: {' and '.join(DEFAULT_ENGINES)}, "
                        "those installed)")
    p.add_argument("--variants", default=None,
                   help="only these espeak-ng voice variants, comma-separated, e.g. m1,m2,f1 (default: all)")
    p.add_argument("--seed", type=int, default=1, help="voices, pitches, rates and levels drawn (default: 1)")
    p.add_argument("--jobs", type=int, default=None,
                   help="TTS processes at once (threads for piper and kokoro; default: CPU cores)")
    p.add_argument("--force", action="store_true", help="write into a folder that is not empty")
    p.add_argument("--list-voices", action="store_true",
                   help="list the voices found (of --engines, else of every engine installed) and exit")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=cmd_synth)

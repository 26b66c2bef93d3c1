"""Reading a Speech Commands folder into labelled, split clip lists.

Two layouts are understood:

* standard (``speech_commands_v0.0x``): ``<word>/<speaker>_nohash_<n>.wav``,
  ``_background_noise_/``, ``validation_list.txt``, ``testing_list.txt`` and, when
  present, a ``_silence_/`` folder of real silence clips;
* test-set (``speech_commands_test_set_v0.0x``): ``_silence_/``, ``_unknown_/`` and one
  folder per command; every clip belongs to the test split.

Splits follow the dataset's rule: the lists when present, otherwise the speaker hash
of the TF example's ``which_set``. Both keep each speaker in one split.
"""
from __future__ import annotations

import errno
import hashlib
import math
import os
import random
import re
import stat
from collections import Counter
from dataclasses import dataclass, field

from kwsapp.core.errors import KwsError

# The shared names (labels, the data folder and its variable) live in kwsapp.core.vocabulary.
from kwsapp.core.vocabulary import (  # noqa: F401  (re-exported: the trainer's modules use them as D.*)
    BACKGROUND,
    COMMANDS,
    DATA_DIR_ENV,
    DEFAULT_DATA_DIR,
    LABELS,
    SILENCE,
    UNKNOWN,
    default_data_dir,
    labels_for,
)

SPLITS = ("training", "validation", "testing")
_SHORT_SPLITS = {"test": "testing", "val": "validation", "train": "training"}


def split_name(name: str) -> str:
    """A ``--split`` value: a split's name or its short form (test, val, train), so every
    subcommand takes the same spellings."""
    return _SHORT_SPLITS.get(name, name)

DATA_DIR_HELP = f"Speech Commands folder (default: ${DATA_DIR_ENV}, else the per-user folder `kws-train download` fills)"

_MAX_NUM_WAVS_PER_CLASS = 2**27 - 1  # the TF example's constant, kept so splits match it


def speaker_of(path: str) -> str:
    base = os.path.basename(path)
    return re.sub(r"_nohash_.*$", "", base) if "_nohash_" in base else os.path.splitext(base)[0]


def which_set(filename: str, validation_percentage: float = 10, testing_percentage: float = 10) -> str:
    """The TF speech_commands example's split rule, keyed by speaker."""
    hash_name = speaker_of(filename).encode()
    percentage_hash = (int(hashlib.sha1(hash_name).hexdigest(), 16) % (_MAX_NUM_WAVS_PER_CLASS + 1)) * (
        100.0 / _MAX_NUM_WAVS_PER_CLASS
    )
    if percentage_hash < validation_percentage:
        return "validation"
    if percentage_hash < testing_percentage + validation_percentage:
        return "testing"
    return "training"


@dataclass(frozen=True)
class Clip:
    path: str | None  # None: a silence clip to be cut from background noise
    word: str  # folder name (the raw word)
    label: str  # one of the model's labels
    split: str

    @property
    def speaker(self) -> str:
        return speaker_of(self.path) if self.path else ""


@dataclass
class DataSpec:
    """What a folder holds, split and labelled (before decoding any audio)."""

    data_dir: str
    layout: str
    labels: tuple[str, ...]
    clips: list[Clip]
    background_files: list[str]
    words: Counter = field(default_factory=Counter)
    skipped: list[str] = field(default_factory=list)  # "path: why" for .wav names that are not files

    def split(self, name: str) -> list[Clip]:
        return [c for c in self.clips if c.split == name]


def detect_layout(data_dir: str) -> str:
    if os.path.isdir(os.path.join(data_dir, UNKNOWN)):
        return "test-set"
    return "standard"


def _read_list(data_dir: str, name: str) -> set[str] | None:
    p = os.path.join(data_dir, name)
    if not os.path.exists(p):
        return None
    with open(p) as f:
        return {line.strip().replace("\\", "/") for line in f if line.strip()}


def _not_a_file(entry: os.DirEntry) -> str | None:
    """Why a .wav entry cannot be read as a clip, or None when it is a regular file (or a
    link to one)."""
    try:
        if entry.is_file():
            return None
        mode = os.stat(entry.path).st_mode
    except FileNotFoundError:
        return "is a dangling symlink (its target does not exist); remove it or fix the link"
    except OSError as e:
        if e.errno == errno.ELOOP:
            return "is a symlink loop; remove it or fix the link"
        return f"cannot be read ({e.strerror})"
    if stat.S_ISDIR(mode):
        return "is a folder, not a WAV file"
    if stat.S_ISFIFO(mode):
        # Opening a FIFO waits for a writer: decoding it would hang the whole run.
        return "is a FIFO, not a regular file; remove it"
    return "is not a regular file (a device or socket); remove it"


def wav_names(folder: str, skipped: list[str]) -> list[str]:
    """The names of the .wav files in ``folder``; what only looks like one is added to
    ``skipped`` as "path: why"."""
    names = []
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.lower().endswith(".wav"):
                why = _not_a_file(entry)
                if why is None:
                    names.append(entry.name)
                else:
                    skipped.append(f"{entry.path}: {why}")
    return sorted(names)


def scan(
    data_dir: str,
    commands=COMMANDS,
    layout: str = "auto",
    unknown_share: float | None = 0.1,
    silence_share: float = 0.1,
    seed: int = 59185,
    validation_percentage: float = 10,
    testing_percentage: float = 10,
    require_commands: bool = True,
    repeat_unknown: bool = False,
) -> DataSpec:
    """List, label and split every clip of ``data_dir``.

    ``unknown_share``/``silence_share`` follow the TF example's ``unknown_percentage``/
    ``silence_percentage`` (as fractions): per split, that many unknown (and silence)
    examples relative to the number of command clips. The training split takes a seeded
    sample of the other words (all of them if ``unknown_share`` is None); validation and
    testing keep every listed clip so the reported accuracy covers the whole list. Silence is filled first with real
    ``_silence_/`` clips, the rest is cut from background noise at training time.
    With ``repeat_unknown``, a training split with fewer other-word clips than the share
    asks for lists them again (each pass is augmented afresh) until it reaches the share;
    without it, as in the TF example, the share is capped by the clips there are.
    """
    if not os.path.isdir(data_dir):
        raise KwsError(f"{data_dir}: no such data folder; run `kws-train download` to fetch it, or pass --data-dir")
    if layout == "auto":
        layout = detect_layout(data_dir)
    labels = labels_for(commands)
    clips: list[Clip] = []
    words: Counter = Counter()
    skipped: list[str] = []
    bg_dir = os.path.join(data_dir, BACKGROUND)
    background = [os.path.join(bg_dir, n) for n in wav_names(bg_dir, skipped)] if os.path.isdir(bg_dir) else []

    if layout == "test-set":
        for label in labels:
            folder = os.path.join(data_dir, label)
            if not os.path.isdir(folder):
                continue
            for n in wav_names(folder, skipped):
                clips.append(Clip(os.path.join(folder, n), label, label, "testing"))
                words[label] += 1
        if not clips:
            raise KwsError(f"{data_dir}: no WAV clips in any label folder; is this a Speech Commands test set?")
        return DataSpec(data_dir, layout, labels, clips, background, words, sorted(skipped))

    if layout != "standard":
        raise KwsError(f"unknown layout {layout!r}; use standard, test-set or auto")
    val_list = _read_list(data_dir, "validation_list.txt")
    test_list = _read_list(data_dir, "testing_list.txt")
    use_lists = val_list is not None or test_list is not None
    by_split: dict[str, dict[str, list[Clip]]] = {s: {"known": [], "unknown": [], "silence": []} for s in SPLITS}
    for word in sorted(os.listdir(data_dir)):
        folder = os.path.join(data_dir, word)
        if not os.path.isdir(folder) or word == BACKGROUND or word.startswith("."):
            continue
        for n in wav_names(folder, skipped):
            rel = f"{word}/{n}"
            if word == SILENCE:
                # Real silence clips are in neither list; spread them with the hash rule.
                split = which_set(n, validation_percentage, testing_percentage)
            elif use_lists:
                split = "validation" if rel in (val_list or ()) else "testing" if rel in (test_list or ()) else "training"
            else:
                split = which_set(n, validation_percentage, testing_percentage)
            words[word] += 1
            if word == SILENCE:
                by_split[split]["silence"].append(Clip(os.path.join(folder, n), word, SILENCE, split))
            elif word in commands:
                by_split[split]["known"].append(Clip(os.path.join(folder, n), word, word, split))
            else:
                by_split[split]["unknown"].append(Clip(os.path.join(folder, n), word, UNKNOWN, split))
    if not any(by_split[s]["known"] for s in SPLITS) and (
            require_commands or not any(by_split[s]["unknown"] for s in SPLITS)):
        raise KwsError(
            f"{data_dir}: no clips of the command words ({', '.join(commands)}); "
            "expected the Speech Commands layout <word>/<speaker>_nohash_<n>.wav"
        )
    rng = random.Random(seed)
    for split in SPLITS:
        parts = by_split[split]
        n_known = len(parts["known"])
        unknown = parts["unknown"]
        if split == "training" and unknown_share is not None:
            rng.shuffle(unknown)
            want = math.ceil(n_known * unknown_share)
            if repeat_unknown and unknown:
                unknown = unknown * math.ceil(want / len(unknown))
            unknown = unknown[:want]
        n_silence = math.ceil(n_known * silence_share)
        silence = parts["silence"]
        if split == "training":
            rng.shuffle(silence)
            silence = silence[:n_silence]
        if background:
            silence = silence + [Clip(None, SILENCE, SILENCE, split)] * max(0, n_silence - len(silence))
        clips.extend(parts["known"] + unknown + silence)
    return DataSpec(data_dir, layout, labels, clips, background, words, sorted(skipped))


def add_extra_training_data(spec: DataSpec, extra_dir: str, commands=COMMANDS) -> int:
    """Add every clip of ``extra_dir`` (standard layout) to the training split only."""
    # Other words only is fine here (more _unknown_ variety); every clip is taken.
    extra = scan(extra_dir, commands, layout="standard", unknown_share=None, silence_share=0,
                 require_commands=False)
    added = [Clip(c.path, c.word, c.label, "training") for c in extra.clips if c.path]
    spec.clips.extend(added)
    spec.skipped.extend(extra.skipped)
    return len(added)

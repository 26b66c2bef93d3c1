"""Detections marked right or wrong in the history, kept as extra takes for Train on my voice.

Marking copies the detection's saved clip (1.5 s) into ``<data home>/marked/<label>/`` as
``<speaker>_nohash_<n>.wav``, cut to the one second centred on the speech like a recorded
take: the layout of the takes folder, which ``kws-train finetune --user-data`` reads. A right
detection goes under its word; a wrong one under ``_unknown_`` (or the word it really was),
which teaches the model not to fire on that sound again. The copy is kept whatever happens to
the clips folder. :func:`stage_takes` puts the recorded and the marked takes in one folder
for the fine-tune.
"""
from __future__ import annotations

import os
import re
import shutil

from ...core.errors import KwsError
from ...core.vocabulary import data_home
from ...core.wavio import load_audio, write_wav
from ..voice.recorder import CLIP, RATE, centre_on_speech, default_user_name, next_take_path, speaker_id

RIGHT, WRONG = "right", "wrong"
_TAKE = re.compile(r"^[0-9a-f]{8}_nohash_\d+\.wav$")


def marked_dir(env=os.environ) -> str:
    """Beside the recorded takes (``my_voice``), never inside: the Record tab counts only those."""
    return os.path.join(data_home(env), "marked")


def marked_speaker(user: str | None = None) -> str:
    # The user's own id would do for the trainer, but the marked and the recorded takes go into
    # one folder for a fine-tune (stage_takes), where the same name in both would clash.
    return speaker_id(f"{user or default_user_name()} (marked in the history)")


def keep(clip: str, label: str, folder: str | None = None) -> str:
    """Copy ``clip`` as a take of ``label``; the new take's path. KwsError (one line) if the
    clip cannot be read or the take not written."""
    folder = folder or marked_dir()
    x = load_audio(clip, RATE)  # AudioFileError (a KwsError) names the clip
    take, _speech = centre_on_speech(x, CLIP)
    path = next_take_path(folder, label, marked_speaker())
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        write_wav(path, take, RATE)
    except OSError as e:
        raise KwsError(f"cannot keep the marked clip in {folder}: {e.strerror or e}") from None
    return path


def forget(take: str) -> None:
    """Remove a kept take (its mark was cleared or changed); gone already is fine."""
    try:
        os.remove(take)
    except FileNotFoundError:
        pass


def remark(clip: str, old_take: str, mark: str, label: str) -> str:
    """A history row's clip marked again: its take of ``label`` if ``mark`` ("" when cleared),
    the row's previous take removed only once the new one is safe. KwsError as :func:`keep`."""
    take = keep(clip, label) if mark else ""
    if old_take:
        forget(old_take)
    return take


def marked_takes(folder: str | None = None) -> list[tuple[str, str]]:
    """(label, path) of every kept take, by label then name."""
    folder = folder or marked_dir()
    if not os.path.isdir(folder):
        return []
    return [(label, os.path.join(folder, label, n)) for label in sorted(os.listdir(folder))
            if os.path.isdir(os.path.join(folder, label))
            for n in sorted(os.listdir(os.path.join(folder, label))) if _TAKE.match(n)]


def stage_takes(folders, dest: str) -> str:
    """One takes folder at ``dest`` holding every ``<word>/*.wav`` of ``folders`` (links where
    the file system has them, else copies): the fine-tune reads one ``--user-data`` folder."""
    for folder in folders:
        if not os.path.isdir(folder):
            continue
        for word in sorted(os.listdir(folder)):
            src = os.path.join(folder, word)
            if not os.path.isdir(src):
                continue
            os.makedirs(os.path.join(dest, word), exist_ok=True)
            for n in sorted(os.listdir(src)):
                to = os.path.join(dest, word, n)
                if not n.lower().endswith(".wav") or os.path.exists(to):
                    continue
                try:
                    os.symlink(os.path.abspath(os.path.join(src, n)), to)
                except OSError:
                    shutil.copyfile(os.path.join(src, n), to)
    return dest

"""Recording one-second takes of the user's voice for fine-tuning.

Takes come from the selected microphone through the app's own audio layer (MicSource into
a RingBuffer, 16 kHz mono, resampled there if the device needs it). Each take records a
little more than a second, then keeps the one second centred on the speech (found by its
energy) from the recording itself, so the room's own background stays in the clip as it
will be when the app listens. Takes are saved in the dataset's standard layout,
``<folder>/<word>/<speaker>_nohash_<n>.wav``, with the speaker id hashed from the user's
name, so the trainer's speaker-hash rules treat all of one user's takes alike.
"""
from __future__ import annotations

import getpass
import hashlib
import os
import re
import threading
from typing import TYPE_CHECKING

import numpy as np
from PyQt6 import QtCore

from ...core.centring import cut_around
from ...core.errors import DeviceError, KwsError
from ...core.levels import level_db
from ...core.vocabulary import DATA_ENV, data_home, default_takes_dir, models_home  # noqa: F401  (where things live)
from ...core.wavio import write_wav

if TYPE_CHECKING:
    from ...audio.mic import MicSource
    from ...audio.ringbuffer import RingBuffer

RATE = 16000
CLIP = RATE  # the model's window: one second
TAKE_S = 1.5  # recorded after the countdown; the clip is cut from it
PREROLL_S = 0.3  # kept from before "go": people often start a touch early
LEVEL_MS = 50
SILENCE_WORD = "_silence_"

# Energy-based speech finding (10 ms frames): the noise floor is a low percentile of the
# frame energies, speech is what stands well above it.
_FRAME = RATE // 100
_SPEECH_ABOVE_NOISE_DB = 12.0  # a take whose loudest frame is not this far above the floor holds no speech
_SPEECH_MIN_DBFS = -55.0
_SPAN_BELOW_PEAK_DB = 30.0  # frames this close to the peak (and above the floor) are the word

# A take in which no speech was heard keeps its audio (to play back) under this suffix: not a
# .wav, so neither the counts nor the trainer (which reads every .wav) take it for the word.
SILENT_SUFFIX = ".silent"


def default_user_name() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name (some containers): any fixed name will do
        return "me"


def speaker_id(user: str) -> str:
    """8 hex digits from the user's name, like the dataset's speaker ids."""
    return hashlib.sha1(user.strip().lower().encode()).hexdigest()[:8]


def take_paths(folder: str, word: str, speaker: str) -> list[str]:
    """This speaker's takes of ``word``, in take-number order."""
    d = os.path.join(folder, word)
    pat = re.compile(rf"^{re.escape(speaker)}_nohash_(\d+)\.wav$")
    found = []
    if os.path.isdir(d):
        for n in os.listdir(d):
            m = pat.match(n)
            if m:
                found.append((int(m.group(1)), os.path.join(d, n)))
    return [p for _, p in sorted(found)]


def silent_paths(folder: str, word: str, speaker: str) -> list[str]:
    """This speaker's takes of ``word`` in which no speech was heard (to redo), in order."""
    d = os.path.join(folder, word)
    pat = re.compile(rf"^{re.escape(speaker)}_nohash_(\d+)\.wav{re.escape(SILENT_SUFFIX)}$")
    found = sorted((int(m.group(1)), os.path.join(d, n)) for n in (os.listdir(d) if os.path.isdir(d) else ())
                   if (m := pat.match(n)))
    return [p for _, p in found]


def take_number(path: str) -> int:
    """1 for ``…_nohash_0.wav``: what the dialog calls the take (stable when others are dropped)."""
    m = re.search(r"_nohash_(\d+)\.wav", path)
    if m is None:
        raise ValueError(f"{path}: not a take (…_nohash_N.wav)")
    return int(m.group(1)) + 1


def next_take_path(folder: str, word: str, speaker: str) -> str:
    taken = take_paths(folder, word, speaker) + silent_paths(folder, word, speaker)
    n = 1 + max((take_number(p) - 1 for p in taken), default=-1)
    return os.path.join(folder, word, f"{speaker}_nohash_{n}.wav")


# ---------------------------------------------------------------- audio

def _frame_db(x: np.ndarray) -> np.ndarray:
    n = len(x) // _FRAME
    frames = x[: n * _FRAME].reshape(n, _FRAME).astype(np.float64)
    return 10 * np.log10((frames**2).mean(axis=1) + 1e-12)


def speech_span(x: np.ndarray) -> tuple[int, int] | None:
    """(start, end) sample of the speech in ``x``, or None if nothing stands out of the noise."""
    db = _frame_db(x)
    if len(db) == 0:
        return None
    floor, peak = np.percentile(db, 10), db.max()
    if peak < floor + _SPEECH_ABOVE_NOISE_DB or peak < _SPEECH_MIN_DBFS:
        return None
    loud = np.flatnonzero(db > max(floor + _SPEECH_ABOVE_NOISE_DB / 2, peak - _SPAN_BELOW_PEAK_DB))
    return int(loud[0]) * _FRAME, int(loud[-1] + 1) * _FRAME


def centre_on_speech(x: np.ndarray, length: int = CLIP) -> tuple[np.ndarray, bool]:
    """One ``length`` clip of ``x`` centred on its speech, and whether speech was found.

    Without speech (a silence take) the middle is kept. Speech longer than the clip is
    centred on its energy's centre of mass, which keeps the loudest part of the word."""
    x = np.asarray(x, np.float32).reshape(-1)
    span = speech_span(x)
    if span is None:
        centre = len(x) // 2
    elif span[1] - span[0] <= length:
        centre = (span[0] + span[1]) // 2
    else:
        seg = x[span[0] : span[1]].astype(np.float64) ** 2
        centre = span[0] + int(np.sum(np.arange(len(seg)) * seg) / max(seg.sum(), 1e-20))
    return cut_around(x, centre, length).copy(), span is not None


def play(path_or_clip, rate: int = RATE) -> None:
    """Play a take on the default output without waiting; DeviceError if there is none."""
    from ...audio.devices import sounddevice
    from ...core.wavio import load_audio

    x = load_audio(path_or_clip, rate) if isinstance(path_or_clip, (str, os.PathLike)) else path_or_clip
    sd = sounddevice()
    try:
        sd.play(np.asarray(x, np.float32), rate)
    except Exception as e:
        raise DeviceError(f"cannot play the take ({e}); check the sound output device") from None


# ---------------------------------------------------------------- the recorder

class TakeRecorder(QtCore.QObject):
    """Records takes from one microphone: countdown, level meter, cut, save.

    All methods run in the GUI thread; only opening the device happens in a short-lived
    thread (PulseAudio may take a moment), and the audio callback just fills the ring."""

    opened = QtCore.pyqtSignal()
    level = QtCore.pyqtSignal(float)  # dBFS of the newest 100 ms, every LEVEL_MS
    countdown = QtCore.pyqtSignal(int)  # seconds left before recording starts
    recording = QtCore.pyqtSignal()  # speak now
    saved = QtCore.pyqtSignal(str, bool)  # path (…wav.silent if speech was expected and not found), speech found
    failed = QtCore.pyqtSignal(str)  # one-line message; the microphone is closed

    _open_done = QtCore.pyqtSignal(object, object)  # (mic, None or a KwsError), from the opener thread

    def __init__(self, device=None, countdown_s: int = 3, take_s: float = TAKE_S, parent=None):
        super().__init__(parent)
        self.device = device
        self.countdown_s = countdown_s
        self.take_s = take_s
        self.mic: MicSource | None = None
        self.ring: RingBuffer | None = None
        self._opener: threading.Thread | None = None
        self._job: tuple[str, bool] | None = None  # (path, speech expected)
        self._left = 0
        self._from = self._until = 0
        # PyQt6's stub of connect() leaves out the connection type.
        self._open_done.connect(self._on_open_done, QtCore.Qt.ConnectionType.QueuedConnection)  # type: ignore[call-arg]
        self._tick = QtCore.QTimer(self)
        self._tick.timeout.connect(self._on_tick)
        self._count = QtCore.QTimer(self)
        self._count.setInterval(1000)
        self._count.timeout.connect(self._count_down)

    @property
    def is_open(self) -> bool:
        return self.mic is not None and self._opener is None

    @property
    def busy(self) -> bool:
        return self._job is not None

    def open(self) -> None:
        """Start the microphone (no-op if open or opening); ``opened`` or ``failed`` follows."""
        if self.mic is not None:
            return
        from ...audio.mic import MicSource
        from ...audio.ringbuffer import RingBuffer

        self.ring = RingBuffer(4 * RATE)
        self.mic = MicSource(self.ring, device=self.device, sample_rate=RATE)
        self._opener = threading.Thread(target=self._open_in_thread, args=(self.mic,),
                                        name="kwsapp-recorder-open", daemon=True)
        self._opener.start()

    def _open_in_thread(self, mic) -> None:
        try:
            mic.start()
            err = None
        except KwsError as e:
            err = e
        except Exception as e:  # PortAudio says many things; the user needs one line
            err = DeviceError(f"cannot open the microphone: {type(e).__name__}: {e}")
        try:
            self._open_done.emit(mic, err)
        except RuntimeError:  # the recorder is gone already
            mic.stop()

    def _on_open_done(self, mic, err) -> None:
        if mic is not self.mic:  # closed (or reopened) while this one was opening
            return
        self._opener = None
        if err is not None:
            self._fail(str(err))
            return
        self._tick.start(LEVEL_MS)
        self.opened.emit()

    def record(self, path: str, speech: bool = True) -> bool:
        """Count down, record, save the take to ``path`` (replacing it: a redo). False if
        busy or the microphone is not open yet."""
        if self._job is not None or not self.is_open:
            return False
        self._job = (path, speech)
        self._left = self.countdown_s
        if self._left > 0:
            self.countdown.emit(self._left)
            self._count.start()
        else:
            self._on_tick()
        return True

    def _count_down(self) -> None:
        self._left -= 1
        if self._left > 0:
            self.countdown.emit(self._left)
        else:
            self._count.stop()
            self._on_tick()

    def _on_tick(self) -> None:
        mic, ring = self.mic, self.ring
        if mic is None or ring is None:
            return
        if mic.error is not None:
            self._fail(str(mic.error))
            return
        self.level.emit(level_db(ring.read_latest(RATE // 10)))
        if self._job is None or self._count.isActive():
            return
        now = ring.total_written
        # Capture starts once the countdown is over and the device delivers (PulseAudio may
        # hold a new stream's first block for a couple of seconds): never a take of nothing.
        if not self._until and now > 0:
            self._from = max(0, now - int(PREROLL_S * RATE))
            self._until = now + int(self.take_s * RATE)
            self.recording.emit()
        elif self._until and now >= self._until:
            self._finish()

    def _finish(self) -> None:
        job, self._job = self._job, None
        assert job is not None and self.ring is not None  # a take is running on the open microphone
        path, speech = job
        x = self.ring.read_range(self._from, self._until)
        self._until = 0
        if speech:
            clip, found = centre_on_speech(x)
        else:  # silence: nothing to centre on; the middle of the take
            clip, found = cut_around(np.asarray(x, np.float32), len(x) // 2, CLIP), False
        silent = speech and not found
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            # A take slot holds either a usable take or a silent one to redo, never both.
            stale = path if silent else path + SILENT_SUFFIX
            if os.path.exists(stale):
                os.remove(stale)
            if silent:
                path += SILENT_SUFFIX
            write_wav(path, clip, RATE)
        except OSError as e:
            self._job = None
            self.failed.emit(f"cannot save {path}: {e.strerror or e}; choose another recordings folder")
            return
        self.saved.emit(path, found)

    def cancel_take(self) -> None:
        self._count.stop()
        self._job = None
        self._until = 0

    def _fail(self, message: str) -> None:
        self.close()
        self.failed.emit(message)

    def close(self) -> None:
        """Stop the microphone (returns within about a second)."""
        self.cancel_take()
        self._tick.stop()
        mic, self.mic = self.mic, None
        opener, self._opener = self._opener, None
        if opener is not None:
            opener.join(2.0)  # let it finish opening, then close what it opened
        if mic is not None:
            mic.stop()

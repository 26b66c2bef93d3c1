"""A WAV file played into the ring buffer as if it were a microphone.

``realtime=True`` paces the blocks by the wall clock (the app's "play a file" mode);
``realtime=False`` writes as fast as the reader keeps up, using the ring's back-pressure
so no window is overwritten before the engine has read it.
"""
from __future__ import annotations

import threading
import time

import numpy as np

from ..wavio import read_wav, resample, to_mono
from .ringbuffer import RingBuffer

_BLOCK_S = 0.01


def load_stream_audio(path, sample_rate: int = 16000) -> tuple[np.ndarray, int]:
    """Any supported audio file (rate, channels, sample format) -> (mono float32 at
    ``sample_rate``, the file's own rate). Raises AudioFileError for a bad file."""
    from .decode import load_input  # WAV, and FLAC/OGG/MP3 through soundfile

    return load_input(path, sample_rate)


class FileSource:
    def __init__(self, ring: RingBuffer, path, realtime: bool = True, sample_rate: int = 16000):
        self.ring = ring
        self.path = str(path)
        self.realtime = realtime
        self.sample_rate = sample_rate
        self.native_rate = None
        self.overflows = 0  # a file never overflows; kept so every source looks alike
        self.error = None
        self.finished = False
        self._audio = None
        self._thread = None
        self._stop = threading.Event()

    def describe(self) -> str:
        name = self.path.rsplit("/", 1)[-1]
        mode = "real time" if self.realtime else "as fast as possible"
        rate = f", {self.native_rate / 1000:g} kHz" if self.native_rate else ""
        return f"file {name}{rate} ({mode})"

    @property
    def duration_s(self) -> float:
        return 0.0 if self._audio is None else len(self._audio) / self.sample_rate

    def load(self) -> np.ndarray:
        """Decode the file now (start() does it otherwise); returns the 16 kHz mono audio."""
        if self._audio is None:
            self._audio, self.native_rate = load_stream_audio(self.path, self.sample_rate)
        return self._audio

    def start(self) -> None:
        self.load()
        self.finished = False
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="kws-file-source", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        audio = self._audio
        block = max(1, int(self.sample_rate * _BLOCK_S))
        t0 = time.monotonic()
        pos = 0
        while pos < len(audio) and not self._stop.is_set():
            n = min(block, len(audio) - pos)
            if self.realtime:
                delay = t0 + (pos + n) / self.sample_rate - time.monotonic()
                if delay > 0 and self._stop.wait(delay):
                    break
            elif not self.ring.wait_for_room(n, timeout=0.1):
                continue  # re-check stop, then wait again
            self.ring.write(audio[pos : pos + n])
            pos += n
        self.finished = pos >= len(audio)
        self.ring.wake()

    def stop(self) -> None:
        self._stop.set()
        self.ring.wake()
        t, self._thread = self._thread, None
        if t is not None and t is not threading.current_thread():
            t.join(1.0)

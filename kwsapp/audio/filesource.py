"""A WAV file played into the ring buffer as if it were a microphone.

``realtime=True`` paces the blocks by the wall clock (the app's "play a file" mode);
``realtime=False`` writes as fast as the reader keeps up, using the ring's back-pressure
so no window is overwritten before the engine has read it.

A path that is not a regular file (a FIFO, /dev/stdin on a pipe, a device) is a stream:
opening it waits for a writer, and it is read, resampled and played block by block as it
arrives, so an endless stream runs in constant memory. A regular file is decoded whole
first, so a broken one is refused before anything is played.
"""
from __future__ import annotations

import threading
import time

import numpy as np

from ..core.errors import AudioFileError
from ..core.wavio import WavReader, to_mono
from .decode import is_stream, load_input  # WAV, and FLAC/OGG/MP3 through soundfile
from .ringbuffer import RingBuffer

_BLOCK_S = 0.01


def load_stream_audio(path, sample_rate: int = 16000) -> tuple[np.ndarray, int]:
    """Any supported audio file (rate, channels, sample format) -> (mono float32 at
    ``sample_rate``, the file's own rate). Raises AudioFileError for a bad file."""
    return load_input(path, sample_rate)


class FileSource:
    def __init__(self, ring: RingBuffer, path, realtime: bool = True, sample_rate: int = 16000):
        self.ring = ring
        self.path = str(path)
        self.realtime = realtime
        self.sample_rate = sample_rate
        self.native_rate: int | None = None
        self.overflows = 0  # a file never overflows; kept so every source looks alike
        self.error: Exception | None = None
        self.finished = False
        self.streaming = is_stream(self.path)
        self._audio: np.ndarray | None = None
        self._reader: WavReader | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def describe(self) -> str:
        name = self.path.rsplit("/", 1)[-1]
        mode = "real time" if self.realtime else "as fast as possible"
        rate = f", {self.native_rate / 1000:g} kHz" if self.native_rate else ""
        return f"{'stream' if self.streaming else 'file'} {name}{rate} ({mode})"

    @property
    def duration_s(self) -> float:
        return 0.0 if self._audio is None else len(self._audio) / self.sample_rate

    def load(self) -> np.ndarray | None:
        """Decode the file now (start() does it otherwise); returns the 16 kHz mono audio.
        A stream is opened and its header checked; its audio comes later (None)."""
        if self.streaming:
            if self._reader is None:
                self._reader = WavReader(self.path)
                self.native_rate = self._reader.rate
            return None
        if self._audio is None:
            self._audio, self.native_rate = load_stream_audio(self.path, self.sample_rate)
        return self._audio

    def start(self) -> None:
        self.load()
        self.finished = False
        self.error = None
        self._stop.clear()
        run = self._run_stream if self.streaming else self._run
        self._thread = threading.Thread(target=run, name="kws-file-source", daemon=True)
        self._thread.start()

    def _put(self, chunk: np.ndarray, pos: int, t0: float) -> bool:
        """Write ``chunk`` (stream position ``pos``) when it is due and there is room;
        False when stopped first."""
        n = len(chunk)
        if self.realtime:
            delay = t0 + (pos + n) / self.sample_rate - time.monotonic()
            if delay > 0 and self._stop.wait(delay):
                return False
        else:
            while not self.ring.wait_for_room(n, timeout=0.1):
                if self._stop.is_set():
                    return False
        if self._stop.is_set():
            return False
        self.ring.write(chunk)
        return True

    def _run(self) -> None:
        audio = self._audio
        assert audio is not None  # start() loaded it
        block = max(1, int(self.sample_rate * _BLOCK_S))
        t0 = time.monotonic()
        pos = 0
        while pos < len(audio):
            chunk = audio[pos : pos + block]
            if not self._put(chunk, pos, t0):
                break
            pos += len(chunk)
        self.finished = pos >= len(audio)
        self.ring.wake()

    def _run_stream(self) -> None:
        reader, self._reader = self._reader, None  # a restart opens the stream again
        assert reader is not None  # start() opened it
        resampler = None
        if reader.rate != self.sample_rate:
            import soxr

            resampler = soxr.ResampleStream(reader.rate, self.sample_rate, 1, dtype="float32")
        block = max(1, int(reader.rate * _BLOCK_S))
        t0 = time.monotonic()
        pos = 0
        try:
            while not self._stop.is_set():
                x = to_mono(reader.read(block))
                end = len(x) == 0
                if resampler is not None:
                    x = resampler.resample_chunk(x, last=end)
                if len(x) and not self._put(x, pos, t0):
                    break
                pos += len(x)
                if end:
                    if pos == 0:
                        raise AudioFileError(f"{self.path}: has no audio (the stream ended before any "
                                             "samples); check what writes to it")
                    self.finished = True
                    break
        except AudioFileError as e:
            self.error = e  # the engine reports it and stops
        except OSError as e:
            self.error = AudioFileError(f"{self.path}: cannot be read ({e.strerror}); check what writes to it")
        finally:
            reader.close()
            self.ring.wake()

    def stop(self) -> None:
        self._stop.set()
        self.ring.wake()
        t, self._thread = self._thread, None
        if t is not None and t is not threading.current_thread():
            t.join(1.0)

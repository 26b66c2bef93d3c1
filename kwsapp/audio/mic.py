"""Microphone input: a PortAudio stream whose callback only copies blocks into a ring.

If the device cannot record at 16 kHz, it is opened at its own rate; the callback then
copies into a raw-rate ring and a pump thread resamples (libsoxr, streaming, with a
proper anti-aliasing filter) into the 16 kHz ring. The same thread watches the stream,
so a device that vanishes becomes ``.error`` instead of silent nothing.
"""
from __future__ import annotations

import threading
import time
from typing import Any

from ..core.errors import DeviceError
from .devices import DeviceInfo, resolve_device, sounddevice
from .ringbuffer import RingBuffer

_PUMP_S = 0.02  # how often the pump thread resamples and checks the stream
_STALL_S = 2.0  # no audio for this long from a running stream means the device is gone
# ...but the first block may take longer: PulseAudio's ALSA plug-in sometimes holds it for
# about 2 s while the stream sets up.
_FIRST_AUDIO_S = 6.0
_BLOCK_S = 0.01  # PortAudio block: short, so a hop's audio arrives promptly


class MicSource:
    def __init__(self, ring: RingBuffer, device=None, sample_rate: int = 16000, device_rate: int | None = None):
        """``device_rate`` forces the rate the device is opened at (None: 16 kHz when the
        device accepts it, else its default rate)."""
        self.ring = ring
        self.device = device
        self.sample_rate = sample_rate
        self.device_rate = device_rate
        self.native_rate = sample_rate
        self.channels = 1
        self.overflows = 0
        self.error: Exception | None = None
        self.finished = False  # a microphone never reaches an end
        self._info: DeviceInfo | None = None
        self._stream: Any = None  # a sounddevice.InputStream (untyped)
        self._raw: RingBuffer | None = None  # native-rate ring when resampling
        self._resampler: Any = None  # a soxr.ResampleStream (untyped)
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def describe(self) -> str:
        if self._info is None:
            return f"microphone {self.device if self.device is not None else '(default)'}"
        rate = f"{self.native_rate / 1000:g} kHz"
        if self.native_rate != self.sample_rate:
            rate += f" -> {self.sample_rate / 1000:g} kHz"
        return f"microphone {self._info.index}: {self._info.name} ({rate})"

    def _open_settings(self, sd, info):
        # Prefer 16 kHz mono straight from the device (or its ALSA/Pulse plug layer); fall
        # back to the device's own rate and channel count, which every device accepts.
        rates = (self.device_rate,) if self.device_rate else (self.sample_rate, int(info.default_rate))
        for rate in rates:
            for ch in (1, min(info.channels, 2)):
                try:
                    sd.check_input_settings(device=info.index, samplerate=rate, channels=ch, dtype="float32")
                    return rate, ch
                except Exception:
                    continue
        tried = " or ".join(f"{r} Hz" for r in rates)
        raise DeviceError(f"input device {info.index} ({info.name}) cannot record at {tried}; "
                          "choose another device")

    def start(self) -> None:
        sd = sounddevice()
        self._info = resolve_device(self.device)
        self.native_rate, self.channels = self._open_settings(sd, self._info)
        self.overflows = 0
        self.error = None
        self._stop.clear()
        if self.native_rate != self.sample_rate:
            import soxr

            self._raw = RingBuffer(self.native_rate * 2)
            self._resampler = soxr.ResampleStream(self.native_rate, self.sample_rate, 1, dtype="float32")
            target = self._raw
        else:
            target = self.ring
        mono = self.channels == 1

        def callback(indata, frames, t, status):
            # Runs on PortAudio's thread: copy and return, nothing else.
            if status.input_overflow:
                self.overflows += 1
            target.write(indata[:, 0] if mono else indata.mean(axis=1))

        try:
            self._stream = sd.InputStream(
                device=self._info.index, samplerate=self.native_rate, channels=self.channels,
                dtype="float32", blocksize=int(self.native_rate * _BLOCK_S), callback=callback)
            self._stream.start()
        except Exception as e:
            self._close_stream()
            raise DeviceError(f"cannot open input device {self._info.index} ({self._info.name}): "
                              f"{str(e).splitlines()[0]}; check it is not in use or choose another") from None
        self._thread = threading.Thread(target=self._pump, name="kws-mic-pump", daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        try:
            self._watch()
        except Exception as e:  # anything (PortAudio torn down, a resampler fault) must become
            # .error: a pump that dies silently leaves the engine waiting for audio forever
            if not self._stop.is_set():
                info = self._info
                assert info is not None  # start() set it before it started this thread
                self.error = DeviceError(f"input device {info.index} ({info.name}) failed "
                                         f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else '-'}); "
                                         "choose a device and start again")
        finally:
            self.ring.wake()

    def _watch(self) -> None:
        src = self._raw if self._raw is not None else self.ring
        pos = 0
        last_audio = time.monotonic()
        patience = _FIRST_AUDIO_S
        while not self._stop.wait(_PUMP_S):
            total = src.total_written
            if total > pos:
                last_audio = time.monotonic()
                patience = _STALL_S
                if self._raw is not None:
                    # Everything since the last pass, so the resampler sees a gapless signal.
                    block = self._raw.read_range(max(pos, total - self._raw.capacity), total)
                    self.ring.write(self._resampler.resample_chunk(block))
                pos = total
            stream = self._stream
            stalled = time.monotonic() - last_audio > patience
            if stream is None or self._stop.is_set():
                break
            try:
                active = stream.active
            except Exception:  # PortAudio itself went away (re-initialised under us)
                active = False
            if (not active or stalled) and not self._stop.is_set():
                why = ("delivered no audio" if pos == 0 else "stopped delivering audio") if stalled else "stopped"
                info = self._info
                assert info is not None  # start() set it before it started this thread
                self.error = DeviceError(f"input device {info.index} ({info.name}) {why} "
                                         "(unplugged or taken by another program?); choose a device and start again")
                break

    def _close_stream(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.abort()  # abort, not stop: stop waits for buffers to drain
                stream.close()
            except Exception:  # a vanished device may refuse to close; nothing left to do
                pass

    def stop(self) -> None:
        self._stop.set()
        self._close_stream()
        t, self._thread = self._thread, None
        if t is not None and t is not threading.current_thread():
            t.join(1.0)

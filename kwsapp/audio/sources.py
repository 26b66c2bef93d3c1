"""What to listen to (:class:`SourceSpec`), the one way to open it (:func:`open_source`), and what
every source offers (:class:`AudioSource`): callers never build sources or rings by hand.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from .ringbuffer import RingBuffer

DEFAULT_RING_SECONDS = 2  # one 1 s window plus a second of slack for a worker that is briefly late


class AudioSource(Protocol):
    """A microphone or a WAV file writing mono float32 at ``sample_rate`` into ``ring``."""

    ring: RingBuffer
    sample_rate: int
    overflows: int  # blocks the device delivered faster than they were read
    error: Exception | None  # set (a KwsError) when the source failed while running
    finished: bool  # a file has been written to the end (a microphone never finishes)

    def start(self) -> None: ...  # raises DeviceError/AudioFileError when it cannot start

    def stop(self) -> None: ...

    def describe(self) -> str: ...


@dataclass(frozen=True)
class SourceSpec:
    """What to listen to: a microphone (``device`` None = the system default, else an index or part
    of a name) or a WAV file (``path``), played in real time or as fast as the reader keeps up."""

    kind: str  # "mic" | "file"
    device: int | str | None = None
    path: str | None = None
    realtime: bool = True

    def __post_init__(self):
        if self.kind not in ("mic", "file") or (self.kind == "file") != (self.path is not None):
            raise ValueError("a SourceSpec is kind 'mic' (optional device) or kind 'file' with a path")

    def describe(self) -> str:
        if self.kind == "file":
            return f"file {self.path}"
        return "default microphone" if self.device is None else f"device {self.device}"


def open_source(spec: SourceSpec, ring_samples: int | None = None, sample_rate: int = 16000) -> AudioSource:
    """A source for ``spec`` with its own ring of ``ring_samples`` (default: DEFAULT_RING_SECONDS);
    not started. A file is read here, so a bad one is reported at once (AudioFileError)."""
    ring = RingBuffer(ring_samples or DEFAULT_RING_SECONDS * sample_rate)
    if spec.kind == "file":
        from .filesource import FileSource

        source = FileSource(ring, spec.path, realtime=spec.realtime, sample_rate=sample_rate)
        source.load()
        return source
    from .mic import MicSource

    return MicSource(ring, device=spec.device, sample_rate=sample_rate)

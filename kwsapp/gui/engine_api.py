"""The GUI's one doorway to the audio sources and the streaming engine.

Everything the window needs from ``kwsapp.audio`` / ``kwsapp.engine`` goes through these
few functions, so the window holds no knowledge of constructors or ring sizes and the
heavy modules (LiteRT behind the engine) load in the starter thread, not at import.
"""
from __future__ import annotations

from dataclasses import dataclass

RING_SECONDS = 4  # plenty for one model window plus scheduling slack


@dataclass(frozen=True)
class SourceSpec:
    """What to listen to: a microphone (``device`` None = system default) or a WAV file."""

    kind: str  # "mic" | "file"
    device: int | str | None = None
    path: str | None = None
    realtime: bool = True

    def describe(self) -> str:
        if self.kind == "file":
            return f"file {self.path}"
        return "default microphone" if self.device is None else f"device {self.device}"


def list_devices(rescan: bool = False):
    """Input devices; ``rescan`` finds ones plugged in since start-up but closes every open
    stream, so only ask for it while nothing records."""
    from ..audio.devices import list_input_devices

    return list_input_devices(rescan=rescan)


def smoothing_class():
    from ..engine.smoothing import SmoothingConfig

    return SmoothingConfig


def make_source(spec: SourceSpec, sample_rate: int):
    from ..audio.ringbuffer import RingBuffer

    ring = RingBuffer(RING_SECONDS * sample_rate)
    if spec.kind == "file":
        from ..audio.filesource import FileSource

        return FileSource(ring, spec.path, realtime=spec.realtime)
    from ..audio.mic import MicSource

    return MicSource(ring, device=spec.device, sample_rate=sample_rate)


def model_smoothing(model_dir: str):
    """Default smoothing with the threshold and window tuned for that model, where its config has them."""
    from ..engine.smoothing import for_model

    return for_model(model_dir)


def make_engine(spec: SourceSpec, model_dir: str, smoothing, sample_rate: int, bridge):
    """Build (and load the model for) an engine on a new source; not started yet."""
    from ..engine.engine import Engine, EngineSettings

    source = make_source(spec, sample_rate)
    if spec.kind == "file":
        source.load()  # a bad file is reported at once, not after the (slow) model load
    return Engine(source, model_dir, EngineSettings(smoothing=smoothing),
                  on_hop=bridge.on_hop, on_detection=bridge.on_detection, on_error=bridge.on_error,
                  on_finished=bridge.on_finished)


def engine_settings(smoothing):
    from ..engine.engine import EngineSettings

    return EngineSettings(smoothing=smoothing)

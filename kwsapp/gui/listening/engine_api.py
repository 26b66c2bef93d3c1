"""The GUI's one doorway to the audio sources and the streaming engine.

Everything the window needs from ``kwsapp.audio`` / ``kwsapp.engine`` goes through these
few functions, so the window holds no knowledge of constructors or ring sizes and the
heavy modules (LiteRT behind the engine) load in the starter thread, not at import.
"""
from __future__ import annotations

from ...audio.sources import SourceSpec  # noqa: F401  (numpy only: the light part of kwsapp.audio)

# The ring holds a model window plus this much: plenty for scheduling slack in a busy window.
SLACK_SECONDS = 3


def list_devices(rescan: bool = False):
    """Input devices; ``rescan`` finds ones plugged in since start-up but closes every open
    stream, so only ask for it while nothing records."""
    from ...audio.devices import list_input_devices

    return list_input_devices(rescan=rescan)


def smoothing_class():
    from ...core.smoothing import SmoothingConfig

    return SmoothingConfig


def model_smoothing(model_dir: str):
    """Default smoothing with the threshold and window tuned for that model, where its config has them."""
    from ...core.smoothing import for_model

    return for_model(model_dir)


def make_engine(spec, model_dir: str, smoothing, bridge, verifier: str | None = None):
    """Build (and load the model for) an engine on a new source for ``spec``; not started yet.
    Each detection comes with its audio (``bridge.on_detection(det, clip)``), for the window's saved clips."""
    from ...actions import CLIP_S
    from ...engine import Engine, EngineSettings

    built: list[Engine] = []

    def on_detection(det):
        # On the worker, before it reads on: only now does the ring still hold this audio. A
        # copy of 1.5 s is cheap, so it is sent whether or not the user saves clips (that
        # setting may change while the engine runs).
        bridge.on_detection(det, built[0].audio_before(det, CLIP_S) if built else None)

    # context_s: the ring keeps a whole clip before each window (more than the 0.5 s needed).
    engine = Engine(spec, model_dir, EngineSettings(smoothing=smoothing, verifier=verifier), slack_s=SLACK_SECONDS,
                    on_hop=bridge.on_hop, on_detection=on_detection, on_error=bridge.on_error,
                    on_finished=bridge.on_finished, context_s=CLIP_S)
    built.append(engine)
    return engine


def engine_settings(smoothing, verifier: str | None = None):
    from ...engine import EngineSettings

    return EngineSettings(smoothing=smoothing, verifier=verifier)

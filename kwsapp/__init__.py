"""kwsapp: real-time microphone keyword spotting for the Speech Commands words."""

__version__ = "0.1.0"


def __getattr__(name):
    # `from kwsapp import Detector` (the Python API) without loading the runtime for `kwsapp --version`.
    if name in ("Detector", "EngineSettings"):
        from .core import detector

        return getattr(detector, name)
    raise AttributeError(f"module 'kwsapp' has no attribute {name!r}")

"""kwsapp: real-time microphone keyword spotting for the Speech Commands words."""

__version__ = "0.1.0"

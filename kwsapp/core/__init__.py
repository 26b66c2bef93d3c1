"""The core: features, model folders, the detector and what they need; no threads, devices, Qt,
argparse or trainer. The app (kwsapp.audio, kwsapp.engine, the command lines, kwsapp.gui) and the
trainer are built on it; tests/test_layers.py keeps it that way."""

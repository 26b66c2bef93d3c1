"""Retake docs/screenshot.png: the real app on a virtual X screen, playing real clips from the
shared testing list (`make screenshot`; needs xvfb and imagemagick, as `make setup-test` installs).

Usage: .venv/bin/python scripts/screenshot.py [--data-dir DIR] [--out docs/screenshot.png] [--after-s 13.2]
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIZE = (1000, 760)


def words_wav(data_dir: str, path: str) -> None:
    """One clip per command from the testing list, a second of silence between them."""
    sys.path.insert(0, ROOT)
    from kwsapp.core.wavio import write_wav
    from kwstrain.streamtest import pick_clips, sequence_stream

    audio, _ = sequence_stream(pick_clips(data_dir, "testing"), gap_s=1.0, noise=0.0)
    write_wav(path, audio)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", default=os.environ.get("KWSAPP_DATA_DIR", os.path.join(ROOT, "..", "shared",
                                                                                      "speech_commands")))
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "screenshot.png"))
    ap.add_argument("--after-s", type=float, default=13.2, help="seconds after start-up before the shot")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        wav = os.path.join(tmp, "words.wav")
        words_wav(args.data_dir, wav)
        sys.path.insert(0, os.path.join(ROOT, "tests"))
        from xvfb import virtual_display

        with virtual_display(SIZE) as display:
            env = dict(os.environ, DISPLAY=display, QT_QPA_PLATFORM="xcb",
                       KWSAPP_SETTINGS=os.path.join(tmp, "s.ini"))
            app = subprocess.Popen([sys.executable, "-m", "kwsapp", "--input", wav], env=env, cwd=ROOT)
            try:
                time.sleep(args.after_s)
                if app.poll() is not None:
                    print("the app exited early", file=sys.stderr)
                    return 1
                subprocess.run(["import", "-window", "root", args.out], env=env, check=True)
            finally:
                app.send_signal(signal.SIGTERM)
                app.wait(30)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

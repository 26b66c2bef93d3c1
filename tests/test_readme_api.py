"""The Python API exactly as the README shows it: the snippet itself runs, and the same calls
hear the right word in a real clip."""
import os
import re

import numpy as np
from conftest import ROOT


def _snippet() -> str:
    text = open(os.path.join(ROOT, "README.md")).read()
    section = text.split("## Use it from Python", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_readmes_detector_snippet_runs_as_written(capsys):
    namespace = {}
    exec(compile(_snippet(), "README.md", "exec"), namespace)
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 10 and out[0].startswith("0.1 {'_silence_': ")  # one line per 100 ms hop
    assert namespace["detections"] == []  # a second of silence holds no command


def test_the_readmes_calls_hear_a_real_word(data_dir):
    from kwsapp import Detector
    from kwsapp.core.wavio import load_audio
    from kwstrain.streamtest import pick_clips

    for word, path in pick_clips(data_dir, "testing", words=("yes", "stop")):
        detector = Detector()
        # The clip, then a second of silence, pushed in 1000-sample pieces as a microphone would.
        samples = np.concatenate([load_audio(path), np.zeros(16000, np.float32)])
        heard = [hop.detection.label for piece in np.split(samples, range(1000, len(samples), 1000))
                 for hop in detector.process(piece) if hop.detection]
        assert heard == [word]


def test_the_readme_stays_short_and_its_links_resolve():
    # Users read the README; everything else lives in docs/ (issue: it had grown to 52,000
    # characters). The links must point at files that exist.
    text = open(os.path.join(ROOT, "README.md")).read()
    assert len(text) <= 12000, f"README.md is {len(text)} characters; move detail to docs/"
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    assert "docs/det_curve.png" in targets and "docs/screenshot.png" in targets
    for t in targets:
        if "://" not in t:
            assert os.path.exists(os.path.join(ROOT, t)), t

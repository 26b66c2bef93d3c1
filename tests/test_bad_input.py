"""Bad and odd input (issue 22), generated in a temporary folder from a real clip: each
mutated WAV either plays and gives the right word, or is refused in one line naming the
wrong field, never a traceback. Also FIFOs fed by a writer process and endless streams."""
import os
import struct
import subprocess
import sys
import threading
import warnings

import numpy as np
import pytest

from kwsapp.audio.filesource import FileSource
from kwsapp.audio.ringbuffer import RingBuffer
from kwsapp.cli import main
from kwsapp.core.wavio import resample
from kwstrain.streamtest import pick_clips, sequence_stream

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def yes_audio(data_dir) -> np.ndarray:
    """One real "yes" with silence around it, 16 kHz mono float32."""
    audio, _ = sequence_stream(pick_clips(data_dir, "testing", words=("yes",)), gap_s=0.8)
    return audio


def wav(audio, tag=1, bits=16, channels=1, rate=16000, block=None, data_size=None, riff_size=None,
        before_data=b"") -> bytes:
    """A WAV of mono ``audio`` repeated on every channel, with any header field overridden."""
    copies = channels if 0 < channels <= 64 else 1  # an absurd count gets one: it must be refused anyway
    frames = np.repeat(np.asarray(audio, np.float64)[:, None], copies, axis=1)
    if tag == 3:
        pcm = frames.astype(f"<f{bits // 8}").tobytes()
    else:
        pcm = (np.clip(frames, -1, 1) * 32767).astype("<i2").tobytes()
    block = channels * bits // 8 if block is None else block
    fmt = struct.pack("<HHIIHH", tag, channels, rate, (rate * block) & 0xFFFFFFFF, block, bits)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + before_data
    body += b"data" + struct.pack("<I", len(pcm) if data_size is None else data_size) + pcm
    return b"RIFF" + struct.pack("<I", len(body) if riff_size is None else riff_size) + body


def _list_chunk() -> bytes:
    info = b"INFOISFT\x0e\x00\x00\x00Lavf60.16.100\x00"  # what ffmpeg puts before the samples
    return b"LIST" + struct.pack("<I", len(info)) + info


def _scaled(audio, peak):
    return audio * (peak / np.abs(audio).max())


YES = "yes"
# name -> (how to build it from the clip, "yes" if it must play, else words the refusal must hold)
MUTATIONS = {
    # controls: valid files that must keep playing
    "intact": (lambda a: wav(a), YES),
    "float-over-full-scale": (lambda a: wav(_scaled(a, 1.5), tag=3, bits=32), YES),
    # unknown length, as sox / ffmpeg write to a pipe: play to the end
    "size-ffffffff": (lambda a: wav(a, data_size=0xFFFFFFFF, riff_size=0xFFFFFFFF), YES),
    "size-7ffff000": (lambda a: wav(a, data_size=0x7FFFF000, riff_size=0x7FFFF024), YES),
    "size-0": (lambda a: wav(a, data_size=0, riff_size=0), YES),
    "48k-size-ffffffff": (lambda a: wav(resample(a, 16000, 48000), rate=48000, data_size=0xFFFFFFFF), YES),
    "ffmpeg-pipe": (lambda a: wav(a, data_size=0xFFFFFFFF, riff_size=0xFFFFFFFF, before_data=_list_chunk()),
                    YES),
    # contradictory headers: refused naming the field
    "channels-3-block-2": (lambda a: wav(a, channels=3, block=2), "invalid block align"),
    "channels-8-block-2": (lambda a: wav(a, channels=8, block=2), "invalid block align"),
    "channels-60-block-2": (lambda a: wav(a, channels=60, block=2), "invalid block align"),
    "bits-8-block-2": (lambda a: wav(a, bits=8, block=2), "invalid block align"),
    "bits-24-block-2": (lambda a: wav(a, bits=24, block=2), "invalid block align"),
    "bits-32-block-2": (lambda a: wav(a, bits=32, block=2), "invalid block align"),
    "block-0": (lambda a: wav(a, block=0), "invalid block align"),
    "channels-0": (lambda a: wav(a, channels=0, block=2), "invalid channel count"),
    "channels-65535": (lambda a: wav(a, channels=65535, block=2), "invalid channel count"),
    "rate-4294967295": (lambda a: wav(a, rate=0xFFFFFFFF), "invalid sample rate"),
    "rate-500": (lambda a: wav(a, rate=500), "invalid sample rate"),
    "rate-768000": (lambda a: wav(a, rate=768000), "invalid sample rate"),
    # float samples out of range: refused, never NaN scores or a confident wrong word
    "float32-x1e30": (lambda a: wav(a * 1e30, tag=3, bits=32), "far outside [-1, 1]"),
    "float32-max": (lambda a: wav(np.sign(a) * 3.4e38, tag=3, bits=32), "far outside [-1, 1]"),
    "float64-x1e300": (lambda a: wav(a.astype(np.float64) * 1e300, tag=3, bits=64), "far outside [-1, 1]"),
    "float32-peak-4.5": (lambda a: wav(_scaled(a, 4.5), tag=3, bits=32), "far outside [-1, 1]"),
    # a real size that the file does not reach is still a truncated file
    "truncated": (lambda a: wav(a)[:-2000], "is truncated"),
}


@pytest.mark.parametrize("case", list(MUTATIONS))
def test_mutated_wav_plays_or_is_refused_naming_the_field(capsys, tmp_path, yes_audio, model_dir, case):
    build, expect = MUTATIONS[case]
    p = tmp_path / f"{case}.wav"
    p.write_bytes(build(yes_audio))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rc = main(["listen", "--input", str(p), "--json", "--model", model_dir])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    assert not [w for w in caught if "numpy" in w.filename or "overflow" in str(w.message)], caught
    if expect == YES:
        assert rc == 0, err
        assert [line.split('"label": "')[1].split('"')[0] for line in out.splitlines()] == ["yes"], out
    else:
        assert rc == 1 and out == "", (out, err)
        assert err.count("\n") == 1 and err.startswith(f"kwsapp: error: {p}: ") and expect in err, err


def _fifo_writer(fifo, data: bytes) -> subprocess.Popen:
    """A separate process that opens ``fifo`` and writes ``data`` into it in small pieces."""
    code = ("import sys\n"
            "data = sys.stdin.buffer.read()\n"
            "try:\n"
            "    with open(sys.argv[1], 'wb') as f:\n"
            "        for i in range(0, len(data), 3200):\n"
            "            f.write(data[i:i + 3200])\n"
            "except BrokenPipeError:\n"
            "    pass  # the reader refused the header and closed its end\n")
    p = subprocess.Popen([sys.executable, "-c", code, str(fifo)], stdin=subprocess.PIPE)
    p.stdin.write(data)
    p.stdin.close()
    return p


@pytest.mark.parametrize("case", ["size-ffffffff", "size-0", "48k-size-ffffffff", "intact", "channels-65535", "float32-x1e30"])
def test_listen_on_a_fifo_waits_for_the_writer_and_plays_the_stream(capsys, tmp_path, yes_audio, model_dir,
                                                                   case):
    build, expect = MUTATIONS[case]
    fifo = tmp_path / "in.fifo"
    os.mkfifo(fifo)
    writer = _fifo_writer(fifo, build(yes_audio))  # listen's open() waits until this has opened it
    try:
        rc = main(["listen", "--input", str(fifo), "--json", "--model", model_dir])
    finally:
        writer.wait(timeout=120)  # a guard against a hang, not a timing check
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    if expect == YES:
        assert rc == 0, err
        assert "listening: stream in.fifo" in err
        assert [line.split('"label": "')[1].split('"')[0] for line in out.splitlines()] == ["yes"], out
    else:
        # a bad header is refused before the model loads; bad samples once they arrive
        lines = [line for line in err.splitlines() if not line.startswith("listening: stream in.fifo")]
        assert rc == 1 and out == "" and len(lines) == 1 and expect in lines[0], err


def test_an_endless_stream_is_read_in_blocks_as_it_is_played(tmp_path, yes_audio, model_dir):
    """An unknown-length WAV through a FIFO: the reader takes only what the engine has room
    for, so the writer is held back by the pipe (memory stays bounded however long it runs)."""
    from kwsapp.engine import Engine

    fifo = tmp_path / "endless.fifo"
    os.mkfifo(fifo)
    silence = np.zeros(16000 * 600, np.float32)  # ten minutes stands in for "endless"
    data = wav(np.concatenate([yes_audio, silence]), data_size=0xFFFFFFFF, riff_size=0xFFFFFFFF)
    written = [0]

    def write():
        try:
            with open(fifo, "wb") as f:
                for i in range(0, len(data), 3200):
                    f.write(data[i : i + 3200])
                    written[0] = i + 3200
        except BrokenPipeError:
            pass  # the reader stopped: the end of an endless stream

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    heard, enough = [], threading.Event()

    def on_hop(hop):
        if hop.stream_time_s >= 10:
            enough.set()

    eng = Engine(FileSource(RingBuffer(32000), fifo, realtime=False), model_dir, on_hop=on_hop,
                 on_detection=heard.append)
    eng.start()
    try:
        assert enough.wait(120), eng.error
        consumed = 10 * 16000 * 2
        # what the pipe (64 KiB), the file buffer and the ring (2 s) can hold ahead of the engine
        assert written[0] - consumed < 400_000, (written[0], consumed)
    finally:
        eng.stop()
    writer.join(10)
    assert [d.label for d in heard] == ["yes"]


@pytest.mark.parametrize("path", ["/dev/zero", "/dev/stdin"])
def test_endless_zeros_are_refused_without_reading_them(path):
    """/dev/zero, or zeros piped into stdin, in a child whose memory is capped: refused
    after the first 12 bytes instead of read until memory runs out."""
    code = ("import resource, sys\n"
            "from kwsapp.core.wavio import read_wav\n"
            "from kwsapp.core.errors import AudioFileError\n"
            "resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))\n"
            "try:\n"
            "    read_wav(sys.argv[1])\n"
            "except AudioFileError as e:\n"
            "    print(e)\n"
            "except MemoryError:\n"
            "    print('MemoryError')\n")
    with open("/dev/zero", "rb") as zeros:
        r = subprocess.run([sys.executable, "-c", code, path], stdin=zeros, capture_output=True, text=True,
                           env=dict(os.environ, PYTHONPATH=ROOT, OPENBLAS_NUM_THREADS="1"), timeout=120)
    assert r.stdout.strip() == f"{path}: is not a WAV file (no RIFF/WAVE header); convert it to WAV, e.g. with sox", \
        (r.stdout, r.stderr)


def test_evaluate_skips_what_is_not_a_file_and_names_each_with_the_reason(capsys, tmp_path, model_dir):
    """A symlink loop, a dangling symlink and a FIFO among the clips and the background noise:
    once a traceback from os.stat, or a hang on the FIFO; now skipped and listed."""
    import json

    from kwstrain.cli import main as kws_train
    from tests.conftest import make_tiny_dataset

    data = make_tiny_dataset(str(tmp_path / "data"))
    with open(os.path.join(data, "testing_list.txt")) as f:
        word = f.readline().split("/")[0]
    odd = {}
    for folder in (word, "_background_noise_"):
        d = os.path.join(data, folder)
        os.symlink("nowhere.wav", os.path.join(d, "dangling_nohash_0.wav"))
        os.symlink("loop_nohash_0.wav", os.path.join(d, "loop_nohash_0.wav"))
        os.mkfifo(os.path.join(d, "fifo_nohash_0.wav"))
        odd.update({os.path.join(d, "dangling_nohash_0.wav"): "is a dangling symlink",
                    os.path.join(d, "loop_nohash_0.wav"): "is a symlink loop",
                    os.path.join(d, "fifo_nohash_0.wav"): "is a FIFO"})
    rc = kws_train(["evaluate", "--model", model_dir, "--data-dir", data, "--confusion",
                    str(tmp_path / "c.png"), "--json"])
    out, err = capsys.readouterr()
    assert rc == 0 and "Traceback" not in err, err
    # with --json the report is on stderr and stdout holds only the JSON
    assert f"skipped {len(odd)} unreadable clip(s):" in err
    for path, why in odd.items():
        assert any(line.startswith(f"  {path}: {why}") for line in err.splitlines()), (path, err)
    assert len(out.splitlines()) == 1
    report = json.loads(out)
    assert report["skipped_clips"] == len(odd) and sorted(s.split(": ")[0] for s in report["skipped"]) == sorted(odd)

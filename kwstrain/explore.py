"""``kws-train explore``: what a Speech Commands folder holds, as PNGs and a ``report.md``.

The first notebook of the original study, as a command: clips per label and per raw word,
speakers per split, clip lengths (how many are shorter than one second), the background
noise files, and one example per command drawn as waveform, spectrogram, log-mel and MFCC
with the model's own feature code (:mod:`kwsapp.core.features`), so the pictures show exactly
what the network is fed.
"""
from __future__ import annotations

import dataclasses
import os
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from kwsapp.core import features as F
from kwsapp.core.errors import AudioFileError, KwsError
from kwsapp.core.wavio import load_audio, read_wav

from . import dataset as D

RATE = 16000  # lengths are reported in samples at the dataset's 16 kHz, as the study did


@dataclass
class Inventory:
    data_dir: str
    layout: str
    labels: tuple[str, ...]
    available: dict[str, Counter]  # split -> label -> clips on disk
    used_for_training: Counter  # label -> training examples at the trainer's default shares
    words: Counter  # raw folder name -> clips
    speakers: dict[str, set]  # split -> speaker ids (silence clips have none)
    lengths: dict[str, int] = field(default_factory=dict)  # path -> samples at 16 kHz
    formats: Counter = field(default_factory=Counter)  # "16000 Hz, 1 ch" -> clips
    unreadable: list[str] = field(default_factory=list)
    background: list[tuple[str, float]] = field(default_factory=list)  # (file, seconds)
    examples: dict[str, str] = field(default_factory=dict)  # command -> clip path

    @property
    def n_clips(self) -> int:
        return sum(sum(c.values()) for c in self.available.values())

    def speakers_in_several_splits(self) -> int:
        seen = Counter(s for spk in self.speakers.values() for s in spk)
        return sum(1 for n in seen.values() if n > 1)


def _all_clips(data_dir: str, layout: str) -> tuple[D.DataSpec, list[D.Clip]]:
    """Every clip on disk with its label and split (the trainer's sampling switched off)."""
    # silence_share=0 keeps validation/testing silence but drops training's; add it back
    # with the same split rule scan() uses for _silence_.
    spec = D.scan(data_dir, layout=layout, unknown_share=1e9, silence_share=0)
    clips = [c for c in spec.clips if c.path]
    silence_dir = os.path.join(data_dir, D.SILENCE)
    if spec.layout == "standard" and os.path.isdir(silence_dir):
        for n in D.wav_names(silence_dir, []):  # what is not a file is in spec.skipped already
            if D.which_set(n) == "training":
                clips.append(D.Clip(os.path.join(silence_dir, n), D.SILENCE, D.SILENCE, "training"))
    return spec, clips


def _probe(path: str):
    try:
        x, rate = read_wav(path)
    except AudioFileError as e:
        return None, str(e)
    return (x.shape[0], rate, x.shape[1]), None


def _pick_example(clips: list[D.Clip], lengths: dict[str, int]) -> str:
    # A full-length clip shows the word with its lead-in and tail; fall back to any.
    full = [c.path for c in clips if c.path is not None and lengths.get(c.path) == RATE]
    return (full or [c.path for c in clips if c.path is not None and c.path in lengths])[0]


def inventory(data_dir: str, layout: str = "auto", workers: int | None = None) -> Inventory:
    spec, clips = _all_clips(data_dir, layout)
    available: dict[str, Counter] = defaultdict(Counter)
    speakers: dict[str, set] = defaultdict(set)
    for c in clips:
        available[c.split][c.label] += 1
        if c.label != D.SILENCE:
            speakers[c.split].add(c.speaker)
    if spec.layout == "standard":
        used = Counter(c.label for c in D.scan(data_dir, layout="standard").split("training"))
    else:
        used = Counter()
    inv = Inventory(data_dir, spec.layout, spec.labels, dict(available), used, spec.words, dict(speakers))
    inv.unreadable.extend(spec.skipped)
    paths = [c.path for c in clips] + list(spec.background_files)
    with ThreadPoolExecutor(workers or os.cpu_count() or 2) as pool:
        probed = list(pool.map(_probe, paths))
    bg = set(spec.background_files)
    for p, (info, err) in zip(paths, probed):
        if err:
            inv.unreadable.append(err)
            continue
        frames, rate, channels = info
        assert p is not None  # probed: a file
        if p in bg:
            inv.background.append((os.path.basename(p), frames / rate))
            continue
        inv.lengths[p] = int(round(frames * RATE / rate))
        inv.formats[f"{rate} Hz, {channels} ch"] += 1
    for cmd in D.COMMANDS:
        own = [c for c in clips if c.label == cmd and c.path in inv.lengths]
        if own:
            inv.examples[cmd] = _pick_example(own, inv.lengths)
    return inv


def describe(values) -> dict[str, float]:
    """pandas' describe() of a 1-D sample: count, mean, std, min, quartiles, max."""
    v = np.asarray(values, np.float64)
    if v.size == 0:
        return {"count": 0}
    q = np.percentile(v, [25, 50, 75])
    return {"count": int(v.size), "mean": float(v.mean()), "std": float(v.std(ddof=1)) if v.size > 1 else 0.0,
            "min": float(v.min()), "25%": float(q[0]), "50%": float(q[1]), "75%": float(q[2]), "max": float(v.max())}


# ---------------------------------------------------------------- plots

def _plt():
    from .export import _plt as plt

    return plt()


def _save(fig, path: str) -> str:
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    _plt().close(fig)
    return os.path.basename(path)


def plot_labels(inv: Inventory, path: str) -> str:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(10, 4))
    splits = [s for s in D.SPLITS if s in inv.available]
    x = np.arange(len(inv.labels))
    w = 0.8 / max(len(splits), 1)
    for i, s in enumerate(splits):
        ax.bar(x + i * w - 0.4 + w / 2, [inv.available[s][l] for l in inv.labels], w, label=s)
    ax.set_xticks(x, inv.labels, rotation=30, ha="right")
    ax.set(ylabel="clips", title="clips per training label and split (all clips on disk)")
    ax.legend()
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, path)


def plot_words(inv: Inventory, path: str) -> str:
    plt = _plt()
    words = sorted(inv.words, key=lambda w: (-inv.words[w], w))
    fig, ax = plt.subplots(figsize=(max(8, 0.32 * len(words)), 4))
    colours = ["tab:blue" if w in D.COMMANDS else "tab:gray" for w in words]
    ax.bar(range(len(words)), [inv.words[w] for w in words], color=colours)
    ax.set_xticks(range(len(words)), words, rotation=70, ha="right", fontsize=8)
    ax.set(ylabel="clips", title="clips per raw word (blue: command words)")
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, path)


def plot_speakers(inv: Inventory, clips_per_speaker: Counter, path: str) -> str:
    plt = _plt()
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.6))
    splits = [s for s in D.SPLITS if s in inv.speakers]
    a.bar(splits, [len(inv.speakers[s]) for s in splits], color="tab:green")
    a.set(ylabel="speakers", title="speakers per split")
    counts = list(clips_per_speaker.values())
    b.hist(counts, bins=range(1, max(counts, default=1) + 2), color="tab:green", align="left")
    b.set(xlabel="clips per speaker", ylabel="speakers", title="clips per speaker")
    for ax in (a, b):
        ax.grid(axis="y", alpha=0.3)
    return _save(fig, path)


def plot_lengths(inv: Inventory, path: str) -> str:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 3.6))
    v = np.array(list(inv.lengths.values()))
    ax.hist(v, bins=40, color="tab:purple")
    ax.axvline(RATE, color="k", ls="--", lw=1, label="1 s")
    ax.set_yscale("log")
    ax.set(xlabel="samples at 16 kHz", ylabel="clips (log scale)", title="clip lengths")
    ax.legend()
    return _save(fig, path)


def plot_background(inv: Inventory, path: str) -> str:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 0.5 + 0.45 * len(inv.background)))
    names = [n for n, _ in inv.background]
    ax.barh(names, [s for _, s in inv.background], color="tab:orange")
    ax.set(xlabel="seconds", title="background noise files")
    ax.invert_yaxis()
    return _save(fig, path)


def example_features(audio: np.ndarray, cfg: F.FeatureConfig) -> dict[str, np.ndarray]:
    """Spectrogram, log-mel and MFCC of one clip, from the model's own feature code."""
    logmel_cfg = dataclasses.replace(cfg, kind="logmel")
    mfcc_cfg = dataclasses.replace(cfg, kind="mfcc")
    log_mel = F.log_mel_spectrogram(audio, logmel_cfg)
    return {
        "spectrogram": np.asarray(F.magnitude_spectrogram(audio, cfg)),
        "logmel": np.asarray(log_mel),
        "mfcc": np.asarray(F.features_from_log_mel(log_mel, mfcc_cfg)),
    }


def plot_example(word: str, path_in: str, cfg: F.FeatureConfig, path: str) -> str:
    plt = _plt()
    x = load_audio(path_in, cfg.sample_rate)
    x = np.asarray(F.fit_length(x, cfg))  # what the model sees: one window, zero-padded
    feats = example_features(x, cfg)
    hop_s = cfg.hop_samples / cfg.sample_rate
    fig, axes = plt.subplots(4, 1, figsize=(7, 9))
    t = np.arange(len(x)) / cfg.sample_rate
    axes[0].plot(t, x, lw=0.6)
    axes[0].set(xlim=(0, t[-1]), ylabel="amplitude", title=f"'{word}': {os.path.basename(path_in)}")
    spec = np.log(feats["spectrogram"] + cfg.log_offset)  # log only for display; the model's kind is linear
    frames = spec.shape[0] * hop_s
    axes[1].imshow(spec.T, origin="lower", aspect="auto", extent=(0, frames, 0, cfg.sample_rate / 2))
    axes[1].set(ylabel="Hz", title="magnitude spectrogram (log-scaled for display)")
    axes[2].imshow(feats["logmel"].T, origin="lower", aspect="auto", extent=(0, frames, 0, cfg.num_mel_bins))
    axes[2].set(ylabel="mel bin", title=f"log-mel ({cfg.num_mel_bins} bins, {cfg.lower_hz:.0f}-{cfg.upper_hz:.0f} Hz)")
    axes[3].imshow(feats["mfcc"].T, origin="lower", aspect="auto", extent=(0, frames, 0, feats["mfcc"].shape[1]))
    axes[3].set(ylabel="coefficient", xlabel="seconds", title=f"MFCC (first {feats['mfcc'].shape[1]})")
    return _save(fig, path)


# ---------------------------------------------------------------- report

def _table(header, rows) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return out


def _fmt(d: dict) -> list[list]:
    return [[k, f"{v:.1f}" if isinstance(v, float) else v] for k, v in d.items()]


def write_report(inv: Inventory, out: str, cfg: F.FeatureConfig) -> dict:
    """Draw every PNG and write ``report.md`` into ``out``; return the summary numbers."""
    os.makedirs(out, exist_ok=True)
    splits = [s for s in D.SPLITS if s in inv.available]
    lengths = np.array(list(inv.lengths.values()))
    short = lengths[lengths < RATE]
    clips_per_speaker = Counter(D.speaker_of(p) for p in inv.lengths if os.path.basename(os.path.dirname(p))
                                != D.SILENCE)
    pngs = {
        "labels": plot_labels(inv, os.path.join(out, "labels.png")),
        "words": plot_words(inv, os.path.join(out, "words.png")),
        "speakers": plot_speakers(inv, clips_per_speaker, os.path.join(out, "speakers.png")),
        "lengths": plot_lengths(inv, os.path.join(out, "lengths.png")),
    }
    if inv.background:
        pngs["background"] = plot_background(inv, os.path.join(out, "background.png"))
    examples = {w: plot_example(w, p, cfg, os.path.join(out, f"example_{w}.png")) for w, p in inv.examples.items()}

    md = [f"# Data report: `{os.path.basename(os.path.normpath(inv.data_dir))}`", "",
          f"Written by `kws-train explore`. Layout: **{inv.layout}**; {inv.n_clips} clips, "
          f"{len(inv.words)} folders of words, {sum(len(s) for s in inv.speakers.values())} speakers, "
          f"{len(inv.background)} background-noise files.", ""]
    md += ["## Clips per label", "", "All clips on disk, by the split the trainer puts them in "
           "(validation/testing lists, else the speaker hash). The last column is what one training epoch "
           "uses with the default `--unknown-share 0.1 --silence-share 0.1` (silence beyond the real "
           "`_silence_` clips is cut from background noise).", ""]
    header = ["label"] + splits + (["training at default shares"] if inv.used_for_training else [])
    rows = [[l] + [inv.available[s][l] for s in splits] + ([inv.used_for_training[l]] if inv.used_for_training
                                                            else []) for l in inv.labels]
    rows.append(["**total**"] + [sum(inv.available[s].values()) for s in splits]
                + ([sum(inv.used_for_training.values())] if inv.used_for_training else []))
    md += _table(header, rows) + ["", f"![clips per label]({pngs['labels']})", ""]
    md += ["## Clips per raw word", ""]
    md += _table(["word", "clips", "role"], [[w, inv.words[w], "command" if w in D.COMMANDS else
                                              ("silence" if w == D.SILENCE else "_unknown_")]
                                             for w in sorted(inv.words, key=lambda w: (-inv.words[w], w))])
    md += ["", f"![clips per word]({pngs['words']})", ""]
    md += ["## Speakers", "", "The speaker is the file name before `_nohash_`; silence clips have none."]
    md += [""] + _table(["split", "speakers"], [[s, len(inv.speakers.get(s, ()))] for s in splits])
    md += ["", f"Speakers found in more than one split: **{inv.speakers_in_several_splits()}** (0 means the "
           "splits are speaker-disjoint).", ""]
    md += _table(["clips per speaker", "value"], _fmt(describe(list(clips_per_speaker.values()))))
    md += ["", f"![speakers]({pngs['speakers']})", ""]
    md += ["## Clip lengths", "", f"Lengths in samples at 16 kHz. **{len(short)}** of {len(lengths)} clips "
           f"({100 * len(short) / max(len(lengths), 1):.1f}%) are shorter than one second; the trainer "
           "zero-pads them.", ""]
    md += _table(["statistic", "all clips", "clips shorter than 1 s"],
                 [[k, f"{v:.1f}" if isinstance(v, float) else v, (lambda s: f"{s:.1f}" if isinstance(s, float)
                                                                   else s)(describe(short).get(k, ""))]
                  for k, v in describe(lengths).items()])
    md += ["", "Formats: " + ", ".join(f"{k}: {v}" for k, v in inv.formats.most_common()) + ".",
           "", f"![clip lengths]({pngs['lengths']})", ""]
    if inv.unreadable:
        md += [f"**{len(inv.unreadable)} unreadable file(s)** (the trainer skips them):", ""]
        md += [f"- {e}" for e in inv.unreadable[:20]] + [""]
    md += ["## Background noise", ""]
    if inv.background:
        md += _table(["file", "seconds"], [[n, f"{s:.1f}"] for n, s in inv.background])
        md += ["", f"![background noise]({pngs['background']})", ""]
    else:
        md += ["No `_background_noise_/` folder (the canonical test-set layout has none).", ""]
    md += ["## One example per command", "",
           "Waveform, magnitude spectrogram, log-mel and MFCC computed by `kwsapp.core.features` (the code the model "
           f"trains and runs on): {cfg.window_samples / cfg.sample_rate * 1000:.0f} ms Hann window, "
           f"{cfg.hop_samples / cfg.sample_rate * 1000:.0f} ms hop, {cfg.fft_length}-point FFT.", ""]
    md += [f"![{w}]({png})" for w, png in examples.items()]
    with open(os.path.join(out, "report.md"), "w") as f:
        f.write("\n".join(md) + "\n")
    return {"clips": inv.n_clips, "words": len(inv.words), "short": int(len(short)),
            "speakers": {s: len(inv.speakers.get(s, ())) for s in splits},
            "background": len(inv.background), "unreadable": len(inv.unreadable),
            "pngs": len(pngs) + len(examples)}


def cmd_explore(args) -> int:
    from kwsapp.core.model import read_config

    cfg = read_config(args.model).features if args.model else F.FeatureConfig()
    try:
        os.makedirs(args.out, exist_ok=True)
    except OSError as e:
        raise KwsError(f"cannot create the report folder {args.out} ({e.strerror}); choose another --out") from None
    inv = inventory(args.data_dir, args.layout)
    s = write_report(inv, args.out, cfg)
    spk = ", ".join(f"{k} {v}" for k, v in s["speakers"].items())
    print(f"{args.data_dir} ({inv.layout} layout): {s['clips']} clips of {s['words']} words; speakers: {spk}")
    print(f"{s['short']} clip(s) shorter than 1 s; {s['background']} background-noise files; "
          f"{s['unreadable']} unreadable")
    print(f"wrote {os.path.join(args.out, 'report.md')} and {s['pngs']} PNGs")
    return 0


def add_parser(sub) -> None:
    from .options import add_data_dir

    p = sub.add_parser("explore", help="describe a dataset folder: counts, speakers, lengths, example features",
                       description="Clips per label and word, speakers per split, clip lengths, background "
                       "noise and one example per command (waveform, spectrogram, log-mel, MFCC), "
                       "written as PNGs and report.md.")
    add_data_dir(p)
    p.add_argument("--layout", choices=["auto", "standard", "test-set"], default="auto",
                   help="dataset layout: standard (word folders and split lists) or test-set (_silence_, _unknown_ and command folders, all test); auto tells them apart")
    p.add_argument("--out", default=os.path.join("reports", "data"), help="report folder (default: reports/data)")
    p.add_argument("--model", default=None,
                   help="draw the examples with this model folder's feature settings (default: the defaults)")
    p.set_defaults(func=cmd_explore)

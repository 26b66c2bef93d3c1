"""Memory and throughput of `kws-train train` at a larger scale than the shared subset.

Builds a standard-layout dataset of about --clips clips in a temporary folder from the
shared clips, each copy perturbed (gain, time shift, a little noise, so no two files are
equal and the decode cache cannot be shared between them), then runs `kws-train train`
for --epochs in a child process and reports its peak resident memory (ru_maxrss), the peaks
of its private (anonymous) and file-backed resident memory (sampled from /proc/PID/smaps_rollup:
the memory-mapped cache is file-backed, shared and reclaimable), the decode time and the fit
throughput from train_info.json. Run:

    python scripts/bench_scale.py --data-dir ../shared/speech_commands --clips 20000
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from kwsapp.core.wavio import load_audio, write_wav  # noqa: E402


def build(src: str, dest: str, clips: int, seed: int = 0) -> int:
    rng = np.random.default_rng(seed)
    words = [w for w in sorted(os.listdir(src)) if os.path.isdir(os.path.join(src, w)) and not w.startswith("_")]
    files = [(w, f) for w in words for f in sorted(os.listdir(os.path.join(src, w))) if f.endswith(".wav")]
    copies = max(1, round(clips / len(files)))
    lists = {}
    for name in ("validation_list.txt", "testing_list.txt"):
        p = os.path.join(src, name)
        lists[name] = set(open(p).read().split()) if os.path.exists(p) else set()
    out_lists = {k: [] for k in lists}
    shutil.copytree(os.path.join(src, "_background_noise_"), os.path.join(dest, "_background_noise_"))
    n = 0
    for w, f in files:
        os.makedirs(os.path.join(dest, w), exist_ok=True)
        x = load_audio(os.path.join(src, w, f))
        stem, _ = os.path.splitext(f)
        for k in range(copies):
            y = x if k == 0 else np.roll(x * 10 ** (rng.uniform(-6, 6) / 20), int(rng.integers(-1600, 1600)))
            if k:
                y = y + 0.002 * rng.standard_normal(len(y)).astype(np.float32)
            # Copy k of speaker s is the speaker s plus a suffix: the same split as its original.
            spk, rest = stem.split("_nohash_")
            name = f"{spk}_nohash_{rest}{'' if k == 0 else f'p{k}'}.wav"
            write_wav(os.path.join(dest, w, name), np.clip(y, -1, 1).astype(np.float32))
            for lst, members in lists.items():
                if f"{w}/{f}" in members:
                    out_lists[lst].append(f"{w}/{name}")
            n += 1
    for lst, names in out_lists.items():
        with open(os.path.join(dest, lst), "w") as fh:
            fh.write("\n".join(names) + "\n")
    return n


def _rollup(pid: int) -> dict[str, int]:
    """kB fields of /proc/PID/smaps_rollup ({} once the process is gone)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            return {k.rstrip(":"): int(v) for k, v, *_ in (line.split() for line in f) if v.isdigit()}
    except (OSError, ValueError):
        return {}


def _run_sampled(cmd, env, every_s: float = 0.25) -> tuple[subprocess.CompletedProcess, dict]:
    """Run ``cmd``; the peaks (MB) of its anonymous and file-backed resident memory."""
    peaks = {"anon": 0, "file": 0}
    with subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as p:
        import threading

        out: dict = {}
        reader = threading.Thread(target=lambda: out.update(zip(("stdout", "stderr"), p.communicate())))
        reader.start()
        while p.poll() is None:
            r = _rollup(p.pid)
            if r:
                peaks["anon"] = max(peaks["anon"], r.get("Anonymous", 0))
                peaks["file"] = max(peaks["file"], r.get("Rss", 0) - r.get("Anonymous", 0))
            time.sleep(every_s)
        reader.join()
    done = subprocess.CompletedProcess(cmd, p.returncode, out.get("stdout", ""), out.get("stderr", ""))
    return done, {k: round(v / 1024) for k, v in peaks.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default="../shared/speech_commands")
    ap.add_argument("--clips", type=int, default=20000)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--keep", default=None, help="build the dataset here and keep it (default: a temporary folder)")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="kws-scale-")
    data = args.keep or os.path.join(tmp, "data")
    try:
        if not os.path.exists(os.path.join(data, "validation_list.txt")):
            t = time.time()
            n = build(args.data_dir, data, args.clips)
            print(f"built {n} clips in {time.time() - t:.0f} s: {data}")
        env = dict(os.environ, KWSAPP_CACHE_DIR=os.path.join(tmp, "cache"))
        out = os.path.join(tmp, "model")
        t = time.time()
        r, split = _run_sampled([sys.executable, "-m", "kwstrain", "train", "--data-dir", data, "--epochs",
                                 str(args.epochs), "--quiet", "--out", out], env)
        wall = time.time() - t
        if r.returncode:
            print(r.stderr[-3000:], file=sys.stderr)
            return 1
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        info = json.load(open(os.path.join(out, "train_info.json")))["info"]
        cache = sum(os.path.getsize(os.path.join(tmp, "cache", f)) for f in os.listdir(os.path.join(tmp, "cache")))
        print(json.dumps({"clips_train": info["n_train"], "clips_val": info["n_val"], "peak_rss_mb": round(peak_mb),
                          "peak_private_anon_mb": split["anon"], "peak_file_backed_mb": split["file"],
                          "cache_mb": round(cache / 1e6), "wall_s": round(wall), "train_time_s": info["train_time_s"],
                          "fit_time_s": info["fit_time_s"], "examples_per_s": info["train_examples_per_s"],
                          "decode_and_setup_s": round(info["train_time_s"] - info["fit_time_s"], 1)}))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

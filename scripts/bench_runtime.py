"""Old runtime against new, side by side in one run (BENCHMARKS.md, "Lean runtime"; docs/experiments/lean-runtime.md).

    python scripts/bench_runtime.py --old-ref REV --old-python OLD/bin/python --new-venv NEW

OLD: this repository at REV (unpacked with `git archive` into a temporary folder) run by
OLD/bin/python (an environment with TensorFlow, as the app needed before). NEW: a venv with this
tree's wheel installed (no TensorFlow). Measures, alternating old and new: `kwsapp devices` and
`kwsapp listen --input` on a 1 s clip (wall time, median of --repeats), listen's peak memory on
that clip and on a 30 s file, the environments' size on disk, and on the test streams (the ones
BENCHMARKS.md scores: `kws-train streamtest`'s 10-minute testing streams, seeds 0-2) every hop's
scores and the detections (old: Engine.run_offline; new: Detector.run_offline), with hop times.
Those hop times come from runs minutes apart, so load on a shared machine skews them; the
per-window compute is therefore also timed here with old and new interleaved window by window
(old: the tf.function front end + REV's features-only model.tflite; new: one call of this tree's
model.tflite audio signature).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

# Runs inside the old or the new environment: every hop's scores and time, and the detections.
STREAM_RUNNER = r"""
import json, sys, numpy as np
audio = np.load(sys.argv[1])
try:
    from kwsapp.core.detector import Detector
    run = Detector(sys.argv[3]).run_offline
except ImportError:  # the old runtime: the engine ran offline itself
    from kwsapp.engine import Engine
    eng = Engine(None, sys.argv[3])
    def run(audio, on_hop):
        eng.on_hop = on_hop
        return eng.run_offline(audio)
hops = []
dets = run(audio, on_hop=hops.append)
np.save(sys.argv[2], np.stack([h.scores for h in hops]))
print(json.dumps({"hop_ms": [h.hop_ms for h in hops],
                  "detections": [[d.label, round(d.stream_time_s, 3)] for d in dets]}))
"""


def wall(cmd, env, cwd, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        subprocess.run(cmd, env=env, cwd=cwd, check=True, capture_output=True)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def peak_mb(cmd, env, cwd) -> float:
    """Peak resident memory of the command (its process tree's largest), via GNU time-like rusage."""
    code = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, capture_output=True); "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", code, *cmd], env=env, cwd=cwd, check=True,
                         capture_output=True, text=True).stdout
    return round(int(out) / 1024, 1)


def per_window_interleaved(old_tflite: str, new_tflite: str, windows: int = 2000, warmup: int = 50) -> dict:
    import tensorflow as tf
    from ai_edge_litert.interpreter import Interpreter

    from kwsapp.core import features as F
    from kwsapp.core.model import read_config

    cfg = read_config(os.path.join(ROOT, "assets", "model")).features
    front = tf.function(lambda w: F.log_mel_spectrogram(w, cfg), input_signature=[tf.TensorSpec([cfg.clip_samples], tf.float32)])
    old = Interpreter(model_path=old_tflite, num_threads=1)
    old.allocate_tensors()
    oi, oo = old.get_input_details()[0]["index"], old.get_output_details()[0]["index"]
    new = Interpreter(model_path=new_tflite, num_threads=1).get_signature_runner("audio")
    rng = np.random.default_rng(0)
    xs = [(0.1 * rng.standard_normal(cfg.clip_samples)).astype(np.float32) for _ in range(50)]
    t_old, t_new = [], []
    for k in range(windows + warmup):
        x = xs[k % len(xs)]
        a = time.perf_counter()
        old.set_tensor(oi, front(x).numpy()[None, :, :, None])
        old.invoke()
        old.get_tensor(oo)
        b = time.perf_counter()
        new(audio=x)["scores"]
        c = time.perf_counter()
        if k >= warmup:
            t_old.append(b - a)
            t_new.append(c - b)
    def stats(t):
        return {"median_ms": round(float(np.median(t)) * 1000, 3), "p99_ms": round(float(np.percentile(t, 99)) * 1000, 2)}
    return {"windows": windows, "old": stats(t_old), "new": stats(t_new)}


def du_mb(path: str) -> float:
    return round(int(subprocess.run(["du", "-sk", path], capture_output=True, text=True).stdout.split()[0]) / 1024, 1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--old-ref", required=True)
    ap.add_argument("--old-python", required=True)
    ap.add_argument("--new-venv", required=True)
    ap.add_argument("--data-dir", default=os.path.join(ROOT, "..", "shared", "speech_commands"))
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--streams", type=int, default=3)
    ap.add_argument("--duration", type=float, default=600.0)
    args = ap.parse_args()

    from kwsapp.core.wavio import load_audio, write_wav
    from kwstrain.streamtest import StreamSpec, make_stream, pick_clips

    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        old_src = os.path.join(tmp, "old")
        os.makedirs(old_src)
        subprocess.run(f"git -C {ROOT} archive {args.old_ref} | tar -x -C {old_src}", shell=True, check=True)
        work = os.path.join(tmp, "elsewhere")  # outside both trees
        os.makedirs(work)
        (_, clip), = pick_clips(args.data_dir, "testing", words=("yes",))
        write_wav(os.path.join(work, "one.wav"), load_audio(clip))
        long_audio, _ = make_stream(args.data_dir, "testing", StreamSpec(duration_s=30.0, seed=5))
        write_wav(os.path.join(work, "thirty.wav"), long_audio)

        base_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        sides = {
            "old": ([args.old_python, "-m", "kwsapp"], dict(base_env, PYTHONPATH=old_src),
                    os.path.join(old_src, "assets", "model"), os.path.dirname(os.path.dirname(args.old_python))),
            "new": ([os.path.join(args.new_venv, "bin", "kwsapp")], base_env, None, args.new_venv),
        }
        for name, (cmd, env, model, venv) in sides.items():
            m = ["--model", model] if model else []
            out[name] = {
                "devices_s": round(wall(cmd + ["devices"], env, work, args.repeats), 2),
                "listen_1s_clip_s": round(wall(cmd + ["listen", "--input", "one.wav", *m], env, work, args.repeats), 2),
                "listen_1s_clip_peak_mb": peak_mb(cmd + ["listen", "--input", "one.wav", *m], env, work),
                "listen_30s_file_peak_mb": peak_mb(cmd + ["listen", "--input", "thirty.wav", *m], env, work),
                "environment_mb": du_mb(venv),
            }
            print(name, json.dumps(out[name]), file=sys.stderr, flush=True)

        worst, same, hop_ms = 0.0, True, {"old": [], "new": []}
        for seed in range(args.streams):
            audio, _ = make_stream(args.data_dir, "testing", StreamSpec(duration_s=args.duration, seed=seed))
            wav = os.path.join(tmp, f"stream{seed}.npy")
            np.save(wav, audio)
            res, scores = {}, {}
            for name, (cmd, env, model, venv) in sides.items():
                python = args.old_python if name == "old" else os.path.join(args.new_venv, "bin", "python")
                model = model or "-"
                if model == "-":
                    model = subprocess.run([python, "-c", "from kwsapp.core.model import BUNDLED_MODEL_DIR as d; print(d)"],
                                           env=env, cwd=work, capture_output=True, text=True, check=True).stdout.strip()
                npy = os.path.join(tmp, f"{name}{seed}_scores.npy")
                r = subprocess.run([python, "-c", STREAM_RUNNER, wav, npy, model], env=env, cwd=work,
                                   capture_output=True, text=True, check=True)
                res[name] = json.loads(r.stdout.strip().splitlines()[-1])
                scores[name] = np.load(npy)
                hop_ms[name] += res[name]["hop_ms"]
            worst = max(worst, float(np.abs(scores["old"] - scores["new"]).max()))
            same &= res["old"]["detections"] == res["new"]["detections"]
            print(f"stream {seed}: max score difference {worst:.2g}, same detections {same}", file=sys.stderr, flush=True)
        out["per_window_interleaved"] = per_window_interleaved(
            os.path.join(old_src, "assets", "model", "model.tflite"), os.path.join(ROOT, "assets", "model", "model.tflite"))
        print("per window", json.dumps(out["per_window_interleaved"]), file=sys.stderr, flush=True)
        out["streams"] = {"streams": args.streams, "duration_s": args.duration,
                          "max_abs_score_difference": worst, "same_detections": same,
                          "hops": len(hop_ms["new"])}
        for name in ("old", "new"):
            out[name]["hop_ms_median"] = round(float(np.median(hop_ms[name])), 3)
            out[name]["hop_ms_p99"] = round(float(np.percentile(hop_ms[name], 99)), 3)
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

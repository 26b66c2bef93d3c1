"""Several models' DET curves in one picture, from saved `kws-train falsealarms --json` outputs.

    python scripts/plot_det.py OUT.png "name=results.json" "other name=other.json" ...

Each curve uses its run's own window and marks the setting the run reports as in use.
"""
import json
import sys

from kwstrain.falsealarms import plot_det


def main(argv) -> int:
    if len(argv) < 2 or any("=" not in a for a in argv[1:]):
        print("usage: plot_det.py OUT.png NAME=RESULTS.json [NAME=RESULTS.json ...]", file=sys.stderr)
        return 2
    curves, info = [], None
    for arg in argv[1:]:
        name, path = arg.rsplit("=", 1)
        with open(path) as f:
            r = json.load(f)
        window = r["smoothing"]["average_window_ms"]
        rows = [row for row in r["sweep"] if row.get("average_window_ms", window) == window]  # older runs: one window
        curves.append((name, rows, r.get("at_setting") or next(
            (row for row in rows if row["threshold"] == r["smoothing"]["detection_threshold"]), None)))
        info = r
    title = (f"{info['speech_hours'] * 60:.1f} min of running speech (eval list), "
             f"{info['streams']} x {info['duration_s']:g} s {info['split']} streams")
    plot_det(curves, argv[0], title)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

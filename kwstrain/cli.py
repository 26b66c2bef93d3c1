"""``kws-train``: train, evaluate and export keyword-spotting models."""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import os
import sys

from kwsapp.cli_util import parser_class, run_main, stdout_only_json

from . import dataset as D
from .options import add_data_dir, add_train_args, train_config


def cmd_train(args) -> int:
    from .train import score, split_cpu, train

    if args.cpu_devices:
        split_cpu(args.cpu_devices)
    cfg = train_config(args, args.out)
    result = train(cfg)
    if not result.chief:
        print(f"worker done ({result.replicas} replicas in the cluster): the chief writes the model folder")
        return 0
    metrics = score(cfg, result, sys.argv)
    val, test, info = metrics["validation"], metrics["test"], metrics["training"]
    # Test accuracy stays in metrics.json, not on screen: a figure seen after every run invites choosing
    # models on the test split (choose on validation; `kws-train evaluate --split test` after the choice).
    held = f"test split scored into {args.out}/metrics.json" if test else "no test split"
    print(f"saved {args.out}: best validation accuracy {val['accuracy']:.4f} (n={val['n']}), {held}, "
          f"{info['params']:,} params, {info['macs'] / 1e6:.1f} M multiply-adds, {info['train_time_s']:.0f} s")
    return 0


def cmd_evaluate(args) -> int:
    with stdout_only_json(args.json) as emit:
        return _evaluate(args, emit)


def _evaluate(args, emit) -> int:
    from . import export
    from .evaluate import evaluate
    from .pipeline import describe_skipped

    split = args.split
    r = evaluate(args.model, args.data_dir, layout=args.layout, split=split)
    # Only where asked: a report should not leave files in the current folder (often a checkout).
    out_png = args.confusion
    if out_png:
        try:
            export.plot_confusion(__import__("numpy").array(r["confusion"]), r["labels"], out_png, f"{split} split")
        except (OSError, ValueError) as e:  # an unwritable path or unknown image type must not lose the report
            why = (e.strerror if isinstance(e, OSError) else None) or str(e).split("\n")[0]
            print(f"confusion matrix not written: cannot write {out_png} ({why}); choose another --confusion, "
                  "e.g. confusion.png")
            out_png = None
    print(f"accuracy {r['accuracy']:.4f} on {r['n']} clips ({r['layout']} layout, {split} split)")
    for label, acc in r["per_class"].items():
        if acc is not None:
            print(f"  {label:>10}: {acc:.3f}  (n={r['support'][label]})")
    if out_png:
        print(f"confusion matrix: {out_png}")
    if r["skipped"]:
        print(describe_skipped(r["skipped"]))
    if args.json:
        emit(r)
    return 0


def cmd_export(args) -> int:
    """Re-create model.tflite from model.keras (raw audio in: see kwstrain.export), in place,
    checked against TensorFlow on real clips first."""
    import keras

    from kwsapp.core.model import read_config
    from kwsapp.core.wavio import load_audio

    from . import export, modelfolder
    from .streamtest import pick_clips

    cfg = read_config(args.model)
    if not os.path.isdir(args.data_dir):
        from kwsapp.core.errors import KwsError

        raise KwsError(f"{args.data_dir}: no such data folder (the export is checked on real clips); "
                       "run `kws-train download` to fetch it, or pass --data-dir")
    clips = [load_audio(p, cfg.features.sample_rate) for _, p in pick_clips(args.data_dir, "testing")]
    model = keras.models.load_model(os.path.join(args.model, modelfolder.KERAS), compile=False)
    path = os.path.join(args.model, modelfolder.TFLITE)
    worst = modelfolder.write_tflite(args.model, model, cfg.features, clips)
    print(f"wrote {path}: on {worst['clips']} windows ({len(clips)} real clips) it matches TensorFlow within "
          f"{worst['log_mel']:.1g} in log-mel and {worst['scores']:.1g} in scores "
          f"(allowed {export.LOG_MEL_TOLERANCE:g} and {export.SCORE_TOLERANCE:g})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from kwsapp import __version__

    ap = parser_class(prog="kws-train", description=__doc__)
    # One version for the package: the trainer ships in the same distribution as the app.
    ap.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    # The trainer is TensorFlow: imported (quietly) before any command runs; without the train
    # extra, one line says what to install.
    ap.set_defaults(needs_tensorflow=True)
    # argparse only calls parser_class (a factory here); typeshed asks for a class.
    sub = ap.add_subparsers(dest="cmd", required=True, metavar="COMMAND", parser_class=parser_class)  # type: ignore[call-overload]
    p = sub.add_parser("train", help="train a model and write a model folder")
    add_train_args(p)
    p.add_argument("--out", required=True, help="model folder to write (e.g. assets/model)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="accuracy, per-class accuracy and confusion matrix of a model folder")
    p.add_argument("--model", default=os.path.join("assets", "model"), help="model folder (default: assets/model)")
    add_data_dir(p)
    p.add_argument("--layout", choices=["auto", "standard", "test-set"], default="auto",
                   help="dataset layout: standard (word folders and split lists) or test-set (_silence_, _unknown_ and command folders, all test); auto tells them apart")
    p.add_argument("--split", default="testing", choices=D.SPLITS, type=D.split_name,
                   help="split to score, or test, val, train (default: testing; the test-set layout is all test)")
    p.add_argument("--confusion", default=None,
                   help="also write the confusion matrix as this PNG (default: none; never into the model folder "
                        "unless you name a path there)")
    p.add_argument("--json", action="store_true", help="print the results as one JSON object on stdout; the human report goes to stderr")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("export", help="re-create a model folder's model.tflite from its model.keras",
                       description="Write model.tflite (raw 16 kHz audio in; scores and log-mel out, so the app "
                                   "runs without TensorFlow) from model.keras, after checking on real test clips "
                                   "that it gives TensorFlow's features and scores.")
    p.add_argument("--model", required=True, help="model folder")
    add_data_dir(p)
    p.set_defaults(func=cmd_export)

    for mod in _PLUGINS:
        if importlib.util.find_spec(f"kwstrain.{mod}") is not None:
            importlib.import_module(f"kwstrain.{mod}").add_parser(sub)
    return ap


# Further subcommands, each a module with add_parser(sub) that sets func.
_PLUGINS = ("compare", "explore", "download", "synth", "negatives", "finetune", "streamtest", "falsealarms", "robustness",
            "teacher", "verifier")


class _StderrHandler(logging.StreamHandler):
    """The trainer's log lines on whatever sys.stderr is when each is written (tests and
    --json swap the streams), bare as the lines they replaced; stdout stays the commands' own."""

    def __init__(self):
        super().__init__()
        self.setFormatter(logging.Formatter("%(message)s"))

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass


def _log_to_stderr() -> None:
    logger = logging.getLogger("kwstrain")
    if not any(isinstance(h, _StderrHandler) for h in logger.handlers):
        logger.addHandler(_StderrHandler())
    logger.setLevel(logging.INFO)


def main(argv=None) -> int:
    _log_to_stderr()
    return run_main(build_parser, argv, prog="kws-train")


if __name__ == "__main__":
    sys.exit(main())

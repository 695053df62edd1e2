"""`python -m zoo train|evaluate|translate ...`."""

import argparse
import dataclasses
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from zoo import registry  # noqa: E402

EPILOG = """examples:
  python -m zoo train rnn-translator --preset cpu
  python -m zoo train rnn-translator --preset tiny --workdir /tmp/rnn
  python -m zoo evaluate workdirs/rnn-translator-cpu
  python -m zoo translate workdirs/rnn-translator-cpu "I like tea."
"""


def _parse_override(text):
    if "=" not in text:
        raise argparse.ArgumentTypeError(
            f"--set takes field=value. Received: {text!r}"
        )
    key, value = text.split("=", 1)
    try:
        value = json.loads(value)
    except json.JSONDecodeError:
        pass  # a plain string
    return key, value


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m zoo",
        description="Train, evaluate and use the keras_attn model zoo.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser(
        "train",
        help="train a model",
        description="Train a zoo model; everything goes to --workdir.",
    )
    train.add_argument("model", choices=registry.available())
    train.add_argument(
        "--preset",
        default="cpu",
        help="named config: tiny (tests, seconds), cpu (about 15 minutes on "
        "2 cores; bert-mlm: about 77 minutes on 1 core), gpu (the full-size "
        "run). Default: cpu",
    )
    train.add_argument(
        "--data",
        default=None,
        help="dataset: the model's default real corpus if omitted; "
        "translators accept a language pair (en-ja, ja-en, en-es, en-fr, "
        "en-de), 'dates' (generated) or the path of a TSV of "
        "source<TAB>target pairs",
    )
    train.add_argument(
        "--workdir",
        default=None,
        help="output directory (default: workdirs/<model>-<preset>); an "
        "interrupted run in it is resumed",
    )
    train.add_argument(
        "--init",
        default=None,
        help="work directory of a model to start from (bert-classifier: "
        "the bert-mlm pretraining run)",
    )
    train.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        type=_parse_override,
        metavar="FIELD=VALUE",
        help="override one config field, e.g. --set epochs=3 (repeatable)",
    )
    train.add_argument(
        "--mixed-precision",
        choices=["float32", "mixed_float16", "mixed_bfloat16"],
        default="float32",
        help="Keras dtype policy: mixed_float16 on NVIDIA GPUs, "
        "mixed_bfloat16 on TPUs and recent CPUs. Default: float32",
    )
    train.add_argument(
        "--jit-compile",
        action="store_true",
        help="compile the train step with XLA",
    )
    train.add_argument(
        "--distribute",
        choices=["none", "mirrored", "multi-worker"],
        default="none",
        help="tf.distribute strategy: mirrored = all local GPUs (or CPUs); "
        "multi-worker reads TF_CONFIG",
    )
    train.add_argument("--seed", type=int, default=0, help="global seed")
    train.add_argument(
        "--backup-every",
        type=int,
        default=100,
        help="steps between BackupAndRestore saves (resume granularity)",
    )
    train.add_argument("--quiet", action="store_true", help="no progress bars")

    evaluate = sub.add_parser(
        "evaluate",
        help="score a trained model on its test split",
        description="Evaluate the final model of a work directory on the "
        "test split and update metrics.json.",
    )
    evaluate.add_argument("workdir")

    translate = sub.add_parser(
        "translate",
        help="translate sentences with a trained translator",
        description="Translate sentences; saves an attention plot per "
        "sentence in <workdir>/plots.",
    )
    translate.add_argument("workdir")
    translate.add_argument("sentences", nargs="+")
    translate.add_argument(
        "--beam-size", type=int, default=None, help="default: the config's"
    )
    translate.add_argument(
        "--greedy", action="store_true", help="greedy decoding"
    )
    return parser


def _train(args):
    from zoo.harness import RunOptions

    package = registry.get(args.model)
    if args.preset not in package.PRESETS:
        raise SystemExit(
            f"--preset must be one of {sorted(package.PRESETS)}. "
            f"Received: {args.preset!r}"
        )
    config = package.PRESETS[args.preset]
    changes = dict(args.overrides)
    if args.data is not None:
        changes["data"] = args.data
    if args.init is not None:
        changes["init"] = args.init
    fields = {f.name for f in dataclasses.fields(config)}
    unknown = set(changes) - fields
    if unknown:
        raise SystemExit(
            f"unknown config field(s) {sorted(unknown)} for {args.model}; "
            f"fields: {sorted(fields)}"
        )
    config = dataclasses.replace(config, **changes)
    options = RunOptions(
        mixed_precision=args.mixed_precision,
        jit_compile=args.jit_compile,
        distribute=args.distribute,
        seed=args.seed,
        backup_every=args.backup_every,
        verbose=0 if args.quiet else 1,
    )
    workdir = args.workdir or os.path.join(
        "workdirs", f"{args.model}-{args.preset}"
    )
    metrics = package.train(config, workdir, options)
    print(json.dumps(metrics, indent=2, ensure_ascii=False, default=float))
    return 0


def _package_of(workdir):
    from zoo.harness import read_config

    return registry.get(read_config(workdir)["model"])


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.command == "train":
        return _train(args)
    package = _package_of(args.workdir)
    if args.command == "evaluate":
        metrics = package.evaluate(args.workdir)
        print(json.dumps(metrics, indent=2, ensure_ascii=False, default=float))
        return 0
    if not hasattr(package, "translate"):
        print("this model does not translate", file=sys.stderr)
        return 2
    package.translate(
        args.workdir,
        args.sentences,
        beam_size=1 if args.greedy else args.beam_size,
    )
    return 0

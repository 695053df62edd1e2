"""`python -m zoo train|evaluate|translate|sample|generate|export ...`.

A user mistake (an unknown model, preset or config field, a bad value, a
missing or damaged work directory or backup) prints one or two lines on
stderr naming the argument or file and what to do, and exits with status 2;
other errors keep their traceback. Only the chosen model's package is
imported, so `--help` answers without loading TensorFlow.
"""

import argparse
import os
import pathlib
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from zoo import config_utils  # noqa: E402
from zoo import registry  # noqa: E402
from zoo.config_utils import UsageError  # noqa: E402
from zoo.config_utils import parse_override  # noqa: E402
from zoo.config_utils import replace_checked  # noqa: E402
from zoo.startup import quiet_start  # noqa: E402
from zoo.startup import start_tensorflow  # noqa: E402

EXAMPLES = """examples:
  python -m zoo train rnn-translator --preset cpu
  python -m zoo train rnn-translator --preset tiny --workdir /tmp/rnn
  python -m zoo evaluate workdirs/rnn-translator-cpu
  python -m zoo translate workdirs/rnn-translator-cpu "I like tea."
  python -m zoo sample workdirs/sagan-cpu --num-images 50 --seed 7
  python -m zoo generate workdirs/gpt-cpu "It is a truth" --top-p 0.9
  python -m zoo generate workdirs/gpt-cpu "Emma" --attention-plot emma.png
  python -m zoo export workdirs/gpt-cpu --top-p 0.9
"""
MAX_METRICS = 20  # lines of metrics in the end-of-run summary


def _epilog():
    names = registry.available()
    width = max(map(len, names), default=0)
    models = "\n".join(
        f"  {name:<{width}}  {registry.SUMMARIES.get(name, '')}"
        for name in names
    )
    return f"models:\n{models}\n\n{EXAMPLES}"


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m zoo",
        description="Train, evaluate and use the keras_attn model zoo.",
        epilog=_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser(
        "train",
        help="train a model",
        description="Train a zoo model; everything goes to --workdir.",
        epilog=_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
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
        "source<TAB>target pairs; gpt accepts 'austen', 'tatoeba-ja' "
        "(Japanese) or the path of a UTF-8 text file",
    )
    train.add_argument(
        "--workdir",
        default=None,
        help="output directory (default: workdirs/<model>-<preset>); an "
        "interrupted run in it is resumed",
    )
    train.add_argument(
        "--restart",
        action="store_true",
        help="delete the backup, checkpoints and logs of an earlier run in "
        "--workdir and start over instead of resuming",
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
        type=parse_override,
        metavar="FIELD=VALUE",
        help="override one config field, e.g. --set epochs=3 (repeatable); "
        "values are checked against the field's type before anything runs",
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
        choices=[
            "none",
            "mirrored",
            "multi-worker",
            "data-parallel",
            "model-parallel",
        ],
        default="none",
        help="TensorFlow: mirrored = all local GPUs (or CPUs), multi-worker "
        "= one process per machine, the cluster in TF_CONFIG; JAX: "
        "data-parallel or model-parallel over the local devices "
        "(README: More than one machine). Default: none",
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

    sample = sub.add_parser(
        "sample",
        help="draw a grid of images from a trained SAGAN",
        description="Write a PNG grid of generated images (a row per class "
        "when the SAGAN is conditional).",
    )
    sample.add_argument("workdir")
    sample.add_argument(
        "--num-images",
        type=int,
        default=100,
        help="images in the grid, a multiple of 10. Default: 100",
    )
    sample.add_argument(
        "--seed", type=int, default=1234, help="noise seed. Default: 1234"
    )
    sample.add_argument(
        "--out",
        default=None,
        help="PNG path. Default: <workdir>/plots/samples_seed<SEED>.png",
    )

    generate = sub.add_parser(
        "generate",
        help="continue a prompt with a trained language model (gpt)",
        description="Generate text after a prompt, streamed to the terminal "
        "as it is produced (KV-cached decoding).",
    )
    generate.add_argument("workdir")
    generate.add_argument("prompt")
    generate.add_argument(
        "--max-new-tokens",
        type=int,
        default=64,
        help="tokens to generate. Default: 64",
    )
    generate.add_argument(
        "--temperature",
        type=float,
        default=1.0,
        help="sampling temperature; 0 is greedy. Default: 1.0",
    )
    generate.add_argument(
        "--greedy", action="store_true", help="greedy (same as --temperature 0)"
    )
    generate.add_argument(
        "--top-k", type=int, default=None, help="keep the k likeliest tokens"
    )
    generate.add_argument(
        "--top-p",
        type=float,
        default=None,
        help="keep the smallest set of tokens whose probability reaches p",
    )
    generate.add_argument(
        "--seed", type=int, default=0, help="sampling seed. Default: 0"
    )
    generate.add_argument(
        "--num-samples",
        type=int,
        default=1,
        help="continuations, generated as one batch (1 streams). Default: 1",
    )
    generate.add_argument(
        "--attention-plot",
        default=None,
        metavar="PNG",
        help="also draw every head's attention over the prompt in one "
        "decoder layer (--layer) to this PNG file",
    )
    generate.add_argument(
        "--layer",
        type=int,
        default=0,
        help="the decoder layer of --attention-plot, from 0. Default: 0",
    )

    export = sub.add_parser(
        "export",
        help="write a string-to-string SavedModel (transformer, gpt)",
        description="Export a trained translator or language model as a "
        "SavedModel with the tokenizer and the decoding loop in the graph; "
        "it loads with TensorFlow and tensorflow-text alone.",
    )
    export.add_argument("workdir")
    export.add_argument(
        "--out", default=None, help="directory. Default: <workdir>/export"
    )
    export.add_argument(
        "--max-length",
        type=int,
        default=None,
        help="gpt: KV-cache slots, prompt plus new tokens. Default: the "
        "model's context_length",
    )
    export.add_argument(
        "--top-k",
        type=int,
        default=None,
        help="gpt: top-k truncation of the `sample` signature",
    )
    export.add_argument(
        "--top-p",
        type=float,
        default=None,
        help="gpt: top-p truncation of the `sample` signature",
    )
    return parser


def _train(args):
    with quiet_start():  # imports the model package, TensorFlow included
        from zoo import harness

        presets = registry.presets(args.model)
        if args.distribute != "multi-worker":
            # (MultiWorkerMirroredStrategy starts TensorFlow's devices
            # itself: it must configure them first.)
            start_tensorflow()
    if args.preset not in presets:
        raise UsageError(
            f"--preset must be one of {', '.join(presets)} for {args.model}. "
            f"Received: --preset {args.preset}"
        )
    changes = dict(args.overrides)
    if args.data is not None:
        changes["data"] = args.data
    if args.init is not None:
        changes["init"] = args.init
    config = replace_checked(
        presets[args.preset], changes, what=f"{args.model} config"
    )
    try:
        options = harness.RunOptions(
            mixed_precision=args.mixed_precision,
            jit_compile=args.jit_compile,
            distribute=args.distribute,
            seed=args.seed,
            backup_every=args.backup_every,
            verbose=0 if args.quiet else 1,
        )
    except ValueError as error:
        message = (
            str(error)
            .replace("`backup_every`", "--backup-every")
            .replace("distribute=", "--distribute=")
        )
        raise UsageError(message) from None
    workdir = pathlib.Path(
        args.workdir or os.path.join("workdirs", f"{args.model}-{args.preset}")
    )
    if args.restart:
        if harness.is_chief(args.distribute):  # the chief's workdir only
            config_utils.clear_run(workdir)
    else:
        config_utils.check_backup(workdir)
    package = registry.get(args.model)
    start = time.perf_counter()
    metrics = package.train(config, workdir, options)
    print(summary(args.model, workdir, metrics, time.perf_counter() - start))
    return 0


def _numbers(metrics, prefix=""):
    """`(dotted key, number)` for every number in a nested metrics dict."""
    for key, value in metrics.items():
        if isinstance(value, dict):
            yield from _numbers(value, f"{prefix}{key}.")
        elif isinstance(value, int | float) and not isinstance(value, bool):
            yield f"{prefix}{key}", value


def _metric_lines(metrics):
    """The numbers of `metrics`, one a line (strings stay in the JSON)."""
    flat = list(_numbers(metrics))
    shown = flat[:MAX_METRICS]
    width = max((len(key) for key, _ in shown), default=0)
    lines = [
        f"  {key:<{width}}  {value:.4g}"
        if isinstance(value, float)
        else f"  {key:<{width}}  {value}"
        for key, value in shown
    ]
    if len(flat) > MAX_METRICS:
        lines.append(f"  ... and {len(flat) - MAX_METRICS} more")
    return lines


def _describe(path, workdir):
    notes = {
        "config.json": "the config and options of this run",
        "model.keras": "the trained model",
        "generator.keras": "the trained generator",
        "discriminator.keras": "the trained discriminator",
        "metrics.json": "all metrics",
        "history.json": "loss and metrics per epoch",
        "logs": f"TensorBoard: tensorboard --logdir {workdir / 'logs'}",
    }
    if path.is_dir():
        files = sorted(p.name for p in path.iterdir())
        note = notes.get(path.name)
        if note is None and path.name == "plots":
            note = ", ".join(files[:6]) + (" ..." if len(files) > 6 else "")
        elif note is None:
            note = f"{len(files)} file(s)"
        return f"  {path.name + '/':<20} {note}"
    return f"  {path.name:<20} {notes.get(path.name, '')}".rstrip()


def summary(model, workdir, metrics, seconds):
    """The human end-of-run summary: metrics, examples, what was written."""
    workdir = pathlib.Path(workdir)
    lines = [f"\n== {model}: done in {seconds:.0f} s", "metrics:"]
    lines += _metric_lines(metrics)
    examples = metrics.get("examples") or []
    if examples:
        lines.append("examples:")
        lines += [f"  {example}" for example in examples[:3]]
    lines.append(f"written to {workdir.resolve()}:")
    if workdir.is_dir():
        lines += [_describe(p, workdir) for p in sorted(workdir.iterdir())]
    return "\n".join(lines)


def _package_of(workdir):
    name = config_utils.read_config(workdir)["model"]
    if name not in registry.MODELS:
        raise UsageError(
            f"`{pathlib.Path(workdir) / 'config.json'}` names an unknown "
            f"model {name!r}; models: {', '.join(registry.MODELS)}."
        )
    config_utils.check_saved_models(workdir)
    with quiet_start():  # imports the model package, TensorFlow included
        package = registry.get(name)
        start_tensorflow()
    return name, package


def _evaluate(args):
    _, package = _package_of(args.workdir)
    metrics = package.evaluate(args.workdir)
    print("\n".join(["metrics:", *_metric_lines(metrics)]))
    print(f"updated {pathlib.Path(args.workdir) / 'metrics.json'}")
    return 0


def _translate(args):
    name, package = _package_of(args.workdir)
    if not hasattr(package, "translate"):
        raise UsageError(
            f"`translate` needs a translator's work directory; "
            f"`{args.workdir}` holds a {name} run."
        )
    package.translate(
        args.workdir,
        args.sentences,
        beam_size=1 if args.greedy else args.beam_size,
    )
    return 0


def _sample(args):
    name, package = _package_of(args.workdir)
    if not hasattr(package, "write_sample_grid"):
        raise UsageError(
            f"`sample` needs a sagan work directory; `{args.workdir}` holds "
            f"a {name} run."
        )
    if args.num_images < 10 or args.num_images % 10:
        raise UsageError(
            "--num-images must be a positive multiple of 10 (a grid row "
            f"holds 10 images). Received: --num-images {args.num_images}"
        )
    path = package.write_sample_grid(
        args.workdir, args.num_images, seed=args.seed, out=args.out
    )
    print(f"wrote {path}")
    return 0


def _check_generate_args(args):
    for flag, value, ok, what in (
        (
            "--max-new-tokens",
            args.max_new_tokens,
            args.max_new_tokens >= 1,
            "a positive integer",
        ),
        (
            "--num-samples",
            args.num_samples,
            args.num_samples >= 1,
            "a positive integer",
        ),
        (
            "--temperature",
            args.temperature,
            args.temperature >= 0,
            "a number >= 0 (0 is greedy)",
        ),
        (
            "--top-k",
            args.top_k,
            args.top_k is None or args.top_k >= 1,
            "a positive integer",
        ),
        (
            "--top-p",
            args.top_p,
            args.top_p is None or 0 < args.top_p <= 1,
            "in (0, 1]",
        ),
    ):
        if not ok:
            raise UsageError(f"{flag} must be {what}. Received: {flag} {value}")
    if args.attention_plot is None and args.layer != 0:
        raise UsageError(
            f"--layer chooses the layer of --attention-plot; none was given. "
            f"Received: --layer {args.layer}"
        )


def _generate(args):
    _check_generate_args(args)
    name, package = _package_of(args.workdir)
    if not hasattr(package, "generate"):
        raise UsageError(
            f"`generate` needs a language model's work directory (gpt); "
            f"`{args.workdir}` holds a {name} run."
        )
    if args.attention_plot is not None:  # checked before generating
        layers = package.config_from_workdir(args.workdir).num_layers
        if not 0 <= args.layer < layers:
            raise UsageError(
                f"--layer must be in 0..{layers - 1} (this model has "
                f"{layers} decoder layers). Received: --layer {args.layer}"
            )

    def write(text):
        print(text, end="", flush=True)

    texts = package.generate(
        args.workdir,
        args.prompt,
        max_new_tokens=args.max_new_tokens,
        temperature=0.0 if args.greedy else args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        seed=args.seed,
        num_samples=args.num_samples,
        write=write,
    )
    if args.num_samples == 1:
        print()
    else:
        for i, text in enumerate(texts, start=1):
            print(f"--- sample {i}\n{text}")
    if args.attention_plot is not None:
        path = package.attention_pictures(
            args.workdir, args.prompt, args.layer, args.attention_plot
        )
        print(f"wrote {path}")
    return 0


def _export(args):
    name, package = _package_of(args.workdir)
    if not hasattr(package, "export"):
        raise UsageError(
            f"`export` needs a transformer or gpt work directory; "
            f"`{args.workdir}` holds a {name} run."
        )
    options = {
        flag: value
        for flag, value in (
            ("max_length", args.max_length),
            ("top_k", args.top_k),
            ("top_p", args.top_p),
        )
        if value is not None
    }
    if options and name != "gpt":
        flags = ", ".join("--" + o.replace("_", "-") for o in options)
        raise UsageError(f"{flags}: options of a gpt export, not of {name}.")
    try:
        path = package.export(args.workdir, args.out, **options)
    except UsageError as error:  # names `max_length`: name the flag
        message = str(error)
        for option in options:
            flag = "--" + option.replace("_", "-")
            message = message.replace(f"`{option}`", flag)
            message = message.replace(f"{option}=", f"{flag} ")
        raise UsageError(message) from None
    print(f"wrote {path}")
    return 0


COMMANDS = {
    "train": _train,
    "evaluate": _evaluate,
    "translate": _translate,
    "sample": _sample,
    "generate": _generate,
    "export": _export,
}


def main(argv=None):
    """Run the CLI; returns the exit status (2 for a user mistake)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # --help (0) or an argparse usage error (2)
        return stop.code
    try:
        return COMMANDS[args.command](args)
    except UsageError as error:
        print(f"python -m zoo {args.command}: error: {error}", file=sys.stderr)
        return 2

"""Does pretraining help? The three-arm ablation of docs/zoo_bert.md.

    python -m zoo.experiments.bert_ablation --init workdirs/bert-mlm-cpu \\
        --seeds 0 1 2 --out workdirs/bert-ablation

trains, for every seed, the same classifier (architecture, vocabulary,
data, epochs, batch size, optimizer and validation-based epoch choice):

    scratch     random initialisation (the pretraining run's vocabulary
                and architecture, none of its weights)
    pretrained  encoder initialised from the masked-LM checkpoint
    probe       the pretrained encoder frozen; only the output layer on
                its sentence features (the config's `pooling`) learns
                (a linear probe)

and writes `<out>/ablation.json` (every run's metrics and a summary,
with the paired (b) - (a) gain, its 95% t-interval over the seeds and a
paired t-test) and `<out>/ablation.md` (the table). A run whose work
directory already holds metrics for the same config and seed is reused,
not retrained.
"""

import argparse
import dataclasses
import json
import pathlib
import statistics
import sys

from zoo.experiments.runs import mean_std
from zoo.experiments.runs import paired_gain
from zoo.experiments.runs import previous_metrics

ARMS = ("scratch", "pretrained", "probe")
ARM_TITLES = {
    "scratch": "(a) from scratch",
    "pretrained": "(b) from the MLM checkpoint",
    "probe": "(c) frozen encoder + linear probe",
}


def arm_config(base, arm, init, learning_rate=None):
    """The classifier `Config` of one arm (all share `base`'s budget).

    `learning_rate` (None: `base`'s) is the one thing an arm may change.
    """
    from zoo.bert_classifier import resolve

    config = resolve(dataclasses.replace(base, init=init))
    if arm == "scratch":
        config = dataclasses.replace(config, init="", vocabulary=init)
    elif arm == "probe":
        config = dataclasses.replace(config, freeze_encoder=True)
    elif arm != "pretrained":
        raise ValueError(f"`arm` must be one of {ARMS}. Received: arm={arm!r}")
    if learning_rate:
        config = dataclasses.replace(config, learning_rate=learning_rate)
    return config


def run(base, init, seeds, out, arms=ARMS, learning_rates=None):
    """Train (or reuse) every arm × seed; returns the results dict.

    `learning_rates` maps an arm to its learning rate (default: `base`'s).
    """
    import keras

    from zoo.bert_classifier import train
    from zoo.harness import RunOptions

    out = pathlib.Path(out)
    runs = []
    for arm in arms:
        rate = (learning_rates or {}).get(arm)
        config = arm_config(base, arm, init, rate)
        for seed in seeds:
            workdir = out / f"{arm}-seed{seed}"
            metrics = previous_metrics(workdir, config, seed)
            if metrics is None:
                print(f"== {arm}, seed {seed} -> {workdir}", flush=True)
                metrics = train(
                    config, workdir, RunOptions(seed=seed, verbose=0)
                )
                keras.backend.clear_session()
            runs.append(
                {
                    "arm": arm,
                    "seed": seed,
                    "learning_rate": config.learning_rate,
                    **metrics,
                }
            )
    results = {"init": str(init), "runs": runs, "summary": summarize(runs)}
    out.mkdir(parents=True, exist_ok=True)
    (out / "ablation.json").write_text(json.dumps(results, indent=2))
    (out / "ablation.md").write_text(markdown(results))
    return results


def summarize(runs):
    """Per arm: test accuracy mean/std/per seed; the paired (b) - (a)."""
    summary = {}
    for arm in ARMS:
        chosen = [r for r in runs if r["arm"] == arm]
        if not chosen:
            continue
        accuracy = [r["test_accuracy"] for r in chosen]
        mean, std = mean_std(accuracy)
        summary[arm] = {
            "seeds": [r["seed"] for r in chosen],
            "test_accuracy": accuracy,
            "mean": round(mean, 4),
            "std": round(std, 4),
            "validation_accuracy": [r["validation_accuracy"] for r in chosen],
            "best_epoch": [r["best_epoch"] for r in chosen],
            "train_seconds": [r["train_seconds"] for r in chosen],
            "trainable_parameters": chosen[0]["trainable_parameters"],
            "learning_rate": chosen[0]["learning_rate"],
        }
    if "scratch" in summary and "pretrained" in summary:
        a = dict(
            zip(
                summary["scratch"]["seeds"], summary["scratch"]["test_accuracy"]
            )
        )
        b = dict(
            zip(
                summary["pretrained"]["seeds"],
                summary["pretrained"]["test_accuracy"],
            )
        )
        gains = [b[s] - a[s] for s in sorted(set(a) & set(b))]
        summary["pretrained_minus_scratch"] = {
            **paired_gain(gains),
            "worst_pretrained_beats_best_scratch": min(b.values())
            > max(a.values()),
        }
    return summary


def markdown(results):
    """The results as a markdown table."""
    summary = results["summary"]
    lines = [
        "| arm | test accuracy, mean ± std | per seed | validation "
        "accuracy, mean | best epoch | learning rate | trainable params "
        "| train time per run |",
        "|---|---:|---|---:|---|---:|---:|---:|",
    ]
    for arm in ARMS:
        if arm not in summary:
            continue
        s = summary[arm]
        seeds = ", ".join(
            f"{seed}: {acc:.4f}"
            for seed, acc in zip(s["seeds"], s["test_accuracy"])
        )
        epochs = ", ".join(str(e) for e in s["best_epoch"])
        seconds = statistics.mean(s["train_seconds"])
        validation = statistics.mean(s["validation_accuracy"])
        lines.append(
            f"| {ARM_TITLES[arm]} | {s['mean']:.4f} ± {s['std']:.4f} | {seeds} "
            f"| {validation:.4f} | {epochs} | {s['learning_rate']:g} "
            f"| {s['trainable_parameters']:,} | {seconds:.0f} s |"
        )
    gain = summary.get("pretrained_minus_scratch")
    if gain:
        per_seed = ", ".join(f"{g:+.4f}" for g in gain["per_seed"])
        above = "yes" if gain["worst_pretrained_beats_best_scratch"] else "no"
        lines += [
            "",
            f"(b) − (a), paired by seed: {gain['mean']:+.4f} ± "
            f"{gain['std']:.4f} (per seed: {per_seed}); worst (b) above best "
            f"(a): {above}.",
        ]
        if gain["interval"]:
            low, high = gain["interval"]
            verdict = "yes" if gain["beyond_noise"] else "no"
            lines.append(
                f"{gain['confidence']:.0%} t-interval of the gain: "
                f"[{low:+.4f}, {high:+.4f}], paired t-test p = "
                f"{gain['p_value']:.2g}; beyond the noise (interval above "
                f"0): {verdict}."
            )
    return "\n".join(lines) + "\n"


def _arm_rate(text):
    arm, _, rate = text.partition("=")
    if arm not in ARMS:
        raise argparse.ArgumentTypeError(
            f"--learning-rate takes ARM=RATE with ARM in {ARMS}. "
            f"Received: {text!r}"
        )
    try:
        return arm, float(rate)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--learning-rate RATE must be a number. Received: {text!r}"
        ) from None


def main(argv=None):
    from zoo.bert_classifier import PRESETS
    from zoo.config_utils import UsageError
    from zoo.config_utils import parse_override
    from zoo.config_utils import replace_checked

    parser = argparse.ArgumentParser(
        prog="python -m zoo.experiments.bert_ablation",
        description="From scratch vs fine-tuned vs linear probe.",
    )
    parser.add_argument("--init", required=True, help="bert-mlm work directory")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--preset", default="cpu", choices=sorted(PRESETS))
    parser.add_argument("--out", default="workdirs/bert-ablation")
    parser.add_argument("--arms", nargs="+", default=list(ARMS), choices=ARMS)
    parser.add_argument(
        "--learning-rate",
        dest="learning_rates",
        action="append",
        default=[],
        type=_arm_rate,
        metavar="ARM=RATE",
        help="learning rate of one arm, e.g. probe=1e-3 (default: the "
        "preset's; repeatable)",
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        type=parse_override,
        metavar="FIELD=VALUE",
        help="override a classifier config field for every arm",
    )
    args = parser.parse_args(argv)
    try:
        base = replace_checked(PRESETS[args.preset], dict(args.overrides))
    except UsageError as error:
        parser.error(str(error))
    results = run(
        base,
        args.init,
        args.seeds,
        args.out,
        args.arms,
        dict(args.learning_rates),
    )
    print(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())

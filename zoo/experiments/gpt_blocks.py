"""Does the modern block beat GPT-2's at equal size? Experiment 1 of
docs/zoo_gpt.md.

    python -m zoo.experiments.gpt_blocks --seeds 0 1 2 \\
        --out workdirs/gpt-blocks

trains, for every seed, two language models on the same data, tokenizer,
steps, batch, context and optimizer:

    gpt2    learned positions, LayerNorm, GELU, multi-head attention
    modern  RoPE, RMSNorm, SwiGLU, grouped-query attention (2 key/value
            heads), no biases; its feed-forward width is chosen so that
            its parameter count is the nearest to gpt2's

and writes `<out>/blocks.json` (every run's metrics; per block the mean
and std of validation and test bits per character; the paired
modern - gpt2 difference per seed with its 95% t-interval) and
`<out>/blocks.md` (the table). A finished identical run is reused.
"""

import argparse
import dataclasses
import json
import pathlib
import sys

from zoo.experiments.runs import mean_std
from zoo.experiments.runs import paired_gain
from zoo.experiments.runs import previous_metrics

BLOCKS = ("gpt2", "modern")


def base_config(context_length=64, steps=600, preset="cpu", changes=()):
    """The shared budget: the preset's model with `changes` (`--set`
    pairs), `steps` in 3 epochs."""
    from zoo.config_utils import replace_checked
    from zoo.gpt import PRESETS

    if steps % 3:
        raise ValueError(f"`steps` must be a multiple of 3. Received: {steps}")
    if preset not in PRESETS:
        raise ValueError(
            f"`--preset` must be one of {sorted(PRESETS)}. Received: {preset!r}"
        )
    config = replace_checked(PRESETS[preset], dict(changes))
    return dataclasses.replace(
        config,
        context_length=context_length,
        steps_per_epoch=steps // 3,
        epochs=3,
    )


def add_budget_arguments(parser):
    """The flags both GPT experiments take for their shared budget."""
    from zoo.config_utils import parse_override

    parser.add_argument("--context-length", type=int, default=64)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--preset", default="cpu")
    parser.add_argument(
        "--set",
        dest="changes",
        action="append",
        type=parse_override,
        default=[],
        metavar="FIELD=VALUE",
        help="change a field of the preset (repeatable)",
    )


def budget_from(parser, args):
    """`base_config` from parsed flags; a bad flag exits with status 2."""
    from zoo.config_utils import UsageError

    try:
        return base_config(
            args.context_length, args.steps, args.preset, args.changes
        )
    except (UsageError, ValueError) as error:
        parser.exit(2, f"error: {error}\n")


def parameters(config):
    """The parameter count of `config`'s model (built, not trained)."""
    import keras

    from zoo.gpt.model import build

    count = build(config, config.vocabulary_size).count_params()
    keras.backend.clear_session()
    return int(count)


def block_configs(base, num_key_value_heads=2):
    """`{"gpt2": ..., "modern": ...}` at (nearly) equal parameter count.

    The modern block's feed-forward width (a multiple of 8) is the one
    whose model is nearest in size to the gpt2 model.
    """
    gpt2 = dataclasses.replace(base, architecture="gpt2")
    target = parameters(gpt2)
    modern = dataclasses.replace(
        base, architecture="modern", num_key_value_heads=num_key_value_heads
    )

    # The count is linear in the width: two builds give the line, then
    # the nearest multiples of 8 on either side of the solution are tried.
    def size(width):
        return parameters(dataclasses.replace(modern, intermediate_dim=width))

    low, high = 8, 8 + base.intermediate_dim
    slope = (size(high) - size(low)) / (high - low)
    solution = low + (target - size(low)) / slope
    candidates = {max(8, int(solution) // 8 * 8), int(solution) // 8 * 8 + 8}
    best = min((abs(size(w) - target), w) for w in candidates)
    best = (best[0], dataclasses.replace(modern, intermediate_dim=best[1]))
    return {"gpt2": gpt2, "modern": best[1]}


def run(base, seeds, out, jit_compile=True):
    """Train (or reuse) both blocks × every seed; returns the results."""
    import keras

    from zoo.gpt import train
    from zoo.harness import RunOptions

    out = pathlib.Path(out)
    configs = block_configs(base)
    runs = []
    for seed in seeds:
        for block in BLOCKS:
            config = configs[block]
            workdir = out / f"{block}-seed{seed}"
            metrics = previous_metrics(workdir, config, seed)
            if metrics is None:
                print(f"== {block}, seed {seed} -> {workdir}", flush=True)
                options = RunOptions(
                    seed=seed, verbose=0, jit_compile=jit_compile
                )
                metrics = train(config, workdir, options)
                keras.backend.clear_session()
            runs.append(
                {
                    "block": block,
                    "seed": seed,
                    "intermediate_dim": config.intermediate_dim,
                    **metrics,
                }
            )
    results = {
        "configs": {k: dataclasses.asdict(v) for k, v in configs.items()},
        "runs": runs,
        "summary": summarize(runs),
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "blocks.json").write_text(json.dumps(results, indent=2))
    (out / "blocks.md").write_text(markdown(results))
    return results


def summarize(runs):
    """Per block: bits per character mean/std; the paired difference."""
    summary = {}
    for block in BLOCKS:
        chosen = [r for r in runs if r["block"] == block]
        if not chosen:
            continue
        entry = {"seeds": [r["seed"] for r in chosen]}
        for split in ("validation", "test"):
            values = [r[split]["bits_per_character"] for r in chosen]
            mean, std = mean_std(values)
            entry[split] = {
                "per_seed": values,
                "mean": round(mean, 4),
                "std": round(std, 4),
            }
        entry["parameters"] = chosen[0]["parameters"]
        entry["intermediate_dim"] = chosen[0]["intermediate_dim"]
        entry["train_seconds"] = [r["train_seconds"] for r in chosen]
        summary[block] = entry
    if set(summary) == set(BLOCKS):
        by_seed = {
            block: {
                r["seed"]: r["validation"]["bits_per_character"]
                for r in runs
                if r["block"] == block
            }
            for block in BLOCKS
        }
        seeds = sorted(set(by_seed["gpt2"]) & set(by_seed["modern"]))
        # Positive = modern needs fewer bits (better).
        gains = [by_seed["gpt2"][s] - by_seed["modern"][s] for s in seeds]
        summary["gpt2_minus_modern_validation"] = paired_gain(gains)
    return summary


def markdown(results):
    """The results as a markdown table."""
    summary = results["summary"]
    lines = [
        "| block | parameters | feed-forward width | validation bits/char, "
        "mean ± std | per seed | test bits/char, mean ± std | train time "
        "per run |",
        "|---|---:|---:|---:|---|---:|---:|",
    ]
    for block in BLOCKS:
        if block not in summary:
            continue
        s = summary[block]
        per_seed = ", ".join(f"{v:.3f}" for v in s["validation"]["per_seed"])
        seconds = sum(s["train_seconds"]) / len(s["train_seconds"])
        lines.append(
            f"| {block} | {s['parameters']:,} | {s['intermediate_dim']} | "
            f"{s['validation']['mean']:.3f} ± {s['validation']['std']:.3f} | "
            f"{per_seed} | {s['test']['mean']:.3f} ± {s['test']['std']:.3f} "
            f"| {seconds:.0f} s |"
        )
    gain = summary.get("gpt2_minus_modern_validation")
    if gain:
        interval = gain["interval"]
        shown = (
            f"[{interval[0]:+.3f}, {interval[1]:+.3f}]" if interval else "n/a"
        )
        lines += [
            "",
            f"gpt2 − modern, validation bits/char, paired by seed: mean "
            f"{gain['mean']:+.3f}, 95% t-interval {shown} "
            f"({len(gain['per_seed'])} seeds; positive = modern better).",
        ]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m zoo.experiments.gpt_blocks", description=__doc__
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", required=True)
    add_budget_arguments(parser)
    args = parser.parse_args(argv)
    base = budget_from(parser, args)
    results = run(base, args.seeds, args.out)
    sys.stdout.write(markdown(results))


if __name__ == "__main__":
    main()

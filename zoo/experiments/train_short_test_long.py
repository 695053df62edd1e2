"""Train short, test long (Press et al. 2022 on our data): experiment 2 of
docs/zoo_gpt.md.

    python -m zoo.experiments.train_short_test_long \\
        --out workdirs/gpt-train-short

trains the `modern` block (RMSNorm, SwiGLU) at context T with each way of
giving it token order, then scores each on the validation novel cut
into windows of T, 2T and 4T tokens (bits per character; the windows do
not overlap, as in the paper, so longer windows give the average token
more context, which helps only a model that can use it):

    learned       a table of T rows: longer inputs are refused (the
                  library raises rather than clamp a position)
    sinusoidal    Vaswani et al.'s encodings added to the embeddings
    rope          rotary positions, evaluated as trained and with the
                  context extensions `linear` (position interpolation),
                  `dynamic` (NTK) and `yarn` at factor L / T, applied
                  only at evaluation (no fine-tuning)
    alibi         linear biases on the attention logits
    window        rope with a sliding window of T / 2 keys

and writes `<out>/train_short.json` and `<out>/train_short.md`. A
finished identical run is reused; evaluations are recomputed.
"""

import argparse
import dataclasses
import json
import pathlib
import sys

from zoo.experiments.gpt_blocks import add_budget_arguments
from zoo.experiments.gpt_blocks import budget_from
from zoo.experiments.runs import previous_metrics

ARMS = ("learned", "sinusoidal", "rope", "alibi", "window")
ROPE_EXTENSIONS = ("linear", "dynamic", "yarn")
MULTIPLES = (1, 2, 4)


def arm_config(base, arm):
    """The `modern` config of one arm, trained at `base.context_length`."""
    config = dataclasses.replace(base, architecture="modern")
    if arm == "window":
        return dataclasses.replace(
            config,
            positions="rope",
            sliding_window=max(1, base.context_length // 2),
        )
    if arm not in ARMS:
        raise ValueError(f"`arm` must be one of {ARMS}. Received: arm={arm!r}")
    return dataclasses.replace(config, positions=arm)


def evaluations(workdir, arm, context_length):
    """`[(row name, {multiple: bits/char or None})]` for one trained arm."""
    from zoo.gpt.train import score_at_length

    variants = [(arm, {})]
    if arm == "rope":
        variants += [
            (f"rope + {name}", {"rope_scaling": name})
            for name in ROPE_EXTENSIONS
        ]
    rows = []
    for name, scaling in variants:
        row = {}
        for multiple in MULTIPLES:
            length = multiple * context_length
            if arm == "learned" and multiple > 1:
                row[multiple] = None  # the table has T rows
                continue
            overrides = {}
            if scaling and multiple > 1:
                overrides = {**scaling, "rope_scaling_factor": float(multiple)}
            elif scaling:
                overrides = {}  # factor 1: plain RoPE, the same numbers
            result = score_at_length(workdir, length, **overrides)
            row[multiple] = result["bits_per_character"]
        rows.append((name, row))
    return rows


def run(base, out, seed=0, jit_compile=True):
    """Train (or reuse) every arm, then evaluate at T, 2T, 4T."""
    import keras

    from zoo.gpt import train
    from zoo.harness import RunOptions

    out = pathlib.Path(out)
    table = []
    trained = {}
    for arm in ARMS:
        config = arm_config(base, arm)
        workdir = out / arm
        metrics = previous_metrics(workdir, config, seed)
        if metrics is None:
            print(f"== {arm} -> {workdir}", flush=True)
            options = RunOptions(seed=seed, verbose=0, jit_compile=jit_compile)
            metrics = train(config, workdir, options)
            keras.backend.clear_session()
        trained[arm] = {
            "parameters": metrics["parameters"],
            "train_seconds": metrics["train_seconds"],
            "validation_bits_per_character": metrics["validation"][
                "bits_per_character"
            ],
        }
        for name, row in evaluations(workdir, arm, base.context_length):
            table.append({"row": name, "arm": arm, "bits_per_character": row})
            keras.backend.clear_session()
    results = {
        "config": dataclasses.asdict(base),
        "seed": seed,
        "context_length": base.context_length,
        "trained": trained,
        "table": table,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "train_short.json").write_text(json.dumps(results, indent=2))
    (out / "train_short.md").write_text(markdown(results))
    return results


def markdown(results):
    """The table: rows = positions, columns = evaluation lengths."""
    t = results["context_length"]
    head = " | ".join(
        f"L = {m * t}" + (" (= T)" if m == 1 else f" ({m}T)") for m in MULTIPLES
    )
    lines = [
        f"| positions | {head} | parameters | train time |",
        "|---|" + "---:|" * (len(MULTIPLES) + 2),
    ]
    for entry in results["table"]:
        row = entry["bits_per_character"]
        cells = " | ".join(
            "refused" if row[m] is None else f"{row[m]:.3f}" for m in MULTIPLES
        )
        info = results["trained"][entry["arm"]]
        lines.append(
            f"| {entry['row']} | {cells} | {info['parameters']:,} | "
            f"{info['train_seconds']:.0f} s |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m zoo.experiments.train_short_test_long",
        description=__doc__,
    )
    parser.add_argument("--out", required=True)
    parser.add_argument("--seed", type=int, default=0)
    add_budget_arguments(parser)
    args = parser.parse_args(argv)
    base = budget_from(parser, args)
    results = run(base, args.out, seed=args.seed)
    sys.stdout.write(markdown(results))


if __name__ == "__main__":
    main()

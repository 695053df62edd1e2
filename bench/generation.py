"""Generation speed of a GPT: our KV cache vs keras-hub's vs no cache.

Tokens/s for generating N new tokens (`--new-tokens`, 128) after a prompt
of P random ids (`--prompt-length`, 64), greedy, at each `--batch-sizes`
(1 32), for one model size (defaults: the `cpu` preset of `python -m zoo
train gpt`, gpt2 block: 4 layers, D 128, 4 heads, FFN 512, 4,096 ids,
tied output; the position table P + N long), random weights, float32:

  * keras_attn - ours: `zoo.gpt.decode.decode_fn`, the prompt prefilled
                 in one call, then one KV-cached step per token inside
                 `keras_attn.generation.greedy_search`, XLA
                 (`jit_compile=True`);
  * keras_hub  - `keras_hub.models.GPT2CausalLM` on a `GPT2Backbone` of
                 the same sizes (random weights, no download, dropout 0),
                 its own `generate_step` (cache built over the whole
                 padded P + N sequence, then `GreedySampler`), XLA, with
                 `stop_token_ids=None` so it always runs N steps;
  * full       - our model re-run on the whole prefix for every token, no
                 cache (`tf.function`, not XLA: the prefix grows, so every
                 step has another shape).

Before timing, two token checks (exit status 1 if either fails): our
cached greedy tokens equal the argmax of the full re-run (`full`), and
keras-hub's cached tokens equal the argmax of its own uncached,
teacher-forced pass, so its cache is driven correctly.

Method: every configuration runs once to trace and compile (excluded),
then `--repeats` rounds each run every configuration once, in an order
rotated every round; medians reported, tokens/s = B * N / latency.

Run:  python -m bench.generation [--batch-sizes 1 32] [--repeats 5]
          [--out FILE]        (--smoke: toy sizes, seconds; for tests)
"""

import argparse
import dataclasses
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import keras_hub  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from bench import timing  # noqa: E402
from bench.decoding import machine_info  # noqa: E402
from keras_attn import generation  # noqa: E402
from zoo.gpt import PRESETS  # noqa: E402
from zoo.gpt.decode import decode_fn  # noqa: E402
from zoo.gpt.model import build  # noqa: E402

IMPLS = ("keras_attn", "keras_hub", "full")
CHECK_BATCH = 2
SMOKE = {
    "num_layers": 1,
    "num_heads": 2,
    "model_dim": 16,
    "intermediate_dim": 32,
    "vocabulary_size": 300,
    "prompt_length": 5,
    "new_tokens": 4,
    "batch_sizes": [2],
    "repeats": 1,
}


def build_models(args):
    """`(ours, hub)`: the same sizes, random weights, float32."""
    length = args.prompt_length + args.new_tokens
    config = dataclasses.replace(
        PRESETS["cpu"],
        vocabulary_size=args.vocabulary_size,
        context_length=length,
        num_layers=args.num_layers,
        num_heads=args.num_heads,
        model_dim=args.model_dim,
        intermediate_dim=args.intermediate_dim,
    )
    keras.utils.set_random_seed(0)
    ours = build(config, args.vocabulary_size)
    backbone = keras_hub.models.GPT2Backbone(
        vocabulary_size=args.vocabulary_size,
        num_layers=args.num_layers,
        num_heads=args.num_heads,
        hidden_dim=args.model_dim,
        intermediate_dim=args.intermediate_dim,
        dropout=0.0,
        max_sequence_length=length,
    )
    hub = keras_hub.models.GPT2CausalLM(backbone=backbone, preprocessor=None)
    hub.compile(sampler="greedy")
    return ours, hub


def hub_generate_fn(hub):
    """`f(inputs dict) -> token_ids (B, P + N)`, XLA-compiled."""

    def generate(inputs):
        return hub.generate_step(inputs, stop_token_ids=None)["token_ids"]

    return tf.function(generate, jit_compile=True)


def hub_inputs(prompt, new_tokens):
    """keras-hub's generate input: the prompt, then N slots to fill."""
    batch, length = prompt.shape
    ids = np.concatenate([prompt, np.zeros((batch, new_tokens), "int32")], 1)
    mask = np.arange(length + new_tokens)[None] < length  # (1, P + N)
    return {
        "token_ids": tf.constant(ids),
        "padding_mask": tf.constant(np.repeat(mask, batch, 0)),
    }


def full_rerun_fn(model, new_tokens):
    """`f(prompt (B, P)) -> (B, N)`: greedy, the whole model re-run on the
    prefix for every token (no cache; dynamic shapes, so no XLA)."""

    def run(prompt):
        batch, length = prompt.shape
        total = length + new_tokens
        prefix = tf.concat([prompt, tf.zeros([batch, new_tokens], "int32")], 1)

        def prefill(prompt, prefix):
            return model(prompt, training=False)[:, -1], prefix

        def step(tokens, prefix, index):
            at = tf.range(total) == index  # (P + N,)
            prefix = tf.where(at[None], tokens[:, None], prefix)
            logits = model(prefix[:, : index + 1], training=False)
            return logits[:, -1], prefix  # (B, V)

        tokens, _ = generation.greedy_search(
            step, prefix, new_tokens, prompt=prompt, prefill_fn=prefill
        )
        return tokens

    return tf.function(run)


def prompts(batch, args, seed=0):
    rng = np.random.default_rng(seed)
    shape = (batch, args.prompt_length)
    return rng.integers(4, args.vocabulary_size, shape).astype("int32")


def generators(ours, hub, args):
    """`{impl: f(prompt (B, P) numpy) -> (B, N) numpy}`."""
    cached = decode_fn(ours, args.new_tokens, jit_compile=True)
    full = full_rerun_fn(ours, args.new_tokens)
    hub_fn = hub_generate_fn(hub)
    return {
        "keras_attn": lambda p: cached(tf.constant(p)).numpy(),
        "keras_hub": lambda p: hub_fn(hub_inputs(p, args.new_tokens)).numpy()[
            :, args.prompt_length :
        ],
        "full": lambda p: full(tf.constant(p)).numpy(),
    }


def check_tokens(ours, hub, fns, args):
    """The two token checks of the docstring: `{name: bool}`."""
    prompt = prompts(CHECK_BATCH, args, seed=1)
    cached, full = fns["keras_attn"](prompt), fns["full"](prompt)
    hub_new = fns["keras_hub"](prompt)
    sequence = np.concatenate([prompt, hub_new], 1)[:, :-1]
    teacher = hub(
        {"token_ids": sequence, "padding_mask": np.ones_like(sequence, bool)}
    )
    teacher = np.asarray(teacher).argmax(-1)[:, args.prompt_length - 1 :]
    shape = (CHECK_BATCH, args.new_tokens)
    return {
        "keras_attn_cached_equals_full_rerun": bool(
            cached.shape == shape and np.array_equal(cached, full)
        ),
        "keras_hub_cached_equals_teacher_forced": bool(
            hub_new.shape == shape and np.array_equal(hub_new, teacher)
        ),
    }


def time_generators(fns, args):
    """Warm up every (batch, impl), then interleaved, rotated repeats."""
    inputs = {b: prompts(b, args) for b in args.batch_sizes}

    def call(b, impl):
        def run():
            out = fns[impl](inputs[b])
            assert out.shape == (b, args.new_tokens), (impl, out.shape)

        return run

    calls = {
        (b, impl): call(b, impl)
        for b in args.batch_sizes
        for impl in args.impls
    }
    _, warmup, samples = timing.interleaved(calls, args.repeats)
    return [
        {
            "batch": b,
            "impl": impl,
            "xla": impl != "full",
            "warmup_s": round(warmup[(b, impl)], 2),
            **timing.latency(samples[(b, impl)], b * args.new_tokens),
        }
        for b, impl in calls
    ]


def ratios(rows):
    """Ours vs keras-hub and vs the full re-run, per batch size."""
    out = []
    for b in dict.fromkeys(r["batch"] for r in rows):
        ms = {r["impl"]: r["latency_ms"] for r in rows if r["batch"] == b}
        ours = ms.get("keras_attn")
        out.append(
            {
                "batch": b,
                **{
                    f"speedup_vs_{impl}": round(ms[impl] / ours, 2)
                    if ours and impl in ms
                    else None
                    for impl in ("keras_hub", "full")
                },
            }
        )
    return out


def markdown(rows, summary, args):
    lines = [
        f"P = {args.prompt_length} prompt tokens, N = {args.new_tokens} new "
        f"tokens, greedy; median of {args.repeats}",
        "",
        "| batch | impl | XLA | latency ms | tokens/s | spread |",
        "|---:|---|---|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['batch']} | {r['impl']} | {'yes' if r['xla'] else 'no'} "
            f"| {r['latency_ms']} | {r['tokens_per_s']} | {r['spread']} |"
        )
    lines += [
        "",
        "| batch | keras_attn vs keras_hub | keras_attn vs full |",
        "|---:|---:|---:|",
    ]
    for s in summary:
        lines.append(
            f"| {s['batch']} | {s['speedup_vs_keras_hub']}x "
            f"| {s['speedup_vs_full']}x |"
        )
    return "\n".join(lines)


def parse_args(argv=None):
    cpu = PRESETS["cpu"]
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prompt-length", type=int, default=64)
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--impls", nargs="+", choices=IMPLS, default=IMPLS)
    parser.add_argument("--num-layers", type=int, default=cpu.num_layers)
    parser.add_argument("--num-heads", type=int, default=cpu.num_heads)
    parser.add_argument("--model-dim", type=int, default=cpu.model_dim)
    parser.add_argument(
        "--intermediate-dim", type=int, default=cpu.intermediate_dim
    )
    parser.add_argument(
        "--vocabulary-size", type=int, default=cpu.vocabulary_size
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--smoke", action="store_true", help="toy sizes")
    parser.add_argument("--out", help="write the results as JSON here")
    args = parser.parse_args(argv)
    if args.smoke:
        for name, value in SMOKE.items():
            setattr(args, name, value)
    return args


def main(argv=None):
    args = parse_args(argv)
    tf.get_logger().setLevel("ERROR")
    ours, hub = build_models(args)
    fns = generators(ours, hub, args)
    check = check_tokens(ours, hub, fns, args)
    print("token checks:", json.dumps(check), flush=True)
    if not all(check.values()):
        print("token check failed: not timing", file=sys.stderr)
        sys.exit(1)
    rows = time_generators(fns, args)
    summary = ratios(rows)
    print()
    print(markdown(rows, summary, args))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(
                {
                    "args": vars(args),
                    "machine": machine_info(),
                    "parameters": {
                        "keras_attn": int(ours.count_params()),
                        "keras_hub": int(hub.count_params()),
                    },
                    "token_checks": check,
                    "rows": rows,
                    "ratios": summary,
                },
                f,
                indent=1,
            )
    return rows, summary


if __name__ == "__main__":
    main()

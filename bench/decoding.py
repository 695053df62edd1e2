"""Decoding speed of an encoder-decoder Transformer, three implementations.

Tokens/s and latency for generating N new tokens (`--new-tokens`, 64) per
sentence from a source of S random non-zero ids (`--source-length`, 16),
greedy and beam search (`--beam-size`, 4), at each `--batch-sizes` (1 32),
for one model size in all three (defaults: the translator's `cpu` preset,
d_model 192, 3+3 post-norm layers, 4 heads, FFN 768, one shared 8000-id
vocabulary, tied output), random weights, float32, inference mode:
  * full       - the tutorials' decoding: the whole model, encoder included,
                 re-run on the source and the prefix at every step
                 (`zoo.transformer_translator.decode.uncached_decode_fn` on
                 our model; dynamic shapes, so `tf.function` without XLA);
  * keras_hub  - `keras_hub.layers.TokenAndPositionEmbedding` (shared,
                 tied via `token_embedding(h, reverse=True)`),
                 `TransformerEncoder` and `TransformerDecoder` with
                 cross-attention, decoded as keras-hub's BART / T5
                 `generate_step` does: encoder once, one cached pass on the
                 start token fills every layer's `cross_attention_cache`
                 (`cross_attention_cache_update_index=0`), then
                 `GreedySampler()` / `BeamSampler(num_beams=K)` drive
                 `next(prompt, cache, index)`, which runs one token with
                 `self_attention_cache_update_index=index - 1` and the
                 cross cache read-only (update index None);
  * keras_attn - ours, `TransformerTranslator` decoded by
                 `zoo.transformer_translator.decode.cached_decode_fn`
                 (KV cache; the search loops are `keras_attn.generation`'s
                 `greedy_search` / `beam_search`, as for `full`).
keras_hub and keras_attn are timed under `tf.function` with and without
`jit_compile=True` (a variant that fails to compile is reported "n/a").

Same number of tokens: ours runs `max_length = N` steps from [START]
(`end_id=-1`: never stops early) and returns (B, N) tokens; the full model
runs the same search loops; keras-hub's samplers fill a prompt of length
N + 1 ([START] then N slots) from `index=1`, with `stop_token_ids=None`,
i.e. N steps. tokens/s = B * N / latency (for beam search the B returned
sequences, not the B * K beams).

Fairness: keras-hub's `BeamSampler` has no length penalty and no
per-hypothesis end-of-sequence handling; ours applies the GNMT length
penalty (alpha 0.6) and tracks finished hypotheses every step, a little
extra work for ours. keras-hub is given its cheapest form: per-layer caches
in a tuple (BART stacks them into one tensor, a copy per step), a 1-token
seeding pass (BART runs the decoder over the whole prompt), and the static
encoder output / cross caches repeated once to the B * K beam rows and
closed over (BART carries them in the sampler's cache, which `BeamSampler`
re-gathers every step). Its self-attention cache has N + 1 slots, ours N.
Ours uses sinusoidal positions and scales embeddings, keras-hub's are
learned; both negligible next to the matmuls.

Before timing, two token checks (exit status 1 if either fails): full and
keras_attn greedy decoding of the same model give identical tokens at
batch 4; keras-hub's cached greedy tokens are the argmax of its own
teacher-forced (uncached) pass, so its caches are driven correctly.

Method: everything is built, then each configuration is run once to trace
and compile (excluded); then `--repeats` rounds, each running every
configuration once, in an order rotated every round; medians reported.

Run:  taskset -c 0 python bench/decoding.py [--batch-sizes 1 32]
          [--new-tokens 64] [--repeats 5] [--out FILE]
"""

import argparse
import dataclasses
import json
import os
import platform
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import keras_hub  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras import ops  # noqa: E402

from bench import timing  # noqa: E402
from zoo.data import START_ID  # noqa: E402
from zoo.transformer_translator import PRESETS  # noqa: E402
from zoo.transformer_translator.decode import cached_decode_fn  # noqa: E402
from zoo.transformer_translator.decode import uncached_decode_fn  # noqa: E402
from zoo.transformer_translator.model import build  # noqa: E402

IMPLS = ("full", "keras_hub", "keras_attn")
CHECK_BATCH = 4


class HubTranslator(keras.Model):
    """The same encoder-decoder from keras-hub layers (post-norm, ReLU)."""

    def __init__(self, config, vocabulary_size, sequence_length, **kwargs):
        super().__init__(**kwargs)
        self.num_heads = config.num_heads
        self.head_dim = config.model_dim // config.num_heads
        self.embedding = keras_hub.layers.TokenAndPositionEmbedding(
            vocabulary_size, sequence_length, config.model_dim, name="emb"
        )
        block = {
            "intermediate_dim": config.intermediate_dim,
            "num_heads": config.num_heads,
            "dropout": config.dropout,
        }
        self.encoder_layers = [
            keras_hub.layers.TransformerEncoder(**block, name=f"enc_{i}")
            for i in range(config.num_layers)
        ]
        self.decoder_layers = [
            keras_hub.layers.TransformerDecoder(**block, name=f"dec_{i}")
            for i in range(config.num_layers)
        ]

    def encode(self, source_ids, source_mask):
        x = self.embedding(source_ids)  # (B, S, D)
        for layer in self.encoder_layers:
            x = layer(x, padding_mask=source_mask, training=False)
        return x

    def call(self, inputs):
        """Teacher-forced, uncached: logits (B, T, V)."""
        source_ids, target_ids = inputs
        source_mask = ops.not_equal(source_ids, 0)
        memory = self.encode(source_ids, source_mask)
        y = self.embedding(target_ids)  # (B, T, D)
        for layer in self.decoder_layers:
            y = layer(
                y, memory, encoder_padding_mask=source_mask, training=False
            )
        return self.embedding.token_embedding(y, reverse=True)

    def empty_caches(self, batch, length):
        shape = (batch, 2, length, self.num_heads, self.head_dim)
        return tuple(ops.zeros(shape) for _ in self.decoder_layers)

    def call_with_cache(
        self, token_ids, memory, source_mask, self_caches, index, cross_caches
    ):
        """`token_ids (N, T)` at positions `index..`; with `cross_caches`
        None the cross caches are computed (and returned), else read."""
        update = 0 if cross_caches is None else None
        if cross_caches is None:
            cross_caches = self.empty_caches(*ops.shape(memory)[:2])
        y = self.embedding(token_ids, start_index=index)  # (N, T, D)
        new_self, new_cross = [], []
        for layer, self_cache, cross_cache in zip(
            self.decoder_layers, self_caches, cross_caches
        ):
            y, self_cache, cross_cache = layer(
                y,
                memory,
                encoder_padding_mask=source_mask,
                self_attention_cache=self_cache,
                self_attention_cache_update_index=index,
                cross_attention_cache=cross_cache,
                cross_attention_cache_update_index=update,
                training=False,
            )
            new_self.append(self_cache)
            new_cross.append(cross_cache)
        logits = self.embedding.token_embedding(y, reverse=True)  # (N, T, V)
        return logits, tuple(new_self), tuple(new_cross)


def hub_generate_fn(model, new_tokens, beam_size):
    """`f(source_ids (B, S)) -> (B, 1 + new_tokens)`: [START] + tokens."""
    if beam_size == 1:
        sampler = keras_hub.samplers.GreedySampler()
    else:
        sampler = keras_hub.samplers.BeamSampler(num_beams=beam_size)

    def generate(source_ids):
        batch = ops.shape(source_ids)[0]
        source_mask = ops.not_equal(source_ids, 0)
        memory = model.encode(source_ids, source_mask)  # (B, S, D)
        prompt = ops.concatenate(
            [
                ops.full((batch, 1), START_ID, "int32"),
                ops.zeros((batch, new_tokens), "int32"),
            ],
            axis=1,
        )  # (B, 1 + N)
        _, self_caches, cross_caches = model.call_with_cache(
            prompt[:, :1],
            memory,
            source_mask,
            model.empty_caches(batch, 1 + new_tokens),
            0,
            None,
        )
        static = (memory, source_mask, cross_caches)
        if beam_size > 1:  # BeamSampler's row order: b * K + k
            static = tf.nest.map_structure(
                lambda t: ops.repeat(t, beam_size, axis=0), static
            )
        memory, source_mask, cross_caches = static

        def next_fn(prompt, cache, index):
            rows = ops.shape(prompt)[0]
            token = ops.slice(prompt, [0, index - 1], [rows, 1])  # (N, 1)
            logits, cache, _ = model.call_with_cache(
                token, memory, source_mask, cache, index - 1, cross_caches
            )
            return ops.squeeze(logits, 1), None, cache

        return sampler(
            next=next_fn,
            prompt=prompt,
            cache=self_caches,
            index=1,
            stop_token_ids=None,
        )

    return generate


def build_models(args):
    """`(ours, hub)`: the two models, random weights, float32."""
    config = dataclasses.replace(
        PRESETS["cpu"],
        source_vocabulary_size=args.vocabulary_size,
        model_dim=args.model_dim,
        num_layers=args.num_layers,
        num_heads=args.num_heads,
        intermediate_dim=args.intermediate_dim,
        max_length=max(args.new_tokens, args.source_length),
    )
    keras.utils.set_random_seed(0)
    ours = build(config, args.vocabulary_size, args.vocabulary_size)
    hub = HubTranslator(
        config,
        args.vocabulary_size,
        max(args.new_tokens + 1, args.source_length),
    )
    dummy = np.ones((1, 2), "int32")
    hub((dummy, dummy))
    return ours, hub


def decoders(ours, hub, args):
    """`{(impl, jit_compile, decoder): tf.function}`."""

    def make(impl, k):
        if impl == "keras_hub":
            return hub_generate_fn(hub, args.new_tokens, k)
        make_ours = uncached_decode_fn if impl == "full" else cached_decode_fn
        return make_ours(ours, args.new_tokens, k, args.alpha, end_id=-1)

    beams = {"greedy": 1, "beam": args.beam_size}
    return {
        (impl, jit, name): tf.function(make(impl, beams[name]), jit_compile=jit)
        for name in args.decoders
        for impl in args.impls
        for jit in (args.jit if impl != "full" else [False])
    }


def source_ids(batch, args, seed=0):
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, args.vocabulary_size, (batch, args.source_length))
    return tf.constant(ids, tf.int32)


def check_tokens(ours, hub, args):
    """The two token checks of the docstring: `{name: bool}`."""
    source = source_ids(CHECK_BATCH, args, seed=1)
    greedy = {}
    for impl, make in (
        ("full", uncached_decode_fn),
        ("keras_attn", cached_decode_fn),
    ):
        fn = tf.function(make(ours, args.new_tokens, 1, end_id=-1))
        greedy[impl] = fn(source)[0].numpy()  # (B, N)
    hub_tokens = tf.function(hub_generate_fn(hub, args.new_tokens, 1))(source)
    hub_tokens = hub_tokens.numpy()  # (B, 1 + N)
    teacher = hub((source, hub_tokens[:, :-1])).numpy().argmax(-1)
    expected = (CHECK_BATCH, args.new_tokens)
    return {
        "full_equals_keras_attn_greedy": bool(
            greedy["full"].shape == expected
            and np.array_equal(greedy["full"], greedy["keras_attn"])
        ),
        "keras_hub_cached_equals_teacher_forced": bool(
            hub_tokens.shape == (CHECK_BATCH, 1 + args.new_tokens)
            and np.all(hub_tokens[:, 0] == START_ID)
            and np.array_equal(teacher, hub_tokens[:, 1:])
        ),
    }


def _call(fn, source):
    """Runs `fn` to completion; returns the number of new tokens per row."""
    out = fn(source)
    if isinstance(out, tuple):  # ours: (tokens (B, N), scores (B,))
        return out[0].numpy().shape[1]
    return out.numpy().shape[1] - 1  # keras-hub: [START] + N tokens


def time_decoders(fns, args):
    """Warm up every (batch, configuration), then interleaved repeats."""
    sources = {b: source_ids(b, args) for b in args.batch_sizes}
    generated = {}

    def call(b, key):
        def run():
            generated[(b, key)] = _call(fns[key], sources[b])

        return run

    calls = {(b, key): call(b, key) for b in args.batch_sizes for key in fns}
    status, warmup, samples = timing.interleaved(
        calls, args.repeats, tolerate_errors=True
    )
    rows = []
    for b, (impl, jit, decoder) in calls:
        c = (b, (impl, jit, decoder))
        row = {
            "batch": b,
            "decoder": decoder,
            "impl": impl,
            "jit_compile": jit,
            "status": status[c],
            "new_tokens": generated.get(c),
            "warmup_s": round(warmup[c], 2),
            "latency_ms": None,
            "tokens_per_s": None,
            "spread": None,
        }
        if status[c] == "ok":
            row.update(timing.latency(samples[c], b * args.new_tokens))
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def ratios(rows):
    """Ours (best of XLA / not) vs full and vs keras-hub's best."""

    def best(b, decoder, impl):
        times = [
            r["latency_ms"]
            for r in rows
            if (r["batch"], r["decoder"], r["impl"]) == (b, decoder, impl)
            and r["latency_ms"] is not None
        ]
        return min(times) if times else None

    out = []
    for b, decoder in dict.fromkeys((r["batch"], r["decoder"]) for r in rows):
        ms = {impl: best(b, decoder, impl) for impl in IMPLS}
        ours = ms["keras_attn"]
        out.append(
            {
                "batch": b,
                "decoder": decoder,
                **{f"{impl}_best_ms": ms[impl] for impl in IMPLS},
                **{
                    f"speedup_vs_{impl}": (
                        round(ms[impl] / ours, 2) if ours and ms[impl] else None
                    )
                    for impl in ("full", "keras_hub")
                },
            }
        )
    return out


def machine_info():
    model = platform.processor()
    try:
        lscpu = subprocess.run(
            ["lscpu"], capture_output=True, text=True, check=False
        ).stdout
        for line in lscpu.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    return {
        "platform": platform.platform(),
        "processor": model,
        "cpus": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "gpus": [d.name for d in tf.config.list_physical_devices("GPU")],
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "keras_hub": keras_hub.__version__,
    }


def markdown(rows, summary, args):
    def cell(x):
        return "-" if x is None else str(x)

    lines = [
        f"N = {args.new_tokens} new tokens, beam = {args.beam_size}",
        "",
        "| batch | decoder | impl | XLA | latency ms | tokens/s | spread |",
        "|---:|---|---|---|---:|---:|---:|",
    ]
    for r in rows:
        latency = cell(r["latency_ms"]) if r["status"] == "ok" else r["status"]
        lines.append(
            f"| {r['batch']} | {r['decoder']} | {r['impl']} |"
            f" {'yes' if r['jit_compile'] else 'no'} | {latency} |"
            f" {cell(r['tokens_per_s'])} | {cell(r['spread'])} |"
        )
    lines += [
        "",
        "| batch | decoder | ours (best) ms | vs full | vs keras_hub (best) |",
        "|---:|---|---:|---:|---:|",
    ]
    for s in summary:
        lines.append(
            f"| {s['batch']} | {s['decoder']} | {cell(s['keras_attn_best_ms'])}"
            f" | {cell(s['speedup_vs_full'])}x"
            f" | {cell(s['speedup_vs_keras_hub'])}x |"
        )
    return "\n".join(lines)


def parse_args(argv=None):
    cpu = PRESETS["cpu"]
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--beam-size", type=int, default=4)
    parser.add_argument("--alpha", type=float, default=cpu.length_penalty)
    parser.add_argument(
        "--decoders", nargs="+", choices=["greedy", "beam"],
        default=["greedy", "beam"],
    )  # fmt: skip
    parser.add_argument("--impls", nargs="+", choices=IMPLS, default=IMPLS)
    parser.add_argument("--jit", choices=["both", "on", "off"], default="both")
    parser.add_argument("--model-dim", type=int, default=cpu.model_dim)
    parser.add_argument("--num-layers", type=int, default=cpu.num_layers)
    parser.add_argument("--num-heads", type=int, default=cpu.num_heads)
    parser.add_argument(
        "--intermediate-dim", type=int, default=cpu.intermediate_dim
    )
    parser.add_argument(
        "--vocabulary-size", type=int, default=cpu.source_vocabulary_size
    )
    parser.add_argument("--source-length", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", help="write the results as JSON here")
    args = parser.parse_args(argv)
    args.jit = {"both": [False, True], "on": [True], "off": [False]}[args.jit]
    return args


def main(argv=None):
    args = parse_args(argv)
    tf.get_logger().setLevel("ERROR")  # one retracing warning per config
    ours, hub = build_models(args)
    check = check_tokens(ours, hub, args)
    print("token checks:", json.dumps(check), flush=True)
    if not all(check.values()):
        print("token check failed: not timing", file=sys.stderr)
        sys.exit(1)
    rows = time_decoders(decoders(ours, hub, args), args)
    summary = ratios(rows)
    print()
    print(markdown(rows, summary, args))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(
                {
                    "args": vars(args),
                    "machine": machine_info(),
                    "token_checks": check,
                    "rows": rows,
                    "ratios": summary,
                },
                f,
                indent=1,
            )


if __name__ == "__main__":
    main()

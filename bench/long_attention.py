"""Long causal self-attention: time and peak memory, chunked vs dense.

Forward + backward of causal self-attention, B 1, 8 heads x 64, float32,
at each `--lengths` T, one configuration per child process (so each peak
is that configuration's own), for the implementations (`--impls`):
  * chunked    - `keras_attn.ops.memory_efficient.memory_efficient_attention`
                 (causal=True) on q, k, v of shape (1, 8, T, 64); gradients
                 of q, k, v;
  * dense      - `keras_attn.ops.scaled_dot_product_attention` with
                 `keras_attn.ops.causal_mask(T)`, same tensors and gradients;
  * keras_mha  - `keras.layers.MultiHeadAttention(num_heads=8, key_dim=64)`
                 on x of shape (1, T, 512), `use_causal_mask=True`:
                 projections + attention, gradients of x and the weights;
  * chunked_noskip - chunked with causal=False and the causal mask passed
                 as a (T, T) `mask`: the same result, but every key block
                 is visited (no skipping of future blocks), to measure what
                 the skipping saves;
  * chunked_mha / dense_mha - the same four projections as keras_mha
                 (EinsumDense, 512 -> 8 x 64 and back) around chunked /
                 dense, gradients of x and the weights: the like-for-like
                 comparison with keras_mha.
One warm-up step (it includes tracing and compilation, reported as
`first_s`), then the median of `--repeats` timed steps. TensorFlow runs
under `tf.function` (`--jit-compile` for XLA), JAX under `jax.jit`.

Peak memory is the child's `ru_maxrss` (peak resident set size over its
life, compilation included), also given above the child's RSS after
imports and input creation (`baseline`), i.e. what the step and its
compilation added; `steps_peak` is the peak RSS during the timed steps
only (VmHWM, reset after the warm-up step via /proc/self/clear_refs).
The parent polls each child's RSS and kills it beyond
`--memory-limit-gib` (recorded as "oom"), or after `--timeout` seconds
("timeout"); a configuration whose (T, T) tensors obviously cannot fit
is not started ("skipped: needs ~N GiB"). Results go to `--out` (JSON)
and a Markdown table on stdout.

Run:  python bench/long_attention.py --backend jax --lengths 512 1024
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HEADS, DEPTH = 8, 64
IMPLS = (
    "chunked",
    "dense",
    "keras_mha",
    "chunked_noskip",
    "chunked_mha",
    "dense_mha",
)
# (T, T) float32 tensors alive at once in a dense forward + backward
# (logits, weights, their gradients, the broadcast mask, temporaries);
# measured peaks are 4-5 per head at T = 4k, so 6 is a safe estimate.
DENSE_TT_TENSORS = 6


def status_kib(field, pid="self"):
    """A memory field of /proc/PID/status (VmRSS, VmHWM), in KiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def rss_kib(pid="self"):
    return status_kib("VmRSS", pid)


def reset_peak():
    """Reset this process's peak RSS (VmHWM) to its current RSS (Linux)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def build_step(impl, length, args):
    """A compiled forward + backward step and its inputs (in the child)."""
    import keras
    import numpy as np
    from keras import ops

    from keras_attn.ops import causal_mask
    from keras_attn.ops import scaled_dot_product_attention
    from keras_attn.ops.memory_efficient import memory_efficient_attention

    def chunked(q, k, v):
        return memory_efficient_attention(
            q,
            k,
            v,
            causal=True,
            query_chunk_size=args.query_chunk,
            key_chunk_size=args.key_chunk,
        )

    def chunked_noskip(q, k, v):
        return memory_efficient_attention(
            q,
            k,
            v,
            mask=causal_mask(length),
            query_chunk_size=args.query_chunk,
            key_chunk_size=args.key_chunk,
        )

    def dense(q, k, v):
        mask = causal_mask(length)  # (T, T) boolean
        return scaled_dot_product_attention(q, k, v, mask=mask)

    rng = np.random.default_rng(0)
    backend = keras.config.backend()
    if impl in ("chunked", "dense", "chunked_noskip"):
        fn = {"chunked": chunked, "dense": dense}.get(impl, chunked_noskip)
        inputs = [
            ops.convert_to_tensor(
                rng.normal(size=(1, HEADS, length, DEPTH)).astype("float32")
            )
            for _ in range(3)
        ]
        weights = []

        def loss(weight_values, q, k, v):
            return ops.mean(ops.square(fn(q, k, v)))

    else:
        x = rng.normal(size=(1, length, HEADS * DEPTH)).astype("float32")
        inputs = [ops.convert_to_tensor(x)]
        if impl == "keras_mha":
            layer = keras.layers.MultiHeadAttention(HEADS, DEPTH)
            layer(inputs[0][:, :8], inputs[0][:, :8], use_causal_mask=True)

            def apply(x):
                return layer(x, x, use_causal_mask=True)

        else:
            core = chunked if impl == "chunked_mha" else dense
            dense_qkv = [
                keras.layers.EinsumDense(
                    "btd,dnh->bnth", (HEADS, None, DEPTH), bias_axes="nh"
                )
                for _ in range(3)
            ]
            out_proj = keras.layers.EinsumDense(
                "bnth,nhd->btd", (None, HEADS * DEPTH), bias_axes="d"
            )
            layers = [*dense_qkv, out_proj]
            for p in dense_qkv:
                p.build((1, None, HEADS * DEPTH))
            out_proj.build((1, HEADS, None, DEPTH))
            layer = layers

            def apply(x):
                q, k, v = (p(x) for p in dense_qkv)  # (B, N, T, H)
                return out_proj(core(q, k, v))

        weights = (
            layer.trainable_weights
            if impl == "keras_mha"
            else [w for p in layer for w in p.trainable_weights]
        )

        def loss(weight_values, x):
            return ops.mean(ops.square(apply(x)))

    if backend == "jax":
        import jax

        if weights:
            # Stateless call: the weights are traced arguments.
            def jax_loss(values, *xs):
                mapping = list(zip(weights, values))
                with keras.StatelessScope(state_mapping=mapping):
                    return loss(values, *xs)

            grad = jax.jit(jax.grad(jax_loss, argnums=(0, 1)))
            values = [w.value for w in weights]
            return (lambda: grad(values, *inputs)), inputs
        grad = jax.jit(jax.grad(lambda *xs: loss(None, *xs), argnums=(0, 1, 2)))
        return (lambda: grad(*inputs)), inputs
    import tensorflow as tf

    @tf.function(jit_compile=args.jit_compile)
    def step(*xs):
        with tf.GradientTape() as tape:
            tape.watch(xs)
            value = loss(None, *xs)
        return tape.gradient(value, [*xs, *weights])

    return (lambda: step(*inputs)), inputs


def run_child(args):
    import resource

    import keras
    from keras import ops

    step, inputs = build_step(args.impl, args.length, args)
    baseline = rss_kib()

    def block(out):
        for x in keras.tree.flatten(out):
            ops.convert_to_numpy(ops.sum(x))

    t = time.perf_counter()
    block(step())
    first = time.perf_counter() - t
    reset_peak()  # so VmHWM below is the timed steps' own peak
    times = []
    for _ in range(args.repeats):
        t = time.perf_counter()
        block(step())
        times.append(time.perf_counter() - t)
    steps_peak = status_kib("VmHWM")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB
    result = {
        "first_s": round(first, 3),
        "step_s": round(statistics.median(times), 3),
        "times": [round(x, 3) for x in times],
        "peak_gib": round(peak / 2**20, 3),
        "baseline_gib": round(baseline / 2**20, 3),
        "step_gib": round((peak - baseline) / 2**20, 3),
        "steps_peak_gib": round(steps_peak / 2**20, 3),
    }
    print("RESULT " + json.dumps(result), flush=True)


def dense_estimate_gib(impl, length):
    if impl == "chunked_noskip":  # one boolean (T, T) mask, and a copy
        return 2 * length * length / 2**30
    if impl.startswith("chunked"):
        return 0.0
    return DENSE_TT_TENSORS * HEADS * length * length * 4 / 2**30


def run_parent_one(args, impl, length):
    need = dense_estimate_gib(impl, length)
    if need > args.memory_limit_gib:
        return {"status": f"skipped: needs ~{need:.0f} GiB"}
    cmd = [
        sys.executable,
        os.path.abspath(__file__),
        "--child",
        "--impl",
        impl,
        "--length",
        str(length),
        "--repeats",
        str(args.repeats),
        "--query-chunk",
        str(args.query_chunk),
        "--key-chunk",
        str(args.key_chunk),
    ]
    if args.jit_compile:
        cmd.append("--jit-compile")
    env = dict(os.environ, KERAS_BACKEND=args.backend)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = repo + os.pathsep + env.get("PYTHONPATH", "")
    child = subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    start, status, peak_seen = time.monotonic(), None, 0
    limit_kib = args.memory_limit_gib * 2**20
    while child.poll() is None:
        try:
            rss = rss_kib(child.pid)
        except (FileNotFoundError, ProcessLookupError):
            rss = 0
        peak_seen = max(peak_seen, rss)
        if rss > limit_kib:
            status = f"oom: over {args.memory_limit_gib} GiB"
        elif time.monotonic() - start > args.timeout:
            status = f"timeout: over {args.timeout} s"
        if status:
            child.kill()
            break
        time.sleep(0.05)
    out, err = child.communicate()
    if status:
        return {"status": status, "peak_seen_gib": round(peak_seen / 2**20, 2)}
    for line in out.splitlines():
        if line.startswith("RESULT "):
            return {"status": "ok", **json.loads(line[len("RESULT ") :])}
    tail = (err or out).strip().splitlines()[-3:]
    oom = any("memory" in line.lower() for line in tail)
    return {"status": "oom" if oom else "failed", "error": " | ".join(tail)}


def markdown(rows, impls, lengths):
    def cell(row):
        if row["status"] != "ok":
            return row["status"]
        return f"{row['step_s']:.3g} s / {row['peak_gib']:.2f} GiB"

    header = "| T | " + " | ".join(impls) + " |"
    lines = [header, "|---:|" + "---|" * len(impls)]
    by_key = {(r["impl"], r["length"]): r for r in rows}
    for length in lengths:
        cells = [cell(by_key[(impl, length)]) for impl in impls]
        lines.append(f"| {length:,} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", default="tensorflow")
    parser.add_argument(
        "--lengths",
        type=int,
        nargs="+",
        default=[512, 1024, 2048, 4096, 8192, 16384, 32768],
    )
    parser.add_argument("--impls", nargs="+", default=list(IMPLS[:3]))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--memory-limit-gib", type=float, default=16)
    parser.add_argument("--query-chunk", type=int, default=512)
    parser.add_argument("--key-chunk", type=int, default=512)
    parser.add_argument("--jit-compile", action="store_true")
    parser.add_argument("--out")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--impl", help=argparse.SUPPRESS)
    parser.add_argument("--length", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_child(args)
        return
    rows = []
    for length in args.lengths:
        for impl in args.impls:
            row = {
                "backend": args.backend,
                "impl": impl,
                "length": length,
                "jit_compile": args.jit_compile,
                "query_chunk": args.query_chunk,
                "key_chunk": args.key_chunk,
                "repeats": args.repeats,
                **run_parent_one(args, impl, length),
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
            if args.out:
                with open(args.out, "w") as f:
                    json.dump({"args": vars(args), "rows": rows}, f, indent=1)
    print(markdown(rows, args.impls, args.lengths))


if __name__ == "__main__":
    main()

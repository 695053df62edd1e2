"""Should keras_attn route attention through `keras.ops.dot_product_attention`?

Times forward + backward of multi-head attention with a padding mask, as the
MultiHeadAttention layer needs it (inputs in the projection layout
(B, T, N, H), output back in that layout), two ways:
  * composite - transpose to (B, N, T, H), `keras_attn.ops.
                scaled_dot_product_attention`, transpose back;
  * keras_fused - `keras.ops.dot_product_attention` on (B, T, N, H) directly,
                plus the zeroing of fully masked query rows that keras_attn
                promises (keras' op returns a uniform average there).
Interleaved repeats, median of per-repeat times; with and without XLA on the
TensorFlow backend; run with KERAS_BACKEND=jax for JAX.

Run:  python bench/sdpa_paths.py [--out FILE]
"""

import argparse
import json
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import ops  # noqa: E402

from keras_attn.ops import scaled_dot_product_attention  # noqa: E402


def composite(q, k, v, mask):
    q, k, v = (ops.transpose(x, (0, 2, 1, 3)) for x in (q, k, v))
    out = scaled_dot_product_attention(q, k, v, mask=mask[:, None, None, :])
    return ops.transpose(out, (0, 2, 1, 3))


def keras_fused(q, k, v, mask):
    out = ops.dot_product_attention(q, k, v, mask=mask[:, None, None, :])
    any_key = ops.any(mask, axis=-1)[:, None, None, None]  # (B, 1, 1, 1)
    return ops.where(any_key, out, ops.zeros_like(out))


def make_step(fn, jit):
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        @tf.function(jit_compile=jit)
        def step(q, k, v, mask):
            with tf.GradientTape() as tape:
                tape.watch([q, k, v])
                loss = tf.reduce_sum(fn(q, k, v, mask) ** 2)
            return tape.gradient(loss, [q, k, v])

        return step
    if backend == "jax":
        import jax

        def loss(q, k, v, mask):
            return (fn(q, k, v, mask) ** 2).sum()

        return jax.jit(jax.grad(loss, argnums=(0, 1, 2)))
    raise SystemExit(f"unsupported backend {backend}")


def block(x):
    for t in x:
        ops.convert_to_numpy(t)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--length", type=int, default=256)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--depth", type=int, default=64)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    shape = (args.batch, args.length, args.heads, args.depth)
    q, k, v = (
        ops.convert_to_tensor(rng.normal(size=shape).astype("float32"))
        for _ in range(3)
    )
    mask = np.ones((args.batch, args.length), bool)
    mask[:, -args.length // 8 :] = False
    mask = ops.convert_to_tensor(mask)
    jit_modes = (
        [False, True] if keras.backend.backend() == "tensorflow" else [True]
    )
    # Same numbers first.
    a = ops.convert_to_numpy(composite(q, k, v, mask))
    b = ops.convert_to_numpy(keras_fused(q, k, v, mask))
    print("max |composite - keras_fused| =", float(np.abs(a - b).max()))
    rows = []
    for jit in jit_modes:
        fns = {"composite": composite, "keras_fused": keras_fused}
        steps = {n: make_step(f, jit) for n, f in fns.items()}
        for s in steps.values():
            block(s(q, k, v, mask))
        times = {n: [] for n in fns}
        for _ in range(args.repeats):
            for n, s in steps.items():
                t = time.perf_counter()
                for _ in range(args.steps):
                    out = s(q, k, v, mask)
                block(out)
                times[n].append((time.perf_counter() - t) / args.steps)
        for n in fns:
            row = {
                "backend": keras.backend.backend(),
                "jit": jit,
                "path": n,
                "ms_per_fwd_bwd": round(1e3 * statistics.median(times[n]), 2),
                "spread": round(
                    (max(times[n]) - min(times[n]))
                    / statistics.median(times[n]),
                    3,
                ),
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"args": vars(args), "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()

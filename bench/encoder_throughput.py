"""Training throughput of Transformer encoder stacks, three implementations.

Compares, in one process with interleaved repeats:
  * keras_attn  - `keras_attn.TransformerEncoderBlock` (fused QKV projection,
                  boolean masks merged once);
  * keras_hub   - `keras_hub.layers.TransformerEncoder`;
  * keras_mha   - a post-norm block written on `keras.layers.MultiHeadAttention`
                  (what most tutorials do).
Same configuration for all: post-norm, ReLU, dropout 0.1, a padding mask
(the last eighth of every sequence is padding), Adam, MSE loss on the stack
output. Each training step is timed with `train_on_batch` after warm-up;
tokens/s counts all B*T positions. Achieved GFLOP/s uses the matmul FLOPs of
a training step (3x forward) and is compared with the measured float32
matmul peak of this machine.

Run:  python bench/encoder_throughput.py [--dims 128 256 512] [--out FILE]
      [--impls keras_attn keras_mha]  (bench/compare_release.py uses this)
"""

import argparse
import json
import os
import platform
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import keras_hub  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import keras_attn  # noqa: E402


class KerasMHABlock(keras.layers.Layer):
    """Post-norm encoder block on keras.layers.MultiHeadAttention."""

    def __init__(self, num_heads, intermediate_dim, dropout, **kwargs):
        super().__init__(**kwargs)
        self.num_heads = num_heads
        self.intermediate_dim = intermediate_dim
        self.dropout = dropout

    def build(self, shape):
        d = shape[-1]
        self.mha = keras.layers.MultiHeadAttention(
            self.num_heads, d // self.num_heads, dropout=self.dropout
        )
        self.mha.build(shape, shape)
        self.ln1 = keras.layers.LayerNormalization(epsilon=1e-5)
        self.ln2 = keras.layers.LayerNormalization(epsilon=1e-5)
        self.ff1 = keras.layers.Dense(self.intermediate_dim, "relu")
        self.ff2 = keras.layers.Dense(d)
        self.drop1 = keras.layers.Dropout(self.dropout)
        self.drop2 = keras.layers.Dropout(self.dropout)

    def call(self, x, mask=None, training=None):
        attention_mask = None
        if mask is not None:
            attention_mask = keras.ops.expand_dims(mask, 1)  # (B, 1, S)
        h = self.mha(x, x, attention_mask=attention_mask, training=training)
        x = self.ln1(x + self.drop1(h, training=training))
        h = self.ff2(self.ff1(x))
        return self.ln2(x + self.drop2(h, training=training))


def build_model(kind, d, heads, ff, layers, length, jit):
    x_in = keras.Input((length, d), name="x")
    mask_in = keras.Input((length,), dtype="bool", name="mask")
    x = x_in
    for _ in range(layers):
        if kind == "keras_attn":
            x = keras_attn.TransformerEncoderBlock(heads, ff, dropout=0.1)(
                x, mask=mask_in
            )
        elif kind == "keras_hub":
            x = keras_hub.layers.TransformerEncoder(ff, heads, dropout=0.1)(
                x, padding_mask=mask_in
            )
        else:
            x = KerasMHABlock(heads, ff, 0.1)(x, mask=mask_in)
    model = keras.Model([x_in, mask_in], x)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-4), loss="mse", jit_compile=jit
    )
    return model


def train_flops_per_token(d, ff, layers, length):
    # Forward matmuls per token per layer: QKV + output projections (4 D^2),
    # feed-forward (2 D F), QK^T and AV (2 T D); x2 for multiply-add;
    # training = forward + 2x backward.
    forward = 2 * (4 * d * d + 2 * d * ff + 2 * length * d)
    return 3 * forward * layers


def matmul_peak_gflops(n=2048, repeats=5):
    a = tf.random.normal((n, n))
    b = tf.random.normal((n, n))
    f = tf.function(lambda: tf.reduce_sum(tf.matmul(a, b)))
    f()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        f().numpy()
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best / 1e9


KINDS = ("keras_attn", "keras_hub", "keras_mha")


def run(dims, length, batch, layers, steps, repeats, jit_modes, kinds=KINDS):
    peak = matmul_peak_gflops()
    rows = []
    rng = np.random.default_rng(0)
    for d in dims:
        heads, ff = max(1, d // 64), 4 * d
        x = rng.normal(size=(batch, length, d)).astype("float32")
        y = rng.normal(size=(batch, length, d)).astype("float32")
        mask = np.ones((batch, length), bool)
        mask[:, length - length // 8 :] = False
        flops = train_flops_per_token(d, ff, layers, length)
        for jit in jit_modes:
            keras.utils.set_random_seed(0)
            models = {
                k: build_model(k, d, heads, ff, layers, length, jit)
                for k in kinds
            }
            for m in models.values():  # compile + warm up
                for _ in range(2):
                    m.train_on_batch([x, mask], y)
            samples = {k: [] for k in kinds}
            for _ in range(repeats):
                for k in kinds:  # interleaved
                    t = time.perf_counter()
                    for _ in range(steps):
                        m = models[k]
                        loss = m.train_on_batch([x, mask], y)
                    float(np.asarray(loss))
                    dt = time.perf_counter() - t
                    samples[k].append(steps * batch * length / dt)
            hub = (
                statistics.median(samples["keras_hub"])
                if "keras_hub" in samples
                else float("nan")
            )
            for k in kinds:
                tps = statistics.median(samples[k])
                row = {
                    "model_dim": d,
                    "jit_compile": jit,
                    "impl": k,
                    "tokens_per_s": round(tps),
                    "spread": round(
                        (max(samples[k]) - min(samples[k])) / tps, 3
                    ),
                    "gflops": round(tps * flops / 1e9, 1),
                    "pct_peak": round(100 * tps * flops / 1e9 / peak, 1),
                    "vs_keras_hub": round(tps / hub, 3),
                }
                rows.append(row)
                print(json.dumps(row), flush=True)
            keras.backend.clear_session()
    return peak, rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dims", type=int, nargs="+", default=[128, 256, 512])
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--jit", choices=["both", "on", "off"], default="both")
    parser.add_argument(
        "--impls", nargs="+", choices=KINDS, default=list(KINDS)
    )
    parser.add_argument("--out", help="write the results as JSON here")
    args = parser.parse_args()
    jit_modes = {"both": [False, True], "on": [True], "off": [False]}[args.jit]
    peak, rows = run(
        args.dims,
        args.length,
        args.batch,
        args.layers,
        args.steps,
        args.repeats,
        jit_modes,
        args.impls,
    )
    machine = {
        "keras_attn": os.path.dirname(keras_attn.__file__),
        "platform": platform.platform(),
        "processor": platform.processor(),
        "cpus": os.cpu_count(),
        "gpus": [d.name for d in tf.config.list_physical_devices("GPU")],
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "keras_hub": keras_hub.__version__,
    }
    print(f"\nmatmul peak (float32, 2048^3): {peak:.1f} GFLOP/s")
    print(
        f"{'D':>4} {'jit':>5} {'impl':>11} {'tok/s':>8} {'GFLOP/s':>8}"
        f" {'%peak':>6} {'vs hub':>7}"
    )
    for r in rows:
        print(
            f"{r['model_dim']:>4} {str(r['jit_compile']):>5} {r['impl']:>11}"
            f" {r['tokens_per_s']:>8} {r['gflops']:>8} {r['pct_peak']:>6}"
            f" {r['vs_keras_hub']:>7}"
        )
    if args.out:
        with open(args.out, "w") as f:
            json.dump(
                {
                    "args": vars(args),
                    "machine": machine,
                    "matmul_peak_gflops": peak,
                    "rows": rows,
                },
                f,
                indent=1,
            )


if __name__ == "__main__":
    main()

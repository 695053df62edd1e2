"""One GPU run of the benchmarks that matter, in about 10 minutes.

Sections, each in its own child process (its own backend and memory):

  * train      - the Transformer translator's `gpu` preset (the base model
                 of Vaswani et al.: 6+6 layers, D 512, 8 heads, FFN 2048,
                 16,000 shared ids, batch 256 x 48 source + 48 target
                 tokens), `mixed_bfloat16`, XLA (`jit_compile=True`; JAX
                 always compiles), `model.fit` on random full-length ids:
                 tokens/s (source + target) and model-FLOPs utilisation,
                 the analytic training FLOPs (3 x the forward matmuls,
                 attention included; `train_flops`) over the time, divided
                 by the GPU's dense bf16 peak (`PEAK_BF16_TFLOPS`, chosen by
                 the device name; `--peak-tflops` overrides);
  * routing    - `keras_attn.MultiHeadAttention` (8 x 64, causal, bf16)
                 forward + backward at long lengths with its default
                 routing, and whether the backend's fused kernel serves it
                 (`keras_attn.ops.fused_kernel_available`: JAX or PyTorch on
                 a GPU with a flash kernel);
  * long_attention - bench/long_attention.py (float32: chunked, dense,
                 keras MHA), time and peak memory;
  * decoding   - bench/decoding.py (encoder-decoder, KV cache vs full vs
                 keras-hub), TensorFlow;
  * generation - bench/generation.py (GPT, ours vs keras-hub vs no cache).

Writes `gpu_suite.json` (machine, every section's rows or its error) and
`gpu_suite.md` (one table per section) to `--out-dir`. A section that
fails or runs out of its time is recorded as such; the others still run.
`--smoke` runs every section at toy sizes on whatever device there is (CI,
on CPU, in well under 2 minutes on an idle machine).

Run:  bash bench/gpu_suite.sh [--smoke] [--out-dir DIR] [--backend jax]
"""

import argparse
import json
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import time

REPO = pathlib.Path(__file__).resolve().parent.parent
# Dense (no sparsity) bf16 tensor-core peaks in TFLOP/s from NVIDIA's data
# sheets, matched against the device name in this order (the first entry
# contained in the name wins, so "GH200" before "H200" and "L40S" before
# "L4").
PEAK_BF16_TFLOPS = (
    ("GH200", 989.4),
    ("H200", 989.4),
    ("H100 PCIe", 756.0),
    ("H100", 989.4),
    ("A100", 312.0),
    ("L40S", 362.1),
    ("L40", 181.0),
    ("L4", 121.0),
    ("A10", 125.0),
    ("RTX 4090", 165.2),
)
SECTIONS = ("train", "routing", "long_attention", "decoding", "generation")


def peak_tflops(device_name):
    """The dense bf16 peak of a device by name, or None if unknown."""
    for key, peak in PEAK_BF16_TFLOPS:
        if key.lower() in device_name.lower():
            return peak
    return None


def gpu_name():
    """The first NVIDIA GPU's name (nvidia-smi), or None."""
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    names = out.stdout.strip().splitlines()
    return names[0].strip() if out.returncode == 0 and names else None


def train_flops(batch, source_length, target_length, config, vocabulary):
    """Analytic FLOPs of one training step of the translator: 3 x the
    forward pass's matmuls (2 FLOPs a multiply-add), attention logits and
    weighted sums included, embeddings lookups and softmaxes left out."""
    d, f, layers = config.model_dim, config.intermediate_dim, config.num_layers
    s, t = source_length, target_length
    encoder = 8 * s * d * d + 4 * s * s * d + 4 * s * d * f
    decoder = (
        8 * t * d * d + 4 * t * t * d  # self-attention
        + 4 * t * d * d + 4 * s * d * d + 4 * t * s * d  # cross-attention
        + 4 * t * d * f  # feed-forward
    )  # fmt: skip
    logits = 2 * t * d * vocabulary
    return 3 * batch * (layers * (encoder + decoder) + logits)


# --- children -----------------------------------------------------------------


def child_train(args):
    import dataclasses

    import keras
    import numpy as np
    import tensorflow as tf

    from zoo.transformer_translator.config import PRESETS
    from zoo.transformer_translator.model import build
    from zoo.transformer_translator.model import compile_model

    keras.config.set_dtype_policy("mixed_bfloat16")
    keras.utils.set_random_seed(0)
    config = PRESETS["gpu"]
    steps, warmup = 30, 5
    if args.smoke:
        config = dataclasses.replace(
            PRESETS["tiny"], batch_size=8, max_length=16
        )
        steps, warmup = 3, 1
    vocabulary = config.source_vocabulary_size
    batch, length = config.batch_size, config.max_length
    rng = np.random.default_rng(0)
    ids = rng.integers(4, vocabulary, (3, batch, length)).astype("int32")
    data = tf.data.Dataset.from_tensors(((ids[0], ids[1]), ids[2])).repeat()
    model = build(config, vocabulary, vocabulary)
    compile_model(model, config, jit_compile=True)
    start = time.perf_counter()
    model.fit(data, steps_per_epoch=warmup, epochs=1, verbose=0)
    first = time.perf_counter() - start
    start = time.perf_counter()
    history = model.fit(data, steps_per_epoch=steps, epochs=1, verbose=0)
    seconds = time.perf_counter() - start
    flops = train_flops(batch, length, length, config, vocabulary)
    return {
        "backend": keras.config.backend(),
        "preset": "tiny (smoke)" if args.smoke else "gpu",
        "parameters": int(model.count_params()),
        "batch": batch,
        "source_length": length,
        "target_length": length,
        "steps": steps,
        "warmup_s": round(first, 2),
        "step_ms": round(1000 * seconds / steps, 2),
        "tokens_per_s": round(2 * batch * length * steps / seconds),
        "tflops_per_step": round(flops / 1e12, 4),
        "achieved_tflops": round(flops * steps / seconds / 1e12, 3),
        "final_loss": float(history.history["loss"][-1]),
    }


def child_routing(args):
    import keras
    import numpy as np

    import keras_attn
    from keras_attn.ops import fused_kernel_available

    keras.config.set_dtype_policy("mixed_bfloat16")
    heads, depth = 8, 64
    lengths = [256] if args.smoke else [1024, 4096, 16384]
    fused = fused_kernel_available("bfloat16", depth)
    rows = []
    for length in lengths:
        layer = keras_attn.MultiHeadAttention(heads, key_dim=depth)
        x = np.random.default_rng(0).normal(size=(1, length, heads * depth))
        x = keras.ops.convert_to_tensor(x.astype("float32"))
        layer(x[:, :8], use_causal_mask=True)  # build
        step = _grad_step(layer, x)
        start = time.perf_counter()
        _block(step())
        first = time.perf_counter() - start
        times = []
        for _ in range(1 if args.smoke else 3):
            start = time.perf_counter()
            _block(step())
            times.append(time.perf_counter() - start)
        rows.append(
            {
                "length": length,
                "fused_kernel": fused,
                "first_s": round(first, 3),
                "step_ms": round(1000 * statistics.median(times), 2),
            }
        )
    return {"backend": keras.config.backend(), "rows": rows}


def _grad_step(layer, x):
    """A compiled forward + backward of `layer` on `x` (weights' grads)."""
    import keras

    def loss(values, x):
        mapping = list(zip(layer.trainable_weights, values))
        with keras.StatelessScope(state_mapping=mapping):
            y = layer(x, use_causal_mask=True)
        return keras.ops.mean(keras.ops.square(keras.ops.cast(y, "float32")))

    values = [w.value for w in layer.trainable_weights]
    if keras.config.backend() == "jax":
        import jax

        grad = jax.jit(jax.grad(loss))
        return lambda: grad(values, x)
    if keras.config.backend() == "tensorflow":
        import tensorflow as tf

        @tf.function(jit_compile=True)
        def grad():
            with tf.GradientTape() as tape:
                value = keras.ops.mean(
                    keras.ops.square(
                        keras.ops.cast(
                            layer(x, use_causal_mask=True), "float32"
                        )
                    )
                )
            return tape.gradient(value, layer.trainable_weights)

        return grad
    return lambda: loss(values, x)


def _block(out):
    import keras

    for x in keras.tree.flatten(out):
        keras.ops.convert_to_numpy(keras.ops.sum(x))


CHILDREN = {"train": child_train, "routing": child_routing}


# --- parent -------------------------------------------------------------------


def _run(cmd, env, timeout):
    """`(status, stdout)` of a command: ok, failed (with its last lines) or
    timeout."""
    try:
        run = subprocess.run(
            cmd,
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return f"timeout: over {timeout} s", ""
    if run.returncode:
        tail = " | ".join((run.stderr or run.stdout).strip().splitlines()[-3:])
        return f"failed: {tail}", run.stdout
    return "ok", run.stdout


def _env(backend):
    env = dict(os.environ, KERAS_BACKEND=backend)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env["PYTHONPATH"] = f"{REPO}{os.pathsep}{env.get('PYTHONPATH', '')}"
    return env


def run_section(name, args, out_dir):
    smoke = ["--smoke"] if args.smoke else []
    timeout = 300 if args.smoke else args.section_timeout
    if name in CHILDREN:
        cmd = [sys.executable, __file__, "--child", name, *smoke]
        status, stdout = _run(cmd, _env(args.backend), timeout)
        if status != "ok":
            return {"status": status}
        line = [x for x in stdout.splitlines() if x.startswith("RESULT ")][-1]
        return {"status": "ok", **json.loads(line[len("RESULT ") :])}
    path = out_dir / f"{name}.json"
    bench = str(REPO / "bench" / f"{name}.py")
    if name == "long_attention":
        lengths = ["128"] if args.smoke else ["1024", "4096", "16384"]
        impls = ["chunked", "dense"] + ([] if args.smoke else ["keras_mha"])
        cmd = [sys.executable, bench, "--backend", args.backend]
        cmd += ["--lengths", *lengths, "--impls", *impls, "--out", str(path)]
        cmd += ["--repeats", "1" if args.smoke else "3", "--timeout", "200"]
        if args.backend == "tensorflow":
            cmd.append("--jit-compile")
        backend = args.backend
    elif name == "decoding":
        cmd = [sys.executable, bench, "--out", str(path), "--jit", "on"]
        if args.smoke:
            cmd += (
                "--new-tokens 4 --model-dim 16 --num-layers 1 --num-heads 2"
                " --intermediate-dim 24 --vocabulary-size 50 --source-length 5"
                " --batch-sizes 2 --decoders greedy --repeats 1"
                " --impls keras_attn"
            ).split()
        backend = "tensorflow"
    else:  # generation
        cmd = [sys.executable, bench, "--out", str(path), *smoke]
        backend = "tensorflow"
    status, _ = _run(cmd, _env(backend), timeout)
    if status != "ok":
        return {"status": status}
    return {"status": "ok", **json.loads(path.read_text())}


def _cell(value):
    return f"{value:,}" if isinstance(value, int) else str(value)


def _table(rows, keys):
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    for row in rows:
        lines.append(
            "| " + " | ".join(_cell(row.get(k, "")) for k in keys) + " |"
        )
    return lines


def markdown(result):
    machine = result["machine"]
    lines = [
        f"# GPU suite ({'smoke, ' if result['smoke'] else ''}"
        f"{machine['device']}, {result['backend']})",
        "",
    ]
    for name in SECTIONS:
        section = result["sections"].get(name)
        if section is None:
            continue
        lines.append(f"## {name}")
        if section["status"] != "ok":
            lines += [section["status"], ""]
            continue
        if name == "train":
            keys = ["preset", "parameters", "batch", "step_ms"]
            keys += ["tokens_per_s", "achieved_tflops", "peak_tflops", "mfu"]
            lines += _table([section], keys)
        elif name == "routing":
            lines += _table(section["rows"], list(section["rows"][0]))
        else:
            rows = section.get("rows", [])
            keys = (
                [k for k in rows[0] if k not in ("times", "args")]
                if rows
                else []
            )
            lines += _table(rows, keys[:10])
        lines.append("")
    return "\n".join(lines)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="toy sizes")
    parser.add_argument("--out-dir", default="workdirs/gpu_suite")
    parser.add_argument(
        "--backend", default="jax", choices=["jax", "tensorflow"]
    )
    parser.add_argument(
        "--sections", nargs="+", choices=SECTIONS, default=SECTIONS
    )
    parser.add_argument("--section-timeout", type=int, default=180)
    parser.add_argument(
        "--peak-tflops",
        type=float,
        default=None,
        help="the device's dense bf16 peak (default: from its name)",
    )
    parser.add_argument(
        "--child", choices=list(CHILDREN), help=argparse.SUPPRESS
    )
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.child:
        print("RESULT " + json.dumps(CHILDREN[args.child](args)), flush=True)
        return 0
    out_dir = pathlib.Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    device = gpu_name() or f"CPU ({platform.processor() or platform.machine()})"
    peak = args.peak_tflops or peak_tflops(device)
    result = {
        "smoke": args.smoke,
        "backend": args.backend,
        "machine": {"device": device, "peak_bf16_tflops": peak},
        "sections": {},
    }
    start = time.perf_counter()
    for name in args.sections:
        t = time.perf_counter()
        section = run_section(name, args, out_dir)
        section["seconds"] = round(time.perf_counter() - t, 1)
        if name == "train" and section["status"] == "ok":
            section["peak_tflops"] = peak
            section["mfu"] = (
                round(section["achieved_tflops"] / peak, 4) if peak else None
            )
        result["sections"][name] = section
        print(
            f"{name}: {section['status']} ({section['seconds']} s)", flush=True
        )
    result["seconds"] = round(time.perf_counter() - start, 1)
    (out_dir / "gpu_suite.json").write_text(json.dumps(result, indent=1))
    (out_dir / "gpu_suite.md").write_text(markdown(result) + "\n")
    print(markdown(result))
    return (
        0
        if all(s["status"] == "ok" for s in result["sections"].values())
        else 1
    )


if __name__ == "__main__":
    sys.exit(main())

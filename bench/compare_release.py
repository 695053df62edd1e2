"""Encoder training throughput of this tree's keras_attn against a release.

Extracts `keras_attn/` of a git ref (default: the release before the
drop-in `MultiHeadAttention`) into a temporary directory, then runs
`bench/encoder_throughput.py` for `keras_attn` and the
`keras.layers.MultiHeadAttention` block (a control: the same code in both
runs, so its ratio shows how much the machine drifted) once per tree per
round, alternating which tree goes first. Reports, per model size and XLA
mode, the median tokens/s of each tree and the ratio this tree / the ref.

Run:  python bench/compare_release.py [--ref 291c958] [--rounds 3]
          [--dims 128 256 512] [--out FILE]
"""

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tarfile
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench" / "encoder_throughput.py"


def extract(ref, directory):
    """`keras_attn/` as of `ref`, under `directory`."""
    archive = pathlib.Path(directory) / "ref.tar"
    with open(archive, "wb") as f:
        subprocess.run(
            ["git", "-C", str(ROOT), "archive", ref, "keras_attn"],
            stdout=f,
            check=True,
        )
    with tarfile.open(archive) as tar:
        tar.extractall(directory, filter="data")
    return pathlib.Path(directory)


def run_once(tree, args, out):
    env = dict(os.environ, PYTHONPATH=str(tree))
    command = [
        sys.executable,
        str(BENCH),
        "--impls",
        "keras_attn",
        "keras_mha",
        "--dims",
        *map(str, args.dims),
        "--steps",
        str(args.steps),
        "--repeats",
        str(args.repeats),
        "--out",
        str(out),
    ]
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    result = json.loads(pathlib.Path(out).read_text())
    where = pathlib.Path(result["machine"]["keras_attn"]).resolve()
    if where != (pathlib.Path(tree) / "keras_attn").resolve():
        raise RuntimeError(f"imported keras_attn from {where}, not {tree}")
    return result["rows"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ref", default="291c958")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dims", type=int, nargs="+", default=[128, 256, 512])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", help="write the results as JSON here")
    args = parser.parse_args()
    samples = {}  # (tree, impl, D, jit) -> [tokens/s]
    with tempfile.TemporaryDirectory() as tmp:
        trees = {"this": ROOT, args.ref: extract(args.ref, tmp)}
        for r in range(args.rounds):
            order = list(trees) if r % 2 == 0 else list(trees)[::-1]
            for name in order:
                rows = run_once(trees[name], args, pathlib.Path(tmp) / "o.json")
                for row in rows:
                    key = (
                        name,
                        row["impl"],
                        row["model_dim"],
                        row["jit_compile"],
                    )
                    samples.setdefault(key, []).append(row["tokens_per_s"])
                print(f"round {r + 1}: {name} done", flush=True)
    table = []
    for d in args.dims:
        for jit in (False, True):
            line = {"model_dim": d, "jit_compile": jit}
            for impl in ("keras_attn", "keras_mha"):
                new = statistics.median(samples[("this", impl, d, jit)])
                old = statistics.median(samples[(args.ref, impl, d, jit)])
                line[impl] = {"this": new, args.ref: old, "ratio": new / old}
            table.append(line)
    print(
        f"\n| D | XLA | keras_attn this / {args.ref} tok/s | ratio | "
        "control (keras.layers.MHA block) ratio |"
    )
    print("|---:|---|---:|---:|---:|")
    for line in table:
        a, c = line["keras_attn"], line["keras_mha"]
        print(
            f"| {line['model_dim']} | {'yes' if line['jit_compile'] else 'no'}"
            f" | {a['this']:,.0f} / {a[args.ref]:,.0f} | **{a['ratio']:.2f}×**"
            f" | {c['ratio']:.2f}× |"
        )
    if args.out:
        pathlib.Path(args.out).write_text(
            json.dumps({"args": vars(args), "table": table}, indent=1)
        )


if __name__ == "__main__":
    main()

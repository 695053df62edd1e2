"""`bench/decoding.py` at toy size: its token checks pass (greedy), every
beam decoder generates exactly N new tokens, and the ratios are computed
from the rows."""

import pytest

from bench import decoding

pytestmark = pytest.mark.slow  # about 15 s, mostly compiling

N = 4
TINY = (
    f"--new-tokens {N} --model-dim 16 --num-layers 1 --num-heads 2"
    " --intermediate-dim 24 --vocabulary-size 50 --source-length 5"
    " --batch-sizes 2 --decoders beam --beam-size 2 --repeats 1 --jit off"
).split()


def test_decoding_bench_checks_and_rows():
    args = decoding.parse_args(TINY)
    ours, hub = decoding.build_models(args)
    assert decoding.check_tokens(ours, hub, args) == {
        "full_equals_keras_attn_greedy": True,
        "keras_hub_cached_equals_teacher_forced": True,
    }
    rows = decoding.time_decoders(decoding.decoders(ours, hub, args), args)
    assert [r["impl"] for r in rows] == ["full", "keras_hub", "keras_attn"]
    assert all(r["status"] == "ok" and r["new_tokens"] == N for r in rows)
    ms = {r["impl"]: r["latency_ms"] for r in rows}
    (summary,) = decoding.ratios(rows)
    for impl in ("full", "keras_hub"):
        expected = round(ms[impl] / ms["keras_attn"], 2)
        assert summary[f"speedup_vs_{impl}"] == expected

"""`bench/generation.py --smoke`: its token checks pass (ours cached vs the
full re-run, keras-hub cached vs its teacher-forced pass), every
implementation generates exactly N new tokens, and the ratios come from
the rows."""

import json

import pytest

from bench import generation

pytestmark = pytest.mark.slow  # about 30 s on 2 cores, mostly compiling


def test_generation_bench_smoke_checks_and_rows(tmp_path):
    out = tmp_path / "bench.json"
    rows, summary = generation.main(["--smoke", "--out", str(out)])
    assert [r["impl"] for r in rows] == ["keras_attn", "keras_hub", "full"]
    saved = json.loads(out.read_text())
    assert saved["token_checks"] == {
        "keras_attn_cached_equals_full_rerun": True,
        "keras_hub_cached_equals_teacher_forced": True,
    }
    params = saved["parameters"]
    assert params["keras_attn"] == params["keras_hub"]  # the same sizes
    ms = {r["impl"]: r["latency_ms"] for r in rows}
    for impl in ("keras_hub", "full"):
        expected = round(ms[impl] / ms["keras_attn"], 2)
        assert summary[0][f"speedup_vs_{impl}"] == expected


def test_the_checks_catch_a_wrong_cache():
    args = generation.parse_args(["--smoke"])
    ours, hub = generation.build_models(args)
    fns = generation.generators(ours, hub, args)
    # Tokens that are not the model's argmax (as from a cache read at
    # the wrong positions): both checks must notice.
    prompt = generation.prompts(generation.CHECK_BATCH, args, seed=1)
    wrong = (fns["full"](prompt) + 1) % args.vocabulary_size
    fns["keras_attn"] = fns["keras_hub"] = lambda p: wrong
    check = generation.check_tokens(ours, hub, fns, args)
    assert check == {
        "keras_attn_cached_equals_full_rerun": False,
        "keras_hub_cached_equals_teacher_forced": False,
    }

"""The GPT's `positions` option (learned, sinusoidal, rope, alibi, and RoPE
context extension), scoring at other lengths, and the two experiment
scripts of docs/zoo_gpt.md (their configs and tables, not their runs)."""

import dataclasses
import importlib
import random

import keras
import numpy as np
import pytest

import keras_attn
from zoo.experiments import gpt_blocks
from zoo.experiments import train_short_test_long as tstl
from zoo.gpt import PRESETS
from zoo.gpt import decode
from zoo.gpt.model import build

gpt_train = importlib.import_module("zoo.gpt.train")
TINY = PRESETS["tiny"]  # context_length 16


def _model(changes, seed=1, std=0.05):
    """A tiny GPT with larger random weights, so context decides."""
    config = dataclasses.replace(TINY, **changes)
    model = build(config, 320)
    rng = np.random.default_rng(seed)
    model.set_weights(
        [rng.normal(0, std, w.shape).astype(w.dtype) for w in model.weights]
    )
    return model


def _attention_layers(model):
    return [block.self_attention for block in model.decoder.blocks]


KINDS = {
    "sinusoidal": {"architecture": "modern", "positions": "sinusoidal"},
    "alibi": {"architecture": "modern", "positions": "alibi"},
    "gpt2-rope": {"architecture": "gpt2", "positions": "rope"},
    "rope-dynamic": {
        "architecture": "modern",
        "rope_scaling": "dynamic",
        "rope_scaling_factor": 2.0,
    },
    "rope-yarn": {
        "architecture": "modern",
        "rope_scaling": "yarn",
        "rope_scaling_factor": 2.0,
    },
}


@pytest.mark.parametrize("changes", list(KINDS.values()), ids=list(KINDS))
def test_cached_steps_equal_the_full_pass_past_the_training_length(changes):
    # T = 16; these positions have no table, so 26 tokens are allowed, and
    # the KV cache must agree with the full pass beyond T too.
    model = _model(changes)
    ids = np.random.default_rng(0).integers(4, 320, (2, 26)).astype("int32")
    full = keras.ops.convert_to_numpy(model(ids))  # (2, 26, V)
    cache = model.init_cache(2, 26)
    logits, cache = model.prefill(ids[:, :5], cache)
    cached = [keras.ops.convert_to_numpy(logits)]
    for index in range(5, 25):
        logits, cache = model.step(ids[:, index], cache, index)
        cached.append(keras.ops.convert_to_numpy(logits))
    np.testing.assert_allclose(np.stack(cached, 1), full[:, 4:25], atol=1e-4)
    greedy = decode.generate_ids(model, ids[:, :5], 20)
    np.testing.assert_array_equal(
        greedy, decode.full_pass_greedy(model, ids[:, :5], 20)
    )


def test_each_kind_is_wired_where_it_belongs():
    by_kind = {
        "learned": _model({"architecture": "modern", "positions": "learned"}),
        "sinusoidal": _model(KINDS["sinusoidal"]),
        "alibi": _model(KINDS["alibi"]),
        "rope": _model({"architecture": "gpt2", "positions": "rope"}),
    }
    for kind, model in by_kind.items():
        layers = _attention_layers(model)
        assert model.position_kind == kind
        assert all(
            (a.rotary_embedding is not None) == (kind == "rope") for a in layers
        )
        assert all(
            (a.position_bias == "alibi") == (kind == "alibi") for a in layers
        )
        assert (model.position_embedding is not None) == (kind == "learned")
        assert (model.position_encoding is not None) == (kind == "sinusoidal")
    # Sinusoidal: token embeddings scaled by √D plus the paper's table.
    model = by_kind["sinusoidal"]
    ids = np.array([[5, 6, 7, 8]], "int32")
    table = keras.ops.convert_to_numpy(model.token_embedding.embeddings)
    expected = table[ids] * np.sqrt(TINY.model_dim) + np.asarray(
        keras_attn.layers.sinusoidal_position_encoding.sinusoid_table(
            4, TINY.model_dim
        )
    )
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(model._embed(ids)), expected, atol=1e-5
    )


def test_a_learned_table_refuses_longer_inputs():
    model = _model({"architecture": "gpt2"})
    model(np.zeros((1, 16), "int32"))
    with pytest.raises(ValueError, match="longer than `max_length`"):
        model(np.zeros((1, 17), "int32"))


def test_dynamic_rope_equals_plain_rope_up_to_the_training_length():
    plain = _model({"architecture": "modern"}, std=0.5)  # sharp attention
    dynamic = _model(KINDS["rope-dynamic"])
    linear = _model(
        {
            "architecture": "modern",
            "rope_scaling": "linear",
            "rope_scaling_factor": 2.0,
        }
    )
    dynamic.set_weights(plain.get_weights())
    linear.set_weights(plain.get_weights())
    ids = np.random.default_rng(1).integers(4, 320, (1, 32)).astype("int32")
    models = {"plain": plain, "dynamic": dynamic, "linear": linear}
    # Dynamic NTK scales by the call's length: a call of T tokens is plain
    # RoPE, one of 2T is not. Linear interpolation rescales every call.
    short = {
        k: keras.ops.convert_to_numpy(m(ids[:, :16])) for k, m in models.items()
    }
    long = {k: keras.ops.convert_to_numpy(m(ids)) for k, m in models.items()}
    np.testing.assert_allclose(short["dynamic"], short["plain"], atol=1e-5)
    assert np.abs(short["linear"] - short["plain"]).max() > 1e-3
    assert np.abs(long["dynamic"] - long["plain"]).max() > 1e-3


@pytest.mark.parametrize(
    "changes, name",
    [
        ({"positions": "absolute"}, "positions"),
        ({"rope_scaling": "ntk"}, "rope_scaling"),
        ({"architecture": "gpt2", "rope_scaling": "dynamic"}, "rope_scaling"),
        (
            {
                "architecture": "modern",
                "positions": "alibi",
                "rope_scaling": "yarn",
            },
            "rope_scaling",
        ),
        (
            {"architecture": "modern", "rope_scaling_factor": 2.0},
            "rope_scaling_factor",
        ),
        (
            {
                "architecture": "modern",
                "rope_scaling": "linear",
                "rope_scaling_factor": 0.5,
            },
            "rope_scaling_factor",
        ),
    ],
)
def test_bad_position_settings_name_the_field(changes, name):
    with pytest.raises(ValueError, match=f"`{name}`"):
        dataclasses.replace(TINY, **changes)


# Scoring at other lengths ---------------------------------------------------


def _text():
    rng = random.Random(0)
    words = "the of and to her was she it not you he his had as with".split()
    paragraphs = [
        " ".join(rng.choice(words) for _ in range(rng.randint(20, 40))) + "."
        for _ in range(60)
    ]
    return "\n\n".join(paragraphs)


@pytest.fixture(scope="module")
def rope_workdir(tmp_path_factory):
    from zoo.harness import RunOptions

    path = tmp_path_factory.mktemp("text") / "text.txt"
    path.write_text(_text())
    workdir = tmp_path_factory.mktemp("rope")
    config = dataclasses.replace(
        TINY, architecture="modern", data=str(path), vocabulary_size=320
    )
    metrics = gpt_train.train(config, workdir, RunOptions(verbose=0))
    return workdir, metrics


def test_scoring_at_the_training_length_repeats_the_metrics(rope_workdir):
    workdir, metrics = rope_workdir
    at_t = gpt_train.score_at_length(workdir, 16)
    assert at_t["bits_per_character"] == pytest.approx(
        metrics["validation"]["bits_per_character"], abs=2e-4
    )
    assert at_t["tokens"] == metrics["validation"]["tokens"]
    long = gpt_train.score_at_length(workdir, 64)
    assert long["tokens"] == at_t["tokens"]  # the same tokens, scored once


@pytest.fixture(scope="module")
def sharp_workdir(rope_workdir, tmp_path_factory):
    """The trained work directory with sharp random weights (std 0.5) in
    model.keras: six tiny steps leave attention near uniform, where
    position changes hide below the 4-decimal rounding of the scores."""
    import shutil

    workdir = tmp_path_factory.mktemp("sharp") / "run"
    shutil.copytree(rope_workdir[0], workdir)
    model = decode.load_model(workdir)
    rng = np.random.default_rng(0)
    model.set_weights(
        [rng.normal(0, 0.5, w.shape).astype(w.dtype) for w in model.weights]
    )
    model.save(workdir / "model.keras")
    return workdir


def test_scoring_applies_rope_extensions(sharp_workdir):
    at_t = gpt_train.score_at_length(sharp_workdir, 16)
    at_4t = gpt_train.score_at_length(sharp_workdir, 64)
    dynamic = {"rope_scaling": "dynamic", "rope_scaling_factor": 4.0}
    linear = {"rope_scaling": "linear", "rope_scaling_factor": 4.0}
    # Dynamic NTK changes nothing up to T, and something beyond it;
    # linear interpolation changes every length.
    assert gpt_train.score_at_length(sharp_workdir, 16, **dynamic) == at_t
    assert gpt_train.score_at_length(sharp_workdir, 64, **dynamic) != at_4t
    assert gpt_train.score_at_length(sharp_workdir, 16, **linear) != at_t


def test_the_train_short_table_refuses_learned_beyond_t(sharp_workdir):
    rows = dict(tstl.evaluations(sharp_workdir, "rope", 16))
    assert list(rows) == [
        "rope",
        "rope + linear",
        "rope + dynamic",
        "rope + yarn",
    ]
    # At L = T every extension is plain RoPE (factor 1).
    assert len({row[1] for row in rows.values()}) == 1
    assert rows["rope + linear"][4] != rows["rope"][4]
    learned = tstl.markdown(
        {
            "context_length": 16,
            "trained": {"learned": {"parameters": 10, "train_seconds": 3.0}},
            "table": [
                {
                    "row": "learned",
                    "arm": "learned",
                    "bits_per_character": {1: 2.5, 2: None, 4: None},
                }
            ],
        }
    )
    assert "| learned | 2.500 | refused | refused | 10 | 3 s |" in learned


# The experiments' configs and summaries ------------------------------------


def test_the_blocks_match_in_size_and_differ_only_in_the_block():
    base = dataclasses.replace(TINY, num_heads=2, intermediate_dim=48)
    configs = gpt_blocks.block_configs(base, num_key_value_heads=1)
    sizes = {k: gpt_blocks.parameters(c) for k, c in configs.items()}
    # Widths move in steps of 8: 3 matrices x D x 8 per layer; the match
    # is within half a step.
    half_step = 3 * base.model_dim * base.num_layers * 4
    assert abs(sizes["modern"] - sizes["gpt2"]) <= half_step
    a, b = (dataclasses.asdict(configs[k]) for k in ("gpt2", "modern"))
    differ = {k for k in a if a[k] != b[k]}
    assert differ == {"architecture", "num_key_value_heads", "intermediate_dim"}


def test_window_arm_is_rope_with_half_the_context():
    config = tstl.arm_config(
        dataclasses.replace(TINY, context_length=64), "window"
    )
    assert (config.positions, config.sliding_window) == ("rope", 32)
    assert tstl.arm_config(TINY, "alibi").position_kind == "alibi"
    with pytest.raises(ValueError, match="`arm`"):
        tstl.arm_config(TINY, "t5")


def test_blocks_summary_pairs_by_seed():
    def fake(block, seed, bits):
        return {
            "block": block,
            "seed": seed,
            "intermediate_dim": 8,
            "parameters": 100,
            "train_seconds": 1.0,
            "validation": {"bits_per_character": bits},
            "test": {"bits_per_character": bits + 0.1},
        }

    runs = [
        fake("gpt2", 0, 2.0),
        fake("modern", 0, 1.8),
        fake("gpt2", 1, 2.2),
        fake("modern", 1, 2.1),
        fake("gpt2", 2, 2.1),
        fake("modern", 2, 1.95),
    ]
    summary = gpt_blocks.summarize(runs)
    gain = summary["gpt2_minus_modern_validation"]
    assert gain["per_seed"] == [0.2, 0.1, 0.15]
    assert gain["mean"] == pytest.approx(0.15)
    assert gain["interval"][0] > 0  # every seed favours modern
    assert summary["modern"]["validation"]["mean"] == pytest.approx(1.95)
    text = gpt_blocks.markdown({"summary": summary})
    assert "| modern | 100 | 8 | 1.950 ± 0.150 |" in text

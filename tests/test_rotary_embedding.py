import math

import keras
import numpy as np
import pytest
from keras import ops

from keras_attn.layers.rotary_embedding import RotaryEmbedding
from tests.layer_contract import run_layer_contract

B, T, N, H = 2, 5, 3, 8
X = np.random.default_rng(0).normal(size=(B, T, N, H)).astype("float32")
THETA = 10000.0 ** (-np.arange(0, H, 2) / H)  # (H/2,) float64


def _np(x):
    return ops.convert_to_numpy(x)


def _np_rope(x, positions, inv_freq, mscale=1.0):
    """Reference on `(B, T, N, H)`: rotate each pair `(x_i, x_{i+d/2})`.

    `positions` is `(T,)` or `(B, T)`; features from `d = 2·len(inv_freq)`
    on pass through.
    """
    x = x.astype("float64")
    positions = np.broadcast_to(positions, x.shape[:2]).astype("float64")
    half = len(inv_freq)
    out = x.copy()
    for i in range(half):
        angle = positions[:, :, None] * inv_freq[i]  # (B, T, 1)
        c, s = mscale * np.cos(angle), mscale * np.sin(angle)
        a, b = x[..., i], x[..., i + half]
        out[..., i] = a * c - b * s
        out[..., i + half] = b * c + a * s
    return out


# Positions with per-example rows, up to 40 (float32 angles stay exact to
# ~1e-5) and beyond `original_max_length=8` for the dynamic case.
POSITIONS = np.array([[0, 1, 2, 17, 40], [7, 3, 9, 31, 4]], "int32")
# YaRN for d = 8, b = 1e4, L0 = 1024, β = 32, α = 1, by hand: the
# dimension whose wavelength 2π·b^(2i/d) fits r times in L0 is
# i(r) = 8·ln(1024 / (2πr)) / (2·ln 1e4): i(32) = 0.71 -> floor 0,
# i(1) = 2.21 -> ceil 3, so the ramp over i = 0..3 is γ = (0, 1/3, 2/3, 1):
# θ_0 kept, θ_3 divided by s = 4.
YARN_RAMP = np.array([0.0, 1.0 / 3.0, 2.0 / 3.0, 1.0])
DYNAMIC_BASE = 10000.0 * (2.0 * 41 / 8 - 1.0) ** (8 / 6)  # L = 41, s = 2

CASES = {
    "plain": ({}, THETA, 1.0),
    "partial": (
        {"rotary_dim": 4},
        10000.0 ** (-np.arange(0, 4, 2) / 4),
        1.0,
    ),
    "linear": ({"scaling": "linear", "scaling_factor": 2.0}, THETA / 2, 1.0),
    "dynamic": (
        {"scaling": "dynamic", "scaling_factor": 2.0, "original_max_length": 8},
        DYNAMIC_BASE ** (-np.arange(0, H, 2) / H),
        1.0,
    ),
    "dynamic_within_original": (  # L = 41 <= L0: the plain angles
        {
            "scaling": "dynamic",
            "scaling_factor": 2.0,
            "original_max_length": 64,
        },
        THETA,
        1.0,
    ),
    "yarn": (
        {"scaling": "yarn", "scaling_factor": 4.0, "original_max_length": 1024},
        THETA * (1 - YARN_RAMP) + THETA / 4.0 * YARN_RAMP,
        0.1 * math.log(4.0) + 1.0,
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_matches_numpy_reference(case):
    init, inv_freq, mscale = CASES[case]
    out = _np(RotaryEmbedding(**init)(X, positions=POSITIONS))
    expected = _np_rope(X, POSITIONS, inv_freq, mscale)
    np.testing.assert_allclose(out, expected, atol=2e-5)
    if "rotary_dim" in init:  # the features after rotary_dim pass through
        np.testing.assert_array_equal(out[..., 4:], X[..., 4:])


@pytest.mark.parametrize("case", ["plain", "yarn"])
def test_scores_depend_only_on_the_position_difference(case):
    rope = RotaryEmbedding(**CASES[case][0])
    q, k = np.random.default_rng(1).normal(size=(2, B, T, N, H))
    gaps = np.array([[4, -3, 0, 7, 2], [1, 5, -6, 4, 9]], "int32")  # (B, T)

    def scores(p_q, p_k):  # (B, T, N): q at p_q · k at p_k
        return np.sum(
            _np(rope(q, positions=p_q)) * _np(rope(k, positions=p_k)), -1
        )

    zero = np.zeros((B, T), "int32")
    reference = scores(zero, gaps)
    for start in (POSITIONS, 3 * POSITIONS + 11):
        np.testing.assert_allclose(
            scores(start, start + gaps), reference, atol=1e-4
        )
    assert np.abs(scores(zero, gaps + 1) - reference).max() > 1e-2


def _traced(rope, x):
    """`rope(x, start_index=s)` with `s` traced where the backend traces."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        fn = tf.function(lambda s: rope(x, start_index=s), autograph=False)
        return lambda s: fn(tf.constant(s))
    if backend == "jax":
        import jax

        return jax.jit(lambda s: rope(x, start_index=s))
    return lambda s: rope(x, start_index=ops.convert_to_tensor(s, "int32"))


@pytest.mark.parametrize("case", ["partial", "yarn"])
def test_start_index_equals_slicing_the_full_sequence(case):
    # Prefill + cache: tokens [5, 9) at start_index=5 are rows 5..8 of the
    # full [0, 9) sequence, also with a traced start_index.
    init, inv_freq, mscale = CASES[case]
    rope = RotaryEmbedding(**init)
    x = np.random.default_rng(2).normal(size=(B, 9, N, H)).astype("float32")
    full = _np(rope(x))  # the default positions are 0..8
    np.testing.assert_allclose(
        full, _np_rope(x, np.arange(9), inv_freq, mscale), atol=1e-5
    )
    np.testing.assert_allclose(
        _np(rope(x[:, 5:], start_index=5)), full[:, 5:], atol=1e-5
    )
    traced = _traced(rope, x[:, 5:])
    np.testing.assert_allclose(_np(traced(5)), full[:, 5:], atol=1e-5)
    np.testing.assert_allclose(  # one trace, another index
        _np(traced(2)), _np(rope(x[:, 5:], start_index=2)), atol=1e-5
    )


def test_layouts():
    # The reference cases already use per-example (B, T) positions.
    rope = RotaryEmbedding(scaling="linear", scaling_factor=2.0)
    expected = _np_rope(X, POSITIONS, THETA / 2)  # (B, T, N, H)
    heads_first = np.transpose(X, (0, 2, 1, 3))  # (B, N, T, H)
    np.testing.assert_allclose(
        _np(rope(heads_first, positions=POSITIONS, sequence_axis=2)),
        np.transpose(expected, (0, 2, 1, 3)),
        atol=2e-5,
    )
    np.testing.assert_allclose(  # (B, T, D)
        _np(rope(X[:, :, 0], positions=POSITIONS)), expected[:, :, 0], atol=2e-5
    )
    features_first = np.transpose(X[:, :, 0], (0, 2, 1))  # (B, H, T)
    out = rope(
        features_first, positions=POSITIONS, sequence_axis=2, feature_axis=1
    )
    np.testing.assert_allclose(
        _np(out), np.transpose(expected[:, :, 0], (0, 2, 1)), atol=2e-5
    )


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_computes_angles_in_float32(policy):
    # Positions near 1000 are 8 apart in bfloat16: angles computed in the
    # compute dtype would be off by radians, not by the output rounding.
    positions = np.arange(1000, 1000 + T, dtype="int32")
    x = X.astype("float32")
    reference = _np(RotaryEmbedding()(x, positions=positions))
    out = RotaryEmbedding(dtype=policy)(x, positions=positions)
    assert keras.backend.standardize_dtype(out.dtype) == policy[6:]
    np.testing.assert_allclose(
        _np(ops.cast(out, "float32")), reference, atol=0.05
    )


def test_layer_contract():
    # (B, T, N, H) as in MultiHeadAttention, per-example positions as a
    # symbolic input, partial rotary and YaRN's temperature.
    run_layer_contract(
        RotaryEmbedding,
        {
            "rotary_dim": 4,
            "scaling": "yarn",
            "scaling_factor": 4.0,
            "original_max_length": 16,
        },
        {"inputs": X, "positions": POSITIONS},
        expected_output_shape=(B, T, N, H),
        expect_trainable_weights=False,
    )


def test_get_config_round_trip_keeps_the_outputs():
    rope = RotaryEmbedding(
        max_wavelength=500,
        rotary_dim=4,
        scaling="dynamic",
        scaling_factor=3.0,
        original_max_length=4,
        yarn_beta_fast=16.0,
        yarn_beta_slow=2.0,
    )
    clone = RotaryEmbedding.from_config(rope.get_config())
    assert clone.get_config() == rope.get_config()
    np.testing.assert_array_equal(
        _np(clone(X, start_index=7)), _np(rope(X, start_index=7))
    )


BAD_ARGUMENTS = [  # (init, inputs, call kwargs, expected in the message)
    ({}, np.zeros((B, T, N, 7), "float32"), {}, "feature size=7"),
    ({"rotary_dim": 10}, X, {}, "rotary_dim=10"),
    ({"rotary_dim": 3}, None, {}, "rotary_dim=3"),
    ({"scaling": "ntk"}, None, {}, "scaling='ntk'"),
    ({"scaling": "yarn"}, None, {}, "original_max_length=None"),
    ({"scaling": "dynamic", "scaling_factor": 2.0}, None, {}, "=None"),
    ({"scaling": "linear", "scaling_factor": 0.5}, None, {}, "factor=0.5"),
    ({"scaling_factor": 2.0}, None, {}, "scaling_factor=2.0"),
    ({"max_wavelength": 1}, None, {}, "max_wavelength=1"),
    ({"yarn_beta_fast": 1.0}, None, {}, "yarn_beta_fast=1.0"),
    ({}, X, {"start_index": 1.5}, "start_index=1.5"),
    ({}, X, {"positions": np.zeros(T, "float32")}, "positions.shape"),
    ({}, X, {"positions": np.zeros(4, "int32")}, r"T=5"),
    ({}, X, {"sequence_axis": -1}, "sequence_axis=-1"),
]


def test_bad_arguments_raise_value_errors_naming_them():
    # One test, not one per case: each pytest item costs a session reset.
    for init, inputs, call, received in BAD_ARGUMENTS:
        with pytest.raises(ValueError, match=received):
            RotaryEmbedding(**init)(inputs, **call)

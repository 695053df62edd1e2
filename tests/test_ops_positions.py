"""The position-bias ops on their own: ALiBi slopes and bias, T5 buckets.

Fast, value-level tests written to kill mutants (docs/testing.md); the
layers that use these ops have their own tests.
"""

import keras
import numpy as np
import pytest
from keras import ops

from keras_attn.ops import alibi_bias
from keras_attn.ops import alibi_slopes
from keras_attn.ops import relative_position_bucket
from tests.references import t5_bucket

RELATIVE = np.arange(-300, 301)


def _np(x):
    return ops.convert_to_numpy(x)


@pytest.mark.parametrize(
    "num_heads, exponents",
    [
        # N a power of two: 2^(-8h/N), h = 1..N.
        (1, [8]),
        (2, [4, 8]),
        (4, [2, 4, 6, 8]),
        # N = 6: the 4 slopes of N = 4, then every other slope of N = 8
        # (2^-1, 2^-3), as in Press et al.'s reference code.
        (6, [2, 4, 6, 8, 1, 3]),
        # N = 3: the 2 slopes of N = 2, then the first of N = 4's odd ones.
        (3, [4, 8, 2]),
    ],
)
def test_alibi_slopes_match_hand_computed_powers_of_two(num_heads, exponents):
    slopes = alibi_slopes(num_heads)
    assert slopes.dtype == np.float32
    np.testing.assert_array_equal(slopes, 2.0 ** -np.array(exponents, float))


@pytest.mark.parametrize("num_heads", [0, -2, True, 2.0, "4"])
def test_alibi_slopes_reject_a_non_positive_integer(num_heads):
    with pytest.raises(ValueError) as info:
        alibi_slopes(num_heads)
    assert str(info.value) == (
        "`num_heads` must be a positive integer. Received: "
        f"num_heads={num_heads!r}"
    )


def test_alibi_bias_is_minus_slope_times_distance():
    q_pos = np.array([0, 3, 4])  # T = 3, not contiguous
    k_pos = np.array([0, 1, 2, 3, 4, 7])  # S = 6
    slopes = np.array([0.5, 0.25], "float32")  # N = 2
    bias = _np(alibi_bias(q_pos, k_pos, slopes))
    want = -slopes[:, None, None] * np.abs(k_pos[None, :] - q_pos[:, None])
    assert bias.shape == (2, 3, 6) and bias.dtype == np.float32
    np.testing.assert_array_equal(bias, want)


def test_alibi_bias_is_float32_whatever_floatx():
    # Computed in float32 even where Keras' default float is float16, which
    # would round positions above 2048 and the slope 0.3.
    q_pos = np.array([0, 3001])
    k_pos = np.array([1, 4097, 5001])
    slopes = np.array([0.3], "float64")
    floatx = keras.config.floatx()
    keras.config.set_floatx("float16")
    try:
        bias = alibi_bias(q_pos, k_pos, slopes)
    finally:
        keras.config.set_floatx(floatx)
    assert keras.backend.standardize_dtype(bias.dtype) == "float32"
    distance = np.abs(k_pos[None, :] - q_pos[:, None]).astype("float32")
    want = -np.float32(0.3) * distance
    np.testing.assert_array_equal(_np(bias)[0], want)


@pytest.mark.parametrize("bidirectional", [True, False])
def test_bucket_defaults_match_the_t5_reference(bidirectional):
    # The defaults (32 buckets, max distance 128) are part of the contract:
    # T5 checkpoints are trained with them. Distances 113 (decoder) and
    # 91 (encoder) sit just past a log-bucket edge, so a different
    # max_distance moves them.
    if bidirectional:
        got = relative_position_bucket(RELATIVE)
    else:
        got = relative_position_bucket(RELATIVE, bidirectional=False)
    want = [t5_bucket(int(r), bidirectional, 32, 128) for r in RELATIVE]
    got = _np(got)
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("bidirectional", [True, False])
def test_bucket_does_not_depend_on_floatx(bidirectional):
    # Under floatx float16 a bare Python int became int16 on TensorFlow
    # and the bidirectional sum failed; buckets are integer arithmetic.
    floatx = keras.config.floatx()
    keras.config.set_floatx("float16")
    try:
        got = _np(relative_position_bucket(RELATIVE, bidirectional))
    finally:
        keras.config.set_floatx(floatx)
    want = [t5_bucket(int(r), bidirectional, 32, 128) for r in RELATIVE]
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("bidirectional", [True, False])
@pytest.mark.parametrize("num_buckets, max_distance", [(8, 20), (10, 64)])
def test_bucket_other_sizes_match_the_t5_reference(
    bidirectional, num_buckets, max_distance
):
    got = relative_position_bucket(
        RELATIVE,
        bidirectional=bidirectional,
        num_buckets=num_buckets,
        max_distance=max_distance,
    )
    want = [
        t5_bucket(int(r), bidirectional, num_buckets, max_distance)
        for r in RELATIVE
    ]
    np.testing.assert_array_equal(_np(got), want)

import keras
import numpy as np
import pytest
from keras import ops

from keras_attn.layers.relative_position_bias import RelativePositionBias
from tests.layer_contract import run_layer_contract
from tests.references import t5_bucket

N, T, S = 2, 3, 5


def _np(x):
    return ops.convert_to_numpy(x)


# (relative, bidirectional, bucket) for 32 buckets, max_distance 128, by
# hand. Bidirectional: 16 per direction, 8 exact; past keys 0..15, future
# keys 16..31; distance n >= 8 -> 8 + int(ln(n/8) / ln(16) · 8), e.g.
# n = 12: 8 + int(1.17) = 9; n = 20: 8 + int(2.64) = 10; n = 50:
# 8 + int(5.29) = 13; n = 100: 8 + int(7.29) = 15; n = 200: 8 + 9 -> 15.
# Causal: 16 exact, n >= 16 -> 16 + int(ln(n/16) / ln(8) · 16), e.g.
# n = 20: 16 + int(1.72) = 17; n = 100: 16 + int(14.1) = 30.
HAND = [
    (0, True, 0),
    (-1, True, 1),
    (1, True, 17),
    (-7, True, 7),
    (7, True, 23),
    (-12, True, 9),
    (-20, True, 10),
    (20, True, 26),
    (-50, True, 13),
    (-100, True, 15),
    (-200, True, 15),
    (200, True, 31),
    (5, False, 0),
    (-5, False, 5),
    (-20, False, 17),
    (-100, False, 30),
    (-200, False, 31),
]


def test_buckets_match_hand_computed_values():
    for relative, bidirectional, expected in HAND:
        assert t5_bucket(relative, bidirectional, 32, 128) == expected
    for bidirectional in (True, False):
        bias = RelativePositionBias(1, bidirectional=bidirectional)
        bias.embeddings.assign(np.arange(32, dtype="float32")[:, None])
        for relative, direction, expected in HAND:
            if direction == bidirectional:
                # the first query at 4 - relative sees key 4 at `relative`
                out = _np(bias(4, 9, query_offset=4 - relative))
                assert out[0, 0, 0, 4] == expected, relative


@pytest.mark.parametrize("bidirectional", [True, False])
def test_matches_numpy_reference(bidirectional):
    # 8 buckets, max_distance 6: exact, logarithmic and clipped distances
    # all occur for queries at 3..6 and keys at 0..8.
    layer = RelativePositionBias(
        N, num_buckets=8, max_distance=6, bidirectional=bidirectional
    )
    table = np.arange(16, dtype="float32").reshape(8, N) ** 1.5
    layer.embeddings.assign(table)
    out = _np(layer(4, 9, query_offset=3))
    assert out.shape == (1, N, 4, 9)
    buckets = np.array(
        [
            [t5_bucket(j - (3 + i), bidirectional, 8, 6) for j in range(9)]
            for i in range(4)
        ]
    )  # (T, S)
    assert len(np.unique(buckets)) >= 6
    expected = np.transpose(table[buckets], (2, 0, 1))[None]  # (1, N, T, S)
    np.testing.assert_array_equal(out, expected)


def _traced_offset(layer, query_length, key_length):
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        fn = tf.function(
            lambda o: layer(query_length, key_length, query_offset=o),
            autograph=False,
        )
        return lambda o: fn(tf.constant(o))
    if backend == "jax":
        import jax

        return jax.jit(lambda o: layer(query_length, key_length, o))
    return lambda o: layer(
        query_length, key_length, ops.convert_to_tensor(o, "int32")
    )


def test_query_offset_equals_slicing_the_full_bias():
    layer = RelativePositionBias(
        N, num_buckets=8, max_distance=6, embeddings_initializer="random_normal"
    )
    full = _np(layer(9, 9))  # (1, N, 9, 9), queries at 0..8
    table = _np(layer.embeddings)
    buckets = [
        [t5_bucket(j - i, True, 8, 6) for j in range(9)] for i in range(9)
    ]
    np.testing.assert_array_equal(
        full[0], np.transpose(table[buckets], (2, 0, 1))
    )
    np.testing.assert_array_equal(
        _np(layer(4, 9, query_offset=5)), full[:, :, 5:]
    )
    one_step = _traced_offset(layer, 1, 9)  # a KV-cached decoding step
    for index in (0, 4, 8):
        np.testing.assert_array_equal(
            _np(one_step(index)), full[:, :, index : index + 1]
        )


@keras.saving.register_keras_serializable(package="keras_attn_tests")
class LogitsPlusBias(keras.layers.Layer):
    """`logits (B, N, T, S) + RelativePositionBias(**bias_config)(T, S)`.

    The contract feeds tensors; the bias layer takes lengths, so it runs
    inside this host (weights, saving, fit and mixed precision included).
    """

    def __init__(self, bias_config, **kwargs):
        super().__init__(**kwargs)
        self.bias_config = dict(bias_config)
        self.bias = RelativePositionBias(
            **self.bias_config, dtype=self.dtype_policy, name="bias"
        )

    def call(self, logits):
        return logits + self.bias(logits.shape[2], logits.shape[3])

    def compute_output_shape(self, logits_shape):
        return tuple(logits_shape)

    def get_config(self):
        return {**super().get_config(), "bias_config": self.bias_config}


def test_layer_contract():
    logits = np.random.default_rng(0).normal(size=(4, N, T, S))
    config = {"num_heads": N, "num_buckets": 6, "max_distance": 4}
    hosted = {RelativePositionBias: LogitsPlusBias}
    run_layer_contract(
        hosted[RelativePositionBias],
        {"bias_config": config},
        {"logits": logits.astype("float32")},
        expected_output_shape=(4, N, T, S),
    )
    layer = RelativePositionBias(**config, embeddings_initializer="ones")
    clone = RelativePositionBias.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    np.testing.assert_array_equal(_np(clone(T, S, 2)), _np(layer(T, S, 2)))
    for policy in ("mixed_float16", "mixed_bfloat16"):
        out = RelativePositionBias(N, dtype=policy)(T, S)
        assert keras.backend.standardize_dtype(out.dtype) == policy[6:]


def test_gradient_reaches_the_table():
    # One SGD step (learning rate 1) on mse(bias, y) from a zero table moves
    # each table entry by minus its gradient, the sum of 2(bias - y)/size
    # over the (head, query, key) cells in that bucket.
    config = {"num_heads": N, "num_buckets": 6, "max_distance": 4}
    host = LogitsPlusBias(config)
    model = keras.Sequential([keras.Input((N, T, S)), host])
    model.compile(keras.optimizers.SGD(1.0), "mse")
    y = np.random.default_rng(1).normal(size=(1, N, T, S)).astype("float32")
    model.fit(np.zeros_like(y), y, epochs=1, verbose=0)
    moved = _np(host.bias.embeddings)  # started at zeros
    buckets = np.array(
        [[t5_bucket(j - i, True, 6, 4) for j in range(S)] for i in range(T)]
    )
    expected = np.zeros((6, N))
    for h in range(N):
        np.add.at(expected[:, h], buckets, 2.0 * y[0, h] / y.size)
    assert np.abs(expected[np.unique(buckets)]).min() > 1e-3
    np.testing.assert_allclose(moved, expected, rtol=1e-4, atol=1e-6)


def test_bad_arguments_raise_value_errors_naming_them():
    for init, received in [
        ({"num_heads": 0}, "num_heads=0"),
        ({"num_buckets": 1, "bidirectional": False}, "num_buckets=1"),
        ({"num_buckets": 2}, "num_buckets=2"),
        ({"num_buckets": 7}, "num_buckets=7"),
        ({"num_buckets": 32, "max_distance": 8}, "max_distance=8"),
        (
            {"num_buckets": 32, "max_distance": 16, "bidirectional": False},
            "max_distance=16",
        ),
    ]:
        with pytest.raises(ValueError, match=received):
            RelativePositionBias(**{"num_heads": N, **init})
    with pytest.raises(ValueError, match="query_offset=1.5"):
        RelativePositionBias(N)(T, S, query_offset=1.5)
    with pytest.raises(ValueError, match="key_length=0"):
        RelativePositionBias(N)(T, 0)

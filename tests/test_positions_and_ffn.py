import math

import keras
import numpy as np
import pytest
from keras import ops

from keras_attn import FeedForward
from keras_attn import PositionEmbedding
from keras_attn import SinusoidalPositionEncoding
from keras_attn import TokenAndPositionEmbedding
from tests.layer_contract import run_layer_contract

B, T, D = 2, 3, 6


def _np(x):
    return ops.convert_to_numpy(x)


def _paper_sinusoid(length, depth, start=0, wavelength=10000.0):
    pe = np.zeros((length, depth))
    for pos in range(start, start + length):
        for i in range(0, depth, 2):
            angle = pos / wavelength ** (i / depth)
            pe[pos - start, i] = np.sin(angle)
            if i + 1 < depth:
                pe[pos - start, i + 1] = np.cos(angle)
    return pe


@pytest.mark.parametrize("depth, start", [(6, 0), (7, 4)])
def test_sinusoid_matches_the_paper_formula(depth, start):
    x = np.zeros((B, T, depth), "float32")
    pe = _np(SinusoidalPositionEncoding()(x, start_index=start))
    assert pe.shape == (B, T, depth)
    np.testing.assert_allclose(
        pe[1], _paper_sinusoid(T, depth, start), atol=1e-5
    )


def test_position_embedding_slices_from_start_index():
    layer = PositionEmbedding(max_length=5)
    x = np.zeros((B, 2, D), "float32")
    first = _np(layer(x))
    table = _np(layer.position_embeddings)
    np.testing.assert_array_equal(first[0], table[:2])
    np.testing.assert_array_equal(_np(layer(x, start_index=3))[1], table[3:])
    with pytest.raises(ValueError, match="max_length=5"):
        layer(np.zeros((B, 6, D), "float32"))


def test_token_and_position_embedding_math_mask_and_tied_logits():
    ids = np.array([[3, 5, 0], [7, 1, 2]], "int32")
    layer = TokenAndPositionEmbedding(
        11,
        4,
        D,
        mask_zero=True,
        position_encoding="sinusoidal",
        scale_embeddings=True,
    )
    out = _np(layer(ids))
    table = _np(layer.token_embedding.embeddings)
    expected = table[ids] * np.sqrt(D) + _paper_sinusoid(T, D)[None]
    np.testing.assert_allclose(out, expected, atol=1e-5)
    np.testing.assert_array_equal(_np(layer.compute_mask(ids)), ids != 0)
    x = np.random.default_rng(0).normal(size=(B, T, D)).astype("float32")
    np.testing.assert_allclose(
        _np(layer.compute_logits(x)), x @ table.T, atol=1e-5
    )
    with pytest.raises(ValueError, match="position_encoding='rope'"):
        TokenAndPositionEmbedding(11, 4, D, position_encoding="rope")
    with pytest.raises(ValueError, match="vocabulary_size=0"):
        TokenAndPositionEmbedding(0, 4, D)


def test_feed_forward_matches_numpy():
    x = np.random.default_rng(1).normal(size=(B, T, D)).astype("float32")
    ffn = FeedForward(intermediate_dim=5, output_dim=4)
    out = _np(ffn(x))
    w1, b1 = (_np(w) for w in ffn.intermediate_dense.weights)
    w2, b2 = (_np(w) for w in ffn.output_dense.weights)
    expected = np.maximum(x @ w1 + b1, 0.0) @ w2 + b2
    assert out.shape == (B, T, 4)
    np.testing.assert_allclose(out, expected, atol=1e-5)
    with pytest.raises(ValueError, match="intermediate_dim=0"):
        FeedForward(0)
    with pytest.raises(ValueError, match="dropout=-0.1"):
        FeedForward(4, dropout=-0.1)


def _silu(x):
    return x / (1.0 + np.exp(-x))


def _gelu_tanh(x):
    return 0.5 * x * (1.0 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))


def _gelu_exact(x):
    erf = np.vectorize(math.erf)
    return 0.5 * x * (1.0 + erf(x / np.sqrt(2.0)))


@pytest.mark.parametrize(
    "init, act",
    [
        ({"activation": "swiglu", "use_bias": False}, _silu),  # Llama
        ({"activation": "geglu"}, _gelu_tanh),  # T5 v1.1, Gemma
        ({"activation": "gelu", "gated": True}, _gelu_exact),
    ],
)
def test_gated_feed_forward_matches_numpy(init, act):
    x = np.random.default_rng(2).normal(size=(B, T, D)).astype("float32")
    ffn = FeedForward(
        intermediate_dim=5,
        output_dim=4,
        bias_initializer="random_normal",
        **init,
    )
    out = _np(ffn(x))

    def dense(layer):  # x W + b, biases absent when use_bias=False
        kernel, *bias = (_np(w).astype("float64") for w in layer.weights)
        return lambda h: h @ kernel + sum(bias)

    gate, up, down = (
        dense(ffn.gate_dense),
        dense(ffn.intermediate_dense),
        dense(ffn.output_dense),
    )
    expected = down(act(gate(x)) * up(x))  # (act(x W_gate) * x W_up) W_down
    np.testing.assert_allclose(out, expected, atol=1e-5)
    config = ffn.get_config()
    assert config["gated"] is True
    assert config["activation"] == init["activation"]
    clone = FeedForward.from_config(config)
    assert clone.get_config() == config
    clone(x)
    clone.set_weights(ffn.get_weights())
    np.testing.assert_array_equal(_np(clone(x)), out)


def test_ungated_feed_forward_keeps_its_weights_and_config():
    ffn = FeedForward(5, activation="gelu")
    ffn(np.zeros((B, T, D), "float32"))
    assert not hasattr(ffn, "gate_dense")
    assert [w.path for w in ffn.weights] == [
        "feed_forward/intermediate_dense/kernel",
        "feed_forward/intermediate_dense/bias",
        "feed_forward/output_dense/kernel",
        "feed_forward/output_dense/bias",
    ]  # the paths old weight files were saved under
    config = ffn.get_config()
    assert (config["activation"], config["gated"]) == ("gelu", False)
    del config["gated"]  # a config saved before the gated variants
    assert FeedForward.from_config(config).gated is False


def test_feed_forward_parameter_count():
    for init, params in [
        ({}, D * 5 + 5 + 5 * D + D),
        ({"gated": True}, 2 * (D * 5 + 5) + 5 * D + D),
        ({"activation": "swiglu", "use_bias": False}, 2 * D * 5 + 5 * D),
    ]:
        ffn = FeedForward(5, **init)
        ffn.build((B, T, D))
        assert ffn.count_params() == params, init


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_gated_feed_forward_under_mixed_precision(policy):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(B, T, D)).astype("float32")
    ffn = FeedForward(5, activation="swiglu", dtype=policy)
    reference = FeedForward(5, activation="swiglu")
    ffn.build(x.shape)
    reference.build(x.shape)
    weights = [rng.normal(size=w.shape).astype("float32") for w in ffn.weights]
    ffn.set_weights(weights)
    reference.set_weights(weights)
    out = ffn(x)
    assert keras.backend.standardize_dtype(out.dtype) == policy[6:]
    assert ffn.gate_dense.kernel.dtype == "float32"
    expected = _np(reference(x))
    error = np.abs(_np(ops.cast(out, "float32")) - expected).max()
    assert error < 0.03 * np.abs(expected).max(), error  # a few roundings


def test_gated_feed_forward_layer_contract():
    x = np.random.default_rng(4).normal(size=(B, T, D)).astype("float32")
    run_layer_contract(
        FeedForward,
        {"intermediate_dim": 12, "activation": "geglu", "dropout": 0.1},
        {"inputs": x},
        expected_output_shape=(B, T, D),
    )


def test_feed_forward_rejects_unknown_activations():
    for activation in ("swishglu", "reglu", 3):
        with pytest.raises(ValueError, match=f"activation={activation!r}"):
            FeedForward(4, activation=activation)


def test_masks_pass_through_position_layers():
    ids = np.array([[3, 0, 0]], "int32")
    emb = keras.layers.Embedding(10, D, mask_zero=True)(ids)
    for layer in (SinusoidalPositionEncoding(), PositionEmbedding(4)):
        out = layer(emb)
        mask = getattr(out, "_keras_mask", None)
        assert mask is not None
        np.testing.assert_array_equal(_np(mask), ids != 0)


def test_tied_logits_follow_training_in_a_functional_model():
    ids = np.array([[3, 5, 1], [7, 1, 2]], "int32")
    emb = TokenAndPositionEmbedding(11, 4, D)
    inputs = keras.Input((3,), dtype="int32")
    logits = emb.compute_logits(emb(inputs))
    model = keras.Model(inputs, logits)
    model.compile(keras.optimizers.SGD(0.5), "sparse_categorical_crossentropy")
    model.fit(ids, ids, epochs=2, verbose=0)
    table = _np(emb.token_embedding.embeddings)
    x = _np(emb(ids))
    np.testing.assert_allclose(
        _np(model(ids)), x @ table.T, atol=1e-4
    )  # uses the *trained* table, not a constant copy of the initial one


def test_tied_logits_carry_the_positions_mask_not_one_from_floats():
    # Keras computes an output mask from the layer's first input only; for
    # `reverse=True` that input is (B, T, D) floats, whose `!= 0` would be
    # a bogus (B, T, D) all-True mask that breaks masked losses.
    ids = np.array([[3, 5, 0]], "int32")
    emb = TokenAndPositionEmbedding(11, 4, D, mask_zero=True)
    logits = emb.compute_logits(emb(ids))
    mask = getattr(logits, "_keras_mask", None)
    assert mask is not None
    np.testing.assert_array_equal(_np(mask), ids != 0)  # (B, T)
    unmasked = TokenAndPositionEmbedding(11, 4, D)
    x = np.ones((1, 3, D), "float32")
    assert getattr(unmasked.compute_logits(x), "_keras_mask", None) is None


@pytest.mark.parametrize(
    "start_index,received",
    [
        (4, "start_index=4"),  # 4 + T > max_length
        (7, "start_index=7"),
        (-1, "start_index=-1"),
        (np.int64(4), "start_index=4"),
        ("tensor", "start_index=4"),  # an eager integer tensor
        (1.5, "start_index=1.5"),
    ],
)
def test_position_embedding_rejects_start_index_off_the_table(
    start_index, received
):
    layer = PositionEmbedding(max_length=5)
    x = np.zeros((B, 2, D), "float32")
    layer(x, start_index=3)  # the last valid start for T = 2
    if isinstance(start_index, str):
        start_index = ops.convert_to_tensor(4, "int32")
    with pytest.raises(ValueError, match=received):
        layer(x, start_index=start_index)


def test_token_and_position_embedding_rejects_start_index_past_the_table():
    layer = TokenAndPositionEmbedding(11, 4, D)
    ids = np.array([[3, 5, 1]], "int32")
    layer(ids, start_index=1)
    with pytest.raises(ValueError, match=r"start_index=2.*\(1, 3, 6\)"):
        layer(ids, start_index=2)


def test_position_embedding_traced_start_index_is_not_checked():
    # Pins what the docstring promises for a traced `start_index`: it keeps
    # working in range; past the table the backend's slice decides.
    layer = PositionEmbedding(max_length=5)
    x = np.zeros((B, 2, D), "float32")
    layer(x)
    table = _np(layer.position_embeddings)
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        fn = tf.function(lambda s: layer(x, start_index=s), autograph=False)
        np.testing.assert_array_equal(_np(fn(tf.constant(3)))[1], table[3:])
        with pytest.raises(tf.errors.InvalidArgumentError):
            fn(tf.constant(4))
    elif backend == "jax":
        import jax

        fn = jax.jit(lambda s: layer(x, start_index=s))
        np.testing.assert_array_equal(_np(fn(3))[1], table[3:])
        np.testing.assert_array_equal(_np(fn(4))[1], table[3:])  # clamped
    else:  # torch runs eagerly: the value is always known
        index = ops.convert_to_tensor(3, "int32")
        np.testing.assert_array_equal(
            _np(layer(x, start_index=index))[1], table[3:]
        )
        with pytest.raises(ValueError, match="start_index=4"):
            layer(x, start_index=ops.convert_to_tensor(4, "int32"))


def test_tied_logits_gradient_reaches_the_token_table():
    # The tied output layer must train the table through the logits: a
    # `stop_gradient` on it would leave the table unchanged below. The model
    # sees only float features, so the logits are the table's one path to
    # the loss; one plain-SGD step with learning rate 1 moves the table by
    # exactly -dL/dE, checked against the analytic gradient of
    # mse(x @ Eᵀ, 1). Backend-agnostic: `fit` does the differentiation.
    vocab = 11
    emb = TokenAndPositionEmbedding(vocab, 4, D, position_encoding="sinusoidal")
    emb(np.array([[1, 2, 3]], "int32"))  # build
    rng = np.random.default_rng(3)
    emb.token_embedding.embeddings.assign(
        rng.normal(size=(vocab, D)).astype("float32")
    )
    assert [w.name for w in emb.trainable_weights] == ["embeddings"]
    features = keras.Input((T, D))
    model = keras.Model(features, emb.compute_logits(features))
    model.compile(keras.optimizers.SGD(1.0), "mse")
    x = rng.normal(size=(B, T, D)).astype("float32")
    y = np.ones((B, T, vocab), "float32")
    table = _np(emb.token_embedding.embeddings).astype("float64")
    model.fit(x, y, batch_size=B, epochs=1, shuffle=False, verbose=0)
    moved = table - _np(emb.token_embedding.embeddings)  # = lr · dL/dE
    logits = x.astype("float64") @ table.T  # (B, T, V)
    d_logits = 2.0 * (logits - y) / y.size  # mse averages every entry
    expected = np.einsum("btv,btd->vd", d_logits, x)  # (V, D)
    assert np.linalg.norm(expected, axis=1).min() > 1e-2  # every token
    np.testing.assert_allclose(moved, expected, rtol=1e-3, atol=1e-6)

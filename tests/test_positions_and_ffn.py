import keras
import numpy as np
import pytest
from keras import ops

from keras_attn import FeedForward
from keras_attn import PositionEmbedding
from keras_attn import SinusoidalPositionEncoding
from keras_attn import TokenAndPositionEmbedding

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

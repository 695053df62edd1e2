import keras
import numpy as np
import pytest
from keras import ops

from keras_attn import TransformerDecoder
from keras_attn import TransformerDecoderBlock
from keras_attn import TransformerEncoder
from keras_attn import TransformerEncoderBlock

B, T, S, D = 2, 4, 5, 8
rng = np.random.default_rng(0)
X = rng.normal(size=(B, T, D)).astype("float32")
MEM = rng.normal(size=(B, S, 6)).astype("float32")
MEM_MASK = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)
X_MASK = np.array([[1, 1, 1, 0], [1, 1, 1, 1]], bool)


def _np(x):
    return ops.convert_to_numpy(ops.cast(x, "float32"))


@pytest.mark.parametrize("norm_first", [False, True])
def test_encoder_block_composes_its_sublayers(norm_first):
    block = TransformerEncoderBlock(2, 12, norm_first=norm_first)
    out = _np(block(X))
    ln1 = block.self_attention_layer_norm
    ln2 = block.feed_forward_layer_norm
    x = ops.convert_to_tensor(X)  # not NumPy: ndarray + torch tensor fails
    if norm_first:
        h = x + block.self_attention(ln1(x))
        expected = h + block.feed_forward(ln2(h))
    else:
        h = ln1(x + block.self_attention(x))
        expected = ln2(h + block.feed_forward(h))
    np.testing.assert_allclose(out, _np(expected), atol=1e-5)


def test_encoder_padding_invariance_and_keras_mask():
    block = TransformerEncoderBlock(2, 12)
    x2 = X.copy()
    x2[0, 3] = 50.0  # a padded position
    a = _np(block(X, mask=X_MASK))
    b = _np(block(x2, mask=X_MASK))
    np.testing.assert_allclose(a[0, :3], b[0, :3], atol=1e-5)
    np.testing.assert_allclose(a[1], b[1], atol=1e-6)
    # The same mask arriving as a Keras mask from an Embedding.
    ids = np.array([[3, 4, 5, 0], [1, 2, 3, 4]], "int32")
    emb = keras.layers.Embedding(8, D, mask_zero=True)
    e = emb(ids)
    np.testing.assert_allclose(
        _np(block(e)), _np(block(e, mask=ids != 0)), atol=1e-6
    )
    _, w = block(e, return_attention_scores=True)
    assert np.all(_np(w)[0, :, :3, 3] == 0.0)


@pytest.mark.parametrize(
    "policy", ["float32", "mixed_float16", "mixed_bfloat16"]
)
def test_decoder_is_causal_with_dropout_in_every_precision(policy):
    y = rng.normal(size=(B, T, D)).astype("float32")
    y2 = y.copy()
    y2[:, 2:] += 3.0
    outs = []
    for inputs in (y, y2):
        keras.utils.set_random_seed(0)
        dec = TransformerDecoder(
            2, num_heads=2, intermediate_dim=12, dropout=0.2, dtype=policy
        )
        dec.blocks[
            0
        ].self_attention.seed_generator = keras.random.SeedGenerator(3)
        outs.append(_np(dec(inputs, MEM, training=True)))
    np.testing.assert_array_equal(outs[0][:, :2], outs[1][:, :2])
    assert not np.allclose(outs[0][:, 2:], outs[1][:, 2:], atol=1e-2)


@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_stack_cache_equals_full_pass(norm_first):
    dec = TransformerDecoder(
        2, num_heads=2, intermediate_dim=12, norm_first=norm_first
    )
    full, scores = dec(
        X, MEM, encoder_outputs_mask=MEM_MASK, return_attention_scores=True
    )
    full = _np(full)
    cache = dec.init_cache(B, T + 1, MEM)
    steps = []
    for i in range(T):
        out, cache = dec(
            X[:, i : i + 1],
            cache=cache,
            cache_index=i,
            encoder_outputs_mask=MEM_MASK,
        )
        steps.append(_np(out))
    np.testing.assert_allclose(np.concatenate(steps, 1), full, atol=1e-5)
    self_w, cross_w = (_np(w) for w in scores[1])
    assert self_w.shape == (B, 2, T, T) and cross_w.shape == (B, 2, T, S)
    assert np.all(cross_w[0, :, :, 3:] == 0.0)
    assert np.all(
        np.triu(np.ones((T, T), bool), 1)[None, None] <= (self_w == 0)
    )


def test_decoder_only_block_cache_and_errors():
    block = TransformerDecoderBlock(2, 12)
    full = _np(block(X))
    cache = block.init_cache(B, T)
    a, cache = block(X[:, :1], cache=cache, cache_index=0)
    b, cache = block(X[:, 1:], cache=cache, cache_index=1)
    np.testing.assert_allclose(
        np.concatenate([_np(a), _np(b)], 1), full, atol=1e-5
    )
    with pytest.raises(ValueError, match="without cross-attention"):
        block(X, MEM)
    cross = TransformerDecoderBlock(2, 12)
    cross(X, MEM)
    with pytest.raises(ValueError, match="encoder_outputs=None"):
        cross(X)
    with pytest.raises(ValueError, match="encoder_outputs=None"):
        cross.init_cache(B, T)


def test_decoder_stack_misused_cache_raises():
    dec = TransformerDecoder(2, num_heads=2, intermediate_dim=12)
    dec(X, MEM)
    cache = dec.init_cache(B, T, MEM)
    with pytest.raises(ValueError, match="one entry per block"):
        dec(X[:, :1], cache=cache[:1], cache_index=0)
    for index in (T, -1):  # == max_length, negative: never clamped
        with pytest.raises(ValueError, match=f"cache_index={index}"):
            dec(X[:, :1], cache=cache, cache_index=index)
    with pytest.raises(ValueError, match="cache_index=2"):  # 3 tokens at 2 of 4
        dec(X[:, :3], cache=cache, cache_index=2)
    with pytest.raises(ValueError, match="cache_index"):  # index forgotten
        dec(X[:, :1], cache=cache)


def test_decoder_stack_takes_an_attention_mask():
    # Hide key 0 from every query: equal to a model that never saw it.
    dec = TransformerDecoder(2, num_heads=2, intermediate_dim=12)
    keep = np.ones((B, T, T), bool)
    keep[:, 1:, 0] = False
    x2 = X.copy()
    x2[:, 0] += 10.0  # changes token 0, which the others may not see
    a = _np(dec(X, MEM, attention_mask=keep))
    b = _np(dec(x2, MEM, attention_mask=keep))
    np.testing.assert_allclose(a[:, 1:], b[:, 1:], atol=1e-5)
    assert not np.allclose(_np(dec(X, MEM))[:, 1:], _np(dec(x2, MEM))[:, 1:])


def test_encoder_stack_returns_each_blocks_scores():
    enc = TransformerEncoder(2, num_heads=2, intermediate_dim=12)
    out, scores = enc(X, mask=X_MASK, return_attention_scores=True)
    np.testing.assert_allclose(_np(out), _np(enc(X, mask=X_MASK)), atol=1e-6)
    assert len(scores) == 2
    # Block i's weights are those of block i applied to its own input.
    h = X
    for block, weights in zip(enc.blocks, scores):
        h, expected = block(h, mask=X_MASK, return_attention_scores=True)
        np.testing.assert_allclose(_np(weights), _np(expected), atol=1e-6)
    assert np.all(_np(scores[1])[0, :, :, 3] == 0.0)  # padded key
    assert not np.allclose(_np(scores[0]), _np(scores[1]))


def test_encoder_stack_padding_invariance_and_final_norm():
    enc = TransformerEncoder(
        2, num_heads=2, intermediate_dim=12, norm_first=True
    )
    assert enc.final_layer_norm is not None
    x2 = X.copy()
    x2[0, 3] = -20.0
    a = _np(enc(X, mask=X_MASK))
    b = _np(enc(x2, mask=X_MASK))
    np.testing.assert_allclose(a[0, :3], b[0, :3], atol=1e-5)
    assert (
        TransformerEncoder(2, num_heads=2, intermediate_dim=12).final_layer_norm
        is None
    )


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"num_heads": 0, "intermediate_dim": 4}, "num_heads=0"),
        ({"num_heads": 2, "intermediate_dim": 0}, "intermediate_dim=0"),
        ({"num_heads": 2, "intermediate_dim": 4, "dropout": 2}, "dropout=2"),
        (
            {"num_heads": 2, "intermediate_dim": 4, "layer_norm_epsilon": 0},
            "layer_norm_epsilon=0",
        ),
    ],
)
def test_bad_block_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TransformerEncoderBlock(**kwargs)
    with pytest.raises(ValueError, match=match):
        TransformerDecoderBlock(**kwargs)


def test_bad_stack_arguments():
    with pytest.raises(ValueError, match="num_layers=0"):
        TransformerEncoder(0, num_heads=2, intermediate_dim=4)

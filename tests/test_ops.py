import keras
import numpy as np
import pytest
from keras import ops

from keras_attn.ops import attend
from keras_attn.ops import causal_mask
from keras_attn.ops import merge_masks
from keras_attn.ops import padding_mask
from keras_attn.ops import scaled_dot_product_attention

B, T, S, H, HV = 2, 3, 5, 4, 6


def _qkv(seed=0, dtype="float32"):
    rng = np.random.default_rng(seed)
    q = rng.normal(size=(B, T, H)).astype(dtype)
    k = rng.normal(size=(B, S, H)).astype(dtype)
    v = rng.normal(size=(B, S, HV)).astype(dtype)
    return q, k, v


def _reference(q, k, v, mask=None, bias=None, scale=None):
    q, k, v = (x.astype("float64") for x in (q, k, v))
    scale = 1 / np.sqrt(q.shape[-1]) if scale is None else scale
    logits = q @ np.swapaxes(k, -1, -2) * scale
    if bias is not None:
        logits = logits + bias
    if mask is None:
        mask = np.ones(logits.shape, bool)
    mask = np.broadcast_to(mask, logits.shape)
    logits = np.where(mask, logits, -np.inf)
    row_max = np.max(np.where(mask, logits, -1e300), -1, keepdims=True)
    e = np.where(mask, np.exp(logits - row_max), 0.0)
    w = e / np.maximum(e.sum(-1, keepdims=True), 1e-300)
    return w @ v, w


def _np(x):
    return ops.convert_to_numpy(x)


def _mask():
    m = np.ones((B, T, S), bool)
    m[0, :, 3:] = False  # key padding in the first example
    m[1, 2, :] = False  # one query that may attend nothing
    return m


def test_matches_numpy_reference_with_mask_bias_and_scale():
    q, k, v = _qkv()
    mask = _mask()
    bias = np.random.default_rng(1).normal(size=(T, S)).astype("float32")
    out, w = scaled_dot_product_attention(
        q, k, v, mask=mask, bias=bias, scale=0.3, return_weights=True
    )
    ref_out, ref_w = _reference(q, k, v, mask, bias, 0.3)
    np.testing.assert_allclose(_np(out), ref_out, atol=1e-5)
    np.testing.assert_allclose(_np(w), ref_w, atol=1e-6)


def test_default_scale_is_inverse_sqrt_depth():
    q, k, v = _qkv()
    out = scaled_dot_product_attention(q, k, v)
    np.testing.assert_allclose(_np(out), _reference(q, k, v)[0], atol=1e-5)
    wrong = _reference(q, k, v, scale=1.0)[0]
    assert not np.allclose(_np(out), wrong, atol=1e-3)


def test_weights_sum_to_one_and_are_exactly_zero_where_masked():
    q, k, v = _qkv()
    mask = _mask()
    _, w = scaled_dot_product_attention(q, k, v, mask=mask, return_weights=True)
    w = _np(w)
    assert np.all(w[~mask] == 0.0)
    row_has_key = mask.any(-1)
    np.testing.assert_allclose(w.sum(-1)[row_has_key], 1.0, atol=1e-6)


def test_fully_masked_row_gives_zeros_and_finite_gradients():
    q, k, v = _qkv()
    mask = _mask()
    out = _np(scaled_dot_product_attention(q, k, v, mask=mask))
    assert np.all(np.isfinite(out))
    assert np.all(out[1, 2] == 0.0)

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        qt = tf.Variable(q)
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(
                scaled_dot_product_attention(qt, k, v, mask=mask)
            )
        grad = tape.gradient(loss, qt).numpy()
        assert np.all(np.isfinite(grad))
        assert np.all(grad[1, 2] == 0.0)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_low_precision_is_finite_where_exp_would_overflow(dtype):
    q, k, v = _qkv()
    q = q * 30.0  # logits far beyond float16's exp range
    mask = _mask()
    low = [ops.cast(x, dtype) for x in (q, k, v)]
    out, w = scaled_dot_product_attention(*low, mask=mask, return_weights=True)
    assert keras.backend.standardize_dtype(out.dtype) == dtype
    out = _np(ops.cast(out, "float32"))
    w = _np(ops.cast(w, "float32"))
    assert np.all(np.isfinite(out)) and np.all(np.isfinite(w))
    assert np.all(w[~mask] == 0.0)
    np.testing.assert_allclose(w.sum(-1)[mask.any(-1)], 1.0, atol=0.02)


# Machine epsilon (spacing of numbers in [1, 2)) of the low-precision types.
EPSILON = {"float16": 2.0**-10, "bfloat16": 2.0**-7}


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_low_precision_matches_float64_reference(dtype):
    # Unsaturated logits (|q·k|/2 of order 1), so every weight matters and
    # a missing or doubled 1/sqrt(H) moves the outputs by tens of epsilons.
    q, k, v = _qkv()
    mask = _mask()
    low = [ops.cast(x, dtype) for x in (q, k, v)]
    out, w = scaled_dot_product_attention(*low, mask=mask, return_weights=True)
    out = _np(ops.cast(out, "float32"))
    w = _np(ops.cast(w, "float32"))
    # Reference on the same (rounded) inputs, so only the computation's
    # rounding counts: the scaled query, the logits and the weights are
    # each rounded once (eps/2 relative), and the weighted sum of 5 values
    # (|v| < 3) adds a few more roundings: 4 eps for outputs of size ~1,
    # 2 eps for weights in [0, 1].
    inputs = [_np(ops.cast(x, "float32")) for x in low]
    ref_out, ref_w = _reference(*inputs, mask=mask)
    eps = EPSILON[dtype]
    np.testing.assert_allclose(w, ref_w, rtol=0, atol=2 * eps)
    np.testing.assert_allclose(out, ref_out, rtol=0, atol=4 * eps)
    # The tolerance is far below the error of a wrong scale.
    for scale in (1.0, 1.0 / H):  # no 1/sqrt(H), or 1/sqrt(H) applied twice
        wrong = _reference(*inputs, mask=mask, scale=scale)[0]
        assert np.abs(wrong - ref_out).max() > 10 * 4 * eps


def test_dropout_zeroes_or_rescales_each_weight():
    q, k, v = _qkv()
    _, ref_w = _reference(q, k, v)
    _, w = scaled_dot_product_attention(
        q, k, v, dropout=0.5, training=True, seed=3, return_weights=True
    )
    w = _np(w)
    dropped = w == 0.0
    assert dropped.any() and not dropped.all()
    np.testing.assert_allclose(w[~dropped], 2.0 * ref_w[~dropped], rtol=1e-5)
    _, w_eval = scaled_dot_product_attention(
        q, k, v, dropout=0.5, training=False, return_weights=True
    )
    np.testing.assert_allclose(_np(w_eval), ref_w, atol=1e-6)


def test_attend_shares_the_masked_softmax_path():
    rng = np.random.default_rng(2)
    scores = rng.normal(size=(B, T, S)).astype("float32")
    v = rng.normal(size=(B, S, HV)).astype("float32")
    mask = _mask()
    out, w = attend(scores, v, mask=mask, return_weights=True)
    e = np.where(mask, np.exp(scores - scores.max(-1, keepdims=True)), 0)
    ref_w = e / np.maximum(e.sum(-1, keepdims=True), 1e-30)
    np.testing.assert_allclose(_np(w), ref_w, atol=1e-6)
    np.testing.assert_allclose(_np(out), ref_w @ v, atol=1e-5)


def test_causal_mask_is_lower_triangular_and_end_aligned():
    np.testing.assert_array_equal(
        _np(causal_mask(4)), np.tril(np.ones((4, 4), bool))
    )
    full = np.tril(np.ones((5, 5), bool))
    # A query continuing a cached prefix of 3 tokens: the last 2 rows.
    np.testing.assert_array_equal(_np(causal_mask(2, 5)), full[3:])
    np.testing.assert_array_equal(
        _np(causal_mask(2, 7, offset=1)),
        np.tril(np.ones((2, 7), bool), k=1),
    )


def test_causal_attention_ignores_future_keys():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(B, S, H)).astype("float32")
    out = _np(scaled_dot_product_attention(x, x, x, mask=causal_mask(S)))
    x2 = x.copy()
    x2[:, 3:] = rng.normal(size=x2[:, 3:].shape)
    out2 = _np(scaled_dot_product_attention(x2, x2, x2, mask=causal_mask(S)))
    np.testing.assert_allclose(out[:, :3], out2[:, :3], atol=1e-6)
    assert not np.allclose(out[:, 3:], out2[:, 3:], atol=1e-3)


def test_padding_mask_and_merge_masks():
    ids = np.array([[4, 5, 0, 0], [7, 0, 0, 0]])
    pm = _np(padding_mask(ids))
    assert pm.shape == (2, 1, 4)
    np.testing.assert_array_equal(pm[:, 0], ids != 0)
    np.testing.assert_array_equal(
        _np(padding_mask(ids, pad_id=7))[1, 0], [False, True, True, True]
    )
    merged = _np(merge_masks(padding_mask(ids), None, causal_mask(4)))
    assert merged.shape == (2, 4, 4)
    np.testing.assert_array_equal(
        merged, (ids != 0)[:, None, :] & np.tril(np.ones((4, 4), bool))
    )
    assert merge_masks(None, None) is None


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"mask": np.ones((B, T, S), "float32")}, "mask"),
        ({"mask": np.ones((B, T, 4), bool)}, "mask"),
        ({"bias": np.ones((B, 4, S), "float32")}, "bias"),
        ({"dropout": 1.0}, "dropout=1.0"),
        ({"scale": -1.0}, "scale=-1.0"),
    ],
)
def test_bad_arguments_raise_value_error_naming_them(kwargs, match):
    q, k, v = _qkv()
    with pytest.raises(ValueError, match=match):
        scaled_dot_product_attention(q, k, v, **kwargs)


def test_mismatched_shapes_raise_value_error():
    q, k, v = _qkv()
    with pytest.raises(ValueError, match="depth"):
        scaled_dot_product_attention(q, k[..., :3], v)
    with pytest.raises(ValueError, match="same length"):
        scaled_dot_product_attention(q, k, v[:, :4])
    with pytest.raises(ValueError, match="number of axes"):
        scaled_dot_product_attention(q[0], k, v)
    with pytest.raises(ValueError, match="key_length"):
        causal_mask(4, 2)
    with pytest.raises(ValueError, match="query_length=0"):
        causal_mask(0)
    with pytest.raises(ValueError, match="token_ids"):
        padding_mask(np.zeros((2, 3, 4), "int32"))
    with pytest.raises(ValueError, match="masks\\[1\\]"):
        merge_masks(causal_mask(2), np.ones((2, 2), "int32"))

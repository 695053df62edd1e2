import keras
import numpy as np
import pytest
from keras import ops

from keras_attn.ops import attend
from keras_attn.ops import causal_mask
from keras_attn.ops import lift_mask
from keras_attn.ops import masked_softmax
from keras_attn.ops import merge_masks
from keras_attn.ops import padding_mask
from keras_attn.ops import scaled_dot_product_attention
from keras_attn.ops import sliding_window_mask

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


# ---- Boundary cases and messages, written to kill mutants (docs/testing.md)


def test_causal_mask_boundaries():
    one = _np(causal_mask(1))
    assert one.shape == (1, 1) and one.dtype == bool and one.all()
    # One query continuing a prefix sees every key.
    np.testing.assert_array_equal(_np(causal_mask(1, 4)), [[True] * 4])
    # T == S with the default offset: lower-triangular, no error.
    np.testing.assert_array_equal(
        _np(causal_mask(3, 3)), np.tril(np.ones((3, 3), bool))
    )
    # An explicit offset lifts the T <= S check (a cache slot before T).
    np.testing.assert_array_equal(
        _np(causal_mask(3, 2, offset=0)), np.tril(np.ones((3, 2), bool))
    )
    # Lengths as tensors (a dynamic shape) give the same mask.
    tensor = _np(
        causal_mask(ops.convert_to_tensor(2), ops.convert_to_tensor(5))
    )
    np.testing.assert_array_equal(tensor, _np(causal_mask(2, 5)))


@pytest.mark.parametrize(
    "args, message",
    [
        (
            (0,),
            "`query_length` must be a positive integer. Received: "
            "query_length=0",
        ),
        (
            (True,),
            "`query_length` must be a positive integer. Received: "
            "query_length=True",
        ),
        (
            (2, 0),
            "`key_length` must be a positive integer. Received: key_length=0",
        ),
        (
            (2, False),
            "`key_length` must be a positive integer. Received: "
            "key_length=False",
        ),
        (
            (4, 2),
            "`key_length` must be >= `query_length` when the queries "
            "are aligned to the end of the keys. Received: query_length=4, "
            "key_length=2",
        ),
    ],
)
def test_causal_mask_argument_messages(args, message):
    with pytest.raises(ValueError) as info:
        causal_mask(*args)
    assert str(info.value) == message


def test_sliding_window_mask_values():
    rows = np.arange(4)[:, None]
    cols = np.arange(6)[None, :]
    for window, offset in [(1, 0), (2, 0), (3, 0), (2, 2), (1, 1)]:
        got = _np(sliding_window_mask(4, 6, window, offset=offset))
        want = np.abs(rows + offset - cols) < window
        assert got.shape == (4, 6) and got.dtype == bool
        np.testing.assert_array_equal(got, want, err_msg=f"{window=}")
    # The default offset is 0: queries and keys start together.
    np.testing.assert_array_equal(
        _np(sliding_window_mask(1, 3, 1)), [[True, False, False]]
    )


@pytest.mark.parametrize(
    "args, message",
    [
        (
            (0, 3, 2),
            "`query_length` must be a positive integer. Received: "
            "query_length=0",
        ),
        (
            (3, 0, 2),
            "`key_length` must be a positive integer. Received: key_length=0",
        ),
        ((3, 3, 0), "`window` must be a positive integer. Received: window=0"),
        (
            (3, 3, True),
            "`window` must be a positive integer. Received: window=True",
        ),
        (
            (3, 3, 2.0),
            "`window` must be a positive integer. Received: window=2.0",
        ),
    ],
)
def test_sliding_window_mask_argument_messages(args, message):
    with pytest.raises(ValueError) as info:
        sliding_window_mask(*args)
    assert str(info.value) == message


def test_padding_mask_pad_id_and_message():
    ids = np.array([[3, 1, 0], [1, 1, 2]], "int32")
    np.testing.assert_array_equal(
        _np(padding_mask(ids, pad_id=1)),
        [[[True, False, True]], [[False, False, True]]],
    )
    # The default pad id is 0.
    np.testing.assert_array_equal(
        _np(padding_mask(ids)), [[[True, True, False]], [[True, True, True]]]
    )
    # Ids beyond float32's exact integers are compared as integers.
    big = np.array([[2**24, 2**24 + 1]], "int32")
    np.testing.assert_array_equal(
        _np(padding_mask(big, pad_id=2**24)), [[[False, True]]]
    )
    with pytest.raises(ValueError) as info:
        padding_mask(np.zeros((4,), "int32"))
    assert str(info.value) == (
        "`token_ids` must have shape (batch, length). Received: "
        "token_ids.shape=(4,)"
    )


@pytest.mark.parametrize(
    "rank, axis, shape",
    [
        (3, "query", (2, 5, 1)),
        (3, "key", (2, 1, 5)),
        (4, "query", (2, 1, 5, 1)),
        (4, "key", (2, 1, 1, 5)),
        (5, "key", (2, 1, 1, 1, 5)),
    ],
)
def test_lift_mask_shapes_and_values(rank, axis, shape):
    seq = np.array([[True, True, False, True, False]] * 2)
    lifted = _np(lift_mask(seq, rank, axis))
    assert lifted.shape == shape
    np.testing.assert_array_equal(lifted.reshape(2, 5), seq)


def test_lift_mask_rejects_an_unknown_axis():
    with pytest.raises(ValueError) as info:
        lift_mask(np.ones((2, 5), bool), 3, "value")
    assert str(info.value) == (
        '`axis` must be "query" or "key". Received: axis=\'value\''
    )


def test_check_mask_names_the_argument_and_accepts_lists():
    np.testing.assert_array_equal(
        _np(merge_masks([[True, False]])), [[True, False]]
    )
    with pytest.raises(ValueError) as info:
        scaled_dot_product_attention(*_qkv(), mask=np.ones((T, S), "int32"))
    assert str(info.value) == (
        "`mask` must be a boolean tensor where True means 'may attend'. "
        "Received: mask.dtype=int32. (A 0/1 float mask is ambiguous: some "
        "libraries use 1 for 'masked'.)"
    )
    # One mask comes back unchanged; three are and-ed.
    m = causal_mask(3)
    assert merge_masks(None, m) is m
    a, b, c = (np.random.default_rng(i).random((3, 3)) > 0.4 for i in range(3))
    np.testing.assert_array_equal(_np(merge_masks(a, b, c)), a & b & c)


def test_broadcast_masks_and_bias_match_the_reference():
    # A padding mask (B, 1, S) and a bias (1, T, 1): size-1 axes broadcast.
    q, k, v = _qkv()
    ids = np.array([[1, 2, 3, 0, 0], [1, 2, 3, 4, 5]])
    mask = _np(padding_mask(ids))
    bias = np.array([[[0.5], [-1.0], [2.0]]], "float32")
    out, w = scaled_dot_product_attention(
        q, k, v, mask=mask, bias=bias, return_weights=True
    )
    ref_out, ref_w = _reference(q, k, v, mask, bias)
    np.testing.assert_allclose(_np(w), ref_w, atol=1e-6)
    np.testing.assert_allclose(_np(out), ref_out, atol=1e-5)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            {"mask": np.ones((1, B, T, S), bool)},
            "`mask` has more axes than scores.shape. Received: "
            "mask.shape=(1, 2, 3, 5), scores.shape=(2, 3, 5)",
        ),
        (
            {"mask": np.ones((B, 2, S), bool)},
            "`mask` does not broadcast to scores.shape. Received: "
            "mask.shape=(2, 2, 5), scores.shape=(2, 3, 5)",
        ),
        (
            {"bias": np.ones((B, T, 4), "float32")},
            "`bias` does not broadcast to scores.shape. Received: "
            "bias.shape=(2, 3, 4), scores.shape=(2, 3, 5)",
        ),
        (
            {"dropout": -0.1},
            "`dropout` must be in [0, 1). Received: dropout=-0.1",
        ),
        ({"scale": 0}, "`scale` must be positive. Received: scale=0"),
        (
            {"logit_soft_cap": 0.0},
            "`logit_soft_cap` must be a positive number. Received: "
            "logit_soft_cap=0.0",
        ),
        (
            {"logit_soft_cap": True},
            "`logit_soft_cap` must be a positive number. Received: "
            "logit_soft_cap=True",
        ),
        (
            {"logit_soft_cap": "2"},
            "`logit_soft_cap` must be a positive number. Received: "
            "logit_soft_cap='2'",
        ),
        (
            {"sinks": np.zeros((B, T, 2), "float32")},
            "`sinks` does not broadcast to (..., T, 1). Received: "
            "sinks.shape=(2, 3, 2), (..., T, 1)=(2, 3, 1)",
        ),
    ],
)
def test_argument_messages_name_the_argument_and_value(kwargs, message):
    with pytest.raises(ValueError) as info:
        scaled_dot_product_attention(*_qkv(), **kwargs)
    assert str(info.value) == message


def test_shape_messages_echo_the_shapes():
    q, k, v = _qkv()
    cases = [
        (
            (q[0, 0], k, v),
            "`query` must have at least 2 axes (..., length, depth). "
            "Received: query.shape=(4,)",
        ),
        (
            (q, k[0, 0], v),
            "`key` must have at least 2 axes (..., length, depth). "
            "Received: key.shape=(4,)",
        ),
        (
            (q, k, v[0, 0]),
            "`value` must have at least 2 axes (..., length, depth). "
            "Received: value.shape=(6,)",
        ),
        (
            (q, k[0], v),
            "`query`, `key` and `value` must have the same number of axes. "
            "Received: query.shape=(2, 3, 4), key.shape=(5, 4), "
            "value.shape=(2, 5, 6)",
        ),
        (
            (q, k[..., :3], v),
            "`query` and `key` must have the same depth (last axis). "
            "Received: query.shape=(2, 3, 4), key.shape=(2, 5, 3)",
        ),
        (
            (q, k, v[:, :4]),
            "`key` and `value` must have the same length (axis -2). "
            "Received: key.shape=(2, 5, 4), value.shape=(2, 4, 6)",
        ),
    ]
    for args, message in cases:
        with pytest.raises(ValueError) as info:
            scaled_dot_product_attention(*args)
        assert str(info.value) == message
    with pytest.raises(ValueError) as info:
        attend(np.zeros((B, T, S), "float32"), v[:, :4])
    assert str(info.value) == (
        "The key axis of `scores` and the length axis of `value` differ. "
        "Received: scores.shape=(2, 3, 5), value.shape=(2, 4, 6)"
    )


def test_rank_two_inputs_and_a_one_dimensional_mask():
    # The smallest rank (T, H); a (S,) key mask.
    q, k, v = (x[0] for x in _qkv())
    mask = np.array([True, False, True, True, False])
    out, w = scaled_dot_product_attention(
        q, k, v, mask=mask, return_weights=True
    )
    ref_out, ref_w = _reference(q, k, v, mask)
    np.testing.assert_allclose(_np(w), ref_w, atol=1e-6)
    np.testing.assert_allclose(_np(out), ref_out, atol=1e-5)


@pytest.mark.parametrize("mask_rank", [1, 2, 3])
def test_nan_in_a_key_no_query_attends_never_reaches_the_output(mask_rank):
    q, k, v = _qkv()
    v = v.copy()
    v[:, 3] = np.nan  # key 3 is padding for every query
    mask = np.ones((B, T, S), bool)
    mask[:, :, 3] = False
    mask[0, 1, 0] = False  # and a row-dependent gap elsewhere
    mask = {1: mask[0, 0], 2: mask[0], 3: mask}[mask_rank]
    out = _np(scaled_dot_product_attention(q, k, v, mask=mask))
    v[:, 3] = 0.0
    np.testing.assert_allclose(out, _reference(q, k, v, mask)[0], atol=1e-5)


@pytest.mark.parametrize("cap", [1.5, 1])
def test_soft_cap_matches_the_reference(cap):
    q, k, v = _qkv()
    q = q * 4.0  # logits beyond the cap, so tanh bends them
    out, w = scaled_dot_product_attention(
        q, k, v, logit_soft_cap=cap, return_weights=True
    )
    logits = q.astype("float64") @ np.swapaxes(k, -1, -2) / np.sqrt(H)
    capped = cap * np.tanh(logits / cap)
    e = np.exp(capped - capped.max(-1, keepdims=True))
    ref_w = e / e.sum(-1, keepdims=True)
    np.testing.assert_allclose(_np(w), ref_w, atol=1e-6)
    np.testing.assert_allclose(_np(out), ref_w @ v, atol=1e-5)


@pytest.mark.tf_only  # JAX is float32-only unless x64 is enabled
def test_float64_stays_float64():
    # Depth 3: 1/sqrt(3) is not a float32 number, so a scale or a softmax
    # computed in float32 misses the 1e-12 tolerance.
    q, k, v = (x.astype("float64") for x in _qkv())
    q, k = q[..., :3], k[..., :3]
    bias = np.random.default_rng(7).normal(size=(T, S))  # float64 too
    out, w = scaled_dot_product_attention(
        q,
        k,
        v,
        mask=_mask(),
        bias=bias,
        logit_soft_cap=3.0,
        return_weights=True,
    )
    assert keras.backend.standardize_dtype(w.dtype) == "float64"
    logits = q @ np.swapaxes(k, -1, -2) / np.sqrt(3)
    logits = 3.0 * np.tanh(logits / 3.0) + bias
    e = np.where(_mask(), np.exp(logits - logits.max(-1, keepdims=True)), 0)
    ref_w = e / np.maximum(e.sum(-1, keepdims=True), 1e-300)
    np.testing.assert_allclose(_np(w), ref_w, rtol=0, atol=1e-12)
    np.testing.assert_allclose(_np(out), ref_w @ v, rtol=0, atol=1e-12)


@pytest.mark.parametrize("axis", [-1, 2])
def test_sinks_join_the_denominator(axis):
    rng = np.random.default_rng(5)
    scores = rng.normal(size=(B, T, S)).astype("float32")
    sinks = np.array([[[0.5], [-1.0], [2.0]]], "float32")  # (1, T, 1)
    mask = _mask()
    w = _np(masked_softmax(scores, mask, axis=axis, sinks=sinks))
    e = np.where(mask, np.exp(scores.astype("float64")), 0.0)
    ref = e / (e.sum(-1, keepdims=True) + np.exp(sinks.astype("float64")))
    np.testing.assert_allclose(w, ref, atol=1e-6)
    with pytest.raises(ValueError) as info:
        masked_softmax(scores, sinks=sinks, axis=1)
    assert str(info.value) == (
        "`sinks` needs the key axis last. Received: axis=1"
    )


def test_dropout_only_in_training_and_seeded():
    q, k, v = _qkv()
    ref = _reference(q, k, v)[0]
    out = scaled_dot_product_attention(q, k, v, dropout=0.0, training=True)
    np.testing.assert_allclose(_np(out), ref, atol=1e-5)
    # `training` defaults to False: no dropout.
    out = scaled_dot_product_attention(q, k, v, dropout=0.5)
    np.testing.assert_allclose(_np(out), ref, atol=1e-5)
    # The seed is passed on: the same seed drops the same weights.
    a, b = (
        scaled_dot_product_attention(
            q, k, v, dropout=0.5, training=True, seed=7, return_weights=True
        )[1]
        for _ in range(2)
    )
    np.testing.assert_array_equal(_np(a), _np(b))


def test_symbolic_inputs_with_unknown_dims():
    # None static dims skip the static checks instead of failing them.
    q = keras.KerasTensor((None, None, H))
    k = keras.KerasTensor((None, None, H))
    v = keras.KerasTensor((None, None, HV))
    mask = keras.KerasTensor((None, None, None), dtype="bool")
    out = scaled_dot_product_attention(q, k, v, mask=mask, bias=np.zeros(S))
    assert tuple(out.shape) == (None, None, HV)
    k = keras.KerasTensor((B, S, H))
    out = scaled_dot_product_attention(
        keras.KerasTensor((B, T, H)), k, keras.KerasTensor((B, None, HV))
    )
    assert tuple(out.shape) == (B, T, HV)
    out = scaled_dot_product_attention(keras.KerasTensor((B, T, H)), k, v)
    assert tuple(out.shape) == (B, T, HV)
    out = scaled_dot_product_attention(
        keras.KerasTensor((B, T, H)), keras.KerasTensor((B, S, None)), v
    )
    assert tuple(out.shape) == (B, T, HV)


@pytest.mark.tf_only
def test_unknown_depth_scales_by_the_runtime_depth():
    import tensorflow as tf

    q, k, v = _qkv()
    spec = tf.TensorSpec((None, None, None), "float32")

    @tf.function(input_signature=[spec, spec, spec])
    def run(q, k, v):
        return scaled_dot_product_attention(q, k, v)

    np.testing.assert_allclose(
        run(q, k, v).numpy(), _reference(q, k, v)[0], atol=1e-5
    )


def test_a_functional_model_with_unknown_depth_scales_at_run_time():
    # The depth of a symbolic `keras.Input((T, None))` is None when the
    # model is built; the 1/sqrt(H) scale must come from the data.
    q, k, v = _qkv()
    mask = np.random.default_rng(7).random((B, T, S)) > 0.3
    inputs = [
        keras.Input((T, None)),
        keras.Input((S, None)),
        keras.Input((S, HV)),
        keras.Input((T, S), dtype="bool"),
    ]
    out = scaled_dot_product_attention(*inputs[:3], mask=inputs[3])
    assert tuple(out.shape) == (None, T, HV)
    model = keras.Model(inputs, out)
    got = _np(model([q, k, v, mask]))
    np.testing.assert_allclose(got, _reference(q, k, v, mask)[0], atol=1e-5)


def test_attend_defaults_and_its_length_check_with_unknown_dims():
    rng = np.random.default_rng(6)
    scores = rng.normal(size=(B, T, S)).astype("float32")
    v = rng.normal(size=(B, S, HV)).astype("float32")
    # No weights returned and no dropout unless asked for.
    out = attend(scores, v, dropout=0.5)
    e = np.exp(scores - scores.max(-1, keepdims=True))
    ref = (e / e.sum(-1, keepdims=True)) @ v
    np.testing.assert_allclose(_np(out), ref, atol=1e-5)
    # An unknown query length does not hide a key/value length mismatch.
    with pytest.raises(ValueError, match="The key axis of `scores`"):
        attend(keras.KerasTensor((B, None, S)), keras.KerasTensor((B, 4, HV)))


def test_masked_softmax_over_another_axis_and_float64_sinks():
    rng = np.random.default_rng(8)
    scores = rng.normal(size=(B, T, S))
    mask = _mask()
    w = _np(masked_softmax(scores.astype("float32"), mask, axis=-2))
    e = np.where(mask, np.exp(scores), 0.0)
    ref = e / np.maximum(e.sum(-2, keepdims=True), 1e-300)
    np.testing.assert_allclose(w, ref, atol=1e-6)
    if keras.backend.backend() != "tensorflow":
        return  # float64 needs x64 on JAX
    sinks = rng.normal(size=(1, T, 1))  # float64, not float32 numbers
    w = _np(masked_softmax(scores, mask, sinks=sinks))
    e = np.where(mask, np.exp(scores), 0.0)
    ref = e / (e.sum(-1, keepdims=True) + np.exp(sinks))
    np.testing.assert_allclose(w, ref, rtol=0, atol=1e-12)


def test_masked_softmax_of_float32_or_lower_is_float32():
    for dtype in ("float32", "float16"):
        scores = ops.cast(np.zeros((T, S)), dtype)
        w = masked_softmax(scores)
        assert keras.backend.standardize_dtype(w.dtype) == "float32"

"""Behaviour of the `ScaledDotProductAttention` layer's masks.

The generic contract (tests/test_core_contract.py) calls the layer without
masks; these tests check every mask the layer builds itself against a NumPy
reference. T=3 and S=5 differ, so a mask lifted on the wrong axis fails.
"""

import keras
import numpy as np
import pytest

import keras_attn

B, T, S, H, HV = 2, 3, 5, 4, 6
VALUE_MASK = np.array(
    [[True, True, True, False, False], [True, True, True, True, False]]
)
QUERY_MASK = np.array([[True, True, False], [True, True, True]])
# Queries aligned to the end of the keys: query i may attend key j <= i + 2.
CAUSAL = np.array(
    [
        [True, True, True, False, False],
        [True, True, True, True, False],
        [True, True, True, True, True],
    ]
)


def _qkv(heads=None):
    rng = np.random.default_rng(0)
    lead = (B,) if heads is None else (B, heads)
    q = rng.normal(size=lead + (T, H)).astype("float32")
    k = rng.normal(size=lead + (S, H)).astype("float32")
    v = rng.normal(size=lead + (S, HV)).astype("float32")
    return q, k, v


def _reference(q, k, v, mask):
    """softmax(Q Kᵀ / sqrt(H)) V in float64; a row with no key gives 0."""
    q, k, v = (x.astype("float64") for x in (q, k, v))
    logits = q @ np.swapaxes(k, -1, -2) / np.sqrt(H)
    mask = np.broadcast_to(mask, logits.shape)
    e = np.where(mask, np.exp(logits - logits.max(-1, keepdims=True)), 0.0)
    w = e / np.maximum(e.sum(-1, keepdims=True), 1e-300)
    return w @ v, w


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _check(out, w, q, k, v, mask):
    ref_out, ref_w = _reference(q, k, v, mask)
    mask = np.broadcast_to(mask, ref_w.shape)
    out, w = _np(out), _np(w)
    np.testing.assert_allclose(w, ref_w, atol=1e-6)
    np.testing.assert_allclose(out, ref_out, atol=1e-5)
    assert np.all(w[~mask] == 0.0)
    has_key = mask.any(-1)
    np.testing.assert_allclose(w.sum(-1)[has_key], 1.0, atol=1e-6)
    assert np.all(w[~has_key] == 0.0) and np.all(out[~has_key] == 0.0)


@pytest.mark.parametrize("heads", [None, 2], ids=["rank3", "rank4"])
def test_value_mask_masks_keys_for_every_query(heads):
    q, k, v = _qkv(heads)
    layer = keras_attn.ScaledDotProductAttention()
    out, w = layer(
        q, v, key=k, value_mask=VALUE_MASK, return_attention_scores=True
    )
    # (B, S) -> (B, [1,] 1, S): the same keys hidden from every query.
    mask = VALUE_MASK[:, None, :]
    if heads is not None:
        mask = mask[:, None]
    _check(out, w, q, k, v, mask)


def test_query_mask_zeroes_masked_query_rows_only():
    q, k, v = _qkv()
    layer = keras_attn.ScaledDotProductAttention()
    out, w = layer(
        q, v, key=k, query_mask=QUERY_MASK, return_attention_scores=True
    )
    _check(out, w, q, k, v, QUERY_MASK[:, :, None])
    # The unmasked rows are the plain unmasked attention.
    ref_out = _reference(q, k, v, np.ones((T, S), bool))[0]
    np.testing.assert_allclose(_np(out)[QUERY_MASK], ref_out[QUERY_MASK], 1e-5)


def test_use_causal_mask_is_end_aligned_and_ignores_future_keys():
    q, k, v = _qkv()
    layer = keras_attn.ScaledDotProductAttention()
    out, w = layer(
        q, v, key=k, use_causal_mask=True, return_attention_scores=True
    )
    _check(out, w, q, k, v, CAUSAL)
    # Changing the last key/value (visible to the last query only) leaves
    # the first two queries unchanged and changes the last one.
    k2, v2 = k.copy(), v.copy()
    k2[:, -1] += 3.0
    v2[:, -1] += 3.0
    out2 = _np(layer(q, v2, key=k2, use_causal_mask=True))
    np.testing.assert_allclose(out2[:, :2], _np(out)[:, :2], atol=1e-6)
    assert np.all(np.abs(out2[:, 2] - _np(out)[:, 2]).max(-1) > 1e-2)


def test_all_masks_combine_with_logical_and():
    q, k, v = _qkv()
    attention_mask = np.ones((B, T, S), bool)
    attention_mask[1, 0, 0] = False
    layer = keras_attn.ScaledDotProductAttention()
    out, w = layer(
        q,
        v,
        key=k,
        query_mask=QUERY_MASK,
        value_mask=VALUE_MASK,
        attention_mask=attention_mask,
        use_causal_mask=True,
        return_attention_scores=True,
    )
    mask = (
        attention_mask
        & QUERY_MASK[:, :, None]
        & VALUE_MASK[:, None, :]
        & CAUSAL[None]
    )
    _check(out, w, q, k, v, mask)


def test_keras_masks_from_embeddings_flow_into_the_layer():
    # Token 0 is padding; the Keras masks equal QUERY_MASK and VALUE_MASK.
    q_ids = np.array([[1, 2, 0], [3, 4, 5]], "int32")
    v_ids = np.array([[6, 7, 8, 0, 0], [9, 10, 11, 12, 0]], "int32")
    table = np.random.default_rng(1).normal(size=(13, H)).astype("float32")
    q_in = keras.Input((T,), dtype="int32")
    v_in = keras.Input((S,), dtype="int32")
    embed = keras.layers.Embedding(13, H, mask_zero=True)
    out, w = keras_attn.ScaledDotProductAttention()(
        embed(q_in), embed(v_in), return_attention_scores=True
    )
    model = keras.Model([q_in, v_in], [out, w])
    embed.set_weights([table])
    out, w = model([q_ids, v_ids])
    q, v = table[q_ids], table[v_ids]
    assert np.array_equal(q_ids != 0, QUERY_MASK)
    mask = QUERY_MASK[:, :, None] & VALUE_MASK[:, None, :]
    ref_out, _ = _reference(q, v, v, mask)
    _check(out, w, q, v, v, mask)
    assert np.all(_np(out)[0, 2] == 0.0)
    np.testing.assert_allclose(_np(out), ref_out, atol=1e-5)

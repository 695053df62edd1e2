"""The one attention core every keras_attn layer routes through.

`scaled_dot_product_attention` computes `softmax(Q Kᵀ · scale + bias) V`;
`attend` is its second half (masked softmax of given scores, then the
weighted sum of values), shared by layers whose *score* differs, such as
additive (Bahdanau) attention.

Precision: scores are upcast to at least float32 before the mask and the
softmax, so float16/bfloat16 inputs never see an overflowing `-1e9` or a
NaN; the weights are cast back to the value dtype for the weighted sum.
"""

import math

from keras import ops
from keras import random

from keras_attn.ops.masks import check_mask

# Added to masked logits (in float32 or wider). Finite, so that a row with
# every key masked gives a uniform softmax (then zeroed), never NaN, and
# gradients stay finite; exp(_MASK_VALUE - max) underflows to exactly 0.
_MASK_VALUE = -1e30


def _static_dim(x, axis):
    dim = x.shape[axis]
    return None if dim is None else int(dim)


def _check_broadcast(name, shape, target, target_name):
    """Static check that `shape` broadcasts to `target` (trailing axes)."""
    if len(shape) > len(target):
        raise ValueError(
            f"`{name}` has more axes than {target_name}. Received: "
            f"{name}.shape={tuple(shape)}, {target_name}={tuple(target)}"
        )
    for got, want in zip(reversed(shape), reversed(target)):
        if got is None or want is None or got == 1 or got == want:
            continue
        raise ValueError(
            f"`{name}` does not broadcast to {target_name}. Received: "
            f"{name}.shape={tuple(shape)}, {target_name}={tuple(target)}"
        )


def soft_cap(logits, cap):
    """`cap · tanh(logits / cap)` in at least float32 (Gemma 2's capping)."""
    if isinstance(cap, bool) or not isinstance(cap, (int, float)) or cap <= 0:
        raise ValueError(
            "`logit_soft_cap` must be a positive number. Received: "
            f"logit_soft_cap={cap!r}"
        )
    logits = ops.cast(logits, _softmax_dtype(logits.dtype))
    return ops.multiply(ops.tanh(ops.divide(logits, cap)), cap)


def _softmax_dtype(dtype):
    return "float64" if dtype == "float64" else "float32"


def masked_softmax(scores, mask=None, axis=-1, sinks=None):
    """Softmax over `axis` where `mask` is False contributes exactly 0.

    Computed in at least float32. A row with no key allowed returns all
    zeros (never NaN), so padded queries produce zero context vectors.

    Args:
        scores: float tensor `(..., T, S)`.
        mask: optional boolean tensor broadcastable to `scores`.
        axis: the key axis.
        sinks: optional logits of an extra "sink" key with a zero value,
            broadcastable to `(..., T, 1)` (the key axis last): it joins
            the softmax denominator, so a query can put weight on nothing
            (attention sinks, Xiao et al. 2024; learned per head in
            gpt-oss). Only with `axis=-1`.

    Returns:
        Float32 (or float64) weights with the shape of `scores`. With
        `sinks` the weights of a row sum to less than 1.
    """
    mask = check_mask(mask)
    if mask is not None:
        _check_broadcast("mask", mask.shape, scores.shape, "scores.shape")
    scores = ops.cast(scores, _softmax_dtype(scores.dtype))
    if mask is not None:
        scores = ops.where(mask, scores, ops.cast(_MASK_VALUE, scores.dtype))
    if sinks is None:
        weights = ops.softmax(scores, axis=axis)
    else:
        if axis not in (-1, len(scores.shape) - 1):
            raise ValueError(
                f"`sinks` needs the key axis last. Received: axis={axis}"
            )
        sinks = ops.convert_to_tensor(sinks)
        target = tuple(scores.shape[:-1]) + (1,)
        _check_broadcast("sinks", sinks.shape, target, "(..., T, 1)")
        sinks = ops.cast(sinks, scores.dtype)
        sinks = ops.broadcast_to(sinks, ops.shape(scores[..., :1]))
        both = ops.concatenate([scores, sinks], axis=-1)
        weights = ops.softmax(both, axis=-1)[..., :-1]
    if mask is None:
        return weights
    return ops.where(mask, weights, ops.zeros_like(weights))


def attend(
    scores,
    value,
    mask=None,
    bias=None,
    dropout=0.0,
    training=False,
    seed=None,
    return_weights=False,
    sinks=None,
):
    """Masked softmax of `scores` over keys, then the weighted sum of values.

    Args:
        scores: `(..., T, S)` attention logits (already scaled).
        value: `(..., S, Hv)`.
        mask: optional boolean, broadcastable to `(..., T, S)`, True = may
            attend.
        bias: optional float, broadcastable to `(..., T, S)`, added to the
            logits before the softmax.
        dropout: rate of dropout on the attention weights (training only).
        training: whether dropout is active.
        seed: int or `keras.random.SeedGenerator` for the dropout.
        return_weights: also return the weights `(..., T, S)`.
        sinks: optional sink logits broadcastable to `(..., T, 1)`, see
            `masked_softmax`.

    Returns:
        `(..., T, Hv)` context, and the weights if `return_weights`. The
        returned weights are the ones applied (after dropout). Value rows
        that no query may attend are zeroed first, so a NaN or inf in a
        padded position never reaches an output.
    """
    if not 0.0 <= dropout < 1.0:
        raise ValueError(
            f"`dropout` must be in [0, 1). Received: dropout={dropout}"
        )
    if _static_dim(value, -2) not in (None, _static_dim(scores, -1)) and (
        _static_dim(scores, -1) is not None
    ):
        raise ValueError(
            "The key axis of `scores` and the length axis of `value` differ."
            f" Received: scores.shape={tuple(scores.shape)}, "
            f"value.shape={tuple(value.shape)}"
        )
    if bias is not None:
        bias = ops.convert_to_tensor(bias)
        _check_broadcast("bias", bias.shape, scores.shape, "scores.shape")
        scores = ops.add(
            ops.cast(scores, _softmax_dtype(scores.dtype)),
            ops.cast(bias, _softmax_dtype(scores.dtype)),
        )
    weights = masked_softmax(scores, mask, sinks=sinks)  # (..., T, S)
    weights = ops.cast(weights, value.dtype)
    if mask is not None:
        # A weight of exactly 0 times a NaN/inf value row is still NaN, so
        # value rows no query may attend (padding) are zeroed: whatever a
        # padded position holds (a float16 overflow, a NaN) never reaches a
        # real output.
        mask = ops.convert_to_tensor(mask)
        if len(mask.shape) >= 2:
            attended = ops.any(mask, axis=-2)[..., None]  # (..., S, 1)
        else:
            attended = mask[..., None]  # (S, 1)
        value = ops.where(attended, value, ops.zeros_like(value))
    if training and dropout > 0.0:
        weights = random.dropout(weights, dropout, seed=seed)
    output = ops.matmul(weights, value)  # (..., T, Hv)
    if return_weights:
        return output, weights
    return output


def scaled_dot_product_attention(
    query,
    key,
    value,
    mask=None,
    bias=None,
    scale=None,
    dropout=0.0,
    training=False,
    seed=None,
    return_weights=False,
    logit_soft_cap=None,
    sinks=None,
):
    """Scaled dot-product attention: `softmax(Q Kᵀ · scale + bias) V`.

    Shapes use one legend: `...` any leading axes (batch, heads), T query
    length, S key length, H key/query depth, Hv value depth.

    Masking: `mask` is boolean and broadcastable to `(..., T, S)`; `True`
    means the query may attend that key. Masked weights are exactly 0; a
    query row with no allowed key gets all-zero weights and a zero output
    (never NaN). Non-boolean masks are rejected, because float masks in the
    wild use both polarities.

    Args:
        query: `(..., T, H)`.
        key: `(..., S, H)`.
        value: `(..., S, Hv)`.
        mask: optional boolean mask, see above.
        bias: optional additive logits bias broadcastable to `(..., T, S)`.
        scale: logits scale; defaults to `1 / sqrt(H)`.
        dropout: dropout rate on the attention weights, in [0, 1).
        training: apply dropout only when True.
        seed: int or `keras.random.SeedGenerator` for the dropout.
        return_weights: also return the attention weights.
        logit_soft_cap: optional positive float `c`: the scaled logits
            become `c · tanh(logits / c)` before the bias and the mask
            (Gemma 2), bounding them to `(-c, c)`.
        sinks: optional sink logits broadcastable to `(..., T, 1)`, see
            `masked_softmax`.

    Returns:
        `(..., T, Hv)`, and the weights `(..., T, S)` if `return_weights`.

    Example:
    >>> import numpy as np
    >>> q = np.ones((2, 3, 4), "float32")
    >>> k = np.ones((2, 5, 4), "float32")
    >>> v = np.ones((2, 5, 6), "float32")
    >>> tuple(scaled_dot_product_attention(q, k, v).shape)
    (2, 3, 6)

    Reference:
        Vaswani et al., "Attention Is All You Need", NeurIPS 2017, eq. (1).
    """
    query = ops.convert_to_tensor(query)
    key = ops.convert_to_tensor(key)
    value = ops.convert_to_tensor(value)
    for name, x in (("query", query), ("key", key), ("value", value)):
        if len(x.shape) < 2:
            raise ValueError(
                f"`{name}` must have at least 2 axes (..., length, depth). "
                f"Received: {name}.shape={tuple(x.shape)}"
            )
    if not len(query.shape) == len(key.shape) == len(value.shape):
        raise ValueError(
            "`query`, `key` and `value` must have the same number of axes. "
            f"Received: query.shape={tuple(query.shape)}, "
            f"key.shape={tuple(key.shape)}, value.shape={tuple(value.shape)}"
        )
    depth = _static_dim(query, -1)
    if _static_dim(key, -1) not in (None, depth) and depth is not None:
        raise ValueError(
            "`query` and `key` must have the same depth (last axis). "
            f"Received: query.shape={tuple(query.shape)}, "
            f"key.shape={tuple(key.shape)}"
        )
    s_key, s_value = _static_dim(key, -2), _static_dim(value, -2)
    if None not in (s_key, s_value) and s_key != s_value:
        raise ValueError(
            "`key` and `value` must have the same length (axis -2). "
            f"Received: key.shape={tuple(key.shape)}, "
            f"value.shape={tuple(value.shape)}"
        )
    if isinstance(scale, (int, float)) and scale <= 0:
        raise ValueError(f"`scale` must be positive. Received: scale={scale}")
    if scale is None and depth is None:
        # H is known only at run time (also for a symbolic KerasTensor,
        # whose `ops.shape` holds None): count the last axis as a tensor,
        # (..., 1, 1), in the query's dtype.
        depth = ops.sum(ops.ones_like(query[..., :1, :]), -1, keepdims=True)
        scale = ops.rsqrt(depth)
    elif scale is None:
        scale = 1.0 / math.sqrt(depth)
    if not isinstance(scale, (int, float)):
        scale = ops.cast(scale, query.dtype)
    # Scale the query (T·H values) rather than the logits (T·S values); in
    # float16 this also keeps the dot products further from overflow.
    # convert_to_tensor, not cast: cast rounds a Python float to float32
    # first, which costs float64 inputs half their precision.
    query = ops.multiply(query, ops.convert_to_tensor(scale, query.dtype))
    scores = ops.matmul(query, ops.swapaxes(key, -1, -2))  # (..., T, S)
    if logit_soft_cap is not None:
        scores = soft_cap(scores, logit_soft_cap)
    return attend(
        scores,
        value,
        mask=mask,
        bias=bias,
        dropout=dropout,
        training=training,
        seed=seed,
        return_weights=return_weights,
        sinks=sinks,
    )

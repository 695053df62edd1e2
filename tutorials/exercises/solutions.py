"""Reference solutions to the exercises of tutorial 3 (multi-head attention).

Try the exercises first; `checks.run` falls back to these so that the rest
of the notebook runs before you have finished.
"""

from keras import ops


def split_heads(x, num_heads):
    """(B, T, D) -> (B, N, T, H) with H = D // N."""
    batch, length, depth = x.shape
    x = ops.reshape(x, (batch, length, num_heads, depth // num_heads))
    return ops.transpose(x, (0, 2, 1, 3))  # (B, N, T, H)


def merge_heads(x):
    """(B, N, T, H) -> (B, T, N * H), the inverse of `split_heads`."""
    batch, heads, length, depth = x.shape
    x = ops.transpose(x, (0, 2, 1, 3))  # (B, T, N, H)
    return ops.reshape(x, (batch, length, heads * depth))  # (B, T, N*H)


def attention(query, key, value, mask=None):
    """softmax(Q Kᵀ / √d_k) V; `mask` is boolean, True = may attend.

    Returns the output `(..., T, Hv)` and the weights `(..., T, S)`.
    """
    depth = query.shape[-1]
    scores = ops.matmul(query, ops.swapaxes(key, -1, -2)) / depth**0.5
    if mask is not None:
        scores = ops.where(mask, scores, -1e9)  # (..., T, S)
    weights = ops.softmax(scores, axis=-1)  # over the keys
    return ops.matmul(weights, value), weights

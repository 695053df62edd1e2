"""Boolean attention masks: `True` means "may attend".

Every mask in keras_attn is boolean and broadcastable to the attention
logits `(..., T, S)` (T query length, S key length). Masks are combined with
`logical_and` and broadcast, never tiled by a dynamic batch size.
"""

import keras
from keras import ops


def _check_length(name, value):
    if isinstance(value, bool) or (isinstance(value, int) and value < 1):
        raise ValueError(
            f"`{name}` must be a positive integer. Received: {name}={value}"
        )


def causal_mask(query_length, key_length=None, offset=None):
    """Look-ahead mask: query `i` may attend key `j` iff `j <= i + offset`.

    The default `offset` is `key_length - query_length`, i.e. the queries are
    aligned to the *end* of the keys. That makes the same function serve
    training (`T == S`, lower-triangular) and decoding a query that continues
    a cached prefix (`T < S`: the last query sees every key).

    Args:
        query_length: int or scalar tensor, T.
        key_length: int or scalar tensor, S. Defaults to `query_length`.
        offset: int or scalar tensor, absolute position of query 0 among the
            keys. Defaults to `key_length - query_length`. A fixed-size KV
            cache passes its write index here.

    Returns:
        Boolean tensor of shape `(T, S)`.

    Example:
    >>> import keras
    >>> keras.ops.convert_to_numpy(causal_mask(2, 3)).tolist()
    [[True, True, False], [True, True, True]]
    """
    _check_length("query_length", query_length)
    if key_length is None:
        key_length = query_length
    _check_length("key_length", key_length)
    if (
        offset is None
        and isinstance(query_length, int)
        and isinstance(key_length, int)
        and key_length < query_length
    ):
        raise ValueError(
            "`key_length` must be >= `query_length` when the queries are "
            "aligned to the end of the keys. Received: "
            f"query_length={query_length}, key_length={key_length}"
        )
    if offset is None:
        offset = key_length - query_length
    rows = ops.expand_dims(ops.arange(query_length, dtype="int32"), -1)
    cols = ops.expand_dims(ops.arange(key_length, dtype="int32"), 0)
    offset = ops.cast(offset, "int32")
    return ops.less_equal(cols, rows + offset)  # (T, S)


def sliding_window_mask(query_length, key_length, window, offset=0):
    """Band mask: query `i` may attend key `j` iff `|i + offset - j| < window`.

    The band is symmetric, as in `keras.layers.MultiHeadAttention`'s
    `sliding_window`; merged with `causal_mask` it is the causal local
    attention of Longformer / Mistral (each query sees itself and the
    `window - 1` keys before it).

    Args:
        query_length: int or scalar tensor, T.
        key_length: int or scalar tensor, S.
        window: positive int.
        offset: int or scalar tensor, absolute position of query 0 among
            the keys (0: queries and keys start together; a KV cache passes
            its write index).

    Returns:
        Boolean tensor of shape `(T, S)`.

    Example:
    >>> import keras
    >>> keras.ops.convert_to_numpy(sliding_window_mask(3, 3, 2)).tolist()
    [[True, True, False], [True, True, True], [False, True, True]]
    """
    _check_length("query_length", query_length)
    _check_length("key_length", key_length)
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        raise ValueError(
            f"`window` must be a positive integer. Received: window={window!r}"
        )
    rows = ops.expand_dims(ops.arange(query_length, dtype="int32"), -1)
    cols = ops.expand_dims(ops.arange(key_length, dtype="int32"), 0)
    distance = ops.abs(rows + ops.cast(offset, "int32") - cols)  # (T, S)
    return ops.less(distance, window)


def padding_mask(token_ids, pad_id=0):
    """Key-padding mask from token ids: `True` where the token is not `pad_id`.

    Args:
        token_ids: integer tensor `(B, S)`.
        pad_id: the padding token id.

    Returns:
        Boolean tensor `(B, 1, S)`, broadcastable to logits `(B, T, S)`.
        For multi-head logits `(B, N, T, S)` add an axis at 1.

    Example:
    >>> import numpy as np, keras
    >>> m = padding_mask(np.array([[5, 7, 0]]))
    >>> keras.ops.convert_to_numpy(m).tolist()
    [[[True, True, False]]]
    """
    if len(token_ids.shape) != 2:
        raise ValueError(
            "`token_ids` must have shape (batch, length). Received: "
            f"token_ids.shape={token_ids.shape}"
        )
    keep = ops.not_equal(token_ids, ops.cast(pad_id, token_ids.dtype))
    return ops.expand_dims(keep, -2)  # (B, 1, S)


def lift_mask(mask, rank, axis):
    """A `(B, L)` sequence mask lifted to broadcast against `(B, ..., T, S)`.

    The one place a per-position mask becomes a logits mask: a query mask
    (`axis="query"`, L = T) becomes `(B, 1, ..., T, 1)`, a key/value mask
    (`axis="key"`, L = S) becomes `(B, 1, ..., 1, S)`, with `rank` axes in
    all (3 for `(B, T, S)` logits, 4 for multi-head `(B, N, T, S)`).

    Example:
    >>> import numpy as np
    >>> tuple(lift_mask(np.ones((2, 5), bool), 4, "key").shape)
    (2, 1, 1, 5)
    """
    if axis not in ("query", "key"):
        raise ValueError(
            f'`axis` must be "query" or "key". Received: axis={axis!r}'
        )
    mask = ops.expand_dims(mask, -1 if axis == "query" else -2)  # (B, ., .)
    for _ in range(rank - 3):
        mask = ops.expand_dims(mask, 1)  # (B, 1, ..., T|1, S|1)
    return mask


def check_mask(mask, name="mask"):
    """Raise `ValueError` unless `mask` is None or boolean; return it."""
    if mask is None:
        return None
    if not hasattr(mask, "dtype"):
        mask = ops.convert_to_tensor(mask)
    dtype = keras.backend.standardize_dtype(mask.dtype)
    if dtype != "bool":
        raise ValueError(
            f"`{name}` must be a boolean tensor where True means 'may "
            f"attend'. Received: {name}.dtype={dtype}. (A 0/1 float "
            "mask is ambiguous: some libraries use 1 for 'masked'.)"
        )
    return mask


def merge_masks(*masks):
    """Combine boolean masks with `logical_and`, skipping `None`.

    Returns `None` when every mask is `None`. Shapes broadcast.

    Example:
    >>> import keras
    >>> m = merge_masks(causal_mask(2), None, keras.ops.array([[True, False]]))
    >>> keras.ops.convert_to_numpy(m).tolist()
    [[True, False], [True, False]]
    """
    merged = None
    for i, mask in enumerate(masks):
        mask = check_mask(mask, f"masks[{i}]")
        if mask is None:
            continue
        merged = mask if merged is None else ops.logical_and(merged, mask)
    return merged

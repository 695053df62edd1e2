"""KV caches for incremental decoding, and the checks that keep them honest.

Two kinds of cache pass through `MultiHeadAttention(cache=...)`, and the
kind says what the layer does with it, so one can never be mistaken for the
other:

* `SelfAttentionCache` (from `init_cache`): fixed-size keys/values
  `(B, N, max_length, H)`; each call writes its new tokens at `cache_index`
  and returns the updated cache. `cache_index` is required.
* `CrossAttentionCache` (from `compute_key_value`): a memory (an encoder
  output) projected once; read-only, so `cache_index` is refused.

Both are named tuples, so they travel through `tf.while_loop`,
`jax.lax.while_loop`, `tf.nest` and `jax.tree_util` unchanged.

Out-of-range positions are never clamped. A Python or eager `cache_index`
is checked before anything is written (`ValueError`). A traced one (inside
`tf.function`, XLA or `jax.jit`) has no value until it runs: on the
TensorFlow backend outside XLA a `tf.debugging.Assert` raises
`InvalidArgumentError` naming `cache_index`; everywhere (XLA and `jax.jit`
included, where no op can raise) the call's outputs are NaN and so are the
keys/values it writes (at the slot the backend clamps the write to), so
every later step that reads the cache is NaN too: the corruption cannot
pass unnoticed.
"""

import collections
import importlib

import keras
import numpy as np
from keras import ops

SelfAttentionCache = collections.namedtuple(
    "SelfAttentionCache", ["key", "value"]
)
SelfAttentionCache.__doc__ = """Self-attention KV cache `(key, value)`.

Fixed-size `(B, N, max_length, H)` keys and `(B, N, max_length, Hv)`
values, written at `cache_index` by each cached call.
"""

SlidingWindowCache = collections.namedtuple(
    "SlidingWindowCache", ["key", "value"]
)
SlidingWindowCache.__doc__ = """Ring-buffer KV cache of a sliding-window layer.

`(B, Nkv, window, H)` keys and `(B, Nkv, window, Hv)` values: position `p`
lives in slot `p % window`, so decoding memory is O(window) whatever the
generated length, and `cache_index` has no upper bound. Written at
`cache_index` by each cached call, like `SelfAttentionCache`.
"""

CrossAttentionCache = collections.namedtuple(
    "CrossAttentionCache", ["key", "value"]
)
CrossAttentionCache.__doc__ = """Cross-attention memory `(key, value)`.

The encoder output projected once: `(B, N, S, H)` keys and `(B, N, S, Hv)`
values, read (never written) by every decoding step.
"""


def static_value(x):
    """`x` as a NumPy value, or None while it is traced (no value yet)."""
    if isinstance(x, (bool, int, float, np.generic, np.ndarray)):
        return np.asarray(x)
    if keras.utils.is_keras_tensor(x):
        return None
    try:
        return ops.convert_to_numpy(x)
    except Exception:  # a tf.function / jax.jit tracer has no value
        return None


def check_batch_size(batch_size):
    """`init_cache`'s batch size: a positive integer (or a traced scalar)."""
    value = static_value(batch_size)
    if value is None:
        return batch_size
    if (
        value.ndim != 0
        or value.dtype.kind not in "iu"
        or isinstance(batch_size, bool)
        or int(value) < 1
    ):
        raise ValueError(
            "`batch_size` must be a positive integer. Received: "
            f"batch_size={batch_size!r}"
        )
    return int(value)


def check_cache_index(cache_index, length, max_length):
    """Validate the write position of `length` new tokens in a cache.

    `max_length=None` (a ring buffer) checks only `cache_index >= 0`.

    Returns `(index, in_range)`: the int32 index, and None when it was
    checked here, or a boolean scalar tensor when it is traced (the caller
    poisons its outputs with it, see the module docstring).
    """
    value = static_value(cache_index)
    if value is not None:
        if (
            value.ndim != 0
            or value.dtype.kind not in "iu"
            or (isinstance(cache_index, bool))
        ):
            raise ValueError(
                "`cache_index` must be an integer scalar. Received: "
                f"cache_index={cache_index!r}"
            )
        index = int(value)
        length_known = 1 if length is None else length  # at least one token
        if max_length is None:
            if index < 0:
                raise ValueError(
                    f"`cache_index` must be >= 0. Received: cache_index={index}"
                )
        elif not 0 <= index <= max_length - length_known:
            raise ValueError(
                f"`cache_index` must be in [0, {max_length - length_known}] "
                f"to write {length_known} token(s) into a cache of max_length="
                f"{max_length}. Received: cache_index={index}"
            )
        return ops.convert_to_tensor(index, "int32"), None
    dtype = keras.backend.standardize_dtype(cache_index.dtype)
    if "int" not in dtype:
        raise ValueError(
            "`cache_index` must be an integer scalar. Received: "
            f"cache_index.dtype={dtype}"
        )
    index = ops.cast(cache_index, "int32")
    if length is None:
        length = 1  # unknown until run time: check what is known
    if max_length is None:
        in_range = ops.greater_equal(index, 0)
        _assert_in_graph(
            in_range,
            "`cache_index` must be >= 0. Received: cache_index =",
            index,
        )
        return index, in_range
    in_range = ops.logical_and(
        ops.greater_equal(index, 0),
        ops.less_equal(index + length, max_length),
    )
    _assert_in_graph(
        in_range,
        f"`cache_index` is out of range: it must be in [0, max_length - "
        f"length] = [0, {max_length - length}] (max_length={max_length}, "
        f"{length} new token(s)). Received: cache_index =",
        index,
    )
    return index, in_range


def _assert_in_graph(condition, message, value):
    """Raise at run time where the backend can (TensorFlow, outside XLA).

    `keras.ops` has no assertion op. On the TensorFlow backend TensorFlow is
    necessarily installed, and `tf.debugging.Assert` inside a `tf.function`
    raises `InvalidArgumentError` with `message`; XLA compiles it away, and
    JAX and PyTorch have no equivalent, so there the caller's NaN poisoning
    is what the user sees.
    """
    if keras.config.backend() != "tensorflow":
        return
    tf = importlib.import_module("tensorflow")
    tf.debugging.Assert(condition, [message, value])


def poison(x, in_range):
    """`x` where `in_range`, NaN everywhere otherwise (traced index only)."""
    if in_range is None:
        return x
    return ops.where(in_range, x, ops.full_like(x, float("nan")))


def check_cache(cache, kind, batch, num_heads, key_dim, value_dim):
    """Check a cache's kind and shapes against the layer and the input.

    Args:
        cache: what the user passed as `cache`.
        kind: `SelfAttentionCache` or `CrossAttentionCache`, expected.
        batch: static batch size of `query` (or None).
        num_heads, key_dim, value_dim: the layer's.
    """
    if not isinstance(cache, kind):
        got = type(cache).__name__
        if isinstance(
            cache,
            (SelfAttentionCache, SlidingWindowCache, CrossAttentionCache),
        ):
            hint = (
                "pass `cache_index` with a cache from `init_cache`"
                if not isinstance(cache, CrossAttentionCache)
                else "a cache from `compute_key_value` takes no `cache_index`"
            )
        else:
            hint = (
                "use `init_cache(batch_size, max_length)` for self-attention"
                " or `compute_key_value(memory)` for cross-attention"
            )
        raise ValueError(
            f"`cache` must be a {kind.__name__} here ({hint}). Received: "
            f"cache of type {got}"
        )
    keys, values = cache
    for name, x, depth in (
        ("cache.key", keys, key_dim),
        ("cache.value", values, value_dim),
    ):
        shape = tuple(x.shape)
        expected = (batch, num_heads, None, depth)
        if len(shape) != 4 or any(
            e is not None and s is not None and s != e
            for s, e in zip(shape, expected)
        ):
            raise ValueError(
                f"`{name}` must have shape (batch={batch}, num_heads="
                f"{num_heads}, length, {depth}) to match this layer and "
                f"`query`. Received: {name}.shape={shape}"
            )
    if keys.shape[2] is not None and values.shape[2] is not None:
        if keys.shape[2] != values.shape[2]:
            raise ValueError(
                "`cache.key` and `cache.value` must have the same length. "
                f"Received: cache.key.shape={tuple(keys.shape)}, "
                f"cache.value.shape={tuple(values.shape)}"
            )


def ring_read(cache, index):
    """The ring's keys/values in time order: slot `j` holds position
    `index - window + j` (negative positions were never written).

    Returns `(keys, values, valid)` with `valid` boolean `(1, 1, 1, W)`.
    """
    window = cache.key.shape[2]
    slots = ops.mod(ops.arange(window, dtype="int32") + index, window)
    keys = ops.take(cache.key, slots, axis=2)
    values = ops.take(cache.value, slots, axis=2)
    valid = ops.arange(window, dtype="int32") >= window - index
    return keys, values, valid[None, None, None, :]


def ring_write(cache, index, keys, values):
    """Write `T` new keys/values at positions `[index, index + T)`.

    Slot `s` takes the newest new position `p` with `p % W == s`, if any
    (when `T > W` only the last `W` tokens survive); fixed shapes, so it
    compiles once under XLA and `jax.jit`.
    """
    window = cache.key.shape[2]
    length = ops.shape(keys)[2]
    last = index + length - 1
    slots = ops.arange(window, dtype="int32")
    newest = last - ops.mod(last - slots, window)  # (W,) absolute positions
    fresh = newest >= index
    source = ops.clip(newest - index, 0, length - 1)

    def update(old, new):
        picked = ops.take(new, source, axis=2)
        return ops.where(fresh[None, None, :, None], picked, old)

    return SlidingWindowCache(
        update(cache.key, keys), update(cache.value, values)
    )

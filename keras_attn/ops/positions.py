"""Position biases added to attention logits: ALiBi and T5 relative buckets.

Both are functions of the absolute positions of the queries and the keys,
so the same code serves a full `(T, S)` bias (the dense path), one block of
it (the memory-efficient path, which never builds the full bias) and a
KV-cached decoding step (queries at `cache_index + i`).

Positions are integer tensors; a query at position `p` and a key at
position `q` are `q - p` apart (negative: the key is in the past).
"""

import math

import numpy as np
from keras import ops


def alibi_slopes(num_heads):
    """The per-head ALiBi slopes `m_h`, a geometric sequence.

    For `N` a power of two the slopes are `2^(-8h/N)`, `h = 1..N`; otherwise
    the slopes of the closest smaller power of two `P`, followed by every
    other slope of `2P` (Press et al. 2022, §3 and their reference code).

    Args:
        num_heads: positive int N.

    Returns:
        NumPy float32 array `(N,)`, decreasing, in (0, 1).

    Example:
    >>> alibi_slopes(4).tolist()
    [0.25, 0.0625, 0.015625, 0.00390625]

    Reference:
        Press et al., "Train Short, Test Long: Attention with Linear Biases
        Enables Input Length Extrapolation", ICLR 2022.
    """
    if (
        isinstance(num_heads, bool)
        or not isinstance(num_heads, int)
        or (num_heads < 1)
    ):
        raise ValueError(
            "`num_heads` must be a positive integer. Received: "
            f"num_heads={num_heads!r}"
        )

    def power_of_two(n):
        start = 2.0 ** (-8.0 / n)
        return [start ** (h + 1) for h in range(n)]

    closest = 2 ** int(math.floor(math.log2(num_heads)))
    slopes = power_of_two(closest)
    if closest != num_heads:
        slopes += power_of_two(2 * closest)[0::2][: num_heads - closest]
    return np.asarray(slopes, "float32")


def alibi_bias(query_positions, key_positions, slopes):
    """ALiBi logits bias `-m_h · |q_pos - k_pos|`, `(N, T, S)` float32.

    With the causal mask this is the paper's `m_h · (j - i)` on every key a
    query may see; the absolute value also makes it a bias for
    bidirectional (encoder) attention, decaying with distance both ways.

    Args:
        query_positions: int `(T,)`.
        key_positions: int `(S,)`.
        slopes: float `(N,)`, e.g. `alibi_slopes(N)`.
    """
    distance = ops.abs(
        ops.subtract(
            ops.cast(key_positions, "float32")[None, :],
            ops.cast(query_positions, "float32")[:, None],
        )
    )  # (T, S)
    slopes = ops.cast(slopes, "float32")
    return ops.multiply(-slopes[:, None, None], distance[None])


def relative_position_bucket(
    relative_position, bidirectional=True, num_buckets=32, max_distance=128
):
    """T5's bucket of a relative position `key_pos - query_pos`.

    Half the buckets hold exact small distances; the rest grow
    logarithmically up to `max_distance`, beyond which every distance shares
    the last bucket. Bidirectional attention splits the buckets between past
    and future keys; unidirectional (decoder) attention gives every future
    key bucket 0 (the causal mask hides them anyway).

    Args:
        relative_position: int tensor, `key_pos - query_pos`.
        bidirectional: whether keys after the query get their own buckets.
        num_buckets: total number of buckets.
        max_distance: distance from which the last bucket is used.

    Returns:
        int32 tensor of the same shape, values in `[0, num_buckets)`.

    Reference:
        Raffel et al., "Exploring the Limits of Transfer Learning with a
        Unified Text-to-Text Transformer", JMLR 2020, §2.1.
    """
    relative_position = ops.cast(relative_position, "int32")
    n = -relative_position  # distance into the past
    bucket = ops.zeros_like(n)
    if bidirectional:
        num_buckets //= 2
        # int32 on both sides: a bare Python int follows floatx on
        # TensorFlow (int16 under float16) and would not add to `n`.
        bucket = ops.where(n < 0, ops.full_like(n, num_buckets), bucket)
        n = ops.abs(n)
    else:
        n = ops.maximum(n, 0)
    max_exact = num_buckets // 2
    is_small = n < max_exact
    # log-spaced buckets for max_exact <= n < max_distance
    n_float = ops.cast(ops.maximum(n, 1), "float32")
    large = max_exact + ops.cast(
        ops.log(n_float / max_exact)
        / math.log(max_distance / max_exact)
        * (num_buckets - max_exact),
        "int32",
    )
    large = ops.minimum(large, num_buckets - 1)
    return ops.cast(bucket + ops.where(is_small, n, large), "int32")

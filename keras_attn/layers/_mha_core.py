"""The attention core of `MultiHeadAttention` on `(B, N, T, H)` heads.

One function, `attend_heads`, takes the projected heads and a description
of what may be attended (masks, causal structure, window, position
biases) and runs it on one of three paths:

* dense: `keras_attn.ops.scaled_dot_product_attention`, the full
  `(B, N, T, S)` logits; the only path that returns weights or applies
  dropout;
* chunked: `keras_attn.ops.memory_efficient_attention`, blocks of queries
  and keys with an online softmax, O(T·chunk) memory; causal/window masks
  and position biases computed per block;
* fused: `keras.ops.dot_product_attention(flash_attention=True)`, where the
  backend has a flash kernel (JAX / PyTorch on a GPU).

Positions: query `i` sits at `query_offset + i` and key `j` at `j`;
grouped-query attention (`Nkv < N` key/value heads) is handled without
repeating keys or values.
"""

import keras
from keras import ops

from keras_attn.ops import causal_mask
from keras_attn.ops import memory_efficient
from keras_attn.ops import merge_masks
from keras_attn.ops import scaled_dot_product_attention
from keras_attn.ops import sliding_window_mask
from keras_attn.ops.positions import alibi_bias

# The chunked path is chosen automatically from this many logits per head.
MEMORY_EFFICIENT_MIN_LOGITS = 2048 * 2048


def choose_path(
    forced,
    t_len,
    s_len,
    return_weights,
    dropout_active,
    use_flash,
    fused_ok=False,
):
    """`"dense"`, `"chunked"`, `"fused"` or `"fused_causal"` for one call.

    Args:
        forced: the layer's `memory_efficient` (None = by size).
        t_len, s_len: static lengths (None when unknown).
        return_weights: whether weights were requested.
        dropout_active: dropout > 0 in training.
        use_flash: the layer routes to the backend's flash kernel.
        fused_ok: the call may go to the backend's fused kernel on its own
            (see `fused_eligible`); taken when `forced` is None.
    """
    if use_flash:
        return "fused"
    if forced is None and fused_ok and not (return_weights or dropout_active):
        return "fused_causal"
    if forced is None:
        if return_weights or dropout_active or None in (t_len, s_len):
            return "dense"
        big = t_len * s_len >= MEMORY_EFFICIENT_MIN_LOGITS
        return "chunked" if big else "dense"
    if not forced:
        return "dense"
    if return_weights:
        raise ValueError(
            "The memory-efficient path never builds the attention weights: "
            "set memory_efficient=None/False to get them. Received: "
            "return_attention_scores=True with memory_efficient=True"
        )
    if dropout_active:
        raise ValueError(
            "The memory-efficient path has no attention dropout: set "
            "dropout=0 or memory_efficient=None/False for training. "
            "Received: memory_efficient=True with dropout in training"
        )
    return "chunked"


def attend_heads(
    q,
    k,
    v,
    *,
    path,
    mask=None,
    query_mask=None,
    causal=False,
    window=None,
    query_offset=0,
    alibi_slopes=None,
    relative_bias=None,
    scale,
    soft_cap=None,
    sinks=None,
    dropout=0.0,
    training=False,
    seed=None,
    return_weights=False,
    chunk_size=512,
):
    """Attention of `q (B, N, T, H)` over `k, v (B, Nkv, S, H|Hv)`.

    Args:
        path: from `choose_path`.
        mask: boolean, broadcastable to `(B, N, T, S)`: the user's masks on
            keys (and a full `attention_mask` if one was given).
        query_mask: boolean `(B, 1, T, 1)` or None; rows where it is False
            output 0.
        causal, window: causal / sliding-window structure on positions.
        query_offset: position of query 0 (keys start at 0).
        alibi_slopes: `(N,)` ALiBi slopes, or None.
        relative_bias: a `RelativePositionBias` layer, or None.
        scale, soft_cap, sinks, dropout, training, seed: of the core.
        return_weights: also return `(B, N, T, S)` weights (dense only).
        chunk_size: query/key block size of the chunked path.

    Returns:
        `(out (B, N, T, Hv), weights or None)`.
    """
    if path == "chunked":
        out = memory_efficient.memory_efficient_attention(
            q,
            k,
            v,
            mask=mask,
            causal=causal,
            sliding_window=window,
            query_offset=query_offset,
            alibi_slopes=alibi_slopes,
            relative_bias_table=(
                None
                if relative_bias is None
                else ops.copy(
                    relative_bias.embeddings
                )  # a tensor, not a Variable
            ),
            relative_bias_bidirectional=(
                True if relative_bias is None else relative_bias.bidirectional
            ),
            relative_bias_max_distance=(
                128 if relative_bias is None else relative_bias.max_distance
            ),
            scale=scale,
            logit_soft_cap=soft_cap,
            sinks=None if sinks is None else ops.copy(sinks),
            query_chunk_size=chunk_size,
            key_chunk_size=chunk_size,
        )
        if query_mask is not None:
            out = ops.where(query_mask, out, ops.zeros_like(out))
        return out, None
    t_len, s_len = ops.shape(q)[2], ops.shape(k)[2]
    masks = [mask, query_mask]
    if causal:
        masks.append(causal_mask(t_len, s_len, offset=query_offset))
    if window is not None:
        masks.append(
            sliding_window_mask(t_len, s_len, window, offset=query_offset)
        )
    full_mask = merge_masks(*masks)
    bias = None
    if alibi_slopes is not None or relative_bias is not None:
        q_pos = ops.arange(t_len, dtype="int32") + ops.cast(
            query_offset, "int32"
        )
        k_pos = ops.arange(s_len, dtype="int32")
        if alibi_slopes is not None:
            bias = alibi_bias(q_pos, k_pos, alibi_slopes)[None]
        if relative_bias is not None:
            rel = relative_bias(t_len, s_len, query_offset=query_offset)
            rel = ops.cast(rel, "float32")
            bias = rel if bias is None else bias + rel
    if path == "fused":
        return _fused(q, k, v, full_mask, scale), None
    if path == "fused_causal":  # no mask but (top-left) causal: see below
        return _fused(q, k, v, None, scale, is_causal=causal), None
    return _dense_grouped(
        q,
        k,
        v,
        full_mask,
        bias,
        scale=scale,
        logit_soft_cap=soft_cap,
        sinks=sinks,
        dropout=dropout,
        training=training,
        seed=seed,
        return_weights=return_weights,
    )


def _group(x, kv_heads, groups):
    """`(B|1, N|1, ...)` -> `(B|1, Nkv|1, G|1, ...)` (query heads grouped)."""
    if x is None:
        return None
    x = ops.convert_to_tensor(x)
    if x.shape[1] == 1:
        return ops.expand_dims(x, 2)
    shape = ops.shape(x)
    return ops.reshape(x, (shape[0], kv_heads, groups, *shape[2:]))


def _dense_grouped(
    q, k, v, mask, bias, *, return_weights, sinks=None, **kwargs
):
    """The dense core, with `N / Nkv` query heads sharing each K/V head."""
    num_heads, kv_heads = q.shape[1], k.shape[1]
    if kv_heads == num_heads:
        if sinks is not None:
            sinks = ops.reshape(sinks, (-1, 1, 1))
        result = scaled_dot_product_attention(
            q,
            k,
            v,
            mask=mask,
            bias=bias,
            sinks=sinks,
            return_weights=return_weights,
            **kwargs,
        )
        return result if return_weights else (result, None)
    groups = num_heads // kv_heads
    if mask is not None:
        mask = ops.convert_to_tensor(mask)
        while len(mask.shape) < 4:
            mask = ops.expand_dims(mask, 0)
    if bias is not None:
        bias = ops.convert_to_tensor(bias)
        while len(bias.shape) < 4:
            bias = ops.expand_dims(bias, 0)
    if sinks is not None:
        sinks = ops.reshape(sinks, (kv_heads, groups, 1, 1))
    result = scaled_dot_product_attention(
        _group(q, kv_heads, groups),  # (B, Nkv, G, T, H)
        ops.expand_dims(k, 2),  # (B, Nkv, 1, S, H)
        ops.expand_dims(v, 2),
        mask=_group(mask, kv_heads, groups),
        bias=_group(bias, kv_heads, groups),
        sinks=sinks,
        return_weights=return_weights,
        **kwargs,
    )
    out, weights = result if return_weights else (result, None)
    shape = ops.shape(out)
    out = ops.reshape(out, (shape[0], num_heads, *shape[3:]))
    if weights is not None:
        w_shape = ops.shape(weights)
        weights = ops.reshape(weights, (w_shape[0], num_heads, *w_shape[3:]))
    return out, weights


def fused_eligible(
    q_dtype,
    head_dim,
    value_head_dim,
    *,
    masked,
    causal,
    offset,
    t_len,
    s_len,
    extras,
):
    """Whether a call can go to the backend's fused kernel unasked.

    Only the plain cases the kernels share with our semantics: no user
    mask, no window, no position bias, soft-cap or sinks (`extras`), and
    either no causal mask or a causal one with `T == S` and the queries at
    position 0 (no cache), where top-left and our alignment agree. The
    value heads must be as wide as the key heads (`value_dim == key_dim`):
    flash kernels (and JAX's op) take one head size. Then
    `fused_kernel_available` (a GPU flash kernel for this dtype) decides.
    """
    if head_dim != value_head_dim:
        return False
    at_start = isinstance(offset, int) and offset == 0
    if masked or extras or (causal and not (at_start and t_len == s_len)):
        return False
    if None in (t_len, s_len):
        return False
    return memory_efficient.fused_kernel_available(q_dtype, head_dim)


def _fused(q, k, v, mask, scale, is_causal=False):
    """`keras.ops.dot_product_attention` in its `(B, T, N, H)` layout."""
    out = keras.ops.dot_product_attention(
        ops.transpose(q, (0, 2, 1, 3)),
        ops.transpose(k, (0, 2, 1, 3)),
        ops.transpose(v, (0, 2, 1, 3)),
        mask=mask,
        scale=scale,
        is_causal=is_causal,
        flash_attention=True,
    )  # (B, T, N, Hv)
    return ops.transpose(out, (0, 2, 1, 3))

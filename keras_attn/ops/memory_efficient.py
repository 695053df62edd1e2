"""Memory-efficient ("flash-style") attention over `keras.ops`.

`memory_efficient_attention` computes the same attention as the dense core
(`scaled_dot_product_attention` with a causal / sliding-window mask, ALiBi,
a T5 relative bias, a logit soft cap and attention sinks) without ever
holding a `(T, S)` tensor: queries and keys are cut into blocks, an online
softmax (running max and sum) runs over the key blocks of each query block,
and a custom gradient recomputes the blocks in the backward pass from the
output and the per-row logsumexp, the only things the forward pass keeps.

Layout: B batch, N query heads, Nkv key/value heads (N divisible by Nkv;
query head n reads kv head n // (N // Nkv)), T query length, S key length,
H key/query depth, Hv value depth. Inside, one block of the logits is
`(B, Nkv, G, Tq, Sk)` with G = N // Nkv, so grouped-query attention never
repeats K or V.

Memory, forward and backward: the inputs, the output and its gradient, a
logsumexp per query row, and temporaries of one block pair, `(B, N, Tq,
Sk)` (up to 10 blocks at once under TensorFlow graph mode, whose `map`
runs iterations in parallel): O(B·N·(T·H + chunk²)), never O(T·S). A
`mask` or `bias` the caller passes is only sliced, size-1 axes kept. The
loops are `keras.ops` loops (`map`, `fori_loop`), so the graph does not
grow with T under `tf.function` / `jax.jit`, and XLA compiles it.
"""

import functools
import math

import keras
from keras import ops

from keras_attn.ops.masks import check_mask
from keras_attn.ops.positions import relative_position_bucket

_OPTIONAL = ("mask", "bias", "alibi_slopes", "relative_bias_table", "sinks")


def _positive_int(name, value, allow_none=False):
    if allow_none and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(
            f"`{name}` must be a positive integer. Received: {name}={value!r}"
        )


def _static_shape(x):
    """The shape with an int per known axis, None for unknown (a None in
    TensorFlow, a symbolic dimension in JAX's shape inference)."""
    return tuple(d if isinstance(d, int) else None for d in x.shape)


def _dim(x, axis):
    """Static size of `axis` if known, else the dynamic one."""
    size = x.shape[axis]
    return size if isinstance(size, int) else ops.shape(x)[axis]


def _check_shape(name, tensor, want):
    """`tensor` has rank 4 or less and each axis is 1 or the `want` size."""
    shape = _static_shape(tensor)
    bad = len(shape) > 4 or any(
        got not in (None, 1, full) and full is not None
        for got, full in zip(shape[::-1], want[::-1])
    )
    if bad:
        raise ValueError(
            f"`{name}` must broadcast to (B, N, T, S) = {want} without "
            f"tiling: each axis 1 or full. Received: {name}.shape={shape}"
        )


class _Spec:
    """Validated static configuration shared by the forward and backward."""

    def __init__(self, query, key, value, args):
        for name, x in (("query", query), ("key", key), ("value", value)):
            if len(x.shape) != 4:
                raise ValueError(
                    f"`{name}` must have rank 4 (B, heads, length, depth). "
                    f"Received: {name}.shape={tuple(x.shape)}"
                )
        self.dtype = keras.backend.standardize_dtype(query.dtype)
        self.cdt = "float64" if self.dtype == "float64" else "float32"
        self.N, self.H = int(query.shape[1]), int(query.shape[3])
        self.Nkv, self.Hv = int(key.shape[1]), int(value.shape[3])
        if int(key.shape[3]) != self.H:
            raise ValueError(
                "`query` and `key` must have the same depth (last axis). "
                f"Received: query.shape={tuple(query.shape)}, "
                f"key.shape={tuple(key.shape)}"
            )
        if _static_shape(key)[:3] != _static_shape(value)[:3]:
            raise ValueError(
                "`key` and `value` must agree on (B, Nkv, S). Received: "
                f"key.shape={tuple(key.shape)}, "
                f"value.shape={tuple(value.shape)}"
            )
        batch = _static_shape(query)[0], _static_shape(key)[0]
        if self.N % self.Nkv or None not in batch and batch[0] != batch[1]:
            raise ValueError(
                "The query heads must be a multiple of the key/value heads "
                "and the batch sizes must agree. Received: "
                f"query.shape={tuple(query.shape)}, "
                f"key.shape={tuple(key.shape)}"
            )
        self.G = self.N // self.Nkv
        self.B, self.T, self.S = _dim(query, 0), _dim(query, 2), _dim(key, 2)
        _positive_int("query_chunk_size", args["query_chunk_size"])
        _positive_int("key_chunk_size", args["key_chunk_size"])
        _positive_int("sliding_window", args["sliding_window"], True)
        _positive_int("relative_bias_max_distance", args["max_distance"])
        self.Tq, self.nQ = _blocking(self.T, args["query_chunk_size"])
        self.Sk, self.nK = _blocking(self.S, args["key_chunk_size"])
        self.T_pad, self.S_pad = self.nQ * self.Tq, self.nK * self.Sk
        self.causal, self.window = bool(args["causal"]), args["sliding_window"]
        scale, cap = args["scale"], args["logit_soft_cap"]
        for name, x in (("scale", scale), ("logit_soft_cap", cap)):
            number = isinstance(x, (int, float)) and not isinstance(x, bool)
            if x is not None and not (number and x > 0):
                raise ValueError(
                    f"`{name}` must be a positive Python number. Received: "
                    f"{name}={x!r}"
                )
        self.scale = 1.0 / math.sqrt(self.H) if scale is None else scale
        self.cap = cap
        self.bidirectional = bool(args["bidirectional"])
        self.max_distance = args["max_distance"]
        self.has = {n: args[n] is not None for n in _OPTIONAL}
        # Padding rows and keys are masked: a padded query must not make a
        # key "seen" (a NaN there would reach real rows as 0 x NaN).
        self.padded_keys = not (
            isinstance(self.S, int) and self.S_pad == self.S
        )
        self.padded_rows = not (
            isinstance(self.T, int) and self.T_pad == self.T
        )
        # Zero K/V rows no query of a block may see (a NaN stays out).
        self.sanitize = self.has["mask"] or self.causal or bool(self.window)
        self.num_buckets = None  # K, set from relative_bias_table


def _blocking(length, chunk):
    """Block size and count: balanced blocks, never longer than `length`."""
    if not isinstance(length, int):
        return chunk, (length + chunk - 1) // chunk
    count = -(-length // chunk)
    return -(-length // count), count


def _pad(x, axis, length, padded, value=0):
    """Pad `axis` of `x` from `length` to `padded` with `value`."""
    if isinstance(length, int) and isinstance(padded, int) and length == padded:
        return x
    shape = list(ops.shape(x))
    shape[axis] = padded - length
    filler = ops.full(shape, value, dtype=x.dtype)
    return ops.concatenate([x, filler], axis=axis)


def _rows_to_blocks(sp, x):
    """(B, N, T, D) -> (nQ, B, Nkv, G·Tq, D), query blocks first."""
    d = x.shape[-1]
    x = _pad(x, 2, sp.T, sp.T_pad)
    x = ops.reshape(x, (sp.B, sp.Nkv, sp.G, sp.nQ, sp.Tq, d))
    x = ops.transpose(x, (3, 0, 1, 2, 4, 5))  # (nQ, B, Nkv, G, Tq, D)
    return ops.reshape(x, (sp.nQ, sp.B, sp.Nkv, sp.G * sp.Tq, d))


def _blocks_to_rows(sp, x):
    """(nQ, B, Nkv, G·Tq, D) -> (B, N, T, D)."""
    d = x.shape[-1]
    x = ops.reshape(x, (sp.nQ, sp.B, sp.Nkv, sp.G, sp.Tq, d))
    x = ops.transpose(x, (1, 2, 3, 0, 4, 5))  # (B, Nkv, G, nQ, Tq, D)
    x = ops.reshape(x, (sp.B, sp.N, sp.T_pad, d))
    return x[:, :, : sp.T]


def _keys_to_blocks(sp, x):
    """(B, Nkv, S, D) -> (nK, B, Nkv, Sk, D)."""
    d = x.shape[-1]
    x = _pad(x, 2, sp.S, sp.S_pad)
    x = ops.reshape(x, (sp.B, sp.Nkv, sp.nK, sp.Sk, d))
    return ops.transpose(x, (2, 0, 1, 3, 4))


def _keys_to_rows(sp, x):
    """(nK, B, Nkv, Sk, D) -> (B, Nkv, S, D)."""
    x = ops.transpose(x, (1, 2, 0, 3, 4))  # (B, Nkv, nK, Sk, D)
    x = ops.reshape(x, (sp.B, sp.Nkv, sp.S_pad, x.shape[-1]))
    return x[:, :, : sp.S]


def _grid_to_blocks(sp, x, value):
    """A (b, n, t, s) mask/bias, axes 1 or full -> (nQ', nK', b, nkv, g,
    Tq', Sk'), where a size-1 axis stays size 1 (no broadcasting)."""
    b, n, t, s = _static_shape(x)
    rows = (sp.nQ, sp.Tq) if t != 1 else (1, 1)
    cols = (sp.nK, sp.Sk) if s != 1 else (1, 1)
    heads = (sp.Nkv, sp.G) if n != 1 else (1, 1)
    if t != 1:
        x = _pad(x, 2, sp.T, sp.T_pad, value)
    if s != 1:
        x = _pad(x, 3, sp.S, sp.S_pad, value)
    b = sp.B if b != 1 else 1
    x = ops.reshape(x, (b, *heads, rows[0], rows[1], cols[0], cols[1]))
    return ops.transpose(x, (3, 5, 0, 1, 2, 4, 6))


def _grid_block(x, i, j):
    """Block (i, j) of a `_grid_to_blocks` layout, size-1 axes kept."""
    x = ops.take(x, i if x.shape[0] != 1 else 0, axis=0)
    return ops.take(x, j if x.shape[0] != 1 else 0, axis=0)


def _blocks_to_grid(sp, x, grid):
    """Inverse of `_grid_to_blocks` (a gradient), to the `grid` tensor's
    shape."""
    b, n, t, s = _static_shape(grid)
    x = ops.transpose(x, (2, 3, 4, 0, 5, 1, 6))  # (b, nkv, g, nQ', Tq', ..)
    rows = sp.T_pad if t != 1 else 1
    cols = sp.S_pad if s != 1 else 1
    x = ops.reshape(x, (sp.B if b != 1 else 1, n, rows, cols))
    return x[:, :, : sp.T if t != 1 else 1, : sp.S if s != 1 else 1]


def _reduce_to(x, shape):
    """Sum `x` over the axes where the static `shape` it broadcast from
    has size 1."""
    pairs = enumerate(zip(shape, _static_shape(x)))
    axes = tuple(a for a, (n, m) in pairs if n == 1 != m)
    return ops.sum(x, axis=axes, keepdims=True) if axes else x


def _matmul(a, b):
    """`ops.matmul`, except in float64, which keras' matmul computes in
    float32 on some backends (its type promotion caps at 32 bits, as
    does `ops.maximum`'s)."""
    if keras.backend.standardize_dtype(a.dtype) == "float64":
        return ops.einsum("...ij,...jk->...ik", a, b)
    return ops.matmul(a, b)


def _bounds(lo, hi, count):
    """Loop bounds clipped to [0, count], int32 tensors unless static."""
    if isinstance(lo, int) and isinstance(hi, int):
        return lo, hi
    lo = ops.clip(ops.cast(lo, "int32"), 0, count)
    return lo, ops.clip(ops.cast(hi, "int32"), 0, count)


class _Blocks:
    """Block-major views of the inputs and the logits of one block pair."""

    def __init__(self, sp, t):
        self.sp, self.t = sp, t
        cdt = sp.cdt
        self.q = _rows_to_blocks(sp, t["query"])  # (nQ, B, Nkv, G·Tq, H)
        self.k = _keys_to_blocks(sp, t["key"])  # (nK, B, Nkv, Sk, H)
        self.v = _keys_to_blocks(sp, t["value"])  # (nK, B, Nkv, Sk, Hv)
        self.offset = ops.cast(t["query_offset"], "int32")
        self.mask = self.bias = self.slopes = self.sinks = None
        if sp.has["mask"]:
            self.mask = _grid_to_blocks(sp, t["mask"], False)
        if sp.has["bias"]:
            self.bias = _grid_to_blocks(sp, t["bias"], 0)
        self.rows = ops.reshape(ops.arange(sp.Tq, dtype="int32"), (-1, 1))
        self.cols = ops.reshape(ops.arange(sp.Sk, dtype="int32"), (1, -1))
        heads = (1, sp.Nkv, sp.G, 1, 1)
        if sp.has["alibi_slopes"]:
            self.slopes = ops.reshape(ops.cast(t["alibi_slopes"], cdt), heads)
        if sp.has["sinks"]:
            self.sinks = ops.reshape(ops.cast(t["sinks"], cdt), heads)

    def query(self, i):
        """Query block `i`, scaled, in the compute dtype: (B, Nkv, G·Tq, H)."""
        q = ops.cast(ops.take(self.q, i, axis=0), self.sp.cdt)
        return q * ops.convert_to_tensor(self.sp.scale, self.sp.cdt)

    def key_range(self, i):
        """Key blocks [lo, hi) that query block `i` may see (a superset)."""
        sp = self.sp
        lo, hi = 0, sp.nK
        first = self.offset + i * sp.Tq  # position of the block's first row
        last = first + (sp.Tq - 1)
        if sp.causal:
            hi = ops.floor_divide(last, sp.Sk) + 1
        if sp.window:
            lo = ops.floor_divide(first - sp.window + 1, sp.Sk)
            if not sp.causal:
                hi = ops.floor_divide(last + sp.window - 1, sp.Sk) + 1
        return _bounds(lo, hi, sp.nK)

    def query_range(self, j):
        """Query blocks [lo, hi) that may see key block `j` (a superset)."""
        sp = self.sp
        lo, hi = 0, sp.nQ
        first = j * sp.Sk - self.offset  # row whose position is the key's
        last = first + (sp.Sk - 1)
        if sp.causal:
            lo = ops.floor_divide(first, sp.Tq)
        if sp.window:
            hi = ops.floor_divide(last + sp.window - 1, sp.Tq) + 1
            if not sp.causal:
                lo = ops.floor_divide(first - sp.window + 1, sp.Tq)
        return _bounds(lo, hi, sp.nQ)

    def _allowed(self, i, j, delta):
        """Boolean mask of the block, `(Tq, Sk)` or `(b, nkv, g, Tq, Sk)`
        (broadcastable to the logits), or None when nothing is masked."""
        sp, parts = self.sp, []
        if sp.padded_rows:  # rows past T
            parts.append(self.rows < sp.T - i * sp.Tq)
        if sp.padded_keys:  # keys past S
            parts.append(self.cols < sp.S - j * sp.Sk)
        if sp.causal:
            parts.append(delta <= 0)
        if sp.window:
            parts.append(ops.abs(delta) < sp.window)
        if self.mask is not None:
            parts.append(_grid_block(self.mask, i, j))  # (b, nkv, g, .., ..)
        if not parts:
            return None
        allowed = parts[0]
        for part in parts[1:]:
            allowed = ops.logical_and(allowed, part)
        return allowed

    def logits(self, i, j, q_i):
        """Logits of query block `i` x key block `j`, `-inf` where masked.

        Returns `(s, allowed, t, k_j, v_j, buckets)`: s `(B, Nkv, G, Tq,
        Sk)` in the compute dtype, the mask (or None), `t = tanh(raw /
        cap)` (soft cap) or None, the K and V blocks with the rows no query
        of the block may see zeroed, and the T5 buckets `(Tq, Sk)` or None.
        """
        sp, cdt = self.sp, self.sp.cdt
        # key position - query position, (Tq, Sk): the one grid that the
        # causal and window masks, ALiBi and the buckets are functions of.
        delta = self.cols - self.rows + (j * sp.Sk - i * sp.Tq - self.offset)
        allowed = self._allowed(i, j, delta)
        k_j = ops.cast(ops.take(self.k, j, axis=0), cdt)  # (B, Nkv, Sk, H)
        v_j = ops.cast(ops.take(self.v, j, axis=0), cdt)  # (B, Nkv, Sk, Hv)
        if sp.sanitize:
            # 0 x NaN is NaN: a K/V row that no query of the block may see
            # must not enter any product.
            axes = (0,) if len(allowed.shape) == 2 else (2, 3)
            seen = ops.expand_dims(ops.any(allowed, axis=axes), -1)
            k_j = ops.where(seen, k_j, ops.zeros_like(k_j))
            v_j = ops.where(seen, v_j, ops.zeros_like(v_j))
        s = _matmul(q_i, ops.swapaxes(k_j, -1, -2))  # (B, Nkv, G·Tq, Sk)
        s = ops.reshape(s, (sp.B, sp.Nkv, sp.G, sp.Tq, sp.Sk))
        t = buckets = None
        if sp.cap:
            t = ops.tanh(s / sp.cap)
            s = t * sp.cap
        if self.bias is not None:
            s = s + ops.cast(_grid_block(self.bias, i, j), cdt)
        if self.slopes is not None:
            s = s - self.slopes * ops.cast(ops.abs(delta), cdt)
        if sp.has["relative_bias_table"]:
            buckets = relative_position_bucket(
                delta,
                bidirectional=sp.bidirectional,
                num_buckets=sp.num_buckets,
                max_distance=sp.max_distance,
            )  # (Tq, Sk)
            table = ops.cast(self.t["relative_bias_table"], cdt)  # (K, N)
            rel = ops.transpose(ops.take(table, buckets, axis=0), (2, 0, 1))
            s = s + ops.reshape(rel, (1, sp.Nkv, sp.G, sp.Tq, sp.Sk))
        if allowed is not None:
            s = ops.where(allowed, s, ops.cast(float("-inf"), cdt))
        return s, allowed, t, k_j, v_j, buckets


def _forward(sp, blk):
    """Online softmax over key blocks; returns the output and the lse."""
    cdt = sp.cdt
    stats = (sp.B, sp.Nkv, sp.G, sp.Tq, 1)
    rows = (sp.B, sp.Nkv, sp.G * sp.Tq, 1)

    def one_query_block(i):
        q_i = blk.query(i)
        if blk.sinks is None:  # running max, running sum, accumulator
            m0, l0 = ops.full(stats, float("-inf"), cdt), ops.zeros(stats, cdt)
        else:  # the sink is a first key with logit sinks[n] and value 0
            m0, l0 = ops.zeros(stats, cdt) + blk.sinks, ops.ones(stats, cdt)
        acc0 = ops.zeros((sp.B, sp.Nkv, sp.G * sp.Tq, sp.Hv), cdt)

        def body(j, carry):
            acc, m, total = carry
            s, _, _, _, v_j, _ = blk.logits(i, j, q_i)
            top = ops.max(s, axis=-1, keepdims=True)
            m_new = ops.where(m >= top, m, top)  # ops.maximum: f64 -> f32
            # Rows with nothing allowed yet keep m = -inf; exp(-inf - 0) = 0.
            m_use = ops.where(m_new == float("-inf"), 0.0, m_new)
            p = ops.exp(s - m_use)  # (B, Nkv, G, Tq, Sk)
            alpha = ops.exp(m - m_use)  # rescales what came before
            total = total * alpha + ops.sum(p, axis=-1, keepdims=True)
            p = ops.reshape(p, (sp.B, sp.Nkv, sp.G * sp.Tq, sp.Sk))
            acc = acc * ops.reshape(alpha, rows) + _matmul(p, v_j)
            return acc, m_new, total

        lo, hi = blk.key_range(i)
        acc, m, total = ops.fori_loop(lo, hi, body, (acc0, m0, l0))
        some = total > 0  # False: no allowed key and no sink
        l_safe = ops.where(some, total, 1.0)
        out = acc / ops.reshape(l_safe, rows)  # acc is 0 where l is 0
        lse = ops.where(some, m + ops.log(l_safe), 0.0)  # (B, Nkv, G, Tq, 1)
        return ops.cast(out, sp.dtype), lse

    out, lse = ops.map(one_query_block, ops.arange(sp.nQ, dtype="int32"))
    return _blocks_to_rows(sp, out), lse  # (B, N, T, Hv), lse per block


def _backward(sp, t, out, lse, upstream):
    """Gradients of every input, recomputing the blocks (FlashAttention-2).

    Pass A maps over query blocks and loops over key blocks for dQ (and
    the relative table, and a bias without a key axis); pass B maps over
    key blocks and loops over query blocks for dK, dV (and a bias without a
    query axis); a bias with both axes gets its own pass over block pairs.
    """
    cdt = sp.cdt
    blk = _Blocks(sp, t)
    do = ops.cast(upstream, cdt)  # (B, N, T, Hv)
    delta = ops.sum(do * ops.cast(out, cdt), axis=-1, keepdims=True)
    do_b = _rows_to_blocks(sp, do)  # (nQ, B, Nkv, G·Tq, Hv)
    delta_b = _rows_to_blocks(sp, delta)  # (nQ, B, Nkv, G·Tq, 1)
    stats = (sp.B, sp.Nkv, sp.G, sp.Tq, 1)
    flat = (sp.B, sp.Nkv, sp.G * sp.Tq, sp.Sk)
    bias_axes = bias_block = bias_zeros = None
    if blk.bias is not None:
        bias_block = _static_shape(blk.bias)[2:]  # (b, nkv, g, Tq', Sk')
        bias_axes = bias_block[-2:]
        bias_zeros = (sp.B if bias_block[0] is None else bias_block[0],)
        bias_zeros += bias_block[1:]

    def row_data(i):
        do_i = ops.take(do_b, i, axis=0)
        lse_i = ops.take(lse, i, axis=0)
        delta_i = ops.reshape(ops.take(delta_b, i, axis=0), stats)
        return do_i, lse_i, delta_i

    def block_grads(i, j, q_i):
        """p, dS (d logits) and dRaw (d of q·k·scale) of one block pair."""
        do_i, lse_i, delta_i = row_data(i)
        s, _, tanh, k_j, v_j, buckets = blk.logits(i, j, q_i)
        p = ops.exp(s - lse_i)  # exactly 0 where masked (s = -inf)
        dp = _matmul(do_i, ops.swapaxes(v_j, -1, -2))
        dp = ops.reshape(dp, (sp.B, sp.Nkv, sp.G, sp.Tq, sp.Sk))
        # No `where` needed: p is exactly 0 where masked, and dp and tanh
        # are finite there (K/V rows no query may see were zeroed).
        ds = p * (dp - delta_i)
        draw = ds
        if tanh is not None:  # d(cap·tanh(x / cap)) / dx = 1 - tanh²
            draw = ds * (1.0 - tanh * tanh)
        return p, ds, ops.reshape(draw, flat), k_j, buckets, do_i

    def pass_a(i):
        q_i = blk.query(i)
        init = [ops.zeros((sp.B, sp.Nkv, sp.G * sp.Tq, sp.H), cdt)]
        if sp.has["relative_bias_table"]:
            init.append(ops.zeros((sp.num_buckets, sp.N), cdt))
        if bias_axes is not None and bias_axes[1] == 1:
            init.append(ops.zeros(bias_zeros, cdt))

        def body(j, carry):
            _, ds, draw, k_j, buckets, _ = block_grads(i, j, q_i)
            carry = list(carry)
            carry[0] = carry[0] + _matmul(draw, k_j)
            n = 1
            if sp.has["relative_bias_table"]:
                per_head = ops.reshape(ops.sum(ds, axis=0), (sp.N, -1))
                carry[n] = carry[n] + ops.segment_sum(
                    ops.transpose(per_head),  # (Tq·Sk, N)
                    ops.reshape(buckets, (-1,)),
                    num_segments=sp.num_buckets,
                )
                n += 1
            if len(carry) > n:
                carry[n] = carry[n] + _reduce_to(ds, bias_block)
            return tuple(carry)

        lo, hi = blk.key_range(i)
        carry = list(ops.fori_loop(lo, hi, body, tuple(init)))
        carry[0] = carry[0] * ops.convert_to_tensor(sp.scale, cdt)
        return tuple(carry)

    def pass_b(j):
        init = [
            ops.zeros((sp.B, sp.Nkv, sp.Sk, sp.H), cdt),
            ops.zeros((sp.B, sp.Nkv, sp.Sk, sp.Hv), cdt),
        ]
        if bias_axes is not None and bias_axes[0] == 1 and bias_axes[1] != 1:
            init.append(ops.zeros(bias_zeros, cdt))

        def body(i, carry):
            q_i = blk.query(i)
            p, ds, draw, _, _, do_i = block_grads(i, j, q_i)
            dk = carry[0] + _matmul(ops.swapaxes(draw, -1, -2), q_i)
            p = ops.reshape(p, flat)
            dv = carry[1] + _matmul(ops.swapaxes(p, -1, -2), do_i)
            if len(carry) == 2:
                return dk, dv
            return dk, dv, carry[2] + _reduce_to(ds, bias_block)

        lo, hi = blk.query_range(j)
        return ops.fori_loop(lo, hi, body, tuple(init))

    def pass_c(ij):
        i, j = ops.floor_divide(ij, sp.nK), ij % sp.nK
        _, ds, _, _, _, _ = block_grads(i, j, blk.query(i))
        return _reduce_to(ds, bias_block)

    a = ops.map(pass_a, ops.arange(sp.nQ, dtype="int32"))
    b = ops.map(pass_b, ops.arange(sp.nK, dtype="int32"))
    dq = _blocks_to_rows(sp, a[0])
    dk, dv = (_keys_to_rows(sp, x) for x in b[:2])
    grads = {
        "query": ops.cast(dq, t["query"].dtype),
        "key": ops.cast(dk, t["key"].dtype),
        "value": ops.cast(dv, t["value"].dtype),
    }
    if sp.has["relative_bias_table"]:
        table = t["relative_bias_table"]
        grads["relative_bias_table"] = ops.cast(ops.sum(a[1], 0), table.dtype)
    if bias_axes is not None:
        if bias_axes[1] == 1:  # (nQ, b, nkv, g, Tq', 1)
            db = a[-1]
            if bias_axes[0] == 1:
                db = ops.sum(db, axis=0, keepdims=True)
            db = db[:, None]
        elif bias_axes[0] == 1:  # (nK, b, nkv, g, 1, Sk)
            db = b[-1][None]
        else:
            pairs = ops.arange(sp.nQ * sp.nK, dtype="int32")
            db = ops.map(pass_c, pairs)
            db = ops.reshape(db, (sp.nQ, sp.nK, *bias_zeros))
        db = _blocks_to_grid(sp, db, t["bias"])
        grads["bias"] = ops.cast(db, t["bias"].dtype)
    if sp.has["sinks"]:
        lse_rows = _blocks_to_rows(sp, ops.reshape(lse, (sp.nQ, *flat[:3], 1)))
        sinks = ops.reshape(ops.cast(t["sinks"], cdt), (1, sp.N, 1, 1))
        p_sink = ops.exp(sinks - lse_rows)  # (B, N, T, 1)
        dsinks = -ops.sum(p_sink * delta, axis=(0, 2, 3))
        grads["sinks"] = ops.cast(dsinks, t["sinks"].dtype)
    return grads


def _attention(sp, names, tensors):
    """Forward with a custom gradient over the tensors named `names`."""

    @ops.custom_gradient
    def attention(*args):
        t = dict(zip(names, args))
        out, lse = _forward(sp, _Blocks(sp, t))

        def grad(*grad_args, upstream=None):
            if upstream is None:  # TensorFlow and JAX pass it positionally
                (upstream,) = grad_args
            grads = _backward(sp, t, out, lse, upstream)
            return tuple(grads.get(name) for name in names)

        return out, grad

    return attention(*tensors)


def _check_offset(query_offset):
    if isinstance(query_offset, bool) or not isinstance(query_offset, int):
        dtype = getattr(query_offset, "dtype", None)
        if dtype is not None:
            dtype = keras.backend.standardize_dtype(dtype)
        if dtype is None or "int" not in dtype:
            raise ValueError(
                "`query_offset` must be an int or an integer scalar tensor. "
                f"Received: query_offset={query_offset!r}"
            )
        if len(query_offset.shape) != 0:
            raise ValueError(
                "`query_offset` must be a scalar. Received: "
                f"query_offset.shape={tuple(query_offset.shape)}"
            )
    return ops.convert_to_tensor(query_offset, "int32")


def _check_per_head(name, x, num_heads, rank=1):
    x = ops.convert_to_tensor(x)
    if len(x.shape) != rank or x.shape[-1] != num_heads:
        want = "(N,)" if rank == 1 else "(K, N)"
        raise ValueError(
            f"`{name}` must have shape {want} with N = {num_heads} query "
            f"heads. Received: {name}.shape={tuple(x.shape)}"
        )
    return x


def _rank4(x):
    while len(x.shape) < 4:
        x = ops.expand_dims(x, 0)
    return x


def memory_efficient_attention(
    query,
    key,
    value,
    *,
    mask=None,
    bias=None,
    causal=False,
    sliding_window=None,
    query_offset=0,
    alibi_slopes=None,
    relative_bias_table=None,
    relative_bias_bidirectional=True,
    relative_bias_max_distance=128,
    scale=None,
    logit_soft_cap=None,
    sinks=None,
    query_chunk_size=512,
    key_chunk_size=512,
):
    """Attention in O(T + S) memory: blockwise online softmax, custom grad.

    Computes, for query head n, query i (at position `p_i = query_offset +
    i`) and key j (at position j), with G = N // Nkv:

        logits = softcap(scale · q[n, i] · k[n // G, j]) + bias[.., n, i, j]
                 - alibi_slopes[n] · |p_i - j|
                 + relative_bias_table[bucket(j - p_i), n]
        out[n, i] = Σ_j exp(logits_j) v[n // G, j]
                    / (Σ_j exp(logits_j) + exp(sinks[n]))

    where the sums run over the allowed keys: `mask` AND (`j <= p_i` if
    `causal`) AND (`|p_i - j| < sliding_window` if given).
    `softcap(x) = cap · tanh(x / cap)` (Gemma 2); `bucket` is T5's
    `relative_position_bucket` with `K` buckets; the sink is an extra key
    with a learned logit and a zero value (attention sinks, gpt-oss). The
    same numbers as `scaled_dot_product_attention` with the equivalent
    dense mask and bias, without holding any `(T, S)` tensor: the causal
    and window masks, ALiBi and the buckets are built per block from
    positions, and causal / windowed runs skip key blocks no query of a
    block may see. Statistics are float32 (float64 for float64 inputs);
    float16/bfloat16 blocks are upcast and the output is cast back.

    Masking: a query with no allowed key (and no sink) outputs exactly 0,
    and its gradients are 0. K and V rows that no query of a block may
    see are zeroed inside that block, so a NaN/inf stored in a masked
    position (padding, a stale cache slot) reaches no output or gradient.
    One caveat: a row allowed to some query head of a kv group is shared
    by the whole group.

    Not supported here: dropout on the weights (use the dense core when
    dropout is active) and returning the weights (never materialised).
    `alibi_slopes` and `mask` get no gradient; `bias`,
    `relative_bias_table` and `sinks` do. On JAX, call it under `jax.jit`
    (as `model.fit` does): run eagerly, its loops compile on every call.

    Args:
        query: `(B, N, T, H)`.
        key: `(B, Nkv, S, H)`, with N a multiple of Nkv (multi-query and
            grouped-query attention: K/V are never repeated).
        value: `(B, Nkv, S, Hv)`.
        mask: optional boolean, broadcastable to `(B, N, T, S)` with every
            axis 1 or full; True = may attend.
        bias: optional float logits bias, broadcastable likewise.
        causal: only keys at positions `<= p_i`.
        sliding_window: optional positive int; only keys with
            `|p_i - j| < sliding_window`.
        query_offset: int or int scalar tensor, the position of query 0
            (a KV cache's write index). Default 0: queries and keys start
            together (unlike `causal_mask`, which aligns them at the end).
        alibi_slopes: optional `(N,)` ALiBi slopes (`alibi_slopes(N)`).
        relative_bias_table: optional `(K, N)` T5 relative bias table.
        relative_bias_bidirectional: whether future keys get own buckets.
        relative_bias_max_distance: T5's `max_distance`.
        scale: logits scale, a Python number; defaults to `1 / sqrt(H)`.
        logit_soft_cap: optional positive number, the tanh soft cap.
        sinks: optional `(N,)` per-head sink logits.
        query_chunk_size: rows of a query block (positive int).
        key_chunk_size: keys of a key block (positive int).

    Returns:
        `(B, N, T, Hv)` in the dtype of `query`.

    Example:
    >>> import numpy as np
    >>> q = np.ones((1, 4, 3, 8), "float32")
    >>> kv = np.ones((1, 2, 5, 8), "float32")
    >>> out = memory_efficient_attention(
    ...     q, kv, kv, causal=True, query_chunk_size=2, key_chunk_size=2)
    >>> tuple(out.shape)
    (1, 4, 3, 8)

    Reference:
        Rabe & Staats, "Self-attention Does Not Need O(n²) Memory", 2021;
        Dao, "FlashAttention-2: Faster Attention with Better Parallelism
        and Work Partitioning", 2023.
    """
    query, key, value = (ops.convert_to_tensor(x) for x in (query, key, value))
    sp = _Spec(
        query,
        key,
        value,
        dict(
            mask=mask,
            bias=bias,
            alibi_slopes=alibi_slopes,
            relative_bias_table=relative_bias_table,
            sinks=sinks,
            causal=causal,
            sliding_window=sliding_window,
            bidirectional=relative_bias_bidirectional,
            max_distance=relative_bias_max_distance,
            scale=scale,
            logit_soft_cap=logit_soft_cap,
            query_chunk_size=query_chunk_size,
            key_chunk_size=key_chunk_size,
        ),
    )
    full = (*_static_shape(query)[:3:2], _static_shape(key)[2])
    full = (full[0], sp.N, full[1], full[2])
    tensors = {
        "query": query,
        "key": key,
        "value": value,
        "query_offset": _check_offset(query_offset),
    }
    if mask is not None:
        mask = ops.convert_to_tensor(check_mask(mask))
        _check_shape("mask", mask, full)
        tensors["mask"] = _rank4(mask)
    if bias is not None:
        bias = ops.convert_to_tensor(bias)
        if "float" not in keras.backend.standardize_dtype(bias.dtype):
            raise ValueError(
                "`bias` must be a float tensor (a logits bias). Received: "
                f"bias.dtype={bias.dtype}"
            )
        _check_shape("bias", bias, full)
        tensors["bias"] = _rank4(bias)
    if alibi_slopes is not None:
        tensors["alibi_slopes"] = _check_per_head(
            "alibi_slopes", alibi_slopes, sp.N
        )
    if relative_bias_table is not None:
        table = _check_per_head(
            "relative_bias_table", relative_bias_table, sp.N, rank=2
        )
        sp.num_buckets = int(table.shape[0])
        if sp.num_buckets < (4 if sp.bidirectional else 2):
            raise ValueError(
                "`relative_bias_table` needs at least 4 buckets (2 if "
                "unidirectional). Received: relative_bias_table.shape="
                f"{tuple(table.shape)}"
            )
        tensors["relative_bias_table"] = table
    if sinks is not None:
        tensors["sinks"] = _check_per_head("sinks", sinks, sp.N)
    names = list(tensors)
    return _attention(sp, names, [tensors[name] for name in names])


def fused_kernel_available(
    dtype,
    head_dim,
    *,
    dropout=0.0,
    bias=None,
    alibi_slopes=None,
    relative_bias_table=None,
    logit_soft_cap=None,
    sinks=None,
):
    """Whether `keras.ops.dot_product_attention(..., flash_attention=True)`
    can serve an attention call with these arguments.

    True only on the JAX or PyTorch backend, for float16/bfloat16, with
    none of the extras the fused kernel lacks (dropout, a bias, ALiBi, a
    relative bias, the tanh soft cap, sinks), and when a tiny probe call
    with `flash_attention=True` succeeds (a GPU with a flash kernel for
    `head_dim`). The probe runs once per (backend, dtype, head_dim).
    Note: keras' op takes `(B, T, N, H)` and averages the values of a
    query with no allowed key; the caller zeroes such rows.

    Example:
    >>> fused_kernel_available("float32", 64)
    False
    """
    extras = (bias, alibi_slopes, relative_bias_table, logit_soft_cap, sinks)
    if dropout or any(x is not None for x in extras):
        return False
    dtype = keras.backend.standardize_dtype(dtype)
    if dtype not in ("float16", "bfloat16"):
        return False
    return _fused_probe(keras.config.backend(), dtype, int(head_dim))


@functools.cache
def _fused_probe(backend, dtype, head_dim):
    if backend not in ("jax", "torch"):
        return False
    x = ops.zeros((1, 8, 1, head_dim), dtype)  # (B, T, N, H)
    try:
        ops.dot_product_attention(x, x, x, is_causal=True, flash_attention=True)
    except Exception:  # no GPU, no flash kernel, or an unsupported shape
        return False
    return True

import math

import keras
from keras import ops

from keras_attn.layers import _mha_core
from keras_attn.layers import _mha_legacy
from keras_attn.layers._mha_cached import CachedAttentionMixin
from keras_attn.layers._mha_utils import check_layer_mask
from keras_attn.layers._mha_utils import projection_equation
from keras_attn.layers._mha_utils import resolve_attention_axes
from keras_attn.layers._mha_utils import sublayer_kwargs
from keras_attn.layers._utils import FlagDependentOutputs
from keras_attn.layers._validation import check_positive_int
from keras_attn.layers._validation import check_rate
from keras_attn.layers.relative_position_bias import RelativePositionBias
from keras_attn.layers.rotary_embedding import RotaryEmbedding
from keras_attn.ops import lift_mask
from keras_attn.ops import merge_masks
from keras_attn.ops.positions import alibi_slopes


@keras.saving.register_keras_serializable(package="keras_attn")
class MultiHeadAttention(
    CachedAttentionMixin, FlagDependentOutputs, keras.layers.Layer
):
    """Multi-head attention: a drop-in for `keras.layers.MultiHeadAttention`
    with a KV cache, fused self-attention projections and loud errors.

    `MultiHead(Q, K, V) = concat(head_1..head_N) W_o` with
    `head_i = softmax(Q W_q,i (K W_k,i)ᵀ / sqrt(H)) V W_v,i`; every head is
    computed by `keras_attn.ops.scaled_dot_product_attention`. Every
    argument of the Keras layer is accepted with its default and meaning,
    and the sub-layers (`EinsumDense` named `query`, `key`, `value`,
    `attention_output`, and `gate`) have the Keras layer's names and
    layouts, so weight files load both ways, and `enable_lora`,
    `Model.quantize` and a `DTypePolicyMap` reach the projections. In
    self-attention (`value` omitted or `value is query`) on a
    `(B, T, D)` input the three input projections run as one matmul, unless
    a projection is quantized or has an activity regularizer.

    Masking (the layer follows Keras; `keras_attn.ops` takes only booleans):
    `attention_mask` is `(B, T, S)` (also `(T, S)` or `(B, N, T, S)`);
    boolean, or 0/1 integers or floats where nonzero means "may attend".
    The Keras masks of `query` / `value` / `key` arrive as `query_mask` /
    `value_mask` / `key_mask` (`(B, T)` / `(B, S)`), which may also be
    passed by hand. A query that may attend nothing outputs the output
    bias alone (its attention is zero), never NaN; value rows that no query
    may attend are zeroed, so a NaN or overflow there never reaches an
    output. `use_causal_mask=True` without a cache lets query `i` attend
    keys `j <= i` (top-left aligned, as Keras, also when T != S); with a
    cache it is aligned to absolute positions, query `i` sitting at
    `cache_index + i`. `sliding_window=w` allows `|i - j| < w` (symmetric,
    as Keras; with the causal mask, the `w - 1` previous keys).

    KV cache (incremental decoding, `(B, T, D)` inputs):
        * Self-attention: `cache = layer.init_cache(batch_size, max_length)`
          is a `SelfAttentionCache` of zeros `(B, N, max_length, H)`.
          `layer(x, cache=cache, cache_index=i, use_causal_mask=True)`
          projects the `T` new tokens `x`, writes their keys/values at
          positions `[i, i + T)`, attends over positions `< i + T` and
          returns `(output, new_cache)`. Fixed shapes, so it compiles once
          under `tf.function` / XLA / `jax.jit`. A `cache_index` outside
          `[0, max_length - T]` raises (see `keras_attn.layers.kv_cache`
          for traced indices: an assertion on TensorFlow; under XLA and
          `jax.jit` NaN outputs, and NaN keys/values written to the cache,
          so every later step is NaN too); it is never silently clamped.
          With a `sliding_window` shorter than `max_length`, the cache is a
          `SlidingWindowCache` ring of `sliding_window` slots: O(window)
          memory, and `cache_index` only has to be >= 0.
        * Cross-attention: `cache = layer.compute_key_value(encoder_out)`
          is a `CrossAttentionCache`; `layer(x, cache=cache,
          value_mask=enc_mask)` (no `value`, no `cache_index`) reuses it
          every step and returns `(output, cache)`.

    Args:
        num_heads: N.
        key_dim: H, depth of each query/key head. Defaults to
            `query_dim // num_heads` (the paper's 512 -> 8 x 64); Keras
            requires it.
        value_dim: depth of each value head. Defaults to `key_dim`.
        dropout: dropout rate on the attention weights.
        use_bias: whether the projections have biases.
        output_shape: int or tuple, the output's trailing shape; defaults
            to the query's last dim. `output_dim` is an alias for an int.
        attention_axes: axes of a `(B, d1, ..., dk, D)` input attended over
            (e.g. `(1, 2)` for the pixels of `(B, H, W, C)` images);
            default: all of `d1..dk`.
        sliding_window: None or positive int, the band `|i - j| < w`.
        flash_attention: as Keras: True routes through
            `keras.ops.dot_product_attention(flash_attention=True)` (which
            raises where the backend/hardware has no flash kernel, and
            cannot return scores or use dropout); None/False use the
            keras_attn core.
        kernel_initializer, bias_initializer, kernel_regularizer,
            bias_regularizer, activity_regularizer, kernel_constraint,
            bias_constraint: for every projection sub-layer.
        use_gate: gate the heads by `sigmoid(query W_g)` before the output
            projection (Qiu et al. 2025), as Keras.
        seed: seed for the dropout.
        output_dim: alias of an int `output_shape` (kept from earlier
            releases).
        num_key_value_heads: Nkv, a divisor of N: grouped-query attention
            (Ainslie et al. 2023), multi-query with 1 (Shazeer 2019). Query
            head `h` reads key/value head `h // (N / Nkv)`; keys and values
            are never repeated, and caches hold Nkv heads. Default N.
        rotary_embedding: None, True (a default `RotaryEmbedding`) or a
            `RotaryEmbedding` layer, applied to queries and keys (after
            QK-norm) at their absolute positions: `0..T-1`, or
            `cache_index + i` with a cache. Self-attention only.
        position_bias: None, `"alibi"` (Press et al. 2022) or a
            `RelativePositionBias` layer (T5; pass one instance to several
            layers to share it). Self-attention only.
        qk_norm: RMS-normalise each query and key head (learned scale).
        logit_soft_cap: None or c > 0: logits become `c · tanh(l / c)`.
        use_sinks: a learned per-head sink logit joins the softmax
            denominator (initialised at 0).
        memory_efficient: None chooses the memory-efficient path
            (`keras_attn.ops.memory_efficient_attention`) when a call has
            at least 2048 × 2048 logits per head and needs neither weights
            nor dropout; True always (a `ValueError` if the call asks for
            weights or trains with dropout); False never.
        chunk_size: query/key block size of the memory-efficient path.

    Call arguments (B batch, T query length, S key length, D model dim):
        query: `(B, T, D)`, or `(B, d1, ..., dk, D)` with `attention_axes`.
        value: `(B, S, Dv)`; omit for self-attention.
        key: `(B, S, Dk)`; defaults to `value`.
        query_mask, value_mask, key_mask: `(B, T)`, `(B, S)`.
        attention_mask: `(B, T, S)`, see Masking.
        use_causal_mask: apply the look-ahead mask.
        return_attention_scores: also return weights `(B, N, T, S)` (for
            n-D inputs, Keras' layout `(B, others, N, Tq..., Sk...)`).
        training: dropout is applied only in training.
        cache: a `SelfAttentionCache` or `CrossAttentionCache`, see above.
        cache_index: int scalar; write position in a `SelfAttentionCache`.

    Returns:
        `(B, T, *output_shape)`; then the weights if requested; then the
        cache if one was passed.

    Example:
    >>> import numpy as np
    >>> mha = MultiHeadAttention(num_heads=2)
    >>> tuple(mha(np.ones((2, 3, 8))).shape)
    (2, 3, 8)

    Reference:
        Vaswani et al., "Attention Is All You Need", NeurIPS 2017, §3.2.2.
    """

    def __init__(
        self,
        num_heads,
        key_dim=None,
        value_dim=None,
        dropout=0.0,
        use_bias=True,
        output_shape=None,
        attention_axes=None,
        sliding_window=None,
        flash_attention=None,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        use_gate=False,
        seed=None,
        output_dim=None,
        num_key_value_heads=None,
        rotary_embedding=None,
        position_bias=None,
        qk_norm=False,
        logit_soft_cap=None,
        use_sinks=False,
        memory_efficient=None,
        chunk_size=512,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_heads = check_positive_int("num_heads", num_heads)
        self.num_key_value_heads = check_positive_int(
            "num_key_value_heads", num_key_value_heads, allow_none=True
        )
        if self.num_key_value_heads and num_heads % self.num_key_value_heads:
            raise ValueError(
                "`num_heads` must be a multiple of `num_key_value_heads` "
                f"(each key/value head serves num_heads / num_key_value_heads"
                f" query heads). Received: num_heads={num_heads}, "
                f"num_key_value_heads={num_key_value_heads}"
            )
        self._kv_heads = self.num_key_value_heads or self.num_heads
        self.rotary_embedding = _rotary(rotary_embedding)
        self.position_bias = _position_bias(position_bias, self.num_heads)
        self.qk_norm = bool(qk_norm)
        if logit_soft_cap is not None and (
            isinstance(logit_soft_cap, bool)
            or not isinstance(logit_soft_cap, (int, float))
            or logit_soft_cap <= 0
        ):
            raise ValueError(
                "`logit_soft_cap` must be None or a positive number. "
                f"Received: logit_soft_cap={logit_soft_cap!r}"
            )
        self.logit_soft_cap = logit_soft_cap
        self.use_sinks = bool(use_sinks)
        if memory_efficient not in (None, True, False):
            raise ValueError(
                "`memory_efficient` must be None (by size), True or False. "
                f"Received: memory_efficient={memory_efficient!r}"
            )
        self.memory_efficient = memory_efficient
        self.chunk_size = check_positive_int("chunk_size", chunk_size)
        self.key_dim = check_positive_int("key_dim", key_dim, allow_none=True)
        self.value_dim = check_positive_int(
            "value_dim", value_dim, allow_none=True
        )
        self.dropout = check_rate("dropout", dropout)
        self.use_bias = bool(use_bias)
        self.output_dim = check_positive_int(
            "output_dim", output_dim, allow_none=True
        )
        if output_shape is not None and output_dim is not None:
            raise ValueError(
                "Pass `output_shape` or its alias `output_dim`, not both. "
                f"Received: output_shape={output_shape!r}, "
                f"output_dim={output_dim!r}"
            )
        self._output_shape = _check_output_shape(output_shape)
        if isinstance(attention_axes, int):
            attention_axes = (attention_axes,)
        if attention_axes is not None and (
            not isinstance(attention_axes, (list, tuple))
            or not attention_axes
            or not all(
                isinstance(a, int) and not isinstance(a, bool)
                for a in attention_axes
            )
        ):
            raise ValueError(
                "`attention_axes` must be an int or a non-empty tuple of "
                f"ints. Received: attention_axes={attention_axes!r}"
            )
        self.attention_axes = (
            None if attention_axes is None else tuple(attention_axes)
        )
        self.sliding_window = check_positive_int(
            "sliding_window", sliding_window, allow_none=True
        )
        if flash_attention not in (None, True, False):
            raise ValueError(
                "`flash_attention` must be None, True or False. Received: "
                f"flash_attention={flash_attention!r}"
            )
        self.flash_attention = flash_attention
        self._use_flash = bool(
            flash_attention or keras.config.is_flash_attention_enabled()
        )
        if self._use_flash and self.dropout > 0.0:
            raise ValueError(
                "Dropout is not supported with flash attention: set "
                f"dropout=0 or flash_attention=False. Received: "
                f"dropout={self.dropout}, flash_attention={flash_attention}"
            )
        if self._use_flash and (
            self.position_bias is not None
            or logit_soft_cap is not None
            or self.use_sinks
        ):
            raise ValueError(
                "The backend's flash kernel has no position bias, soft-cap "
                "or sinks: set flash_attention=False. Received: "
                f"flash_attention={flash_attention}, position_bias="
                f"{position_bias!r}, logit_soft_cap={logit_soft_cap}, "
                f"use_sinks={use_sinks}"
            )
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self._projection_activity_regularizer = keras.regularizers.get(
            activity_regularizer
        )
        self.kernel_constraint = keras.constraints.get(kernel_constraint)
        self.bias_constraint = keras.constraints.get(bias_constraint)
        self.use_gate = bool(use_gate)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True

    # The Keras layer exposes its projections under these names; weight
    # files are keyed by them, so they stay.
    @property
    def query_dense(self):
        return self._query_dense

    @property
    def key_dense(self):
        return self._key_dense

    @property
    def value_dense(self):
        return self._value_dense

    @property
    def output_dense(self):
        return self._output_dense

    def _dense(self, name, input_rank, bound, out_shape, activation=None):
        equation, bias_axes = projection_equation(
            input_rank - bound, bound, len(out_shape)
        )
        layer = keras.layers.EinsumDense(
            equation,
            output_shape=[None] * (input_rank - bound - 1) + list(out_shape),
            bias_axes=bias_axes if self.use_bias else None,
            activation=activation,
            name=name,
            **sublayer_kwargs(self),
        )
        # This layer consumes the inputs' Keras masks; the projections just
        # pass them on (else Keras warns that they are destroyed).
        layer.supports_masking = True
        return layer

    def build(self, query_shape, value_shape=None, key_shape=None):
        query_shape = tuple(query_shape)
        rank = len(query_shape)
        if rank < 3:
            raise ValueError(
                "`query` must have shape (batch, length, dim) or (batch, "
                f"d1, ..., dk, dim). Received: query.shape={query_shape}"
            )
        value_shape = query_shape if value_shape is None else tuple(value_shape)
        key_shape = value_shape if key_shape is None else tuple(key_shape)
        for name, shape in (("value", value_shape), ("key", key_shape)):
            if len(shape) != rank:
                raise ValueError(
                    f"`{name}` must have the rank of `query`. Received: "
                    f"query.shape={query_shape}, {name}.shape={shape}"
                )
        if value_shape[1:-1] != key_shape[1:-1]:
            raise ValueError(
                "`value` and `key` must agree on every axis but the last. "
                f"Received: value.shape={value_shape}, key.shape={key_shape}"
            )
        self._axes = resolve_attention_axes(self.attention_axes, rank)
        self._others = tuple(
            a for a in range(1, rank - 1) if a not in self._axes
        )
        for a in self._others:
            if None not in (query_shape[a], value_shape[a]) and (
                query_shape[a] != value_shape[a]
            ):
                raise ValueError(
                    f"Axis {a} is not an attention axis, so `query` and "
                    "`value` must agree on it. Received: query.shape="
                    f"{query_shape}, value.shape={value_shape}, "
                    f"attention_axes={self._axes}"
                )
        self._plain = rank == 3  # (B, T, D): no reshapes around the core
        n = self.num_heads
        if self.key_dim is None and query_shape[-1] % n:
            raise ValueError(
                "`key_dim` defaults to query_dim // num_heads, which needs "
                "query_dim divisible by num_heads. Received: "
                f"num_heads={n}, query.shape={query_shape}"
            )
        self._key_dim = self.key_dim or query_shape[-1] // n
        self._value_dim = self.value_dim or self._key_dim
        self._output_tail = self._output_shape or (
            (self.output_dim,) if self.output_dim else (query_shape[-1],)
        )
        hk, hv = self._key_dim, self._value_dim
        nkv = self._kv_heads
        if not self._plain and (
            self.rotary_embedding is not None or self.position_bias is not None
        ):
            raise ValueError(
                "`rotary_embedding` and `position_bias` need (batch, length,"
                f" dim) inputs. Received: query.shape={query_shape}"
            )
        if self.rotary_embedding is not None and hk % 2:
            raise ValueError(
                "Rotary embeddings rotate pairs of features: the key depth "
                f"must be even. Received: key_dim={hk}"
            )
        # Creation order = the Keras layer's weight order.
        self._query_dense = self._dense("query", rank, 1, (n, hk))
        self._query_dense.build(query_shape)
        self._key_dense = self._dense("key", rank, 1, (nkv, hk))
        self._key_dense.build(key_shape)
        if self.use_gate:
            self._gate_dense = self._dense(
                "gate", rank, 1, (n, hv), activation="sigmoid"
            )
            self._gate_dense.build(query_shape)
        self._value_dense = self._dense("value", rank, 1, (nkv, hv))
        self._value_dense.build(value_shape)
        if self.qk_norm:
            self.query_norm = keras.layers.RMSNormalization(
                epsilon=1e-6, dtype=self.dtype_policy, name="query_norm"
            )
            self.query_norm.build(query_shape[:-1] + (n, hk))
            self.key_norm = keras.layers.RMSNormalization(
                epsilon=1e-6, dtype=self.dtype_policy, name="key_norm"
            )
            self.key_norm.build(key_shape[:-1] + (nkv, hk))
        if self.use_sinks:
            self.sinks = self.add_weight(
                shape=(n,), initializer="zeros", name="sinks"
            )
        self._output_dense = self._dense(
            "attention_output", rank + 1, 2, self._output_tail
        )
        self._output_dense.build(query_shape[:-1] + (n, hv))
        # (B, d..., N, H) -> (B, others..., N, axes..., H)
        self._perm = (0, *self._others, rank - 1, *self._axes, rank)

    # --- projections ------------------------------------------------------
    def _fusable(self):
        layers = (self._query_dense, self._key_dense, self._value_dense)
        dtypes = {(lay.compute_dtype, lay.variable_dtype) for lay in layers}
        return (
            self._plain
            and len(dtypes) == 1  # no per-projection policy (policy map)
            and all(
                lay.quantization_mode is None
                and lay.activity_regularizer is None
                for lay in layers
            )
        )

    def _project_self(self, x):
        """Q, K, V `(B, T, N, H)` of one input; one matmul when possible."""
        if not self._fusable():
            return (
                self._query_dense(x),
                self._key_dense(x),
                self._value_dense(x),
            )
        n, hk, hv = self.num_heads, self._key_dim, self._value_dim
        nkv = self._kv_heads
        d = x.shape[-1]
        layers = (self._query_dense, self._key_dense, self._value_dense)
        kernel = ops.concatenate(
            [ops.reshape(layer.kernel, (d, -1)) for layer in layers], axis=-1
        )  # (D, N*(2Hk+Hv)); `.kernel` includes a LoRA update
        y = ops.matmul(x, ops.cast(kernel, x.dtype))  # (B, T, N*(2Hk+Hv))
        if self.use_bias:
            bias = ops.concatenate(
                [ops.reshape(layer.bias, (-1,)) for layer in layers]
            )
            y = y + ops.cast(bias, y.dtype)
        q, k, v = ops.split(y, [n * hk, (n + nkv) * hk], axis=-1)
        b, t = ops.shape(x)[0], ops.shape(x)[1]
        return (
            ops.reshape(q, (b, t, n, hk)),
            ops.reshape(k, (b, t, nkv, hk)),
            ops.reshape(v, (b, t, nkv, hv)),
        )

    def _to_heads(self, x):
        """(B, d..., N, H) -> (B', N, L, H), attention axes flattened to L."""
        x = ops.transpose(x, self._perm)  # (B, others..., N, axes..., H)
        if self._plain:
            return x  # (B, N, T, H)
        shape = ops.shape(x)
        heads = shape[len(self._others) + 1]
        length = math.prod(shape[len(self._others) + 2 : -1])
        return ops.reshape(x, (-1, heads, length, shape[-1]))

    def _from_heads(self, x, like):
        """(B', N, T, Hv) -> (B, d..., N, Hv), `like` the projected query."""
        if self._plain:
            return ops.transpose(x, (0, 2, 1, 3))  # (B, T, N, Hv)
        shape = ops.shape(ops.transpose(like, self._perm))
        x = ops.reshape(x, (*shape[:-1], ops.shape(x)[-1]))
        inverse = [self._perm.index(i) for i in range(len(self._perm))]
        return ops.transpose(x, inverse)

    # --- call ---------------------------------------------------------------
    def call(
        self,
        query,
        value=None,
        key=None,
        query_mask=None,
        value_mask=None,
        key_mask=None,
        attention_mask=None,
        use_causal_mask=False,
        return_attention_scores=False,
        training=None,
        cache=None,
        cache_index=None,
    ):
        self_attention = value is None or (
            value is query and (key is None or key is query)
        )
        if self._use_flash and return_attention_scores:
            raise ValueError(
                "Flash attention cannot return attention scores. Received: "
                "return_attention_scores=True with flash attention enabled"
            )
        if cache is not None or cache_index is not None:
            return self._call_cached(
                query,
                value,
                query_mask,
                value_mask,
                attention_mask,
                use_causal_mask,
                return_attention_scores,
                training,
                cache,
                cache_index,
            )
        if self_attention:
            q, k, v = self._project_self(query)  # (B, d..., N, H)
            if value_mask is None:
                value_mask = query_mask
            value = query
        else:
            self._check_self_only("cross-attention (a `value` was passed)")
            q = self._query_dense(query)
            k = self._key_dense(value if key is None else key)
            v = self._value_dense(value)
        q, k = self._positions(q, k, 0)
        qh, kh, vh = self._to_heads(q), self._to_heads(k), self._to_heads(v)
        for name, on in (
            ("use_causal_mask", use_causal_mask),
            ("sliding_window", self.sliding_window is not None),
        ):
            if on and len(self._axes) != 1:
                raise ValueError(
                    f"`{name}` needs a single attention axis. Received: "
                    f"attention_axes={self._axes}"
                )
        mask, q_mask = self._user_masks(
            query, value, query_mask, value_mask, key_mask, attention_mask
        )
        out, weights = self._core(
            qh,
            kh,
            vh,
            mask,
            q_mask,
            use_causal_mask,
            0,
            training,
            return_attention_scores,
        )
        outputs = self._finish(query, q, out)
        if return_attention_scores:
            return outputs, self._scores_layout(weights, q, k)
        return outputs

    def _check_self_only(self, what):
        for name in ("rotary_embedding", "position_bias"):
            if getattr(self, name) is not None:
                raise ValueError(
                    f"`{name}` is for self-attention (queries and keys share "
                    f"positions); this call is {what}. Use a layer without "
                    f"it. Received: {name}={getattr(self, name)!r}"
                )

    def _positions(self, q, k, start):
        """QK-norm, then rotary embeddings from position `start` on."""
        if self.qk_norm:
            q, k = self.query_norm(q), self.key_norm(k)
        if self.rotary_embedding is not None:
            q = self.rotary_embedding(q, start_index=start)
            k = self.rotary_embedding(k, start_index=start)
        return q, k

    def _core(
        self, q, k, v, mask, q_mask, causal, offset, training, return_scores
    ):
        """The attention of `(B', N, T, H)` heads on the path that fits."""
        fused_ok = (
            self.flash_attention is None
            and self.memory_efficient is None
            and _mha_core.fused_eligible(
                q.dtype,
                self._key_dim,
                self._value_dim,
                masked=mask is not None or q_mask is not None,
                causal=causal,
                offset=offset,
                t_len=q.shape[2],
                s_len=k.shape[2],
                extras=self.position_bias is not None
                or self.sliding_window is not None
                or self.logit_soft_cap is not None
                or self.use_sinks,
            )
        )
        path = _mha_core.choose_path(
            self.memory_efficient,
            q.shape[2],
            k.shape[2],
            return_scores,
            bool(training) and self.dropout > 0.0,
            self._use_flash,
            fused_ok,
        )
        alibi = None
        if isinstance(self.position_bias, str):
            alibi = ops.convert_to_tensor(alibi_slopes(self.num_heads))
        return _mha_core.attend_heads(
            q,
            k,
            v,
            path=path,
            mask=mask,
            query_mask=q_mask,
            causal=causal,
            window=self.sliding_window,
            query_offset=offset,
            alibi_slopes=alibi,
            relative_bias=(
                None
                if isinstance(self.position_bias, str)
                else (self.position_bias)
            ),
            scale=1.0 / math.sqrt(self._key_dim),
            soft_cap=self.logit_soft_cap,
            sinks=self.sinks if self.use_sinks else None,
            dropout=self.dropout,
            training=bool(training),
            seed=self.seed_generator,
            return_weights=return_scores,
            chunk_size=self.chunk_size,
        )

    def _user_masks(
        self, query, value, query_mask, value_mask, key_mask, attention_mask
    ):
        """The user's masks: `(keys (B|1, N|1, T|1, S), queries (B, 1, T,
        1))` as booleans, each None when absent."""
        q_shape = tuple(query.shape)
        t_len = q_shape[1] if self._plain else None
        s_len = value.shape[1] if (self._plain and value is not None) else None
        masks, q_lifted = [], None
        for name, m, length in (
            ("query_mask", query_mask, t_len),
            ("value_mask", value_mask, s_len),
            ("key_mask", key_mask, s_len),
        ):
            if m is None:
                continue
            if not self._plain:
                raise ValueError(
                    f"`{name}` is for (batch, length, dim) inputs; with "
                    f"attention_axes={self._axes} pass an `attention_mask`."
                    f" Received: {name}.shape={tuple(m.shape)}"
                )
            m = check_layer_mask(name, m, (q_shape[0], length))
            if name == "query_mask":
                q_lifted = lift_mask(m, 4, "query")  # (B, 1, T, 1)
            else:
                masks.append(lift_mask(m, 4, "key"))  # (B, 1, 1, S)
        if attention_mask is not None:
            masks.append(self._attention_mask(attention_mask, query, value))
        return merge_masks(*masks), q_lifted

    def _attention_mask(self, mask, query, value):
        """`attention_mask` in the core's `(B', N|1, T, S)` layout."""
        rank_scores = 2 + len(self._others) + 2 * len(self._axes)
        if self._plain:
            t_len = query.shape[1]
            s_len = None if value is None else value.shape[1]
            if len(mask.shape) not in (2, 3, 4):
                raise ValueError(
                    "`attention_mask` must have shape (B, T, S), (T, S) or "
                    f"(B, N, T, S). Received: attention_mask.shape="
                    f"{tuple(mask.shape)}"
                )
            batch = query.shape[0]
            expected = {  # (T, S), (B, T, S) or (B, N, T, S)
                2: (t_len, s_len),
                3: (batch, t_len, s_len),
                4: (batch, self.num_heads, t_len, s_len),
            }[len(mask.shape)]
            mask = check_layer_mask("attention_mask", mask, expected)
            while len(mask.shape) < 4:
                mask = ops.expand_dims(mask, 0 if len(mask.shape) == 2 else 1)
            return mask
        # Keras' layout (B, others..., [N], Tq..., Sk...): the head axis is
        # inserted before the attention axes when missing.
        mask = check_layer_mask("attention_mask", mask, None)
        if len(mask.shape) > rank_scores:
            raise ValueError(
                "`attention_mask` has more axes than the attention scores "
                f"(B, others..., N, Tq..., Sk...). Received: "
                f"attention_mask.shape={tuple(mask.shape)}"
            )
        while len(mask.shape) < rank_scores:
            mask = ops.expand_dims(mask, -2 * len(self._axes) - 1)
        q_shape = ops.shape(query)
        v_shape = ops.shape(query if value is None else value)
        heads = mask.shape[len(self._others) + 1]  # 1 or N
        full = (
            q_shape[0],
            *(q_shape[a] for a in self._others),
            heads,
            *(q_shape[a] for a in self._axes),
            *(v_shape[a] for a in self._axes),
        )
        mask = ops.broadcast_to(mask, full)
        q_len = math.prod(q_shape[a] for a in self._axes)
        s_len = math.prod(v_shape[a] for a in self._axes)
        return ops.reshape(mask, (-1, heads, q_len, s_len))  # (B', N|1, T, S)

    def _finish(self, query, projected_query, out):
        """Heads back to the input layout, gate, output projection."""
        heads = self._from_heads(out, projected_query)  # (B, d..., N, Hv)
        if self.use_gate:
            heads = ops.multiply(heads, self._gate_dense(query))
        return self._output_dense(heads)

    def _scores_layout(self, weights, q, k):
        """(B', N, Tq, Sk) -> Keras' (B, others..., N, Tq..., Sk...)."""
        if self._plain:
            return weights
        q_shape = ops.shape(ops.transpose(q, self._perm))
        k_shape = ops.shape(ops.transpose(k, self._perm))
        lead = q_shape[: len(self._others) + 2]  # B, others..., N
        return ops.reshape(
            weights, (*lead, *q_shape[len(lead) : -1], *k_shape[len(lead) : -1])
        )

    def compute_output_shape(
        self, query_shape, value_shape=None, key_shape=None
    ):
        tail = self._output_shape or (
            (self.output_dim,) if self.output_dim else (query_shape[-1],)
        )
        return tuple(query_shape[:-1]) + tuple(tail)

    def load_own_variables(self, store):
        # A file of the first release holds the projections as this layer's
        # own variables; `_mha_legacy` moves them to the sub-layers.
        if _mha_legacy.is_release_store(self, store):
            _mha_legacy.load_release_store(self, store)
        else:
            super().load_own_variables(store)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_heads": self.num_heads,
                "key_dim": self.key_dim,
                "value_dim": self.value_dim,
                "dropout": self.dropout,
                "use_bias": self.use_bias,
                "output_shape": self._output_shape,
                "attention_axes": self.attention_axes,
                "sliding_window": self.sliding_window,
                "flash_attention": self.flash_attention,
                "kernel_initializer": keras.initializers.serialize(
                    self.kernel_initializer
                ),
                "bias_initializer": keras.initializers.serialize(
                    self.bias_initializer
                ),
                "kernel_regularizer": keras.regularizers.serialize(
                    self.kernel_regularizer
                ),
                "bias_regularizer": keras.regularizers.serialize(
                    self.bias_regularizer
                ),
                "activity_regularizer": keras.regularizers.serialize(
                    self._projection_activity_regularizer
                ),
                "kernel_constraint": keras.constraints.serialize(
                    self.kernel_constraint
                ),
                "bias_constraint": keras.constraints.serialize(
                    self.bias_constraint
                ),
                "use_gate": self.use_gate,
                "seed": self.seed,
                "output_dim": self.output_dim,
                "num_key_value_heads": self.num_key_value_heads,
                "rotary_embedding": (
                    None
                    if self.rotary_embedding is None
                    else keras.layers.serialize(self.rotary_embedding)
                ),
                "position_bias": (
                    self.position_bias
                    if self.position_bias is None
                    or isinstance(self.position_bias, str)
                    else keras.layers.serialize(self.position_bias)
                ),
                "qk_norm": self.qk_norm,
                "logit_soft_cap": self.logit_soft_cap,
                "use_sinks": self.use_sinks,
                "memory_efficient": self.memory_efficient,
                "chunk_size": self.chunk_size,
            }
        )
        return config


def _check_output_shape(output_shape):
    if output_shape is None:
        return None
    if isinstance(output_shape, int) and not isinstance(output_shape, bool):
        output_shape = (output_shape,)
    try:
        output_shape = tuple(output_shape)
    except TypeError:
        output_shape = None
    if not output_shape or not all(
        isinstance(d, int) and not isinstance(d, bool) and d > 0
        for d in output_shape
    ):
        raise ValueError(
            "`output_shape` must be a positive int or a tuple of them. "
            f"Received: output_shape={output_shape!r}"
        )
    return output_shape


def _rotary(rotary_embedding):
    """`rotary_embedding` as a `RotaryEmbedding` layer, or None."""
    if rotary_embedding is None or rotary_embedding is False:
        return None
    if rotary_embedding is True:
        return RotaryEmbedding()
    if isinstance(rotary_embedding, dict):
        rotary_embedding = keras.layers.deserialize(rotary_embedding)
    if not isinstance(rotary_embedding, RotaryEmbedding):
        raise ValueError(
            "`rotary_embedding` must be None, True (default RoPE) or a "
            "`keras_attn.layers.RotaryEmbedding`. Received: "
            f"rotary_embedding={rotary_embedding!r}"
        )
    return rotary_embedding


def _position_bias(position_bias, num_heads):
    """`position_bias` as `"alibi"`, a `RelativePositionBias`, or None."""
    if position_bias is None or position_bias == "alibi":
        return position_bias

    if isinstance(position_bias, dict):
        position_bias = keras.layers.deserialize(position_bias)
    if not isinstance(position_bias, RelativePositionBias):
        raise ValueError(
            "`position_bias` must be None, 'alibi' or a "
            "`keras_attn.layers.RelativePositionBias`. Received: "
            f"position_bias={position_bias!r}"
        )
    if position_bias.num_heads != num_heads:
        raise ValueError(
            "The `position_bias` layer must have one bias per head. "
            f"Received: position_bias.num_heads={position_bias.num_heads}, "
            f"num_heads={num_heads}"
        )
    return position_bias

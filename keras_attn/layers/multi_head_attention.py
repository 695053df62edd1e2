import keras
from keras import ops

from keras_attn.layers._utils import FlagDependentOutputs
from keras_attn.layers._utils import clone_initializer
from keras_attn.layers._validation import check_positive_int
from keras_attn.layers._validation import check_rate
from keras_attn.ops import causal_mask
from keras_attn.ops import merge_masks
from keras_attn.ops import scaled_dot_product_attention


def _split_heads(x, num_heads):
    """(B, L, N*H) -> (B, N, L, H)."""
    x = ops.reshape(x, (ops.shape(x)[0], ops.shape(x)[1], num_heads, -1))
    return ops.transpose(x, (0, 2, 1, 3))  # (B, N, L, H)


def _as_4d_mask(mask):
    """A `(B, T, S)` attention mask gets a head axis: `(B, 1, T, S)`."""
    if mask is not None and len(mask.shape) == 3:
        return ops.expand_dims(mask, 1)
    return mask


@keras.saving.register_keras_serializable(package="keras_attn")
class MultiHeadAttention(FlagDependentOutputs, keras.layers.Layer):
    """Multi-head attention with fused projections and a KV cache.

    `MultiHead(Q, K, V) = concat(head_1..head_N) W_o` with
    `head_i = softmax(Q W_q,i (K W_k,i)ᵀ / sqrt(H)) V W_v,i`, every head
    computed by `keras_attn.ops.scaled_dot_product_attention`. When `value`
    is omitted it is self-attention and the three input projections run
    as one fused matmul. The weights have the same shapes and order as
    `keras.layers.MultiHeadAttention` (query, key, value, output kernels and
    biases), so weights can be copied between the two.

    Masking: `attention_mask` is boolean `(B, T, S)` or `(B, N, T, S)`, True
    = may attend. Keras masks on `query`, `value`, `key` are consumed via the
    auto-filled `query_mask` / `value_mask` / `key_mask` (`(B, T)`/`(B, S)`);
    a masked query row attends nothing and its attention output is zero.
    `use_causal_mask=True` adds the look-ahead mask, aligned so that query
    `i` sits at absolute position `cache_index + i` when decoding with a
    cache.

    KV cache (incremental decoding):
        * Self-attention: `cache = layer.init_cache(batch_size, max_length)`
          is a pair `(keys, values)` of zeros `(B, N, max_length, H)`.
          `layer(x, cache=cache, cache_index=i, use_causal_mask=True)`
          projects the `T` new tokens `x`, writes their keys/values at
          positions `[i, i + T)`, attends over positions `< i + T` and
          returns `(output, new_cache)`. Fixed shapes, so it compiles once
          under `tf.function` / XLA / `jax.jit`.
        * Cross-attention: `cache = layer.compute_key_value(encoder_out)`
          projects the memory once; then
          `layer(x, cache=cache, value_mask=enc_mask)` (no `cache_index`)
          reuses it every step and returns `(output, cache)` unchanged.

    Args:
        num_heads: N.
        key_dim: H, depth of each query/key head. Defaults to
            `query_dim // num_heads` (the paper's 512 -> 8 x 64).
        value_dim: depth of each value head. Defaults to `key_dim`.
        dropout: dropout rate on the attention weights.
        use_bias: whether the projections have biases.
        output_dim: size of the output; defaults to the query's last dim.
        kernel_initializer, bias_initializer: initializers (cloned per
            weight).
        seed: seed for the dropout.

    Call arguments (B batch, T query length, S key length, D model dim):
        query: `(B, T, D)`.
        value: `(B, S, Dv)`; omit for self-attention.
        key: `(B, S, Dk)`; defaults to `value`.
        query_mask, value_mask, key_mask: boolean `(B, T)`, `(B, S)`.
        attention_mask: boolean `(B, T, S)` or `(B, N, T, S)`.
        use_causal_mask: apply the look-ahead mask.
        return_attention_scores: also return weights `(B, N, T, S)`.
        training: dropout is applied only in training.
        cache: a `(keys, values)` pair, see above.
        cache_index: int scalar; write position for a self-attention cache.

    Returns:
        `(B, T, output_dim)`; then the weights if requested; then the
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
        output_dim=None,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_heads = check_positive_int("num_heads", num_heads)
        self.key_dim = check_positive_int("key_dim", key_dim, allow_none=True)
        self.value_dim = check_positive_int(
            "value_dim", value_dim, allow_none=True
        )
        self.dropout = check_rate("dropout", dropout)
        self.use_bias = bool(use_bias)
        self.output_dim = check_positive_int(
            "output_dim", output_dim, allow_none=True
        )
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True

    def _dense_weights(self, name, shape, bias_shape):
        kernel = self.add_weight(
            name=f"{name}_kernel",
            shape=shape,
            initializer=clone_initializer(self.kernel_initializer),
        )
        bias = None
        if self.use_bias:
            bias = self.add_weight(
                name=f"{name}_bias",
                shape=bias_shape,
                initializer=clone_initializer(self.bias_initializer),
            )
        return kernel, bias

    def build(self, query_shape, value_shape=None, key_shape=None):
        if len(query_shape) != 3:
            raise ValueError(
                "`query` must have shape (batch, length, dim). Received: "
                f"query.shape={tuple(query_shape)}"
            )
        query_dim = query_shape[-1]
        value_dim_in = query_dim if value_shape is None else value_shape[-1]
        key_dim_in = value_dim_in if key_shape is None else key_shape[-1]
        if self.key_dim is None and query_dim % self.num_heads:
            raise ValueError(
                "`key_dim` defaults to query_dim // num_heads, which needs "
                "query_dim divisible by num_heads. Received: "
                f"num_heads={self.num_heads}, query_dim={query_dim}"
            )
        n = self.num_heads
        self._key_dim = self.key_dim or query_dim // n
        self._value_dim = self.value_dim or self._key_dim
        self._output_dim = self.output_dim or query_dim
        hk, hv = self._key_dim, self._value_dim
        self.query_kernel, self.query_bias = self._dense_weights(
            "query", (query_dim, n, hk), (n, hk)
        )
        self.key_kernel, self.key_bias = self._dense_weights(
            "key", (key_dim_in, n, hk), (n, hk)
        )
        self.value_kernel, self.value_bias = self._dense_weights(
            "value", (value_dim_in, n, hv), (n, hv)
        )
        self.output_kernel, self.output_bias = self._dense_weights(
            "output", (n, hv, self._output_dim), (self._output_dim,)
        )

    def _project(self, x, kernel, bias):
        """(B, L, D) @ (D, N, H) -> (B, N, L, H)."""
        d, n, h = kernel.shape
        y = ops.matmul(x, ops.reshape(kernel, (d, n * h)))  # (B, L, N*H)
        if bias is not None:
            y = y + ops.reshape(bias, (n * h,))
        return _split_heads(y, n)

    def _project_qkv(self, x):
        """Self-attention: one fused matmul for Q, K and V."""
        n, hk, hv = self.num_heads, self._key_dim, self._value_dim
        d = x.shape[-1]
        kernel = ops.concatenate(
            [
                ops.reshape(self.query_kernel, (d, n * hk)),
                ops.reshape(self.key_kernel, (d, n * hk)),
                ops.reshape(self.value_kernel, (d, n * hv)),
            ],
            axis=-1,
        )
        y = ops.matmul(x, kernel)  # (B, T, N*(2Hk+Hv))
        if self.use_bias:
            y = y + ops.concatenate(
                [
                    ops.reshape(self.query_bias, (n * hk,)),
                    ops.reshape(self.key_bias, (n * hk,)),
                    ops.reshape(self.value_bias, (n * hv,)),
                ]
            )
        q, k, v = ops.split(y, [n * hk, 2 * n * hk], axis=-1)
        return (
            _split_heads(q, n),  # (B, N, T, Hk)
            _split_heads(k, n),  # (B, N, T, Hk)
            _split_heads(v, n),  # (B, N, T, Hv)
        )

    def compute_key_value(self, value, key=None):
        """Project a memory once for cross-attention decoding.

        Returns the cache pair `(keys (B, N, S, H), values (B, N, S, Hv))`.
        """
        key = value if key is None else key
        return (
            self._project(key, self.key_kernel, self.key_bias),
            self._project(value, self.value_kernel, self.value_bias),
        )

    def init_cache(self, batch_size, max_length, dtype=None):
        """Zeros `(keys, values)` of shape `(B, N, max_length, H)`."""
        if not self.built:
            raise ValueError(
                "`init_cache` needs a built layer: call it once first."
            )
        check_positive_int("max_length", max_length)
        dtype = dtype or self.compute_dtype
        n = self.num_heads
        return (
            ops.zeros((batch_size, n, max_length, self._key_dim), dtype),
            ops.zeros((batch_size, n, max_length, self._value_dim), dtype),
        )

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
        self_attention = value is None
        if cache_index is not None and (cache is None or not self_attention):
            raise ValueError(
                "`cache_index` is for self-attention with a `cache` (omit "
                "`value`). Received: cache_index with "
                f"cache={'None' if cache is None else 'a cache'} and "
                f"value={'None' if value is None else 'a tensor'}"
            )
        if self_attention and value_mask is None and cache is None:
            value_mask = query_mask
        offset = None
        if cache is not None and cache_index is None:
            q = self._project(query, self.query_kernel, self.query_bias)
            k, v = cache  # precomputed memory, (B, N, S, H)
        elif self_attention:
            q, k, v = self._project_qkv(query)
            if cache is not None:
                offset = ops.cast(cache_index, "int32")
                start = [0, 0, offset, 0]
                k = ops.slice_update(cache[0], start, k)  # (B, N, S_max, Hk)
                v = ops.slice_update(cache[1], start, v)  # (B, N, S_max, Hv)
                cache = (k, v)
        else:
            q = self._project(query, self.query_kernel, self.query_bias)
            k, v = self.compute_key_value(value, key)

        masks = [_as_4d_mask(attention_mask)]
        if query_mask is not None:
            masks.append(query_mask[:, None, :, None])  # (B, 1, T, 1)
        for m in (value_mask, key_mask):
            if m is not None:
                masks.append(m[:, None, None, :])  # (B, 1, 1, S)
        t, s = ops.shape(q)[2], ops.shape(k)[2]
        if offset is not None:
            written = ops.arange(s, dtype="int32") < offset + t  # (S,)
            masks.append(written[None, None, None, :])
        if use_causal_mask:
            masks.append(causal_mask(t, s, offset=offset))  # (T, S)
        attended = scaled_dot_product_attention(
            q,
            k,
            v,
            mask=merge_masks(*masks),
            dropout=self.dropout,
            training=bool(training),
            seed=self.seed_generator,
            return_weights=return_attention_scores,
        )
        if return_attention_scores:
            attended, weights = attended
        n, hv = self.num_heads, self._value_dim
        attended = ops.transpose(attended, (0, 2, 1, 3))  # (B, T, N, Hv)
        attended = ops.reshape(
            attended, (ops.shape(attended)[0], ops.shape(attended)[1], n * hv)
        )
        output = ops.matmul(
            attended, ops.reshape(self.output_kernel, (n * hv, -1))
        )  # (B, T, D_out)
        if self.use_bias:
            output = output + self.output_bias
        outputs = (output,)
        if return_attention_scores:
            outputs += (weights,)
        if cache is not None:
            outputs += (cache,)
        return outputs[0] if len(outputs) == 1 else outputs

    def compute_output_shape(
        self, query_shape, value_shape=None, key_shape=None
    ):
        return tuple(query_shape[:-1]) + (self.output_dim or query_shape[-1],)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_heads": self.num_heads,
                "key_dim": self.key_dim,
                "value_dim": self.value_dim,
                "dropout": self.dropout,
                "use_bias": self.use_bias,
                "output_dim": self.output_dim,
                "kernel_initializer": keras.initializers.serialize(
                    self.kernel_initializer
                ),
                "bias_initializer": keras.initializers.serialize(
                    self.bias_initializer
                ),
                "seed": self.seed,
            }
        )
        return config

"""`MultiHeadAttention`'s KV cache: creating it and the cached call.

A mixin, so the layer's file keeps the uncached path; see `kv_cache` for
the cache types and the checks on `cache_index`.
"""

from keras import ops

from keras_attn.layers import kv_cache
from keras_attn.layers._validation import check_positive_int
from keras_attn.ops import merge_masks


class CachedAttentionMixin:
    """`compute_key_value`, `init_cache` and the cached call of
    `MultiHeadAttention` (which provides the projections and `_core`)."""

    def compute_key_value(self, value, key=None):
        """Project a memory once for cross-attention decoding.

        Returns a `CrossAttentionCache` `(keys (B, N, S, H),
        values (B, N, S, Hv))`.
        """
        if not self.built:
            raise ValueError(
                "`compute_key_value` needs a built layer: call it once first."
            )
        self._require_plain()
        self._check_self_only("cross-attention (`compute_key_value`)")
        key = self._key_dense(value if key is None else key)
        if self.qk_norm:
            key = self.key_norm(key)
        return kv_cache.CrossAttentionCache(
            self._to_heads(key), self._to_heads(self._value_dense(value))
        )

    def init_cache(self, batch_size, max_length, dtype=None):
        """An empty KV cache for decoding up to `max_length` tokens.

        A `SelfAttentionCache` of zeros `(B, Nkv, max_length, H)`; for a
        layer with `sliding_window` shorter than `max_length`, a
        `SlidingWindowCache` ring buffer of `sliding_window` slots, so the
        memory is O(window) and `cache_index` may grow without bound.
        """
        if not self.built:
            raise ValueError(
                "`init_cache` needs a built layer: call it once first."
            )
        self._require_plain()
        batch_size = kv_cache.check_batch_size(batch_size)
        check_positive_int("max_length", max_length)
        dtype = dtype or self.compute_dtype
        kind, length = kv_cache.SelfAttentionCache, max_length
        if self.sliding_window is not None and self.sliding_window < max_length:
            kind, length = kv_cache.SlidingWindowCache, self.sliding_window
        shape = (batch_size, self._kv_heads, length)
        return kind(
            ops.zeros(shape + (self._key_dim,), dtype),
            ops.zeros(shape + (self._value_dim,), dtype),
        )

    def _require_plain(self):
        if not self._plain:
            raise ValueError(
                "The KV cache is for (batch, length, dim) inputs. This layer "
                f"attends over attention_axes={self.attention_axes}."
            )

    def _call_cached(
        self,
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
    ):
        self._require_plain()
        if cache is None:
            raise ValueError(
                "`cache_index` needs a `cache` from `init_cache`. Received: "
                f"cache_index={cache_index!r}, cache=None"
            )
        if value is not None:
            raise ValueError(
                "With a `cache`, the keys/values come from the cache: omit "
                "`value`. Received: value.shape="
                f"{tuple(value.shape)}"
            )
        writes = cache_index is not None
        ring = isinstance(cache, kv_cache.SlidingWindowCache)
        if not writes:
            kind = kv_cache.CrossAttentionCache
        elif ring:
            kind = kv_cache.SlidingWindowCache
        else:
            kind = kv_cache.SelfAttentionCache
        kv_cache.check_cache(
            cache,
            kind,
            query.shape[0],
            self._kv_heads,
            self._key_dim,
            self._value_dim,
        )
        if ring:
            self._check_ring(cache, value_mask, attention_mask)
        t_len = query.shape[1]  # static, or a tensor below
        in_range = None
        if writes:
            max_length = None if ring else cache.key.shape[2]
            index, in_range = kv_cache.check_cache_index(
                cache_index, t_len, max_length
            )
        if t_len is None:
            t_len = ops.shape(query)[1]
        key_valid = None
        if writes:
            q, k, v = self._project_self(query)
            q, k = self._positions(q, k, index)
            q, k, v = self._to_heads(q), self._to_heads(k), self._to_heads(v)
            # A traced index out of range: what is written is NaN, so the
            # cache slot the backend clamps to is poisoned for every later
            # step too (O(T) work, not a pass over the whole cache).
            k, v = kv_cache.poison(k, in_range), kv_cache.poison(v, in_range)
            if ring:
                keys, values, old_valid = kv_cache.ring_read(cache, index)
                keys = ops.concatenate([keys, k], axis=2)
                values = ops.concatenate([values, v], axis=2)
                new_valid = ops.ones((1, 1, 1, t_len), "bool")
                key_valid = ops.concatenate([old_valid, new_valid], axis=-1)
                offset = cache.key.shape[2]  # the new tokens follow the ring
                cache = kv_cache.ring_write(cache, index, k, v)
            else:
                start = [0, 0, index, 0]
                keys = ops.slice_update(cache.key, start, k)
                values = ops.slice_update(cache.value, start, v)
                cache = kv_cache.SelfAttentionCache(keys, values)
                written = ops.arange(keys.shape[2], dtype="int32")
                key_valid = (written < index + t_len)[None, None, None, :]
                offset = index
        else:
            self._check_self_only("cross-attention (a CrossAttentionCache)")
            q = self._query_dense(query)
            if self.qk_norm:
                q = self.query_norm(q)
            q = self._to_heads(q)
            keys, values = cache
            offset = 0
        mask, q_mask = self._user_masks(
            query, None, query_mask, value_mask, None, attention_mask
        )
        out, weights = self._core(
            q,
            keys,
            values,
            merge_masks(mask, key_valid),
            q_mask,
            use_causal_mask,
            offset,
            training,
            return_attention_scores,
        )
        projected = ops.transpose(q, (0, 2, 1, 3))  # (B, T, N, Hk)
        output = kv_cache.poison(self._finish(query, projected, out), in_range)
        outputs = (output,)
        if return_attention_scores:
            outputs += (kv_cache.poison(weights, in_range),)
        return outputs + (cache,)

    def _check_ring(self, cache, value_mask, attention_mask):
        if self.sliding_window is None:
            raise ValueError(
                "A `SlidingWindowCache` belongs to a layer with a "
                "`sliding_window`. Received: a SlidingWindowCache for a layer"
                " with sliding_window=None"
            )
        if cache.key.shape[2] != self.sliding_window:
            raise ValueError(
                f"This layer's ring cache has sliding_window="
                f"{self.sliding_window} slots. Received: cache.key.shape="
                f"{tuple(cache.key.shape)}"
            )
        for name, m in (
            ("value_mask", value_mask),
            ("attention_mask", attention_mask),
        ):
            if m is not None:
                raise ValueError(
                    f"A sliding-window ring cache reorders its slots, so "
                    f"`{name}` cannot name them; pass `query_mask` for "
                    f"padding. Received: {name}.shape={tuple(m.shape)}"
                )

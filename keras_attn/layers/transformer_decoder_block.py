import keras

from keras_attn.layers._residual import residual
from keras_attn.layers.multi_head_attention import MultiHeadAttention
from keras_attn.layers.transformer_encoder_block import TransformerEncoderBlock


@keras.saving.register_keras_serializable(package="keras_attn")
class TransformerDecoderBlock(TransformerEncoderBlock):
    """One Transformer decoder layer: causal self-attention, optional
    cross-attention over an encoder output, then feed-forward.

    Each sub-layer is wrapped like the encoder's (post-norm by default,
    pre-norm with `norm_first=True`). Cross-attention exists when the block
    is first built with `encoder_outputs`; without it this is a GPT-style
    decoder-only block.

    Masking: self-attention is causal by default (`use_causal_mask=True`)
    and honours the decoder padding mask (auto-filled `mask`, `(B, T)`);
    cross-attention honours the encoder padding mask (auto-filled
    `encoder_outputs_mask`, `(B, S)`). Changing a future token never changes
    an earlier output.

    KV cache: `cache = block.init_cache(batch_size, max_length,
    encoder_outputs)` returns `(self_cache, cross_cache)`; call
    `block(x, cache=cache, cache_index=i, encoder_outputs_mask=m)` with the
    `T` new tokens (no `encoder_outputs` needed: the cross cache holds its
    projected keys/values) to get `(output, new_cache)`.

    Args: as `TransformerEncoderBlock`.

    Call arguments (B batch, T target length, S source length):
        inputs: `(B, T, D)`.
        encoder_outputs: `(B, S, De)` or None.
        mask: boolean `(B, T)` decoder padding mask.
        encoder_outputs_mask: boolean `(B, S)` encoder padding mask.
        attention_mask: boolean `(B, T, T)` extra self-attention mask.
        use_causal_mask: look-ahead mask on self-attention.
        return_attention_scores: also return `(self_weights (B, N, T, T),
            cross_weights (B, N, T, S) or None)`.
        training: dropout is applied only in training.
        cache: `(self_cache, cross_cache)` from `init_cache`.
        cache_index: write position of `inputs` in the self-attention cache.

    Returns:
        `(B, T, D)`; then the pair of attention weights if requested; then
        the updated cache if one was passed.

    Example:
    >>> import numpy as np
    >>> block = TransformerDecoderBlock(num_heads=2, intermediate_dim=16)
    >>> y = block(np.ones((2, 3, 8)), np.ones((2, 5, 8)))
    >>> tuple(y.shape)
    (2, 3, 8)

    Reference:
        Vaswani et al., "Attention Is All You Need", NeurIPS 2017, §3.1.
    """

    # Relative position buckets of causal self-attention: past keys only.
    _bidirectional = False

    def build(self, inputs_shape, encoder_outputs_shape=None):
        super().build(inputs_shape)
        self.cross_attention = None
        if encoder_outputs_shape is None:
            return
        self.cross_attention = MultiHeadAttention(
            self.num_heads,
            key_dim=self.key_dim,
            dropout=self.dropout,
            output_dim=inputs_shape[-1],
            use_bias=self.use_bias,
            num_key_value_heads=self.self_attention.num_key_value_heads,
            qk_norm=self.self_attention.qk_norm,
            memory_efficient=self.self_attention.memory_efficient,
            kernel_initializer=keras.initializers.serialize(
                self.kernel_initializer
            ),
            bias_initializer=keras.initializers.serialize(
                self.bias_initializer
            ),
            dtype=self.dtype_policy,
            name="cross_attention",
        )
        self.cross_attention.build(inputs_shape, encoder_outputs_shape)
        self.cross_attention_layer_norm = self._layer_norm(
            "cross_attention_layer_norm"
        )
        self.cross_attention_layer_norm.build(inputs_shape)
        self.cross_attention_dropout = keras.layers.Dropout(
            self.dropout,
            dtype=self.dtype_policy,
            name="cross_attention_dropout",
        )

    def init_cache(self, batch_size, max_length, encoder_outputs=None):
        """Empty self-attention cache and the projected encoder memory."""
        self_cache = self.self_attention.init_cache(batch_size, max_length)
        cross_cache = None
        if self.cross_attention is not None:
            if encoder_outputs is None:
                raise ValueError(
                    "This block has cross-attention: `init_cache` needs "
                    "`encoder_outputs`. Received: encoder_outputs=None"
                )
            cross_cache = self.cross_attention.compute_key_value(
                encoder_outputs
            )
        return self_cache, cross_cache

    def call(
        self,
        inputs,
        encoder_outputs=None,
        mask=None,
        encoder_outputs_mask=None,
        attention_mask=None,
        use_causal_mask=True,
        return_attention_scores=False,
        training=None,
        cache=None,
        cache_index=None,
    ):
        has_cross = self.cross_attention is not None
        self_cache, cross_cache = (None, None) if cache is None else cache
        if has_cross and encoder_outputs is None and cross_cache is None:
            raise ValueError(
                "This block has cross-attention: pass `encoder_outputs` or "
                "a `cache` from `init_cache`. Received: encoder_outputs=None"
            )
        if not has_cross and encoder_outputs is not None:
            raise ValueError(
                "This block was built without cross-attention, so it cannot "
                "take `encoder_outputs`. Received: encoder_outputs.shape="
                f"{tuple(encoder_outputs.shape)}"
            )
        extra = {"return_attention_scores": return_attention_scores}

        def self_attend(x):
            kwargs = dict(extra)
            if self_cache is not None:
                kwargs.update(cache=self_cache, cache_index=cache_index)
            out = self.self_attention(
                x,
                query_mask=mask,
                attention_mask=attention_mask,
                use_causal_mask=use_causal_mask,
                training=training,
                **kwargs,
            )
            return out if isinstance(out, tuple) else (out,)

        x, self_extras = residual(
            inputs,
            self_attend,
            self.self_attention_layer_norm,
            self.self_attention_dropout,
            self.norm_first,
            training,
        )
        cross_extras = []
        if has_cross:

            def cross_attend(h):
                kwargs = dict(extra)
                if cross_cache is not None:
                    kwargs["cache"] = cross_cache
                out = self.cross_attention(
                    h,
                    encoder_outputs,
                    value_mask=encoder_outputs_mask,
                    training=training,
                    **kwargs,
                )
                return out if isinstance(out, tuple) else (out,)

            x, cross_extras = residual(
                x,
                cross_attend,
                self.cross_attention_layer_norm,
                self.cross_attention_dropout,
                self.norm_first,
                training,
            )
        x = self._feed_forward_residual(x, training)
        outputs = (x,)
        if return_attention_scores:
            cross_weights = cross_extras[0] if has_cross else None
            outputs += ((self_extras[0], cross_weights),)
        if cache is not None:
            new_self = self_extras[-1]
            outputs += ((new_self, cross_cache),)
        return outputs[0] if len(outputs) == 1 else outputs

    def compute_output_shape(self, inputs_shape, encoder_outputs_shape=None):
        return tuple(inputs_shape)

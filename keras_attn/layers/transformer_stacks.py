"""`TransformerEncoder` / `TransformerDecoder`: `num_layers` blocks."""

import keras

from keras_attn.layers._utils import FlagDependentOutputs
from keras_attn.layers._validation import check_positive_int
from keras_attn.layers.relative_position_bias import RelativePositionBias
from keras_attn.layers.transformer_decoder_block import TransformerDecoderBlock
from keras_attn.layers.transformer_encoder_block import TransformerEncoderBlock

_STACK_DOC = """

    Args:
        num_layers: number of blocks.
        num_heads, intermediate_dim, dropout, activation, norm_first,
            layer_norm_epsilon, key_dim, kernel_initializer,
            bias_initializer, normalization, use_bias and the attention
            options (`num_key_value_heads`, `rotary_embedding`,
            `position_bias`, ...): passed to every block; one
            `RelativePositionBias` is shared by all blocks. With
            `norm_first=True` a final norm normalises the stack's output
            (as in pre-norm Transformers), since the blocks leave the
            residual stream un-normalised.
"""


class _Stack(FlagDependentOutputs, keras.layers.Layer):
    block_class = None

    def __init__(self, num_layers, **block_kwargs):
        layer_kwargs = {
            k: block_kwargs.pop(k)
            for k in ("name", "dtype", "trainable")
            if k in block_kwargs
        }
        super().__init__(**layer_kwargs)
        self.num_layers = check_positive_int("num_layers", num_layers)
        # One relative position bias for the whole stack, as in T5.
        bias = block_kwargs.get("position_bias")
        if bias == "relative":
            bias = RelativePositionBias(
                block_kwargs["num_heads"],
                bidirectional=self.block_class._bidirectional,
                dtype=self.dtype_policy,
                name="relative_position_bias",
            )
        elif isinstance(bias, dict):
            bias = keras.layers.deserialize(bias)
        if bias is not None:
            block_kwargs["position_bias"] = bias
        self.blocks = [
            self.block_class(
                **block_kwargs, dtype=self.dtype_policy, name=f"block_{i}"
            )
            for i in range(num_layers)
        ]
        self._block_config = self.blocks[0].get_config()
        self.norm_first = self.blocks[0].norm_first
        self.final_layer_norm = None
        if self.norm_first:
            self.final_layer_norm = self.blocks[0]._layer_norm(
                "final_layer_norm"
            )
        self.supports_masking = True

    def _finish(self, x):
        return x if self.final_layer_norm is None else self.final_layer_norm(x)

    def compute_output_shape(self, inputs_shape, *args):
        return tuple(inputs_shape)

    def get_config(self):
        config = super().get_config()
        block = {
            k: v
            for k, v in self._block_config.items()
            if k not in ("name", "dtype", "trainable")
        }
        config.update({"num_layers": self.num_layers, **block})
        return config


@keras.saving.register_keras_serializable(package="keras_attn")
class TransformerEncoder(_Stack):
    """A stack of `TransformerEncoderBlock`s (the Transformer's encoder).

    Masking: the padding mask comes from the input's Keras mask (auto-filled
    `mask`, `(B, T)`) or is passed explicitly, and reaches every block.

    Call arguments:
        inputs: `(B, T, D)`; mask: boolean `(B, T)`; attention_mask:
        boolean `(B, T, T)`; return_attention_scores: also return each
        block's weights; training.

    Returns:
        `(B, T, D)`; with `return_attention_scores`, also a list of
        `num_layers` weights `(B, N, T, T)`, first block first.

    Example:
    >>> import numpy as np
    >>> enc = TransformerEncoder(2, num_heads=2, intermediate_dim=16)
    >>> tuple(enc(np.ones((2, 3, 8))).shape)
    (2, 3, 8)

    Reference:
        Vaswani et al., "Attention Is All You Need", NeurIPS 2017.
    """

    __doc__ += _STACK_DOC
    block_class = TransformerEncoderBlock

    def build(self, inputs_shape):
        for block in self.blocks:
            block.build(inputs_shape)
        if self.final_layer_norm is not None:
            self.final_layer_norm.build(inputs_shape)

    def call(
        self,
        inputs,
        mask=None,
        attention_mask=None,
        return_attention_scores=False,
        training=None,
    ):
        x = inputs
        scores = []
        for block in self.blocks:
            x = block(
                x,
                mask=mask,
                attention_mask=attention_mask,
                return_attention_scores=return_attention_scores,
                training=training,
            )
            if return_attention_scores:
                x, weights = x  # (B, T, D), (B, N, T, T)
                scores.append(weights)
        if return_attention_scores:
            return self._finish(x), scores
        return self._finish(x)


@keras.saving.register_keras_serializable(package="keras_attn")
class TransformerDecoder(_Stack):
    """A stack of `TransformerDecoderBlock`s with a per-layer KV cache.

    Masking: as `TransformerDecoderBlock` (causal self-attention, decoder
    padding `mask`, encoder padding `encoder_outputs_mask`).

    KV cache: `cache = dec.init_cache(batch_size, max_length,
    encoder_outputs)` is a tuple with one `(self_cache, cross_cache)` per
    block; `dec(x, cache=cache, cache_index=i, encoder_outputs_mask=m)`
    returns `(output, new_cache)`.

    Call arguments:
        inputs: `(B, T, D)`; encoder_outputs: `(B, S, De)` or None; mask;
        encoder_outputs_mask; attention_mask (`(B, T, T)`, or `(B, T,
        max_length)` with a cache, for every block's self-attention);
        use_causal_mask; return_attention_scores
        (a list of per-block `(self, cross)` weights); training; cache;
        cache_index.

    Returns:
        `(B, T, D)`; then the attention weights if requested; then the
        cache if one was passed.

    Example:
    >>> import numpy as np
    >>> dec = TransformerDecoder(2, num_heads=2, intermediate_dim=16)
    >>> tuple(dec(np.ones((2, 3, 8)), np.ones((2, 5, 8))).shape)
    (2, 3, 8)

    Reference:
        Vaswani et al., "Attention Is All You Need", NeurIPS 2017.
    """

    __doc__ += _STACK_DOC
    block_class = TransformerDecoderBlock

    def build(self, inputs_shape, encoder_outputs_shape=None):
        for block in self.blocks:
            block.build(inputs_shape, encoder_outputs_shape)
        if self.final_layer_norm is not None:
            self.final_layer_norm.build(inputs_shape)

    def init_cache(self, batch_size, max_length, encoder_outputs=None):
        return tuple(
            block.init_cache(batch_size, max_length, encoder_outputs)
            for block in self.blocks
        )

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
        if cache is not None and (
            not isinstance(cache, (tuple, list))
            or len(cache) != len(self.blocks)
        ):
            got = len(cache) if isinstance(cache, (tuple, list)) else cache
            raise ValueError(
                f"`cache` must hold one entry per block ({len(self.blocks)}"
                " here), as `init_cache` returns. Received: cache with "
                f"{got!r} entries"
            )
        x = inputs
        scores, new_cache = [], []
        for i, block in enumerate(self.blocks):
            kwargs = {}
            if cache is not None:
                kwargs.update(cache=cache[i], cache_index=cache_index)
            out = block(
                x,
                encoder_outputs,
                mask=mask,
                encoder_outputs_mask=encoder_outputs_mask,
                attention_mask=attention_mask,
                use_causal_mask=use_causal_mask,
                return_attention_scores=return_attention_scores,
                training=training,
                **kwargs,
            )
            if not isinstance(out, tuple):
                out = (out,)
            x = out[0]
            if return_attention_scores:
                scores.append(out[1])
            if cache is not None:
                new_cache.append(out[-1])
        outputs = (self._finish(x),)
        if return_attention_scores:
            outputs += (scores,)
        if cache is not None:
            outputs += (tuple(new_cache),)
        return outputs[0] if len(outputs) == 1 else outputs

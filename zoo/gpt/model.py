"""A decoder-only language model (GPT) from keras_attn layers, in two
configurations of the same code.

    token ids ─ Embedding (+ PositionEmbedding: gpt2) ─ dropout
      ─ TransformerDecoder (pre-norm, causal, no encoder) ─ final norm
      ─ logits = h @ Embeddingᵀ (tied), float32

* `gpt2`: learned absolute positions (`keras_attn.PositionEmbedding`),
  LayerNorm, GELU, multi-head attention with biases (Radford et al. 2019).
* `modern`: rotary positions inside attention, RMSNorm, SwiGLU, no
  biases, grouped-query attention, optionally a sliding window (Llama,
  Mistral): `keras_attn.TransformerDecoder(norm_first=True,
  normalization="rms_norm", activation="swiglu", use_bias=False,
  num_key_value_heads=..., rotary_embedding=True, sliding_window=...)`.

`positions` swaps the order signal of either block: a `learned` table or
`sinusoidal` encodings added to the embeddings, or `rope` / `alibi` inside
attention (the "train short, test long" experiment of docs/zoo_gpt.md).

Generation uses the decoder's KV cache: `prefill` runs the prompt
`(B, P)` through every layer at once, writing positions `0 .. P-1`;
`step` runs one token at position `index`. See decode.py.
"""

import keras
from keras import ops

import keras_attn
from zoo.gpt.config import ARCHITECTURES
from zoo.gpt.config import POSITIONS
from zoo.gpt.config import ROPE_SCALINGS


@keras.saving.register_keras_serializable(package="zoo")
class GPT(keras.Model):
    """`token_ids (B, T) -> next-token logits (B, T, V)`, float32.

    Args:
        vocabulary_size: V.
        context_length: the training length T (the rows of a learned
            position table; RoPE scaling's original length).
        architecture: `"gpt2"` or `"modern"` (see the module docstring).
        positions: `"auto"` (learned for gpt2, rope for modern),
            `"learned"`, `"sinusoidal"`, `"rope"` or `"alibi"`.
        rope_scaling, rope_scaling_factor: `"none"`, `"linear"`,
            `"dynamic"` or `"yarn"`, and its factor (rope only).
        num_layers, num_heads, model_dim, intermediate_dim, dropout: the
            decoder stack.
        num_key_value_heads: `modern`: key/value heads (None = num_heads).
        sliding_window: `modern`: None or the attention window.
    """

    def __init__(
        self,
        vocabulary_size,
        context_length=128,
        architecture="gpt2",
        num_layers=4,
        num_heads=4,
        model_dim=128,
        intermediate_dim=512,
        dropout=0.0,
        num_key_value_heads=None,
        sliding_window=None,
        positions="auto",
        rope_scaling="none",
        rope_scaling_factor=1.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if architecture not in ARCHITECTURES:
            raise ValueError(
                f"`architecture` must be one of {list(ARCHITECTURES)}. "
                f"Received: architecture={architecture!r}"
            )
        if positions not in POSITIONS or rope_scaling not in ROPE_SCALINGS:
            raise ValueError(
                f"`positions` must be one of {list(POSITIONS)} and "
                f"`rope_scaling` one of {list(ROPE_SCALINGS)}. Received: "
                f"positions={positions!r}, rope_scaling={rope_scaling!r}"
            )
        self.vocabulary_size = vocabulary_size
        self.context_length = context_length
        self.architecture = architecture
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.model_dim = model_dim
        self.intermediate_dim = intermediate_dim
        self.dropout = dropout
        self.num_key_value_heads = num_key_value_heads
        self.sliding_window = sliding_window
        self.positions = positions
        self.rope_scaling = rope_scaling
        self.rope_scaling_factor = rope_scaling_factor
        kind = positions
        if kind == "auto":
            kind = "learned" if architecture == "gpt2" else "rope"
        self.position_kind = kind
        init = keras.initializers.RandomNormal(stddev=0.02)  # GPT-2's
        self.token_embedding = keras.layers.Embedding(
            vocabulary_size,
            model_dim,
            embeddings_initializer=init,
            name="token_embedding",
        )
        self.position_embedding = None  # learned (generation stops at T)
        self.position_encoding = None  # sinusoidal
        self.embedding_scale = 1.0
        if kind == "learned":
            self.position_embedding = keras_attn.PositionEmbedding(
                context_length, initializer=init, name="position_embedding"
            )
        elif kind == "sinusoidal":
            self.position_encoding = keras_attn.SinusoidalPositionEncoding(
                name="position_encoding"
            )
            self.embedding_scale = model_dim**0.5  # as Vaswani et al.
        stack = {
            "num_layers": num_layers,
            "num_heads": num_heads,
            "intermediate_dim": intermediate_dim,
            "dropout": dropout,
            "norm_first": True,
            "kernel_initializer": keras.initializers.serialize(init),
        }
        if architecture == "gpt2":
            stack.update(activation="gelu", normalization="layer_norm")
        else:
            stack.update(
                activation="swiglu",
                normalization="rms_norm",
                use_bias=False,
                num_key_value_heads=num_key_value_heads,
                sliding_window=sliding_window,
            )
        if kind == "rope":
            stack["rotary_embedding"] = _rotary_config(
                rope_scaling, rope_scaling_factor, context_length
            )
        elif kind == "alibi":
            stack["position_bias"] = "alibi"
        self.decoder = keras_attn.TransformerDecoder(**stack, name="decoder")
        self.embedding_dropout = keras.layers.Dropout(dropout)

    def build(self, token_ids_shape):
        self.token_embedding.build(token_ids_shape)
        hidden = tuple(token_ids_shape) + (self.model_dim,)
        if self.position_embedding is not None:
            self.position_embedding.build(hidden)
        self.decoder.build(hidden)
        self.built = True

    def _embed(self, token_ids, start_index=0, training=None):
        x = self.token_embedding(token_ids)  # (B, T, D)
        if self.embedding_scale != 1.0:
            x = x * ops.cast(self.embedding_scale, x.dtype)
        if self.position_embedding is not None:
            x = x + self.position_embedding(x, start_index=start_index)
        if self.position_encoding is not None:
            x = x + self.position_encoding(x, start_index=start_index)
        return self.embedding_dropout(x, training=training)

    def _logits(self, h):
        # Tied output layer: (B, T, D) @ (D, V) -> (B, T, V).
        table = ops.cast(self.token_embedding.embeddings, h.dtype)
        return ops.cast(ops.matmul(h, ops.transpose(table)), "float32")

    def call(self, token_ids, training=None):
        x = self._embed(token_ids, training=training)
        h = self.decoder(x, use_causal_mask=True, training=training)
        return self._logits(h)

    # --- cached generation ------------------------------------------------
    def init_cache(self, batch_size, max_length):
        """Per layer an empty `(self_cache, None)` for `max_length`
        positions (a ring of `sliding_window` slots where that is
        shorter)."""
        return self.decoder.init_cache(batch_size, max_length)

    def prefill(self, prompt, cache):
        """The prompt `(B, P)` written at positions `0 .. P-1` in one
        pass: `(logits (B, V) after the prompt, cache)`."""
        x = self._embed(prompt, start_index=0, training=False)
        h, cache = self.decoder(x, cache=cache, cache_index=0, training=False)
        return self._logits(h[:, -1:])[:, 0], cache

    def step(self, tokens, cache, index):
        """One cached step: `(logits (N, V), cache)` for the `(N,)`
        `tokens` at position `index`."""
        x = self._embed(tokens[:, None], start_index=index, training=False)
        h, cache = self.decoder(
            x, cache=cache, cache_index=index, training=False
        )
        return self._logits(h)[:, 0], cache

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                name: getattr(self, name)
                for name in (
                    "vocabulary_size",
                    "context_length",
                    "architecture",
                    "num_layers",
                    "num_heads",
                    "model_dim",
                    "intermediate_dim",
                    "dropout",
                    "num_key_value_heads",
                    "sliding_window",
                    "positions",
                    "rope_scaling",
                    "rope_scaling_factor",
                )
            }
        )
        return config


def build(config, vocabulary_size):
    """A built (uncompiled) `GPT` for a `Config`."""
    model = GPT(
        vocabulary_size=vocabulary_size,
        context_length=config.context_length,
        architecture=config.architecture,
        num_layers=config.num_layers,
        num_heads=config.num_heads,
        model_dim=config.model_dim,
        intermediate_dim=config.intermediate_dim,
        dropout=config.dropout,
        num_key_value_heads=config.num_key_value_heads or None,
        sliding_window=config.sliding_window or None,
        positions=config.positions,
        rope_scaling=config.rope_scaling,
        rope_scaling_factor=config.rope_scaling_factor,
        name=f"gpt_{config.architecture}",
    )
    model(ops.zeros((1, config.context_length), "int32"))
    return model


def _rotary_config(scaling, factor, context_length):
    """The decoder's `rotary_embedding` argument: True (plain RoPE) or a
    serialised `RotaryEmbedding` with context extension."""
    if scaling == "none":
        return True
    layer = keras_attn.layers.RotaryEmbedding(
        scaling=scaling,
        scaling_factor=float(factor),
        original_max_length=context_length,
    )
    return keras.layers.serialize(layer)

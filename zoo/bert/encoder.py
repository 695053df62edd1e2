"""`BertEncoder`: BERT's embeddings, Transformer stack and pooler.

    embeddings:  E_tok[ids] + P[position] + E_seg[segment]     # (B, T, D)
                 → LayerNorm → Dropout
    encoder:     num_layers × post-norm TransformerEncoderBlock (GELU)
    pooled:      tanh(W_p · h_[CLS] + b_p)                     # (B, D)

Built from `keras_attn.TokenAndPositionEmbedding` (learned positions; its
`reverse=True` call gives the tied MLM logits) and
`keras_attn.TransformerEncoder` (a stack of post-norm
`keras_attn.TransformerEncoderBlock`s).

Reference: Devlin et al., "BERT: Pre-training of Deep Bidirectional
Transformers for Language Understanding", NAACL 2019.
"""

import keras
from keras import ops

import keras_attn

ENCODER_ARGS = (
    "vocabulary_size",
    "num_layers",
    "num_heads",
    "hidden_dim",
    "intermediate_dim",
    "max_length",
    "num_segments",
    "dropout",
    "layer_norm_epsilon",
    "kernel_initializer",
)


def _embeddings_initializer():
    # BERT's token and segment tables: N(0, 0.02²), truncated.
    return keras.initializers.TruncatedNormal(stddev=0.02)


def clone_initializer(initializer):
    """A fresh initializer per weight, from a name or a serialized dict."""
    initializer = keras.initializers.get(initializer)
    return initializer.__class__.from_config(initializer.get_config())


@keras.saving.register_keras_serializable(package="zoo")
class BertEncoder(keras.layers.Layer):
    """The BERT encoder: `{"token_ids", "segment_ids"}` → hidden states.

    Masking: id 0 is padding; padded keys get attention weight 0, so the
    states of real tokens do not depend on padding.

    Args:
        vocabulary_size: V, WordPiece vocabulary size.
        num_layers: Transformer blocks.
        num_heads: attention heads per block.
        hidden_dim: D.
        intermediate_dim: feed-forward width (4·D in BERT).
        max_length: size of the learned position table.
        num_segments: size of the segment (token type) table.
        dropout: dropout on the embeddings, attention and residuals.
        layer_norm_epsilon: LayerNorm epsilon (BERT: 1e-12).
        kernel_initializer: initializer of every dense kernel. BERT's
            `TruncatedNormal(stddev=0.02)` suits D = 768; at D = 128 it
            leaves the attention scores and residual branches ~4× smaller
            than a variance-preserving init, and masked-LM training sat
            near the unigram loss much longer (docs/zoo_bert.md), so the
            default is `"glorot_uniform"`.

    Call arguments:
        inputs: dict with int `token_ids` and `segment_ids`, `(B, T)`.
        training: dropout only in training.
        return_attention_scores: also return the per-layer attention
            weights, a list of `num_layers` tensors `(B, N, T, T)`.

    Returns:
        A dict: `sequence_output` `(B, T, D)`, `pooled_output` `(B, D)`,
        and `attention_scores` on request.
    """

    def __init__(
        self,
        vocabulary_size,
        num_layers,
        num_heads,
        hidden_dim,
        intermediate_dim,
        max_length,
        num_segments=2,
        dropout=0.1,
        layer_norm_epsilon=1e-12,
        kernel_initializer="glorot_uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        for name, value in (
            ("vocabulary_size", vocabulary_size),
            ("num_layers", num_layers),
            ("num_heads", num_heads),
            ("hidden_dim", hidden_dim),
            ("intermediate_dim", intermediate_dim),
            ("max_length", max_length),
            ("num_segments", num_segments),
        ):
            if (
                isinstance(value, bool)
                or not isinstance(value, int)
                or value < 1
            ):
                raise ValueError(
                    f"`{name}` must be a positive integer. "
                    f"Received: {name}={value!r}"
                )
        if hidden_dim % num_heads:
            raise ValueError(
                "`hidden_dim` must be divisible by `num_heads`. Received: "
                f"hidden_dim={hidden_dim}, num_heads={num_heads}"
            )
        if not 0.0 <= dropout < 1.0:
            raise ValueError(
                f"`dropout` must be in [0, 1). Received: dropout={dropout!r}"
            )
        self.vocabulary_size = vocabulary_size
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.hidden_dim = hidden_dim
        self.intermediate_dim = intermediate_dim
        self.max_length = max_length
        self.num_segments = num_segments
        self.dropout = dropout
        self.layer_norm_epsilon = layer_norm_epsilon
        self.kernel_initializer = keras.initializers.serialize(
            keras.initializers.get(kernel_initializer)
        )
        self.token_and_position_embedding = (
            keras_attn.TokenAndPositionEmbedding(
                vocabulary_size,
                max_length,
                hidden_dim,
                mask_zero=True,
                embeddings_initializer=_embeddings_initializer(),
                dtype=self.dtype_policy,
                name="token_and_position_embedding",
            )
        )
        self.segment_embedding = keras.layers.Embedding(
            num_segments,
            hidden_dim,
            embeddings_initializer=_embeddings_initializer(),
            dtype=self.dtype_policy,
            name="segment_embedding",
        )
        self.embeddings_layer_norm = keras.layers.LayerNormalization(
            epsilon=layer_norm_epsilon,
            dtype=self.dtype_policy,
            name="embeddings_layer_norm",
        )
        self.embeddings_dropout = keras.layers.Dropout(
            dropout, dtype=self.dtype_policy, name="embeddings_dropout"
        )
        self.encoder = keras_attn.TransformerEncoder(
            num_layers,
            num_heads=num_heads,
            intermediate_dim=intermediate_dim,
            dropout=dropout,
            activation="gelu",
            norm_first=False,
            layer_norm_epsilon=layer_norm_epsilon,
            kernel_initializer=clone_initializer(kernel_initializer),
            dtype=self.dtype_policy,
            name="encoder",
        )
        self.pooler_dense = keras.layers.Dense(
            hidden_dim,
            activation="tanh",
            kernel_initializer=clone_initializer(kernel_initializer),
            dtype=self.dtype_policy,
            name="pooler_dense",
        )

    def build(self, inputs_shape):
        ids_shape = tuple(inputs_shape["token_ids"])
        hidden_shape = ids_shape + (self.hidden_dim,)
        self.token_and_position_embedding.build(ids_shape)
        self.segment_embedding.build(ids_shape)
        self.embeddings_layer_norm.build(hidden_shape)
        self.encoder.build(hidden_shape)
        self.pooler_dense.build((ids_shape[0], self.hidden_dim))

    @property
    def token_embeddings(self):
        """The `(V, D)` token table (shared with the MLM output layer)."""
        return self.token_and_position_embedding.token_embedding.embeddings

    def call(self, inputs, training=None, return_attention_scores=False):
        token_ids = ops.cast(inputs["token_ids"], "int32")  # (B, T)
        segment_ids = ops.cast(inputs["segment_ids"], "int32")  # (B, T)
        padding_mask = ops.not_equal(token_ids, 0)  # (B, T)
        x = self.token_and_position_embedding(token_ids)  # (B, T, D)
        x = x + self.segment_embedding(segment_ids)  # (B, T, D)
        x = self.embeddings_layer_norm(x)
        x = self.embeddings_dropout(x, training=training)
        x = self.encoder(
            x,
            mask=padding_mask,
            return_attention_scores=return_attention_scores,
            training=training,
        )
        if return_attention_scores:
            x, scores = x  # (B, T, D), num_layers × (B, N, T, T)
        outputs = {
            "sequence_output": x,  # (B, T, D)
            "pooled_output": self.pooler_dense(x[:, 0, :]),  # (B, D)
        }
        if return_attention_scores:
            outputs["attention_scores"] = scores
        return outputs

    def get_config(self):
        config = super().get_config()
        config.update({name: getattr(self, name) for name in ENCODER_ARGS})
        return config

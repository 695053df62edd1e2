"""The Transformer translator (Vaswani et al. 2017) from keras_attn layers.

    source ids ─ TokenAndPositionEmbedding ─ dropout ─ TransformerEncoder ─┐
    target ids ─ TokenAndPositionEmbedding ─ dropout ─ TransformerDecoder ─┴─
        logits = (tied) target embedding^T  or  Dense

Embeddings are scaled by sqrt(d_model) and initialised N(0, d_model^-1),
so the scaled embeddings and the tied logits start at unit scale. The
logits are float32 under mixed precision.

Decoding uses the decoder's KV cache: `init_cache` projects the encoder
output once per layer (cross-attention keys/values) and allocates the
fixed-size self-attention cache; `decode_step` embeds one token at its
position and runs every layer on it alone.
"""

import keras
from keras import ops

import keras_attn
from zoo.metrics import MaskedAccuracy
from zoo.translation import run


@keras.saving.register_keras_serializable(package="zoo")
class TransformerTranslator(keras.Model):
    """`((source_ids (B, S), target_in_ids (B, T))) -> logits (B, T, V)`.

    Args:
        source_vocabulary_size, target_vocabulary_size: ids per side.
        max_length: longest sequence (learned position tables).
        model_dim, num_layers, num_heads, intermediate_dim, dropout,
            norm_first: the encoder/decoder stacks' sizes.
        position_encoding: `"sinusoidal"` (the paper) or `"learned"`.
        share_embeddings: one table for source and target ids (needs a
            shared vocabulary: equal sizes).
        tie_output: logits from the transposed target embedding.
    """

    def __init__(
        self,
        source_vocabulary_size,
        target_vocabulary_size,
        max_length=64,
        model_dim=512,
        num_layers=6,
        num_heads=8,
        intermediate_dim=2048,
        dropout=0.1,
        norm_first=False,
        position_encoding="sinusoidal",
        share_embeddings=False,
        tie_output=True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if (
            share_embeddings
            and source_vocabulary_size != target_vocabulary_size
        ):
            raise ValueError(
                "`share_embeddings=True` needs one (shared) vocabulary. "
                "Received: source_vocabulary_size="
                f"{source_vocabulary_size}, target_vocabulary_size="
                f"{target_vocabulary_size}"
            )
        self.source_vocabulary_size = source_vocabulary_size
        self.target_vocabulary_size = target_vocabulary_size
        self.max_length = max_length
        self.model_dim = model_dim
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.intermediate_dim = intermediate_dim
        self.dropout = dropout
        self.norm_first = norm_first
        self.position_encoding = position_encoding
        self.share_embeddings = share_embeddings
        self.tie_output = tie_output

        def embedding(vocabulary_size, name):
            return keras_attn.TokenAndPositionEmbedding(
                vocabulary_size,
                max_length,
                model_dim,
                mask_zero=True,
                position_encoding=position_encoding,
                scale_embeddings=True,
                embeddings_initializer=keras.initializers.RandomNormal(
                    stddev=model_dim**-0.5
                ),
                name=name,
            )

        self.source_embedding = embedding(
            source_vocabulary_size, "source_embedding"
        )
        self.target_embedding = (
            self.source_embedding
            if share_embeddings
            else embedding(target_vocabulary_size, "target_embedding")
        )
        stack = {
            "num_layers": num_layers,
            "num_heads": num_heads,
            "intermediate_dim": intermediate_dim,
            "dropout": dropout,
            "norm_first": norm_first,
        }
        self.encoder = keras_attn.TransformerEncoder(**stack, name="encoder")
        self.decoder = keras_attn.TransformerDecoder(**stack, name="decoder")
        self.embedding_dropout = keras.layers.Dropout(dropout)
        self.output_layer = None
        if not tie_output:
            self.output_layer = keras.layers.Dense(
                target_vocabulary_size, name="output_layer"
            )

    # --- pieces -----------------------------------------------------------
    def encode(self, source_ids, training=None):
        """`(memory (B, S, D), source_mask (B, S) bool)`."""
        source_mask = ops.not_equal(source_ids, 0)
        x = self.source_embedding(source_ids)
        x = self.embedding_dropout(x, training=training)
        return self.encoder(x, mask=source_mask, training=training), source_mask

    def _logits(self, h):
        if self.output_layer is None:
            logits = self.target_embedding.compute_logits(h)
        else:
            logits = self.output_layer(h)
        return ops.cast(logits, "float32")

    def decode(
        self,
        target_ids,
        memory,
        source_mask,
        training=None,
        return_attention_scores=False,
    ):
        """Teacher-forced decoder pass: logits `(B, T, V)` [, weights]."""
        y = self.target_embedding(target_ids)
        y = self.embedding_dropout(y, training=training)
        out = self.decoder(
            y,
            memory,
            mask=ops.not_equal(target_ids, 0),
            encoder_outputs_mask=source_mask,
            return_attention_scores=return_attention_scores,
            training=training,
        )
        if return_attention_scores:
            h, scores = out
            return self._logits(h), scores
        return self._logits(out)

    def call(self, inputs, training=None, return_attention_scores=False):
        source_ids, target_ids = inputs
        memory, source_mask = self.encode(source_ids, training)
        return self.decode(
            target_ids, memory, source_mask, training, return_attention_scores
        )

    # --- cached decoding ----------------------------------------------------
    def init_cache(self, memory, max_length):
        """Per layer `(self_cache, cross_cache)`: an empty fixed-size
        self-attention cache for `max_length` steps and the encoder output
        projected to cross-attention keys/values (computed once)."""
        return self.decoder.init_cache(ops.shape(memory)[0], max_length, memory)

    def decode_step(self, tokens, cache, index, source_mask):
        """One cached step: `(logits (N, V), new_cache)` for the `(N,)`
        `tokens` at position `index`."""
        y = self.target_embedding(tokens[:, None], start_index=index)
        h, cache = self.decoder(
            y,
            cache=cache,
            cache_index=index,
            encoder_outputs_mask=source_mask,
            training=False,
        )
        return self._logits(h)[:, 0], cache

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                name: getattr(self, name)
                for name in (
                    "source_vocabulary_size",
                    "target_vocabulary_size",
                    "max_length",
                    "model_dim",
                    "num_layers",
                    "num_heads",
                    "intermediate_dim",
                    "dropout",
                    "norm_first",
                    "position_encoding",
                    "share_embeddings",
                    "tie_output",
                )
            }
        )
        return config


@keras.saving.register_keras_serializable(package="zoo")
class TransformerSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """The paper's learning rate (§5.3), times `scale`:

    `lr(step) = scale * d_model^-0.5 * min(step^-0.5, step * warmup^-1.5)`,

    a linear warmup for `warmup_steps` steps to the peak
    `scale * (d_model * warmup_steps)^-0.5`, then decay as `step^-0.5`.
    `step` counts from 1.
    """

    def __init__(self, model_dim, warmup_steps=4000, scale=1.0):
        self.model_dim = model_dim
        self.warmup_steps = warmup_steps
        self.scale = scale

    def __call__(self, step):
        step = ops.cast(step, "float32") + 1.0
        return (
            self.scale
            * self.model_dim**-0.5
            * ops.minimum(
                ops.rsqrt(step), step * float(self.warmup_steps) ** -1.5
            )
        )

    def get_config(self):
        return {
            "model_dim": self.model_dim,
            "warmup_steps": self.warmup_steps,
            "scale": self.scale,
        }


@keras.saving.register_keras_serializable(package="zoo")
class MaskedLabelSmoothingLoss(keras.losses.Loss):
    """Label-smoothed cross-entropy over non-padding target positions.

    Per token: `(1 - ε) * -log p(y) + ε * mean_v(-log p(v))` (the target
    distribution puts `1 - ε + ε/V` on `y` and `ε/V` elsewhere); averaged
    over the tokens whose label is not `pad_id`. With `ε = 0` this is
    `SparseCategoricalCrossentropy(from_logits=True, ignore_class=pad_id)`.
    Keras' sparse cross-entropy has no label smoothing, and the one-hot
    `CategoricalCrossentropy(label_smoothing=...)` would materialise a
    `(B, T, V)` target.
    """

    def __init__(self, label_smoothing=0.1, pad_id=0, **kwargs):
        kwargs.setdefault("name", "masked_label_smoothing_loss")
        super().__init__(**kwargs)
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(
                "`label_smoothing` must be in [0, 1). Received: "
                f"label_smoothing={label_smoothing!r}"
            )
        self.label_smoothing = label_smoothing
        self.pad_id = pad_id

    def call(self, y_true, y_pred):
        log_p = ops.log_softmax(ops.cast(y_pred, "float32"), axis=-1)
        labels = ops.cast(y_true, "int32")
        nll = -ops.take_along_axis(log_p, labels[..., None], axis=-1)[..., 0]
        loss = nll
        if self.label_smoothing:
            smooth = -ops.mean(log_p, axis=-1)
            loss = (1.0 - self.label_smoothing) * nll + (
                self.label_smoothing * smooth
            )
        valid = ops.cast(ops.not_equal(labels, self.pad_id), "float32")
        # A mean over the valid tokens under the default
        # "sum_over_batch_size" reduction (which divides by all B*T): the
        # same rescaling Keras applies for its own `ignore_class` mask.
        rescale = ops.cast(ops.size(valid), "float32") / ops.maximum(
            ops.sum(valid), 1.0
        )
        return loss * valid * rescale

    def get_config(self):
        config = super().get_config()
        config.update(
            {"label_smoothing": self.label_smoothing, "pad_id": self.pad_id}
        )
        return config


def build(config, source_vocabulary_size, target_vocabulary_size):
    """A built `TransformerTranslator` for `config`."""
    model = TransformerTranslator(
        source_vocabulary_size,
        target_vocabulary_size,
        max_length=config.max_length,
        model_dim=config.model_dim,
        num_layers=config.num_layers,
        num_heads=config.num_heads,
        intermediate_dim=config.intermediate_dim,
        dropout=config.dropout,
        norm_first=config.norm_first,
        position_encoding=config.position_encoding,
        share_embeddings=config.shared_vocabulary and config.tie_embeddings,
        tie_output=config.tie_embeddings,
    )
    return run.built(model)


def compile_model(model, config, jit_compile=False):
    model.compile(
        optimizer=keras.optimizers.Adam(
            TransformerSchedule(
                config.model_dim,
                config.warmup_steps,
                config.learning_rate_scale,
            ),
            beta_1=0.9,
            beta_2=0.98,
            epsilon=1e-9,
        ),
        loss=MaskedLabelSmoothingLoss(config.label_smoothing),
        metrics=[MaskedAccuracy()],
        jit_compile=jit_compile,
    )
    return model

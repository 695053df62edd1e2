"""BERT models: the masked-LM pretraining model and the classifier.

Both wrap a `BertEncoder` (zoo/bert/encoder.py). `BertMaskedLM` gathers the
hidden states at the masked positions and predicts the original tokens
with BERT's head, `LN(gelu(W h + b)) E_tokᵀ + b_out`, whose output matrix
IS the token embedding table (tied weights: one variable, through
`TokenAndPositionEmbedding(..., reverse=True)`). `BertClassifier` puts
dropout and a Dense layer on the pooled [CLS] output.

Inputs are dicts of int32 `(B, T)` tensors: `token_ids` (0 = [PAD], the
padding mask is `token_ids != 0`), `segment_ids` (0 or 1), and for the MLM
`mask_positions` `(B, P)`, indices into T (padding slots point at 0 and get
sample weight 0). All classes are registered Keras objects, so a saved
`.keras` file reloads without `custom_objects`.

Reference: Devlin et al., "BERT: Pre-training of Deep Bidirectional
Transformers for Language Understanding", NAACL 2019.
"""

import keras
from keras import ops

from zoo.bert.encoder import ENCODER_ARGS
from zoo.bert.encoder import BertEncoder
from zoo.bert.encoder import clone_initializer

POOLINGS = ("cls", "mean")


def _encoder_kwargs(kwargs):
    return {k: kwargs.pop(k) for k in list(kwargs) if k in ENCODER_ARGS}


@keras.saving.register_keras_serializable(package="zoo")
class BertMaskedLM(keras.Model):
    """BERT with the masked-LM head.

    `logits = LN(gelu(W g + b)) E_tokᵀ + b_out`, where `g` `(B, P, D)` are
    the hidden states at `mask_positions`. Train with sparse cross-entropy
    on the original ids at those positions, weighted by the mask weights
    (0 for padded prediction slots), so only masked tokens count.

    Args:
        **kwargs: `BertEncoder` arguments (`vocabulary_size`, `num_layers`,
            `num_heads`, `hidden_dim`, `intermediate_dim`, `max_length`,
            `num_segments`, `dropout`) and Keras model arguments.

    Call arguments:
        inputs: dict with `token_ids`, `segment_ids` `(B, T)` and
            `mask_positions` `(B, P)`.

    Returns:
        Logits `(B, P, V)` over the vocabulary.
    """

    def __init__(self, **kwargs):
        encoder_kwargs = _encoder_kwargs(kwargs)
        super().__init__(**kwargs)
        self.encoder = BertEncoder(**encoder_kwargs, name="encoder")
        self.mlm_dense = keras.layers.Dense(
            self.encoder.hidden_dim,
            activation="gelu",
            kernel_initializer=clone_initializer(
                self.encoder.kernel_initializer
            ),
            name="mlm_dense",
        )
        self.mlm_layer_norm = keras.layers.LayerNormalization(
            epsilon=self.encoder.layer_norm_epsilon, name="mlm_layer_norm"
        )
        self.mlm_output_bias = self.add_weight(
            name="mlm_output_bias",
            shape=(self.encoder.vocabulary_size,),
            initializer="zeros",
        )

    def call(self, inputs, training=None):
        encoded = self.encoder(inputs, training=training)
        positions = ops.cast(inputs["mask_positions"], "int32")  # (B, P)
        x = ops.take_along_axis(
            encoded["sequence_output"], positions[:, :, None], axis=1
        )  # (B, P, D)
        x = self.mlm_layer_norm(self.mlm_dense(x))  # (B, P, D)
        logits = self.encoder.token_and_position_embedding(
            x, reverse=True
        )  # (B, P, V), tied to the token table
        return logits + ops.cast(self.mlm_output_bias, logits.dtype)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                k: v
                for k, v in self.encoder.get_config().items()
                if k in ENCODER_ARGS
            }
        )
        return config


@keras.saving.register_keras_serializable(package="zoo")
class BertClassifier(keras.Model):
    """BERT with a classification head on a sentence feature.

    `logits = W · Dropout(f) + b`, where `f` is the encoder's pooled [CLS]
    output `tanh(W_p h_[CLS] + b_p)` (`pooling="cls"`, BERT) or the mean of
    the final states of the real (non-padding) tokens (`pooling="mean"`).
    With `encoder.trainable = False` (a linear probe) the encoder always
    runs in inference mode, so `f` is fixed and only the head learns.

    Args:
        num_classes: number of classes.
        classifier_dropout: dropout before the output layer.
        pooling: `"cls"` or `"mean"`.
        **kwargs: `BertEncoder` arguments and Keras model arguments.

    Call arguments:
        inputs: dict with `token_ids` and `segment_ids` `(B, T)`.

    Returns:
        Logits `(B, num_classes)`.
    """

    def __init__(
        self, num_classes=2, classifier_dropout=0.1, pooling="cls", **kwargs
    ):
        encoder_kwargs = _encoder_kwargs(kwargs)
        super().__init__(**kwargs)
        if pooling not in POOLINGS:
            raise ValueError(
                f"`pooling` must be one of {list(POOLINGS)}. "
                f"Received: pooling={pooling!r}"
            )
        if isinstance(num_classes, bool) or not isinstance(num_classes, int):
            raise ValueError(
                "`num_classes` must be an integer >= 2. "
                f"Received: num_classes={num_classes!r}"
            )
        if num_classes < 2:
            raise ValueError(
                "`num_classes` must be an integer >= 2. "
                f"Received: num_classes={num_classes!r}"
            )
        self.num_classes = num_classes
        self.classifier_dropout = classifier_dropout
        self.pooling = pooling
        self.encoder = BertEncoder(**encoder_kwargs, name="encoder")
        self.dropout_layer = keras.layers.Dropout(
            classifier_dropout, name="classifier_dropout"
        )
        self.output_dense = keras.layers.Dense(
            num_classes,
            kernel_initializer=clone_initializer(
                self.encoder.kernel_initializer
            ),
            name="logits",
        )

    def call(self, inputs, training=None):
        encoder_training = training if self.encoder.trainable else False
        encoded = self.encoder(inputs, training=encoder_training)
        if self.pooling == "cls":
            features = encoded["pooled_output"]  # (B, D)
        else:
            real = ops.not_equal(inputs["token_ids"], 0)  # (B, T)
            real = ops.cast(real, encoded["sequence_output"].dtype)[..., None]
            features = ops.sum(encoded["sequence_output"] * real, 1) / (
                ops.sum(real, 1)
            )  # (B, D)
        x = self.dropout_layer(features, training=training)
        return self.output_dense(x)  # (B, num_classes)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                k: v
                for k, v in self.encoder.get_config().items()
                if k in ENCODER_ARGS
            }
        )
        config.update(
            {
                "num_classes": self.num_classes,
                "classifier_dropout": self.classifier_dropout,
                "pooling": self.pooling,
            }
        )
        return config


def dummy_inputs(num_predictions=None):
    """A one-example batch that builds every weight of a BERT model."""
    inputs = {
        "token_ids": ops.ones((1, 2), "int32"),
        "segment_ids": ops.zeros((1, 2), "int32"),
    }
    if num_predictions is not None:
        inputs["mask_positions"] = ops.zeros((1, num_predictions), "int32")
    return inputs

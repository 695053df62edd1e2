"""The masked LM: a `zoo.bert.BertMaskedLM` built for a `Config`, and its
loss."""

import keras

from zoo.bert.model import BertMaskedLM
from zoo.bert.model import dummy_inputs
from zoo.bert.streams import max_predictions_of


def build(config, vocabulary_size):
    """A built (uncompiled) `BertMaskedLM` for `config`."""
    model = BertMaskedLM(
        vocabulary_size=vocabulary_size,
        num_layers=config.num_layers,
        num_heads=config.num_heads,
        hidden_dim=config.hidden_dim,
        intermediate_dim=config.intermediate_dim,
        max_length=config.max_length,
        dropout=config.dropout,
        kernel_initializer=config.kernel_initializer,
    )
    model(dummy_inputs(max_predictions_of(config)))
    return model


def loss():
    """Mean cross-entropy over the real (weight 1) masked positions."""
    return keras.losses.SparseCategoricalCrossentropy(
        from_logits=True, reduction="mean_with_sample_weight"
    )

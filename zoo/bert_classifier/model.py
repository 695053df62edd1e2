"""The sentiment classifier: a `zoo.bert.BertClassifier` built for a
`Config`, optionally from a pretraining run's encoder."""

import pathlib

import keras

from zoo.bert.config import architecture
from zoo.bert.model import BertClassifier
from zoo.bert.model import dummy_inputs


def build(config, vocabulary_size):
    """A built `BertClassifier`; with `init`, holding the pretrained
    encoder weights; with `freeze_encoder`, its encoder frozen."""
    model = BertClassifier(
        num_classes=2,
        classifier_dropout=config.classifier_dropout,
        pooling=config.pooling,
        vocabulary_size=vocabulary_size,
        **architecture(config),
    )
    model(dummy_inputs())
    if config.init:
        pretrained = keras.saving.load_model(
            pathlib.Path(config.init) / "model.keras"
        )
        model.encoder.set_weights(pretrained.encoder.get_weights())
    model.encoder.trainable = not config.freeze_encoder
    return model

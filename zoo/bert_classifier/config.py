"""BERT sentiment classifier config: a frozen dataclass and presets."""

import dataclasses
from typing import ClassVar

from zoo.bert import config as checks


@dataclasses.dataclass(frozen=True)
class Config:
    """Everything that defines a fine-tuning run.

    Attributes:
        data: `"vader-movies"`, the VADER movie-review snippets with their
            fixed 8,603 / 1,000 / 1,000 split (zoo/data/vader.py).
        init: `""` trains from scratch; else a `bert-mlm` work directory
            whose encoder weights and vocabulary are loaded. Its
            architecture fields then replace this config's.
        vocabulary: with `init=""`: `""` learns a WordPiece vocabulary from
            the fine-tuning train split; a `bert-mlm` work directory reuses
            its vocabulary (not its weights), so a from-scratch run can have
            exactly the pretrained run's tokenizer and model.
        freeze_encoder: train only the output layer on the frozen pooled
            [CLS] features (a linear probe).
        vocabulary_size: for a vocabulary learned here.
        max_length, num_layers, num_heads, hidden_dim, intermediate_dim,
            dropout: the encoder (must match `init`'s; taken from it).
        classifier_dropout: dropout on the sentence feature.
        pooling: the sentence feature: `"cls"`, BERT's pooled [CLS]
            output, or `"mean"`, the mean final state of the tokens.
        max_train_examples, max_eval_examples: prefixes of the (already
            shuffled) splits, for small presets; 0 = all.
        batch_size, epochs: the budget. The epoch with the best validation
            accuracy is kept and scored on the test split.
        learning_rate, warmup_fraction, weight_decay, clipnorm: AdamW,
            linear warmup then cosine decay to 0.
    """

    model_name: ClassVar[str] = "bert-classifier"

    data: str = "vader-movies"
    init: str = ""
    vocabulary: str = ""
    freeze_encoder: bool = False
    vocabulary_size: int = 8192
    max_length: int = 64
    num_layers: int = 2
    num_heads: int = 2
    hidden_dim: int = 64
    intermediate_dim: int = 256
    dropout: float = 0.1
    kernel_initializer: str = "glorot_uniform"
    classifier_dropout: float = 0.1
    pooling: str = "mean"
    max_train_examples: int = 0
    max_eval_examples: int = 0
    batch_size: int = 32
    epochs: int = 3
    learning_rate: float = 1e-3
    warmup_fraction: float = 0.1
    weight_decay: float = 0.01
    clipnorm: float = 1.0

    def __post_init__(self):
        checks.check_architecture(
            self,
            positive=(
                "vocabulary_size",
                "batch_size",
                "epochs",
                "learning_rate",
                "clipnorm",
            ),
            non_negative=("max_train_examples", "max_eval_examples"),
            fractions=(
                "classifier_dropout",
                "warmup_fraction",
                "weight_decay",
            ),
            choices={"data": ("vader-movies",), "pooling": ("cls", "mean")},
        )
        if self.init and self.vocabulary:
            raise ValueError(
                "`vocabulary` is for runs from scratch; with `init` the "
                "pretraining run's vocabulary is used. Received: "
                f"init={self.init!r}, vocabulary={self.vocabulary!r}"
            )
        if self.freeze_encoder and not self.init:
            raise ValueError(
                "`freeze_encoder=True` probes a pretrained encoder, so it "
                "needs `init`. Received: freeze_encoder=True, init=''"
            )


PRESETS = {
    # Seconds: a few hundred snippets and a tiny model; for tests and CI.
    "tiny": Config(
        vocabulary_size=400,
        max_length=32,
        num_layers=1,
        num_heads=2,
        hidden_dim=16,
        intermediate_dim=32,
        max_train_examples=256,
        max_eval_examples=64,
        batch_size=16,
        epochs=2,
        learning_rate=3e-3,
    ),
    # About a minute per run on one CPU core, with the bert-mlm cpu encoder.
    "cpu": Config(),
    # With the bert-mlm gpu preset's BERT-base-sized encoder.
    "gpu": Config(
        vocabulary_size=16384,
        max_length=128,
        num_layers=12,
        num_heads=12,
        hidden_dim=768,
        intermediate_dim=3072,
        epochs=4,
        learning_rate=3e-5,
    ),
}

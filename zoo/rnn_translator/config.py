"""RNN translator configuration and presets."""

import dataclasses
from typing import ClassVar

from zoo.translation.config import CPU_DATA
from zoo.translation.config import TINY_DATA
from zoo.translation.config import TranslationConfig


@dataclasses.dataclass(frozen=True)
class Config(TranslationConfig):
    """Everything that defines an RNN-translator run.

    `variant` selects the decoder of the lecture material's progression:
    `plain` (the encoder's final state only), `peeky` (the encoder summary
    fed to every decoder step and to the output layer) and `attention`
    (`BahdanauAttention`, or `LuongAttention` with `attention="luong"`, over
    all encoder states). All three share data, sizes and budget, so their
    scores compare. The data, vocabulary, batching and decoding fields are
    `TranslationConfig`'s, shared with the Transformer translator.
    """

    model_name: ClassVar[str] = "rnn-translator"

    variant: str = "attention"  # plain | peeky | attention
    attention: str = "bahdanau"  # bahdanau | luong
    cell: str = "gru"  # gru | lstm
    embedding_dim: int = 256
    units: int = 256
    learning_rate: float = 1e-3
    clipnorm: float = 1.0

    def __post_init__(self):
        self.check(
            positive=("embedding_dim", "units", "learning_rate", "clipnorm"),
            choices={
                "variant": ("plain", "peeky", "attention"),
                "attention": ("bahdanau", "luong"),
                "cell": ("gru", "lstm"),
            },
        )


PRESETS = {
    # Seconds: the generated dates task, for tests and CI.
    "tiny": Config(**TINY_DATA, embedding_dim=32, units=48, learning_rate=3e-3),
    # About 15 minutes on 2 CPU cores: short Tatoeba en->ja sentences.
    "cpu": Config(
        **CPU_DATA,
        embedding_dim=128,
        units=192,
        source_vocabulary_size=4000,
        target_vocabulary_size=4000,
        epochs=4,
        learning_rate=2e-3,
    ),
    # A real run on a GPU: the whole train split, larger model.
    "gpu": Config(
        embedding_dim=512,
        units=1024,
        dropout=0.2,
        source_vocabulary_size=16000,
        target_vocabulary_size=16000,
        max_length=48,
        batch_size=256,
        epochs=15,
        learning_rate=1e-3,
    ),
}
